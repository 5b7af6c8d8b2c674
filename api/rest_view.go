package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/authz/guard"
	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/fhirpath"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/operation"
	"github.com/fhirgate/fhirgate/resolvers"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/view"
)

// SQL on FHIR's $viewdefinition-run at system level: POST /fhir/$viewdefinition-run with a
// Parameters body runs a ViewDefinition (viewResource inline, or viewReference to a stored
// Binary holding one: R4 has no ViewDefinition resource type) over the resources given as
// resource parameters (a Bundle's entries), or else over the server's, read in pages through
// search, within the patient's or group members' compartments and changed after _since
// when given; and streams at most _limit rows as _format says (ndjson by default, json,
// csv with header unless header is false, parquet). The caller's policy applies to the view
// as to a search: read permission on its resource type, and every expression may read only
// fields the caller may read, a column's values whole (a column reading a hidden field is
// refused, named); a patient token's compartment confines the server data read.

const (
	// viewPageSize is how many resources a view run reads from storage per round trip.
	viewPageSize = 100
	// viewMaxGroup bounds the patients of the groups a run is restricted to.
	viewMaxGroup = 1000
	// viewBuffer is how much output is held back before the answer is committed: an error
	// before then is an OperationOutcome; after, the connection is cut short, never left
	// looking complete.
	viewBuffer = 64 << 10
)

// errViewForbidden refuses a view that reads what the caller may not.
var errViewForbidden = fault.New(fault.Forbidden, "forbidden")

// errLimitReached stops a run at _limit rows.
var errLimitReached = errors.New("_limit reached")

func viewRoute(cfg Config, mux *http.ServeMux) {
	mux.HandleFunc("POST /fhir/$viewdefinition-run", func(w http.ResponseWriter, r *http.Request) {
		runView(cfg, w, r)
	})
}

// viewRun is a parsed $viewdefinition-run request.
type viewRun struct {
	view      *view.View
	format    string
	header    bool
	limit     int
	since     string
	patient   string   // a Patient id
	groups    []string // Group ids
	resources []map[string]any
	inline    bool // resources were given: the server's are not read
}

