package api

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/authz/guard"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/operation"
	"github.com/fhirgate/fhirgate/resolvers"
	"github.com/fhirgate/fhirgate/sqlquery"
	"github.com/fhirgate/fhirgate/view"
	"github.com/fhirgate/fhirgate/viewrun"
)

// SQL on FHIR's $sqlquery-run at system level: POST /fhir/$sqlquery-run with a Parameters body
// runs one read-only SELECT (package sqlquery: DuckDB, a sealed in-memory database per
// request) over tables of view rows, and answers its rows as $viewdefinition-run does
// (_format ndjson by default, json, csv with header unless header is false, parquet; _limit).
//
// The SQL is given as query (a string, this server's shorthand), or as the specification's
// SQLQuery Library: queryResource inline, or queryReference to a stored Library. Its content
// is the attachment of contentType application/sql (dialect duckdb preferred when several);
// its parameters, declared in Library.parameter and valued in the parameters parameter (a
// Parameters resource), are bound as $name or :name, never spliced into the SQL.
//
// Each table is a view parameter with parts name (the table's name in the SQL) and
// viewResource (inline) or viewReference (a stored Binary, as $viewdefinition-run takes it). A
// Library's depends-on relatedArtifact names its tables by label: a view parameter of that
// name, or else the relatedArtifact's resource when it is a relative reference to a stored
// Binary. The views run as $viewdefinition-run runs them, under the caller's policy (a column
// reading a field the caller may not read is refused, named, before any row is read), over the
// resources given as resource parameters or the server's, within patient and group
// compartments and after _since when given; their reads are bounded by SQLConfig.MaxRead.

// SQLConfig configures $sqlquery-run.
type SQLConfig struct {
	// Limits bound each query: memory, threads, run time, answer rows, queries at once.
	sqlquery.Limits
	// MaxRead is the most stored resources the views of one query may read.
	MaxRead int
	// MaxAnswerBytes bounds an answer, which is built whole before it is sent so that every
	// failure is an OperationOutcome.
	MaxAnswerBytes int
}

// DefaultSQLConfig returns the $sqlquery-run limits fhirgate runs with unless configured
// otherwise.
func DefaultSQLConfig() SQLConfig {
	return SQLConfig{Limits: sqlquery.DefaultLimits(), MaxRead: 200_000, MaxAnswerBytes: 64 << 20}
}

func sqlRoute(cfg Config, mux *http.ServeMux) {
	mux.HandleFunc("POST /fhir/$sqlquery-run", func(w http.ResponseWriter, r *http.Request) {
		runSQL(cfg, w, r)
	})
}

// sqlRun is a parsed $sqlquery-run request.
type sqlRun struct {
	query  sqlquery.Query
	views  []namedView
	scope  viewrun.Request // the resources the views run over: Resources, Inline, Patient, Groups, Since
	format string
	header bool
}

// namedView is a table of the query: a view and its name in the SQL.
type namedView struct {
	name string
	view *view.View
}

