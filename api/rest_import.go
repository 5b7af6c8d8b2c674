package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/ingest"
	"github.com/fhirgate/fhirgate/operation"
)

// errImportForbidden refuses $import to callers that are not admins.
var errImportForbidden = fault.New(fault.Forbidden, "forbidden")

// importRoutes serves $import: an asynchronous bulk import, admin only, of NDJSON and JSON
// files in the server's import directory (--import-dir) into the datastore. Files only:
// fetching URLs would let a request make the server reach any address it can (other
// services, cloud metadata), and needs an egress policy of its own; operators copy the files
// into the import directory instead.
//
//	POST   /fhir/$import                 Parameters: input.url (a path below the import
//	                                     directory: file, directory or glob), repeatable;
//	                                     bundles run|store. 202, Content-Location.
//	GET    /fhir/$import-status/{job}    202 with X-Progress while it runs; 200 with the
//	                                     counts and the lines not imported when done.
//	DELETE /fhir/$import-status/{job}    cancels it (what it committed stays): 202.
func importRoutes(cfg Config, mux *http.ServeMux) {
	jobs := &ingest.Jobs{Dir: cfg.ImportDir, New: func() *ingest.Importer { return &ingest.Importer{Store: cfg.importStore} }}
	mux.HandleFunc("POST /fhir/$import", func(w http.ResponseWriter, r *http.Request) {
		if err := adminOnly(r.Context()); err != nil {
			writeError(cfg, w, r, err)
			return
		}
		paths, mode, err := importRequest(r)
		var id string
		if err == nil {
			id, err = jobs.Start(r.Context(), owner(r.Context()), paths, mode)
		}
		if err != nil {
			writeError(cfg, w, r, err)
			return
		}
		w.Header().Set("Content-Location", baseURL(r, cfg)+"/fhir/$import-status/"+id)
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("GET /fhir/$import-status/{job}", func(w http.ResponseWriter, r *http.Request) {
		st, err := jobs.Status(r.PathValue("job"), owner(r.Context()))
		if err != nil {
			writeError(cfg, w, r, err)
			return
		}
		switch st.State {
		case ingest.Running:
			w.Header().Set("X-Progress", progressText(st.Stats))
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusAccepted)
		case ingest.Failed:
			// The caller is an admin, and the files are theirs: the whole reason.
			writeFHIROutcome(w, http.StatusInternalServerError, "exception", "the import stopped: "+st.Err.Error()+"; start it again to continue")
		default:
			writeImportResult(w, r, st)
		}
	})
	mux.HandleFunc("DELETE /fhir/$import-status/{job}", func(w http.ResponseWriter, r *http.Request) {
		if err := jobs.Cancel(r.PathValue("job"), owner(r.Context())); err != nil {
			writeError(cfg, w, r, err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
}

// adminOnly refuses callers without the admin role.
func adminOnly(ctx context.Context) error {
	if p := authz.PrincipalFrom(ctx); p == nil || !p.HasRole(authz.RoleAdmin) {
		return fmt.Errorf("%w: $import is for admins", errImportForbidden)
	}
	return nil
}

// importRequest reads the Parameters of a $import request: the paths of its inputs and
// what Bundles are.
func importRequest(r *http.Request) ([]string, ingest.BundleMode, error) {
	ps, err := operation.Read(r.Body)
	if err != nil {
		return nil, "", err
	}
	mode := ingest.RunBundles
	if b, ok := ps.Str("bundles"); ok {
		if mode = ingest.BundleMode(b); mode != ingest.RunBundles && mode != ingest.StoreBundles {
			return nil, "", fmt.Errorf("%w: bundles is run or store", operation.ErrInvalid)
		}
	}
	var paths []string
	for _, p := range ps.Parameter {
		if p.Name != "input" {
			continue
		}
		part := &operation.Parameters{Parameter: p.Part}
		u, ok := part.Str("url")
		if !ok || u == "" {
			return nil, "", fmt.Errorf("%w: each input needs a url: a path in the import directory", operation.ErrInvalid)
		}
		paths = append(paths, u)
	}
	if len(paths) == 0 {
		return nil, "", fmt.Errorf("%w: no input", operation.ErrInvalid)
	}
	return paths, mode, nil
}

// progressText is a job's progress in one line, for X-Progress.
func progressText(s ingest.Stats) string {
	pct := 0
	if s.TotalBytes > 0 {
		pct = int(100 * s.BytesDone / s.TotalBytes)
	}
	return fmt.Sprintf("%d%% of %d files; %d written, %d unchanged, %d failed", pct, s.Files, s.Written, s.Unchanged, s.Failed)
}

// writeImportResult answers a finished job: when it ended, its counts by type, and the lines
// not imported with their OperationOutcomes.
func writeImportResult(w http.ResponseWriter, r *http.Request, st ingest.JobStatus) {
	output := []any{}
	for typ, n := range st.Stats.ByType {
		output = append(output, map[string]any{"type": typ, "count": n})
	}
	errs := []any{}
	for _, e := range st.Errors {
		m := map[string]any{"file": e.File, "outcome": json.RawMessage(e.Outcome)}
		if e.Entry {
			m["entry"] = e.Line
		} else if e.Line > 0 {
			m["line"] = e.Line
		}
		errs = append(errs, m)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	json.NewEncoder(w).Encode(map[string]any{
		"transactionTime": st.Ended.UTC().Format(time.RFC3339Nano),
		"request":         r.URL.String(),
		"written":         st.Stats.Written,
		"unchanged":       st.Stats.Unchanged,
		"failed":          st.Stats.Failed,
		"files":           st.Stats.Files,
		"output":          output,
		"error":           errs,
	})
}