func runView(cfg Config, w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	run, err := readViewRun(ctx, cfg, r)
	if err == nil {
		err = authorizeView(ctx, run.view)
	}
	var each func(func(map[string]any) error) error
	if err == nil {
		each, err = viewSource(ctx, cfg, run)
	}
	if err != nil {
		writeError(cfg, w, r, err)
		return
	}
	out := &heldResponse{w: w, contentType: view.ContentType(run.format)}
	var vw view.Writer
	if run.format == view.FormatCSV {
		vw = view.NewCSV(out, run.view.Columns, run.header)
	} else if vw, err = view.NewWriter(run.format, out, run.view.Columns); err != nil {
		writeError(cfg, w, r, err)
		return
	}
	rows := 0
	emit := func(row view.Row) error {
		if err := vw.Write(row); err != nil {
			return err
		}
		if rows++; run.limit > 0 && rows == run.limit {
			return errLimitReached
		}
		return nil
	}
	err = each(func(res map[string]any) error { return run.view.Rows(res, emit) })
	if errors.Is(err, errLimitReached) {
		err = nil
	}
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
func readViewRun(ctx context.Context, cfg Config, r *http.Request) (*viewRun, error) {
	ps, err := operation.Read(r.Body)
	if err != nil {
		return nil, err
	}
	run := &viewRun{format: view.FormatNDJSON, header: true}
	if f, ok := ps.Str("_format"); ok {
		run.format = f
	} else if f := r.URL.Query().Get("_format"); f != "" {
		run.format = f
	}
	if run.format = viewFormat(run.format); view.ContentType(run.format) == "" {
		return nil, invalidRun("_format %q is not one of %s", run.format, strings.Join(view.Formats(), ", "))
	}
	if ps.Get("header") != nil {
		run.header = ps.Bool("header")
	}
	if run.limit, err = ps.Int("_limit"); err != nil || run.limit < 0 || ps.Get("_limit") != nil && run.limit == 0 {
		return nil, invalidRun("_limit must be a positive integer")
	}
	if p := ps.Get("_since"); p != nil {
		if run.since, err = instantParam(p); err != nil {
			return nil, err
		}
	}
	if p := ps.Get("patient"); p != nil {
		if run.patient, err = referenceParam(p, "patient", "Patient"); err != nil {
			return nil, err
		}
	}
	for _, p := range ps.Parameter {
		switch p.Name {
		case "group":
			id, err := referenceParam(&p, "group", "Group")
			if err != nil {
				return nil, err
			}
			run.groups = append(run.groups, id)
		case "resource":
			if err := run.addResource(p.Resource); err != nil {
				return nil, err
			}
		case "viewResource", "viewReference", "_format", "header", "_limit", "_since", "patient":
		default:
			return nil, invalidRun("unknown parameter %q", p.Name)
		}
	}
	if run.inline && (run.patient != "" || len(run.groups) > 0 || run.since != "") {
		return nil, invalidRun("patient, group and _since select the server's resources; they do not apply to resource parameters")
	}
	run.view, err = readView(ctx, cfg, ps)
	return run, err
}

// readView compiles the inline viewResource, or the stored one viewReference names.
func readView(ctx context.Context, cfg Config, ps *operation.Parameters) (*view.View, error) {
	inline, ref := ps.Get("viewResource"), ps.Get("viewReference")
	switch {
	case inline != nil && ref != nil:
		return nil, invalidRun("give viewResource or viewReference, not both")
	case inline != nil:
		if len(inline.Resource) == 0 {
			return nil, invalidRun("viewResource holds no resource")
		}
		return view.Parse(inline.Resource)
	case ref == nil:
		return nil, invalidRun("a ViewDefinition is needed: viewResource (inline) or viewReference (a stored Binary)")
	}
	id, err := referenceParam(ref, "viewReference", "Binary")
	if err != nil {
		return nil, fmt.Errorf("%w (R4 has no ViewDefinition resource: the server keeps one as a Binary of contentType application/json)", err)
	}
	// The Binary goes to the view compiler, not to the caller; what it reads is checked as
	// the view's expressions are.
	if err := guard.CheckType(ctx, "Binary", authz.ActRead); err != nil {
		return nil, err
	}
	rec, err := cfg.Store.Read(ctx, "Binary", id)
	if err != nil {
		return nil, err
	}
	return view.ParseBinary(rec.JSON)
}

// addResource adds a resource parameter's resource, or a Bundle's entries.
func (run *viewRun) addResource(raw json.RawMessage) error {
	run.inline = true
	res, err := decodeResource(raw)
	if err != nil {
		return invalidRun("a resource parameter holds no resource")
	}
	if res["resourceType"] != "Bundle" {
		run.resources = append(run.resources, res)
		return nil
	}
	entries, _ := res["entry"].([]any)
	for _, e := range entries {
		if m, ok := e.(map[string]any)["resource"].(map[string]any); ok {
			run.resources = append(run.resources, m)
		}
	}
	return nil
}

// decodeResource decodes a resource's JSON as the view evaluator reads it.
func decodeResource(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	return m, nil
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

// referenceParam reads a parameter naming a resource of typ (valueReference, or a string
// "Type/id") and returns its id.
func referenceParam(p *operation.Parameter, name, typ string) (string, error) {
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
	lr, ok := model.ParseReference(ref)
	if !ok || lr.Base != "" || lr.Type != typ {
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

// authorizeView checks the view against the caller's policy: read permission on its type,
// and each expression's reads, as a search's fhirpath argument is checked.
func authorizeView(ctx context.Context, v *view.View) error {
	if err := guard.CheckType(ctx, v.Resource, authz.ActRead); err != nil {
		return err
	}
	return v.Check(func(e view.Expression, focus string) ([]string, error) {
		types, err := guard.CheckFHIRPathIn(ctx, v.Resource, focus, e.Expr, e.Returned)
		switch {
		case !errors.Is(err, fault.Forbidden):
			return types, err
		case e.Column != "":
			return nil, fmt.Errorf("%w: view column %q (%s) reads fields the caller may not read", errViewForbidden, e.Column, e.Label)
		}
		return nil, fmt.Errorf("%w: the view's %s reads fields the caller may not read", errViewForbidden, e.Label)
	})
}

// viewSource returns the iteration over the resources the view runs on: those given, or the
// server's.
func viewSource(ctx context.Context, cfg Config, run *viewRun) (func(func(map[string]any) error) error, error) {
	if run.inline {
		return func(fn func(map[string]any) error) error {
			for _, res := range run.resources {
				if err := fn(res); err != nil {
					return err
				}
			}
			return nil
		}, nil
	}
	typ := run.view.Resource
	args := map[string]any{}
	if run.since != "" {
		args["_lastUpdated"] = "gt" + run.since
	}
	q, err := search.Parse(typ, args)
	if err != nil {
		return nil, err
	}
	within, err := runCompartments(ctx, cfg, run)
	if err != nil {
		return nil, err
	}
	if within != nil && len(within) == 0 { // groups without patients
		return func(func(map[string]any) error) error { return nil }, nil
	}
	runner := &search.Runner{Store: cfg.Store, ListLimit: cfg.ListLimit, PageSize: cfg.PageSize, Cursors: cfg.Cursors}
	if max := cfg.Reads.MaxRows; max > 0 && run.limit == 0 {
		// Refuse up front what the request's read budget would stop halfway through.
		n, err := runner.ScanCount(ctx, q, within)
		if err != nil {
			return nil, err
		}
		if n > int64(max) {
			return nil, fmt.Errorf("%w: the view would read %d %s resources, more than the %d one request may read; narrow it with patient, group, _since or _limit, or export with 'fhirgate view'", resolvers.ErrTooMany, n, typ, max)
		}
	}
	return func(fn func(map[string]any) error) error {
		return runner.Scan(ctx, q, within, viewPageSize, func(rec *storage.Record) error {
			res, err := decodeResource(rec.JSON)
			if err != nil {
				return fmt.Errorf("view: stored %s/%s: %w", rec.Type, rec.ID, err)
			}
			return fn(res)
		})
	}, nil
}

// runCompartments returns the patient compartments the run is restricted to: nil when it is
// not, empty when its groups have no patient members.
func runCompartments(ctx context.Context, cfg Config, run *viewRun) ([]search.Compartment, error) {
	if run.patient == "" && len(run.groups) == 0 {
		return nil, nil
	}
	ids := map[string]bool{}
	if run.patient != "" {
		ids[run.patient] = true
	}
	for _, g := range run.groups {
		members, err := groupPatients(ctx, cfg, g)
		if err != nil {
			return nil, err
		}
		for _, id := range members {
			ids[id] = true
		}
		if len(ids) > viewMaxGroup {
			return nil, invalidRun("the groups have more than %d patients; run the view per group or per patient", viewMaxGroup)
		}
	}
	within := []search.Compartment{}
	for id := range ids {
		within = append(within, authz.PatientCompartment{ID: id}.Compartment())
	}
	return within, nil
}

// groupMembers is what a group's patients are read from.
var groupMembers = fhirpath.MustCompile("member.where(inactive.empty() or inactive = false).entity.reference")

// groupPatients returns the ids of a stored Group's active Patient members; reading them
// needs read permission on the group's members.
func groupPatients(ctx context.Context, cfg Config, id string) ([]string, error) {
	if err := guard.CheckType(ctx, "Group", authz.ActRead); err != nil {
		return nil, err
	}
	if _, err := guard.CheckFHIRPathIn(ctx, "Group", "Group", groupMembers, true); err != nil {
		return nil, fmt.Errorf("group members: %w", err)
	}
	rec, err := cfg.Store.Read(ctx, "Group", id)
	if err != nil {
		return nil, err
	}
	g, err := decodeResource(rec.JSON)
	if err != nil {
		return nil, fmt.Errorf("view: stored Group/%s: %w", id, err)
	}
	refs, err := groupMembers.Eval(g)
	if err != nil {
		return nil, fmt.Errorf("view: Group/%s members: %w", id, err)
	}
	var out []string
	for _, v := range refs {
		ref, _ := v.Data.(string)
		if lr, ok := model.ParseReference(ref); ok && lr.Type == "Patient" && lr.Base == "" {
			out = append(out, lr.ID)
		}
	}
	return out, nil
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