func runSQL(cfg Config, w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if cfg.sql == nil || !sqlquery.Available() {
		writeError(cfg, w, r, fmt.Errorf("%w: this fhirgate was built without cgo, which DuckDB needs; build it with CGO_ENABLED=1 and a C compiler", sqlquery.ErrUnavailable))
		return
	}
	// The views read whole tables: the query's own budget replaces the request's.
	ctx = resolvers.WithReadLimits(ctx, resolvers.ReadLimits{MaxRows: cfg.SQL.MaxRead, Concurrency: cfg.Reads.Concurrency})
	// The views read their resources in one pass, held to the query's read budget (MaxRead)
	// rather than the request's.
	runner := &viewrun.Runner{Store: cfg.Store, MaxRead: cfg.SQL.MaxRead}
	if cfg.exportStore != nil {
		runner.Stream = cfg.exportStore
	}
	run, err := readSQLRun(ctx, runner, r)
	if err == nil {
		err = authorizeViews(ctx, run.views) // every view before any row is read
	}
	if err != nil {
		writeError(cfg, w, r, err)
		return
	}
	for _, nv := range run.views {
		req := run.scope
		req.View = nv.view
		run.query.Tables = append(run.query.Tables, sqlquery.Table{Name: nv.name, Columns: nv.view.Columns, Rows: func(emit func(view.Row) error) error {
			return runner.Run(ctx, &req, emit)
		}})
	}
	ans := &sqlAnswer{format: run.format, header: run.header, buf: &cappedBuffer{max: cfg.SQL.MaxAnswerBytes}}
	if err = cfg.sql.Run(ctx, &run.query, ans); err == nil {
		err = ans.close()
	}
	if err != nil {
		writeError(cfg, w, r, err)
		return
	}
	w.Header().Set("Content-Type", view.ContentType(run.format))
	w.Header().Set("Content-Length", strconv.Itoa(ans.buf.Len()))
	w.Header().Set("X-Row-Count", strconv.Itoa(ans.rows))
	w.WriteHeader(http.StatusOK)
	w.Write(ans.buf.Bytes())
}

// authorizeViews checks every view against the caller's policy.
func authorizeViews(ctx context.Context, views []namedView) error {
	for _, nv := range views {
		if err := viewrun.Authorize(ctx, nv.view); err != nil {
			return err
		}
	}
	return nil
}

// sqlAnswer writes an answer in a view output format into a capped buffer.
type sqlAnswer struct {
	format string
	header bool
	buf    *cappedBuffer
	w      view.Writer
	rows   int
}

func (a *sqlAnswer) Columns(cols []view.Column) error {
	var err error
	if a.format == view.FormatCSV {
		a.w = view.NewCSV(a.buf, cols, a.header)
	} else {
		a.w, err = view.NewWriter(a.format, a.buf, cols)
	}
	return err
}

func (a *sqlAnswer) Row(row view.Row) error {
	a.rows++
	return a.w.Write(row)
}

func (a *sqlAnswer) close() error { return a.w.Close() }

// errAnswerTooLarge refuses an answer beyond SQLConfig.MaxAnswerBytes.
var errAnswerTooLarge = fmt.Errorf("%w: the answer is larger than one answer may be", sqlquery.ErrTooMany)

// cappedBuffer is a buffer that refuses to grow past max bytes.
type cappedBuffer struct {
	bytes.Buffer
	max int
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if c.max > 0 && c.Len()+len(p) > c.max {
		return 0, fmt.Errorf("%w (%d MB); aggregate, add a LIMIT, select fewer columns or set _limit", errAnswerTooLarge, c.max>>20)
	}
	return c.Buffer.Write(p)
}

