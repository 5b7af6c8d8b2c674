package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/authz/guard"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/operation"
	"github.com/fhirgate/fhirgate/resolvers"
	"github.com/fhirgate/fhirgate/storage"
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
				ctx := operation.WithResolver(r.Context(), storeResolver{r.Context(), cfg.Store})
				out, err = operation.Run(ctx, path, ps)
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

// newREST returns the handler of /fhir: the operations of restRoutes and bulk export first,
// then the FHIR REST interactions (restInteractions), and a FHIR OperationOutcome for any
// other path. The interactions have a mux of their own, below the operations: their
// wildcards ({type}/{id}) would otherwise conflict with the operations' literal paths
// ($export-status/{job}), which come first.
func newREST(cfg Config) http.Handler {
	mux := http.NewServeMux()
	restRoutes(cfg, mux)
	viewRoute(cfg, mux)
	sqlRoute(cfg, mux)
	bundleRoutes(cfg, mux)
	if cfg.importStore != nil {
		importRoutes(cfg, mux)
	}
	if cfg.exportStore != nil {
		exportRoutes(cfg, mux, cfg.exportStore)
	}
	interactions := http.NewServeMux()
	(&restAPI{cfg: cfg}).routes(interactions)
	interactions.HandleFunc("/fhir/", func(w http.ResponseWriter, r *http.Request) {
		writeFHIROutcome(w, http.StatusNotFound, "not-supported", "This server has no FHIR interaction at "+r.URL.Path+".")
	})
	mux.Handle("/fhir/", interactions)
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

// storeResolver reads the references $fhirpath's resolve() names from the store, within the
// caller's compartment (storage applies the request's scope), and only of a type the caller
// may read whole: the resource goes back to the caller as it is stored.
type storeResolver struct {
	ctx   context.Context
	store resolvers.Store
}

// Resolve reads a relative literal reference (Patient/1, Patient/1/_history/2).
func (s storeResolver) Resolve(ref string) (map[string]any, bool) {
	lr, ok := model.ParseReference(ref)
	if !ok || lr.Base != "" || s.store == nil || guard.CheckWholeRead(s.ctx, lr.Type) != nil {
		return nil, false
	}
	var rec *storage.Record
	var err error
	if lr.Version != "" {
		v, perr := strconv.ParseInt(lr.Version, 10, 64)
		if perr != nil {
			return nil, false
		}
		rec, err = s.store.ReadVersion(s.ctx, lr.Type, lr.ID, v)
	} else {
		rec, err = s.store.Read(s.ctx, lr.Type, lr.ID)
	}
	if err != nil || rec.Deleted {
		return nil, false
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(rec.JSON))
	dec.UseNumber() // as the engine expects
	if dec.Decode(&m) != nil {
		return nil, false
	}
	return m, true
}

// fhirWriter marks the answers of the FHIR REST API: refusals made before it is reached
// (authentication, rate and body limits) are bare OperationOutcomes there, as FHIR clients
// expect, rather than GraphQL error responses.
type fhirWriter struct{ http.ResponseWriter }

// fhirAnswers has next's refusals answer in FHIR (see fhirWriter).
func fhirAnswers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(fhirWriter{w}, r)
	})
}
