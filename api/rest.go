package api

import (
	"encoding/json"
	"net/http"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/authz/guard"
	"github.com/fhirgate/fhirgate/operation"
)

// restRoutes are the FHIR REST operations served under /fhir, behind the same authentication,
// audit and body limit as GraphQL: every operation of package operation, with its parameters
// in the query (GET) or a Parameters body (POST). An operation of a type needs read permission
// on that type, as its GraphQL field does.
func restRoutes(cfg Config, mux *http.ServeMux) {
	validateRoute(cfg, mux)
	for _, path := range operation.Paths() {
		typ, _ := operation.Field(path)
		h := func(w http.ResponseWriter, r *http.Request) {
			var out any
			var err error
			if typ != "" { // a system-level operation reads only what the request carries
				err = guard.CheckType(r.Context(), typ, authz.ActRead)
			}
			var ps *operation.Parameters
			if err == nil {
				ps, err = requestParameters(r)
			}
			if err == nil {
				out, err = operation.Run(r.Context(), path, ps)
			}
			if err != nil {
				writeError(cfg, w, r, err)
				return
			}
			writeFHIR(w, http.StatusOK, out)
		}
		mux.HandleFunc("GET /fhir/"+path, h)
		mux.HandleFunc("POST /fhir/"+path, h)
	}
}

// requestParameters reads an operation's parameters: the query's, as strings, for GET, the
// Parameters body for POST.
func requestParameters(r *http.Request) (*operation.Parameters, error) {
	if r.Method == http.MethodPost {
		return operation.Read(r.Body)
	}
	ps := operation.NewParameters()
	for name, values := range r.URL.Query() {
		for _, v := range values {
			ps.AddString(name, v)
		}
	}
	return ps, nil
}

// newREST returns the handler of /fhir: the operations of restRoutes, and a FHIR
// OperationOutcome for any other path.
func newREST(cfg Config) http.Handler {
	mux := http.NewServeMux()
	restRoutes(cfg, mux)
	mux.HandleFunc("/fhir/", func(w http.ResponseWriter, r *http.Request) {
		writeFHIROutcome(w, http.StatusNotFound, "not-supported", "This server has no FHIR interaction at "+r.URL.Path+".")
	})
	return withRequestContext(cfg, mux)
}

// writeFHIR answers with a FHIR resource as JSON.
func writeFHIR(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/fhir+json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeFHIROutcome answers with an OperationOutcome of one error issue.
func writeFHIROutcome(w http.ResponseWriter, status int, issueType, msg string) {
	writeFHIR(w, status, outcomeJSON("error", issueType, msg))
}

// restStatus is the HTTP status of each kind of failure (see errorClasses).
var restStatus = map[string]int{
	"BAD_USER_INPUT": http.StatusBadRequest, "NOT_FOUND": http.StatusNotFound, "GONE": http.StatusGone,
	"CONFLICT": http.StatusConflict, "TOO_MANY_RESULTS": http.StatusBadRequest, "NOT_SUPPORTED": http.StatusNotImplemented,
	"QUERY_TOO_COMPLEX": http.StatusBadRequest, "FORBIDDEN": http.StatusForbidden, "TIMEOUT": http.StatusServiceUnavailable,
}

// writeError answers with the OperationOutcome of err under the server's error policy: the
// caller gets the public detail of its kind, and the log keeps the rest.
func writeError(cfg Config, w http.ResponseWriter, r *http.Request, err error) {
	c, ok := classify(err)
	if !ok {
		cfg.Logger.ErrorContext(r.Context(), "fhir operation failed", "path", r.URL.Path, "error", err)
		writeFHIROutcome(w, http.StatusInternalServerError, "exception", "internal server error")
		return
	}
	status := restStatus[c.code]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	writeFHIROutcome(w, status, c.issueType, c.clientMessage(err))
}
