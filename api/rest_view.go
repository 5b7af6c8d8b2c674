package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/operation"
	"github.com/fhirgate/fhirgate/view"
	"github.com/fhirgate/fhirgate/viewrun"
)

// SQL on FHIR's $viewdefinition-run at system level: POST /fhir/$viewdefinition-run with a
// Parameters body runs a ViewDefinition (viewResource inline, or viewReference to a stored
// Binary holding one: R4 has no ViewDefinition resource type) over the resources given as
// resource parameters (a Bundle's entries), or else over the server's, read in one pass
// through storage (viewrun.Runner), within the patient's or group members' compartments and
// changed after _since when given; and streams at most _limit rows as _format says (ndjson by default, json,
// csv with header unless header is false, parquet). The caller's policy applies to the view
// (package viewrun): read permission on its resource type, and every expression may read
// only fields the caller may read, a column's values whole (a column reading a hidden field
// is refused, named); a patient token's compartment confines the server data read.

// viewBuffer is how much output is held back before the answer is committed: an error before
// then is an OperationOutcome; after, the connection is cut short, never left looking
// complete.
const viewBuffer = 64 << 10

func viewRoute(cfg Config, mux *http.ServeMux) {
	mux.HandleFunc("POST /fhir/$viewdefinition-run", func(w http.ResponseWriter, r *http.Request) {
		runView(cfg, w, r)
	})
}

// viewRun is a parsed $viewdefinition-run request.
type viewRun struct {
	viewrun.Request
	format string
	header bool
}

func runView(cfg Config, w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	// The request's row budget bounds the run; one over it is refused before its first row
	// (CountFirst), since a streamed answer cannot become an error once it has begun. The
	// stream reads storage unmetered, as bulk export does: a metered stream would hold one of
	// the requests' shared storage places for as long as the client takes to read the answer.
	runner := &viewrun.Runner{Store: cfg.Store, MaxRead: cfg.Reads.MaxRows, CountFirst: true}
	if cfg.exportStore != nil {
		runner.Stream = cfg.exportStore
	}
	run, err := readViewRun(ctx, runner, r)
	if err != nil {
		writeError(cfg, w, r, err)
		return
	}
	out := &heldResponse{w: w, contentType: view.ContentType(run.format)}
	var vw view.Writer
	if run.format == view.FormatCSV {
		vw = view.NewCSV(out, run.View.Columns, run.header)
	} else if vw, err = view.NewWriter(run.format, out, run.View.Columns); err != nil {
		writeError(cfg, w, r, err)
		return
	}
	err = runner.Run(ctx, &run.Request, vw.Write)
	if err == nil {
		err = vw.Close()
	}
	if err == nil {
		err = out.finish()
	}
	if err == nil {
		return
	}
	if !out.committed {
		writeError(cfg, w, r, err)
		return
	}
	cfg.Logger.ErrorContext(ctx, "view run failed while streaming its rows", "error", err)
	panic(http.ErrAbortHandler) // cut the answer short: a client sees an incomplete body
}

// readViewRun reads the operation's parameters and compiles the view.
func readViewRun(ctx context.Context, runner *viewrun.Runner, r *http.Request) (*viewRun, error) {
	ps, err := operation.Read(r.Body)
	if err != nil {
		return nil, err
	}
	run := &viewRun{}
	if run.format, run.header, err = readRunParams(ps, r, &run.Request); err != nil {
		return nil, err
	}
	for _, p := range ps.Parameter {
		if !runParams[p.Name] && p.Name != "viewResource" && p.Name != "viewReference" {
			return nil, invalidRun("unknown parameter %q", p.Name)
		}
	}
	inline, ref := ps.Get("viewResource"), ps.Get("viewReference")
	switch {
	case inline != nil && ref != nil:
		return nil, invalidRun("give viewResource or viewReference, not both")
	case inline != nil:
		if len(inline.Resource) == 0 {
			return nil, invalidRun("viewResource holds no resource")
		}
		run.View, err = view.Parse(inline.Resource)
	case ref != nil:
		run.View, err = runner.LoadStored(ctx, referenceText(ref))
	default:
		return nil, invalidRun("a ViewDefinition is needed: viewResource (inline) or viewReference (a stored Binary)")
	}
	return run, err
}

// runParams are the parameters every run reads with readRunParams.
var runParams = map[string]bool{"_format": true, "header": true, "_limit": true, "_since": true, "patient": true, "group": true, "resource": true}

