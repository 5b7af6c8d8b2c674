// Package viewrun runs SQL on FHIR views (package view) for a caller of the server, under its
// policy: the REST operations $viewdefinition-run and $sqlquery-run and the GraphQL field
// viewDefinitionRun share it. It checks the view against the caller's permissions, loads a
// view stored as a Binary, and reads the resources a run covers: those the request carries,
// or the datastore's, in one pass through storage (Each), within patients' compartments and
// after an instant when asked.
package viewrun

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/authz/guard"
	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/fhirpath"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/view"
)

// MaxPatients bounds the patients of the groups (and patient) a run is restricted to.
const MaxPatients = 1000

// ErrInvalid reports a request that cannot be run as it is.
var ErrInvalid = fault.New(fault.Invalid, "invalid view run")

// errForbidden refuses a view that reads what the caller may not.
var errForbidden = fault.New(fault.Forbidden, "forbidden")

// errLimitReached stops a run at its row limit.
var errLimitReached = errors.New("row limit reached")

// Store is what a run reads: stored views and groups by id, resources in one pass (Each), and
// counts of them through search (search.Store). resolvers.Store is one.
type Store interface {
	Read(ctx context.Context, typ, id string) (*storage.Record, error)
	Streamer
	search.Store
}

// Request is one run of a view.
type Request struct {
	View *view.View
	// Resources, when Inline, are the resources to run on instead of the datastore's.
	Resources []map[string]any
	Inline    bool
	// Patient (an id) and Groups (ids) restrict a run on the datastore to those patients'
	// compartments; Since (an instant) to resources changed after it.
	Patient string
	Groups  []string
	Since   string
	// Limit is the most rows the run gives; 0 is no limit.
	Limit int
}

// Streamer reads every resource of a type that matches a filter and changed after an instant
// (zero: any), in one pass, in no particular order: storage.Store.Each, as bulk export reads.
type Streamer interface {
	Each(ctx context.Context, typ string, filter search.Filter, since time.Time, each func(*storage.Record) error) error
}

// Runner runs views on a datastore. It reads the resources of a run in one pass (Each), never
// in search's keyset pages: on the embedded engine each page costs a scan of the type (an id
// range drives no index), so a paged run over n resources read n²/pageSize of them (10,000
// Observations took 238 s, streamed 4 s). A run without a small Limit pipelines that pass:
// storage reads on one goroutine, resources are decoded on another and the view evaluated on
// the caller's, through bounded channels and in storage's order (see pipeline).
//
// Rows come in the order storage reads resources, a view's rows for one resource together in
// the view's order. On the embedded engine a run over a whole type (no patient, group or
// _since) reads in id order; otherwise no order is promised (SQL on FHIR promises none), so
// a Limit keeps the first rows storage reaches. Callers that hold the rows and answer them
// as a list order them by resource id (Collect).
type Runner struct {
	Store Store
	// Stream, when set, is read instead of Store.Each: a store without the request's read
	// budget, for callers that bound the read with MaxRead themselves.
	Stream Streamer
	// MaxRead, when positive, bounds the resources a run on the datastore reads: past it the
	// run fails (search.ErrTooMany).
	MaxRead int
	// CountFirst, with MaxRead, counts a run's resources before it reads any when it has no
	// Limit, and refuses a run over MaxRead before its first row: a streamed answer cannot
	// turn into an error once it has begun. Counting a whole type is cheap (the embedded
	// engine counts it in SQL); a filtered count costs one more pass.
	CountFirst bool
}

// Run checks req's view against the caller's policy (Authorize), then calls emit with each
// of its rows, at most req.Limit of them. Errors of emit are returned as they are.
func (r *Runner) Run(ctx context.Context, req *Request, emit func(view.Row) error) error {
	return r.run(ctx, req, func(_ string, row view.Row) error { return emit(row) })
}

