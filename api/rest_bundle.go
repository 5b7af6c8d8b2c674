package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/fhirgate/fhirgate/authz/guard"
	"github.com/fhirgate/fhirgate/bundle"
	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/search"
)

// bundleRoutes serves batch and transaction Bundles posted to the FHIR base, /fhir.
func bundleRoutes(cfg Config, mux *http.ServeMux) {
	h := func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body) // bounded by the bundle body limit (bodyLimit)
		if err != nil {
			writeFHIROutcome(w, http.StatusBadRequest, "invalid", "request body could not be read")
			return
		}
		out, err := cfg.bundles.Run(r.Context(), body, bundleReturn(r))
		var ee *bundle.EntryError
		switch {
		case errors.As(err, &ee):
			if ee.Outcome.Status >= 500 {
				cfg.Logger.ErrorContext(r.Context(), "fhir transaction failed", "error", err)
			}
			writeFHIR(w, ee.Outcome.Status, json.RawMessage(ee.Outcome.Outcome))
		case err != nil:
			writeError(cfg, w, r, err)
		default:
			writeFHIR(w, http.StatusOK, out)
		}
	}
	mux.HandleFunc("POST /fhir", h)
	mux.HandleFunc("POST /fhir/{$}", h)
}

// isBundlePost reports whether r posts a Bundle to the FHIR base: the request that gets
// the bundle body limits.
func isBundlePost(r *http.Request) bool {
	return r.Method == http.MethodPost && (r.URL.Path == "/fhir" || r.URL.Path == "/fhir/")
}

// bundleReturn reads Prefer: return=minimal|representation|OperationOutcome.
func bundleReturn(r *http.Request) bundle.Return {
	for _, p := range strings.Split(r.Header.Get("Prefer"), ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(p), "return="); ok {
			switch ret := bundle.Return(strings.Trim(v, `"`)); ret {
			case bundle.ReturnMinimal, bundle.ReturnRepresentation, bundle.ReturnOutcome:
				return ret
			}
		}
	}
	return bundle.ReturnRepresentation
}

// newBundles returns the bundle processor of a server: its store, the guard's checks, the
// error policy, and reads dispatched to the REST handler reads holds.
func newBundles(cfg Config, reads *restReader) *bundle.Processor {
	return &bundle.Processor{
		Store:      cfg.Store,
		Policy:     guardPolicy{},
		Reads:      reads,
		Describe:   describeFailure(cfg),
		MaxEntries: cfg.MaxBundleEntries,
	}
}

// guardPolicy checks bundle entries with the guard of the request's caller.
type guardPolicy struct{}

func (guardPolicy) CheckType(ctx context.Context, typ, act string) error {
	return guard.CheckType(ctx, typ, act)
}

func (guardPolicy) CheckSearch(ctx context.Context, q *search.Query) error {
	return guard.CheckSearch(ctx, q)
}

// describeFailure tells the client about a failed bundle entry under the error policy, as
// writeError tells about a failed request: the status and message of its class, and a
// refused resource's whole OperationOutcome.
func describeFailure(cfg Config) func(error) bundle.Outcome {
	return func(err error) bundle.Outcome {
		c, ok := classify(err)
		if !ok {
			cfg.Logger.Error("fhir bundle entry failed", "error", err)
			b, _ := json.Marshal(outcomeJSON("error", "exception", "internal server error"))
			return bundle.Outcome{Status: http.StatusInternalServerError, Outcome: b}
		}
		status := restStatus[c.code]
		if status == 0 {
			status = http.StatusInternalServerError
		}
		oo := outcomeJSON("error", c.issueType, c.clientMessage(err))
		var wo withOutcome
		if c.target == fault.Invalid && errors.As(err, &wo) {
			oo = wo.OperationOutcome()
		}
		b, _ := json.Marshal(oo)
		return bundle.Outcome{Status: status, Outcome: b}
	}
}

// restReader answers a bundle's read entries by sending each, as a request of its own with
// the bundle request's context (its caller, scope and deadline), to the REST handler h.
type restReader struct {
	h http.Handler
}

func (rr *restReader) Read(ctx context.Context, req bundle.Request) bundle.Response {
	hr, err := http.NewRequestWithContext(ctx, req.Method, "/fhir/"+req.URL, nil)
	if err != nil {
		b, _ := json.Marshal(outcomeJSON("error", "invalid", "the entry's url is not a valid URL"))
		return bundle.Response{Status: http.StatusBadRequest, Body: b}
	}
	hr.Header.Set("Accept", "application/fhir+json")
	for name, v := range map[string]string{"If-None-Match": req.IfNoneMatch, "If-Modified-Since": req.IfModifiedSince, "If-Match": req.IfMatch, "If-None-Exist": req.IfNoneExist} {
		if v != "" {
			hr.Header.Set(name, v)
		}
	}
	rec := &recorder{header: http.Header{}}
	rr.h.ServeHTTP(rec, hr)
	out := bundle.Response{Status: rec.status, Location: rec.header.Get("Location"), ETag: rec.header.Get("ETag"), Body: rec.body.Bytes()}
	if out.Status == 0 {
		out.Status = http.StatusOK
	}
	if out.Location == "" {
		out.Location = rec.header.Get("Content-Location")
	}
	if lm, err := http.ParseTime(rec.header.Get("Last-Modified")); err == nil {
		out.LastModified = lm.UTC().Format(time.RFC3339)
	}
	return out
}

// recorder is the ResponseWriter of a bundle's sub-request: it keeps the response.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}
