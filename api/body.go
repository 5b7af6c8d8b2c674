package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// bodyLimit refuses request bodies over limit(r) bytes with 413 and an OperationOutcome, before
// any of the body is interpreted, and hands the handler a body it can read again.
func bodyLimit(limit func(*http.Request) int64, next http.Handler) http.Handler {
	// The handler only calls next, with a small frame: a websocket connection's read loop
	// runs below it for the connection's life (see serveUpgrade).
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if readBody(w, r, limit(r)) {
			next.ServeHTTP(w, r)
		}
	})
}

// readBody reads r's body, if it has one, into memory and gives r a body that reads it
// again; a body over max bytes (none when max is 0) or that cannot be read is answered
// with its refusal, and readBody returns false.
func readBody(w http.ResponseWriter, r *http.Request, max int64) bool {
	if max <= 0 || r.Body == nil || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	if r.ContentLength > max {
		writeOutcome(w, http.StatusRequestEntityTooLarge, "too-costly", fmt.Sprintf("request body exceeds the limit of %d bytes", max))
		return false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) { // a principal's own, lower limit
		writeOutcome(w, http.StatusRequestEntityTooLarge, "too-costly", fmt.Sprintf("request body over this principal's limit of %d bytes", tooLarge.Limit))
		return false
	}
	if err != nil {
		writeOutcome(w, http.StatusBadRequest, "invalid", "request body could not be read")
		return false
	}
	if int64(len(body)) > max {
		writeOutcome(w, http.StatusRequestEntityTooLarge, "too-costly", fmt.Sprintf("request body exceeds the limit of %d bytes", max))
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return true
}

// writeOutcome answers with a GraphQL error response whose extension carries an OperationOutcome;
// under /fhir (see fhirAnswers), with the OperationOutcome itself.
func writeOutcome(w http.ResponseWriter, status int, issueType, msg string) {
	if _, ok := w.(fhirWriter); ok {
		writeFHIROutcome(w, status, issueType, msg)
		return
	}
	code := "BAD_REQUEST"
	switch status {
	case http.StatusUnauthorized:
		code = "UNAUTHENTICATED"
	case http.StatusTooManyRequests:
		code = "RATE_LIMITED"
	case http.StatusRequestEntityTooLarge:
		code = "PAYLOAD_TOO_LARGE"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"errors": []any{map[string]any{
			"message":    msg,
			"extensions": map[string]any{"code": code, "resource": outcomeJSON("error", issueType, msg)},
		}},
	})
}
