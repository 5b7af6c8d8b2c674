package notify

import (
	"context"
	"fmt"
	"slices"

	"github.com/fhirgate/fhirgate/fhirpath"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
)

// criteria decide which changes of one resource type a subscription receives: the search
// it was made with, evaluated in memory on the version a change wrote and on the one before,
// the kinds of change it asked for, and the storage scope of its caller (a patient's
// compartment), which every version it receives must meet.
type criteria struct {
	typ  string
	ops  []Op // nil: every kind
	q    *search.Query
	find search.Finder

	// filter is the search's filter; dynamic when it runs sub-searches (chains, _has), whose
	// results change with other resources, so it is built again for each change.
	filter  *storage.Filter
	dynamic bool
	path    *fhirpath.Expr

	// scope is the caller's storage scope over typ: nil when unscoped; none when nothing
	// of typ is in it.
	scope *storage.Filter
	none  bool
}

// recordingFinder notes whether a filter ran sub-searches.
type recordingFinder struct {
	search.Finder
	used bool
}

func (f *recordingFinder) Find(ctx context.Context, typ string, filter search.Filter, refParam string, limit int) ([]string, []string, error) {
	f.used = true
	return f.Finder.Find(ctx, typ, filter, refParam, limit)
}

// newCriteria prepares the criteria of req for the caller in ctx, whose scope and
// sub-searches storage confines.
func newCriteria(ctx context.Context, store search.Store, req Request) (*criteria, error) {
	c := &criteria{typ: req.Type, ops: req.Ops, q: req.Query, find: search.StoreFinder{Store: store}}
	if c.q != nil {
		switch {
		case c.q.Type != req.Type:
			return nil, fmt.Errorf("%w: criteria over %s for a subscription to %s", ErrInvalid, c.q.Type, req.Type)
		case c.q.Count != nil || c.q.Offset != 0 || len(c.q.Sort) > 0 || c.q.Cursor != "" || c.q.Total != "":
			return nil, fmt.Errorf("%w: a subscription's criteria filter changes; _count, _offset, _sort, _cursor and _total do not apply", ErrInvalid)
		case c.q.Reference != "":
			return nil, fmt.Errorf("%w: _reference does not apply to a subscription", ErrInvalid)
		}
		rf := &recordingFinder{Finder: c.find}
		f, err := c.q.Filter(ctx, rf)
		if err != nil {
			return nil, err
		}
		c.filter, c.dynamic = storage.NewFilter(f), rf.used
		if c.q.FHIRPath != "" {
			if c.path, err = fhirpath.Compile(c.q.FHIRPath); err != nil {
				return nil, fmt.Errorf("%w: fhirpath: %w", ErrInvalid, err)
			}
		}
	}
	scope, ok := storage.ScopeFilter(ctx, req.Type)
	c.scope, c.none = scope, !ok
	return c, nil
}

// wants reports whether the subscription asked for changes of kind op.
func (c *criteria) wants(op Op) bool { return c.ops == nil || slices.Contains(c.ops, op) }

// refresh rebuilds a dynamic filter for the change about to be evaluated.
func (c *criteria) refresh(ctx context.Context) error {
	if !c.dynamic {
		return nil
	}
	f, err := c.q.Filter(ctx, c.find)
	if err != nil {
		return err
	}
	c.filter = storage.NewFilter(f)
	return nil
}

// matches reports whether version v meets the search.
func (c *criteria) matches(v *version) (bool, error) {
	if v == nil {
		return false, nil
	}
	if c.filter != nil {
		m, err := v.matchable()
		if err != nil {
			return false, err
		}
		if ok, err := c.filter.Matches(m); err != nil || !ok {
			return false, err
		}
	}
	if c.path != nil {
		tree, err := v.json()
		if err != nil {
			return false, err
		}
		vals, err := c.path.Eval(tree)
		if err != nil {
			return false, nil // an expression that fails on a version selects nothing there
		}
		return search.Truthy(vals), nil
	}
	return true, nil
}

// inScope reports whether the caller's scope holds version v.
func (c *criteria) inScope(v *version) (bool, error) {
	switch {
	case v == nil || c.none:
		return false, nil
	case c.scope == nil:
		return true, nil
	}
	m, err := v.matchable()
	if err != nil {
		return false, err
	}
	return c.scope.Matches(m)
}

// evaluate returns the event write e makes for the subscription, or nil. A change that
// makes a resource match is delivered with its new version; one that makes it stop
// matching (a delete included) is delivered as leaving. The version delivered, or for a
// delete the version deleted, must lie in the caller's scope: a resource outside it is
// never delivered, not even as leaving.
func (c *criteria) evaluate(e *entry) (*Event, error) {
	if e.typ != c.typ || !c.wants(e.op) {
		return nil, nil
	}
	now, err := c.matches(e.cur)
	if err != nil {
		return nil, err
	}
	before := false
	if !now {
		if before, err = c.matches(e.prev); err != nil || !before {
			return nil, err
		}
	}
	shown := e.cur
	if e.op == Delete {
		shown = e.prev
	}
	if in, err := c.inScope(shown); err != nil || !in {
		return nil, err
	}
	ev := &Event{Op: e.op, Leaving: !now, Type: e.typ, ID: e.id, Version: e.v, Time: e.time, Record: e.tomb, v: e.cur}
	if e.cur != nil {
		ev.Record = e.cur.rec
	}
	return ev, nil
}