// Collect runs req as Run does and returns its rows, at most max (an error of tooMany past
// them), ordered by the id of the stored resource each comes from and, for one resource, as
// the view gives them; rows of resources given with the request keep their order. The order
// does not depend on the order storage reads in, at the cost of holding the rows: for answers
// of bounded size.
func (r *Runner) Collect(ctx context.Context, req *Request, max int, tooMany func() error) ([]view.Row, error) {
	type keyed struct {
		id  string
		row view.Row
	}
	var rows []keyed
	err := r.run(ctx, req, func(id string, row view.Row) error {
		if len(rows) == max {
			return tooMany()
		}
		rows = append(rows, keyed{id, row})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(rows, func(a, b keyed) int { return cmp.Compare(a.id, b.id) })
	out := make([]view.Row, len(rows))
	for i, k := range rows {
		out[i] = k.row
	}
	return out, nil
}

// run is Run, giving emit the id of the stored resource each row comes from ("" for the
// resources of the request).
func (r *Runner) run(ctx context.Context, req *Request, emit func(id string, row view.Row) error) error {
	if req.Inline && (req.Patient != "" || len(req.Groups) > 0 || req.Since != "") {
		return fmt.Errorf("%w: patient, group and _since select the server's resources; they do not apply to resources given with the request", ErrInvalid)
	}
	if err := Authorize(ctx, req.View); err != nil {
		return err
	}
	rows := 0
	each := func(id string, res map[string]any) error {
		return req.View.Rows(res, func(row view.Row) error {
			if err := emit(id, row); err != nil {
				return err
			}
			if rows++; req.Limit > 0 && rows == req.Limit {
				return errLimitReached
			}
			return nil
		})
	}
	var err error
	if req.Inline {
		for _, res := range req.Resources {
			if err = each("", res); err != nil {
				break
			}
		}
	} else {
		err = r.scan(ctx, req, each)
	}
	if errors.Is(err, errLimitReached) {
		return nil
	}
	return err
}

// scan calls each with the datastore's resources the run covers, in one pass: those of the
// view's type, within the owners' compartments when given, changed after req.Since when
// given. The read stops past MaxRead resources; with CountFirst, a run without a Limit that
// would read more is refused before it starts.
func (r *Runner) scan(ctx context.Context, req *Request, each func(id string, res map[string]any) error) error {
	typ := req.View.Resource
	var since time.Time
	if req.Since != "" {
		t, err := time.Parse(time.RFC3339Nano, req.Since)
		if err != nil {
			return fmt.Errorf("%w: _since must be an instant", ErrInvalid)
		}
		since = t
	}
	within, err := r.compartments(ctx, req)
	if err != nil {
		return err
	}
	var filter search.Filter
	if within != nil {
		f, ok := within.Compartment.FilterAll(typ, within.IDs)
		if !ok {
			return nil // the type has no compartment parameter: nothing of it is within
		}
		filter = f
	}
	if r.CountFirst && r.MaxRead > 0 && req.Limit == 0 {
		if err := r.checkCount(ctx, req, within); err != nil {
			return err
		}
	}
	stream := r.Stream
	if stream == nil {
		stream = r.Store
	}
	run := pipeline
	if req.Limit > 0 && req.Limit < pipeMinLimit {
		run = sequential
	}
	read := 0
	return run(ctx, func(ctx context.Context, send func(*storage.Record) error) error {
		return stream.Each(ctx, typ, filter, since, func(rec *storage.Record) error {
			if read++; r.MaxRead > 0 && read > r.MaxRead {
				return fmt.Errorf("%w: the view reads more than %d %s resources, the most one request may read; narrow it with patient, group or _since, or export with 'fhirgate view'", search.ErrTooMany, r.MaxRead, typ)
			}
			return send(rec)
		})
	}, each)
}

// checkCount refuses a run that would read more than MaxRead resources.
func (r *Runner) checkCount(ctx context.Context, req *Request, within *search.Owners) error {
	typ := req.View.Resource
	args := map[string]any{}
	if req.Since != "" {
		args["_lastUpdated"] = "gt" + req.Since
	}
	q, err := search.Parse(typ, args)
	if err != nil {
		return err
	}
	n, err := (&search.Runner{Store: r.Store}).ScanCount(ctx, q, within)
	if err != nil {
		return err
	}
	if n > int64(r.MaxRead) {
		return fmt.Errorf("%w: the view would read %d %s resources, more than the %d one request may read; narrow it with patient, group, _since or _limit, or export with 'fhirgate view'", search.ErrTooMany, n, typ, r.MaxRead)
	}
	return nil
}

// compartments returns the patients' compartments the run is restricted to, nil when it is
// not (none when its groups have no patient members).
func (r *Runner) compartments(ctx context.Context, req *Request) (*search.Owners, error) {
	if req.Patient == "" && len(req.Groups) == 0 {
		return nil, nil
	}
	ids := map[string]bool{}
	if req.Patient != "" {
		ids[req.Patient] = true
	}
	for _, g := range req.Groups {
		members, err := r.groupPatients(ctx, g)
		if err != nil {
			return nil, err
		}
		for _, id := range members {
			ids[id] = true
		}
		if len(ids) > MaxPatients {
			return nil, fmt.Errorf("%w: the groups have more than %d patients; run the view per group or per patient", ErrInvalid, MaxPatients)
		}
	}
	within := &search.Owners{Compartment: authz.PatientCompartment{}.Compartment()}
	for id := range ids {
		within.IDs = append(within.IDs, id)
	}
	slices.Sort(within.IDs)
	return within, nil
}

// groupMembers is what a group's patients are read from.
var groupMembers = fhirpath.MustCompile("member.where(inactive.empty() or inactive = false).entity.reference")

// groupPatients returns the ids of a stored Group's active Patient members: reading them
// needs read permission on groups and on the members' references.
func (r *Runner) groupPatients(ctx context.Context, id string) ([]string, error) {
	if err := guard.CheckType(ctx, "Group", authz.ActRead); err != nil {
		return nil, err
	}
	if _, err := guard.CheckFHIRPathIn(ctx, "Group", "Group", groupMembers, true); err != nil {
		return nil, fmt.Errorf("group members: %w", err)
	}
	rec, err := r.Store.Read(ctx, "Group", id)
	if err != nil {
		return nil, err
	}
	g, err := view.DecodeResource(rec.JSON)
	if err != nil {
		return nil, fmt.Errorf("viewrun: stored Group/%s: %w", id, err)
	}
	refs, err := groupMembers.Eval(g)
	if err != nil {
		return nil, fmt.Errorf("viewrun: Group/%s members: %w", id, err)
	}
	var out []string
	for _, v := range refs {
		ref, _ := v.Data.(string)
		if lr, ok := model.ParseReference(ref); ok && lr.Type == "Patient" && lr.IsRelative() {
			out = append(out, lr.ID)
		}
	}
	return out, nil
}

// Authorize checks v against the caller in ctx, as a search's fhirpath argument is checked:
// read permission on its resource type, and every expression may read only fields the caller
// may read, on the types of the nodes it is evaluated on; a column's values are read whole. A
// refused column is named.
func Authorize(ctx context.Context, v *view.View) error {
	if err := guard.CheckType(ctx, v.Resource, authz.ActRead); err != nil {
		return err
	}
	return v.Check(func(e view.Expression, focus string) ([]string, error) {
		types, err := guard.CheckFHIRPathIn(ctx, v.Resource, focus, e.Expr, e.Returned)
		switch {
		case !errors.Is(err, fault.Forbidden):
			return types, err
		case e.Column != "":
			return nil, fmt.Errorf("%w: view column %q (%s) reads fields the caller may not read", errForbidden, e.Column, e.Label)
		}
		return nil, fmt.Errorf("%w: the view's %s reads fields the caller may not read", errForbidden, e.Label)
	})
}

// LoadStored compiles the view kept in the Binary ref names ("Binary/id"): R4 has no
// ViewDefinition resource type (see view.ParseBinary). The Binary goes to the compiler, not
// to the caller; it needs read permission on Binary.
func (r *Runner) LoadStored(ctx context.Context, ref string) (*view.View, error) {
	lr, ok := model.ParseReference(ref)
	if !ok || !lr.IsRelative() || lr.Type != "Binary" {
		return nil, fmt.Errorf("%w: viewReference must name a Binary on this server (Binary/id) holding the ViewDefinition: R4 has no ViewDefinition resource type", ErrInvalid)
	}
	if err := guard.CheckType(ctx, "Binary", authz.ActRead); err != nil {
		return nil, err
	}
	rec, err := r.Store.Read(ctx, "Binary", lr.ID)
	if err != nil {
		return nil, err
	}
	return view.ParseBinary(rec.JSON)
}