// readSQLRun reads the operation's parameters, the query and its views.
func readSQLRun(ctx context.Context, runner *viewrun.Runner, r *http.Request) (*sqlRun, error) {
	ps, err := operation.Read(r.Body)
	if err != nil {
		return nil, err
	}
	run := &sqlRun{}
	if run.format, run.header, err = readRunParams(ps, r, &run.scope); err != nil {
		return nil, err
	}
	// _limit bounds the query's answer, not the views' rows it reads.
	run.query.Limit, run.scope.Limit = run.scope.Limit, 0
	var viewParams []operation.Parameter
	for _, p := range ps.Parameter {
		switch {
		case p.Name == "view":
			viewParams = append(viewParams, p)
		case runParams[p.Name], p.Name == "query", p.Name == "queryResource", p.Name == "queryReference", p.Name == "parameters":
		default:
			return nil, invalidRun("unknown parameter %q", p.Name)
		}
	}
	lib, err := readQuery(ctx, runner, ps)
	if err != nil {
		return nil, err
	}
	run.query.SQL = sqlquery.Placeholders(lib.sql, lib.params)
	if run.query.Params, err = queryParams(ps.Get("parameters")); err != nil {
		return nil, err
	}
	byName := map[string]*operation.Parameter{}
	for i := range viewParams {
		nv, err := readView(ctx, runner, &viewParams[i])
		if err != nil {
			return nil, err
		}
		byName[strings.ToLower(nv.name)] = &viewParams[i]
		run.views = append(run.views, nv)
	}
	// The Library's tables that no view parameter gives: stored views its relatedArtifacts name.
	for _, dep := range lib.tables {
		if byName[strings.ToLower(dep.label)] != nil {
			continue
		}
		lr, ok := model.ParseReference(dep.resource)
		if !ok || !lr.IsRelative() || lr.Type != "Binary" {
			return nil, invalidRun("the query's table %s (%s) has no view: give a view parameter named %s", dep.label, dep.resource, dep.label)
		}
		v, err := runner.LoadStored(ctx, dep.resource)
		if err != nil {
			return nil, err
		}
		run.views = append(run.views, namedView{name: dep.label, view: v})
	}
	if len(run.views) == 0 {
		return nil, invalidRun("the query has no table: give each view it reads as a view parameter with parts name and viewResource or viewReference")
	}
	return run, nil
}

// readView reads a view parameter: parts name and viewResource or viewReference; the name
// defaults to the ViewDefinition's own.
func readView(ctx context.Context, runner *viewrun.Runner, p *operation.Parameter) (namedView, error) {
	parts := &operation.Parameters{Parameter: p.Part}
	for _, part := range p.Part {
		switch part.Name {
		case "name", "viewResource", "viewReference":
		default:
			return namedView{}, invalidRun("unknown part %q of a view parameter (name, viewResource, viewReference)", part.Name)
		}
	}
	var nv namedView
	name, _ := parts.Str("name")
	inline, ref := parts.Get("viewResource"), parts.Get("viewReference")
	var err error
	switch {
	case inline != nil && ref != nil:
		return nv, invalidRun("a view parameter gives viewResource or viewReference, not both")
	case inline != nil && len(inline.Resource) > 0:
		nv.view, err = view.Parse(inline.Resource)
	case ref != nil:
		nv.view, err = runner.LoadStored(ctx, referenceText(ref))
	default:
		return nv, invalidRun("a view parameter needs a viewResource (inline) or a viewReference (a stored Binary)")
	}
	if err != nil {
		return nv, err
	}
	nv.name = cmp.Or(name, nv.view.Name)
	if nv.name == "" {
		return nv, invalidRun("a view parameter needs a name part: the table's name in the SQL")
	}
	return nv, nil
}

// sqlLibrary is the SQL of a query and what its Library declares.
type sqlLibrary struct {
	sql    string
	params []string // declared parameter names
	tables []struct{ label, resource string }
}

// readQuery reads the SQL: query (a string), queryResource (an inline SQLQuery Library) or
// queryReference (a stored one), exactly one of them.
func readQuery(ctx context.Context, runner *viewrun.Runner, ps *operation.Parameters) (*sqlLibrary, error) {
	text, inline, ref := ps.Get("query"), ps.Get("queryResource"), ps.Get("queryReference")
	given := 0
	for _, p := range []*operation.Parameter{text, inline, ref} {
		if p != nil {
			given++
		}
	}
	switch {
	case given == 0:
		return nil, invalidRun("the SQL is needed: query (a string), queryResource (a SQLQuery Library) or queryReference (a stored Library)")
	case given > 1:
		return nil, invalidRun("give one of query, queryResource and queryReference")
	case text != nil:
		s, _ := ps.Str("query")
		return &sqlLibrary{sql: s}, nil
	case inline != nil:
		return parseLibrary(inline.Resource)
	}
	lr, ok := model.ParseReference(referenceText(ref))
	if !ok || !lr.IsRelative() || lr.Type != "Library" {
		return nil, invalidRun("queryReference must name a Library on this server (Library/id)")
	}
	if err := guard.CheckType(ctx, "Library", authz.ActRead); err != nil {
		return nil, err
	}
	rec, err := runner.Store.Read(ctx, "Library", lr.ID)
	if err != nil {
		return nil, err
	}
	return parseLibrary(rec.JSON)
}