// readRunParams reads the parameters $viewdefinition-run and $sqlquery-run share: the
// answer's format (parameter, else the URL's _format; NDJSON by default) and header, and
// into req the row limit and the resources to run over (_since, patient, groups, inline
// resources).
func readRunParams(ps *operation.Parameters, r *http.Request, req *viewrun.Request) (format string, header bool, err error) {
	format, header = view.FormatNDJSON, true
	if f, ok := ps.Str("_format"); ok {
		format = f
	} else if f := r.URL.Query().Get("_format"); f != "" {
		format = f
	}
	if format = viewFormat(format); view.ContentType(format) == "" {
		return "", false, invalidRun("_format %q is not one of %s", format, strings.Join(view.Formats(), ", "))
	}
	if ps.Get("header") != nil {
		header = ps.Bool("header")
	}
	if req.Limit, err = ps.Int("_limit"); err != nil || req.Limit < 0 || ps.Get("_limit") != nil && req.Limit == 0 {
		return "", false, invalidRun("_limit must be a positive integer")
	}
	if p := ps.Get("_since"); p != nil {
		if req.Since, err = instantParam(p); err != nil {
			return "", false, err
		}
	}
	if p := ps.Get("patient"); p != nil {
		if req.Patient, err = referenceParam(p, "patient", "Patient"); err != nil {
			return "", false, err
		}
	}
	for _, p := range ps.Parameter {
		switch p.Name {
		case "group":
			id, err := referenceParam(&p, "group", "Group")
			if err != nil {
				return "", false, err
			}
			req.Groups = append(req.Groups, id)
		case "resource":
			res, err := view.DecodeResources(p.Resource)
			if err != nil {
				return "", false, invalidRun("a resource parameter holds no resource")
			}
			req.Resources, req.Inline = append(req.Resources, res...), true
		}
	}
	return format, header, nil
}

// viewFormat reads a _format code or media type.
func viewFormat(f string) string {
	switch strings.ToLower(strings.TrimSpace(f)) {
	case "csv", "text/csv":
		return view.FormatCSV
	case "ndjson", "application/x-ndjson", "application/ndjson", "application/fhir+ndjson":
		return view.FormatNDJSON
	case "json", "application/json":
		return view.FormatJSON
	case "parquet", "application/vnd.apache.parquet":
		return view.FormatParquet
	}
	return f
}

// referenceText returns the reference a parameter gives: valueReference's, or a string.
func referenceText(p *operation.Parameter) string {
	var ref string
	for k, v := range p.Value {
		switch k {
		case "valueReference":
			var r struct {
				Reference string `json:"reference"`
			}
			json.Unmarshal(v, &r)
			ref = r.Reference
		case "valueString", "valueUri", "valueCanonical", "valueId":
			json.Unmarshal(v, &ref)
		}
	}
	return ref
}

// referenceParam reads a parameter naming a resource of typ on this server ("Type/id") and
// returns its id.
func referenceParam(p *operation.Parameter, name, typ string) (string, error) {
	lr, ok := model.ParseReference(referenceText(p))
	if !ok || !lr.IsRelative() || lr.Type != typ {
		return "", invalidRun("%s must name a %s on this server (%s/id)", name, typ, typ)
	}
	return lr.ID, nil
}

// instantParam reads _since: an instant (valueInstant, valueDateTime or a string).
func instantParam(p *operation.Parameter) (string, error) {
	var s string
	for k, v := range p.Value {
		if k == "valueInstant" || k == "valueDateTime" || k == "valueString" {
			json.Unmarshal(v, &s)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
		return "", invalidRun("_since must be an instant, such as 2024-01-31T12:00:00Z")
	}
	return s, nil
}

func invalidRun(format string, args ...any) error {
	return fmt.Errorf("%w: %s", operation.ErrInvalid, fmt.Sprintf(format, args...))
}

// heldResponse holds the first viewBuffer bytes of an answer back, so that an error found
// early is answered as an error rather than as the start of a 200.
type heldResponse struct {
	w           http.ResponseWriter
	contentType string
	buf         []byte
	committed   bool
}

func (h *heldResponse) Write(p []byte) (int, error) {
	if h.committed {
		return h.w.Write(p)
	}
	h.buf = append(h.buf, p...)
	if len(h.buf) >= viewBuffer {
		return len(p), h.commit()
	}
	return len(p), nil
}

func (h *heldResponse) commit() error {
	h.committed = true
	h.w.Header().Set("Content-Type", h.contentType)
	h.w.WriteHeader(http.StatusOK)
	_, err := h.w.Write(h.buf)
	h.buf = nil
	return err
}

// finish sends what is held.
func (h *heldResponse) finish() error {
	if h.committed {
		return nil
	}
	return h.commit()
}
