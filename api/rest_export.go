package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/authz/guard"
	"github.com/fhirgate/fhirgate/export"
)

// ndjsonType is the Content-Type of bulk data files.
const ndjsonType = "application/fhir+ndjson"

// exportRoutes serves FHIR Bulk Data export (Bulk Data Access IG v2): kick-off at system,
// Patient and Group level, status polling, cancellation and the files, all for the caller
// who started the job only. A job exports what the caller may read: only the types it may
// read and search, each resource de-identified as its queries are, within its compartment.
func exportRoutes(cfg Config, mux *http.ServeMux, store export.Store) {
	name, _ := datastoreFromName(cfg.prefix)
	m := &export.Manager{
		Store: store,
		Dir:   filepath.Join(cfg.ExportDir, name),
		// A job exports the types the caller may search, each resource as the caller may
		// read it (de-identified for an analyst), within its compartment.
		Allowed: func(ctx context.Context, typ string) error { return guard.CheckType(ctx, typ, authz.ActSearch) },
		Redact:  guard.Redact,
	}
	kickoff := func(level export.Level) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			req, err := exportRequest(r, level)
			if err == nil {
				var st export.Status
				if st, err = m.Start(r.Context(), owner(r.Context()), req); err == nil {
					w.Header().Set("Content-Location", baseURL(r, cfg)+"/fhir/$export-status/"+st.ID)
					w.WriteHeader(http.StatusAccepted)
					return
				}
			}
			writeError(cfg, w, r, err)
		}
	}
	mux.HandleFunc("GET /fhir/$export", kickoff(export.System))
	mux.HandleFunc("GET /fhir/Patient/$export", kickoff(export.Patient))
	mux.HandleFunc("GET /fhir/Group/{id}/$export", kickoff(export.Group))

	mux.HandleFunc("GET /fhir/$export-status/{job}", func(w http.ResponseWriter, r *http.Request) {
		st, err := m.Status(r.PathValue("job"), owner(r.Context()))
		if err != nil {
			writeError(cfg, w, r, err)
			return
		}
		switch st.State {
		case export.Running:
			w.Header().Set("X-Progress", st.Progress)
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusAccepted)
		case export.Failed:
			cfg.Logger.ErrorContext(r.Context(), "export failed", "job", st.ID, "error", st.Err)
			writeFHIROutcome(w, http.StatusInternalServerError, "exception", "the export failed; start it again")
		default:
			writeManifest(w, r, cfg, st)
		}
	})
	mux.HandleFunc("DELETE /fhir/$export-status/{job}", func(w http.ResponseWriter, r *http.Request) {
		if err := m.Delete(r.PathValue("job"), owner(r.Context())); err != nil {
			writeError(cfg, w, r, err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("GET /fhir/$export-file/{job}/{type}", func(w http.ResponseWriter, r *http.Request) {
		f, err := m.Open(r.PathValue("job"), owner(r.Context()), r.PathValue("type"))
		if err != nil {
			writeError(cfg, w, r, err)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", ndjsonType)
		io.Copy(w, f)
	})
}

// datastoreFromName returns the datastore name of a server's path prefix.
func datastoreFromName(prefix string) (string, bool) {
	if n, ok := strings.CutPrefix(prefix, "/ds/"); ok {
		return n, true
	}
	return "default", false
}

// owner names the caller a job belongs to: its subject and OAuth client.
func owner(ctx context.Context) string {
	p := authz.PrincipalFrom(ctx)
	if p == nil {
		return ""
	}
	return p.Subject + "\x00" + p.Client
}

// baseURL is the URL the server was reached at, with the datastore's prefix.
func baseURL(r *http.Request, cfg Config) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + cfg.prefix
}

// exportRequest reads a kick-off request's parameters.
func exportRequest(r *http.Request, level export.Level) (export.Request, error) {
	req := export.Request{Level: level, GroupID: r.PathValue("id"), URL: r.URL.String()}
	if !strings.Contains(r.Header.Get("Prefer"), "respond-async") {
		return req, badExport("a bulk export needs the header Prefer: respond-async")
	}
	if a := r.Header.Get("Accept"); a != "" && a != "*/*" && !strings.Contains(a, "application/fhir+json") && !strings.Contains(a, "application/json") {
		return req, badExport("Accept must be application/fhir+json")
	}
	for name, values := range r.URL.Query() {
		for _, v := range values {
			switch name {
			case "_outputFormat":
				if v != ndjsonType && v != "application/ndjson" && v != "ndjson" {
					return req, badExport("_outputFormat: only " + ndjsonType + " is supported")
				}
			case "_type":
				for _, t := range strings.Split(v, ",") {
					req.Types = append(req.Types, strings.TrimSpace(t))
				}
			case "_since":
				t, err := time.Parse(time.RFC3339Nano, v)
				if err != nil {
					return req, badExport("_since must be a FHIR instant, such as 2024-01-01T00:00:00Z")
				}
				req.Since = t
			case "_typeFilter":
				req.TypeFilters = append(req.TypeFilters, v)
			default:
				return req, badExport("parameter " + name + " is not supported")
			}
		}
	}
	return req, nil
}

func badExport(msg string) error { return &exportError{msg} }

// exportError is a kick-off request that is wrong in itself.
type exportError struct{ msg string }

func (e *exportError) Error() string { return e.msg }
func (e *exportError) Unwrap() error { return export.ErrInvalid }

// writeManifest answers a completed job's manifest.
func writeManifest(w http.ResponseWriter, r *http.Request, cfg Config, st export.Status) {
	base := baseURL(r, cfg)
	outputs := []map[string]any{}
	for _, o := range st.Outputs {
		outputs = append(outputs, map[string]any{"type": o.Type, "url": base + "/fhir/$export-file/" + st.ID + "/" + o.Type, "count": o.Count})
	}
	w.Header().Set("Expires", time.Now().Add(24*time.Hour).UTC().Format(http.TimeFormat))
	writeJSON(w, http.StatusOK, map[string]any{
		"transactionTime":     st.Started.Format("2006-01-02T15:04:05.000Z07:00"),
		"request":             base + st.Request.URL,
		"requiresAccessToken": true,
		"output":              outputs,
		"error":               []any{},
	})
}

// writeJSON answers with plain JSON (a bulk data manifest is not a FHIR resource).
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