// parseLibrary reads a SQL on FHIR SQLQuery Library: the SQL of its application/sql content
// (dialect duckdb preferred), its declared parameters and its depends-on tables.
func parseLibrary(data []byte) (*sqlLibrary, error) {
	var lib struct {
		ResourceType string `json:"resourceType"`
		Content      []struct {
			ContentType string `json:"contentType"`
			Data        []byte `json:"data"` // base64 in JSON
		} `json:"content"`
		Parameter []struct {
			Name string `json:"name"`
			Use  string `json:"use"`
		} `json:"parameter"`
		RelatedArtifact []struct {
			Type     string `json:"type"`
			Label    string `json:"label"`
			Resource string `json:"resource"`
		} `json:"relatedArtifact"`
	}
	if err := json.Unmarshal(data, &lib); err != nil || lib.ResourceType != "Library" {
		return nil, invalidRun("queryResource must be a SQLQuery Library")
	}
	out := &sqlLibrary{}
	found, rank := false, 0
	for _, c := range lib.Content {
		mt, params, _ := strings.Cut(strings.ReplaceAll(c.ContentType, " ", ""), ";")
		if mt != "application/sql" {
			continue
		}
		r := 1
		switch params {
		case "dialect=duckdb":
			r = 3
		case "":
			r = 2
		}
		if r > rank {
			out.sql, found, rank = string(c.Data), true, r
		}
	}
	if !found || strings.TrimSpace(out.sql) == "" {
		return nil, invalidRun("the Library has no SQL: a content attachment of contentType application/sql with the SQL in data (base64)")
	}
	for _, p := range lib.Parameter {
		if p.Use == "" || p.Use == "in" {
			out.params = append(out.params, p.Name)
		}
	}
	for _, a := range lib.RelatedArtifact {
		if a.Type != "depends-on" {
			continue
		}
		if a.Label == "" {
			return nil, invalidRun("a depends-on relatedArtifact of the Library has no label: the table's name in the SQL")
		}
		out.tables = append(out.tables, struct{ label, resource string }{a.Label, a.Resource})
	}
	return out, nil
}

// queryParams reads the parameters parameter (a Parameters resource) into the SQL's parameter
// values: strings for textual types, int64 for integers, a json.Number (exact) for decimals,
// bools.
func queryParams(p *operation.Parameter) (map[string]any, error) {
	if p == nil {
		return nil, nil
	}
	ps, err := operation.Read(bytes.NewReader(p.Resource))
	if err != nil {
		return nil, invalidRun("parameters must be a Parameters resource")
	}
	out := map[string]any{}
	for _, q := range ps.Parameter {
		if _, dup := out[q.Name]; dup {
			return nil, invalidRun("query parameter %q is given twice", q.Name)
		}
		if len(q.Value) != 1 {
			return nil, invalidRun("query parameter %q needs one value[x]", q.Name)
		}
		for key, raw := range q.Value {
			v, err := paramValue(key, raw)
			if err != nil {
				return nil, invalidRun("query parameter %q: %s", q.Name, err)
			}
			out[q.Name] = v
		}
	}
	return out, nil
}

// paramValue reads one value[x] of a query parameter.
func paramValue(key string, raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case string:
		if key == "valueBase64Binary" {
			return base64.StdEncoding.DecodeString(x)
		}
		return x, nil
	case bool:
		return x, nil
	case json.Number:
		if key == "valueDecimal" {
			return x, nil
		}
		return x.Int64()
	}
	return nil, errors.New(key + " is not a value a SQL parameter takes (strings, numbers, booleans, dates)")
}
