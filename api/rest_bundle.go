package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/fhirgate/fhirgate/audit"
	"github.com/fhirgate/fhirgate/authz/guard"
	"github.com/fhirgate/fhirgate/bundle"
	"github.com/fhirgate/fhirgate/fhirjson"
	"github.com/fhirgate/fhirgate/search"
)

// bundleRoutes serves batch and transaction Bundles posted to the FHIR base, /fhir, as the
// REST interactions are served: content negotiation, the audit trail's interaction, failures
// under the same policy.
func bundleRoutes(cfg Config, mux *http.ServeMux) {
	a := &restAPI{cfg: cfg}
	h := func(w http.ResponseWriter, r *http.Request) {
		c := &restCall{api: a, w: w, r: r, ctx: r.Context()}
		body, err := io.ReadAll(r.Body) // bounded by the bundle body limit (bodyLimit)
		if err == nil {
			err = c.negotiate()
		}
		if err != nil {
			c.fail(err)
			return
		}
		interaction := "batch"
		if res, perr := fhirjson.Parse(body); perr == nil && res.String("type") == "transaction" {
			interaction = "transaction"
		}
		noteInteraction(c.ctx, audit.Execute, interaction)
		out, err := cfg.bundles.Run(c.ctx, body, bundleReturn(r))
		var ee *bundle.EntryError
		switch {
		case errors.As(err, &ee):
			noteCode(c.ctx, ee.Outcome.Status)
			if ee.Outcome.Status >= 500 {
				cfg.Logger.ErrorContext(c.ctx, "fhir transaction failed", "error", err)
			}
			c.writeJSON(ee.Outcome.Status, json.RawMessage(ee.Outcome.Outcome))
		case err != nil:
			c.fail(err)
		default:
			c.writeJSON(http.StatusOK, out)
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

// bundleReturn is what a bundle's write entries return, from Prefer: return=...
func bundleReturn(r *http.Request) bundle.Return {
	switch ret := bundle.Return(preferReturn(r)); ret {
	case bundle.ReturnMinimal, bundle.ReturnOutcome:
		return ret
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
		Patch:      restPatcher{},
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

// describeFailure tells the client about a failed bundle entry as the REST API tells about
// the same failed interaction (restFailure).
func describeFailure(cfg Config) func(error) bundle.Outcome {
	return func(err error) bundle.Outcome {
		status, body := restFailure(err)
		if status == http.StatusInternalServerError {
			cfg.Logger.Error("fhir bundle entry failed", "error", err)
		}
		b, _ := json.Marshal(body)
		return bundle.Outcome{Status: status, Outcome: b}
	}
}

// restPatcher applies a bundle's PATCH entries as the REST API applies PATCH: a JSON Patch
// carried by a Binary (contentType application/json-patch+json, the patch in data), or a
// FHIRPath Patch (a Parameters resource).
type restPatcher struct{}

func (restPatcher) Patch(_ context.Context, current, patch []byte) ([]byte, error) {
	var head struct {
		ResourceType, ContentType, Data string
	}
	if err := json.Unmarshal(patch, &head); err != nil {
		return nil, newRESTErr(http.StatusBadRequest, "structure", "The patch is not a resource.")
	}
	switch head.ResourceType {
	case "Parameters":
		return fhirPathPatch(current, patch)
	case "Binary":
		if head.ContentType != mimeJSONPatch {
			return nil, newRESTErr(http.StatusUnsupportedMediaType, "not-supported", "A Binary patch's contentType is %s.", mimeJSONPatch)
		}
		body, err := base64.StdEncoding.DecodeString(head.Data)
		if err != nil {
			return nil, newRESTErr(http.StatusBadRequest, "structure", "The Binary's data is not base64.")
		}
		return jsonPatch(current, body)
	}
	return nil, newRESTErr(http.StatusBadRequest, "structure", "A PATCH entry carries a Binary (JSON Patch) or a Parameters (FHIRPath Patch), not a %s.", clipText(head.ResourceType))
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
