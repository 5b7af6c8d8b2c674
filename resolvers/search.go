package resolvers

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/99designs/gqlgen/graphql"

	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/search"
)

// maxReverseBatch bounds the resources one batched reverse-reference query may return.
const maxReverseBatch = 100000

// parse parses a search over typ and has the Guard, when there is one, check that the
// caller may search by everything it names.
func (r *Resolver) parse(ctx context.Context, typ string, args map[string]any) (*search.Query, error) {
	q, err := search.Parse(typ, args)
	if err != nil {
		return nil, err
	}
	if r.Guard != nil {
		if err := r.Guard.CheckSearch(ctx, q); err != nil {
			return nil, err
		}
	}
	return q, nil
}

func (r *Resolver) runner() *search.Runner {
	return &search.Runner{Store: r.Store, ListLimit: r.ListLimit, PageSize: r.PageSize, Cursors: r.Cursors}
}

// rawArgs returns the current field's arguments as the query wrote them, variables
// substituted: search.Parse reads them all, whatever the generated signature holds.
func rawArgs(ctx context.Context) map[string]any {
	fc := graphql.GetFieldContext(ctx)
	oc := graphql.GetOperationContext(ctx)
	if fc == nil || fc.Field.Field == nil {
		return map[string]any{}
	}
	var vars map[string]any
	if oc != nil {
		vars = oc.Variables
	}
	return fc.Field.ArgumentMap(vars)
}

func searchList[T model.Resource](ctx context.Context, r *Resolver, typ string) ([]T, error) {
	args := rawArgs(ctx)
	if ids, ok := onlyIDs(args); ok {
		// A lookup by _id goes through the request's loader: one batch, served by the
		// _id index on every engine.
		q, err := r.parse(ctx, typ, args)
		if err != nil {
			return nil, err
		}
		limit := r.ListLimit
		if q.Count != nil {
			if *q.Count > r.ListLimit {
				return nil, fmt.Errorf("%w: _count %d exceeds the list limit of %d", ErrTooMany, *q.Count, r.ListLimit)
			}
			limit = *q.Count
		}
		return listByID[T](ctx, r, typ, ids, q.Offset, limit, q.Count == nil)
	}
	q, err := r.parse(ctx, typ, args)
	if err != nil {
		return nil, err
	}
	recs, err := r.runner().List(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(recs))
	all := make([]model.Resource, 0, len(recs))
	for _, rec := range recs {
		res, err := decode(rec)
		if err != nil {
			return nil, err
		}
		out = append(out, res.(T))
		all = append(all, res)
	}
	r.prefetch(ctx, all)
	return out, nil
}

// onlyIDs reports whether a search names resources by _id (plain values) and pages
// only, and returns the ids.
func onlyIDs(args map[string]any) ([]*string, bool) {
	var ids []*string
	for k, v := range args {
		switch k {
		case search.ArgCount, search.ArgOffset:
			continue
		case "_id":
		default:
			if v != nil {
				return nil, false
			}
			continue
		}
		switch x := v.(type) {
		case string:
			ids = append(ids, &x)
		case []any:
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					return nil, false
				}
				ids = append(ids, &s)
			}
		default:
			return nil, false
		}
	}
	return ids, ids != nil
}

func searchConnection(ctx context.Context, r *Resolver, typ string) (*search.Connection, error) {
	q, err := r.parse(ctx, typ, rawArgs(ctx))
	if err != nil {
		return nil, err
	}
	c, err := r.runner().Connection(ctx, q)
	if err != nil {
		return nil, err
	}
	// Reverse references selected on the page's resources: one batch for the page.
	if oc, fc := graphql.GetOperationContext(ctx), graphql.GetFieldContext(ctx); oc != nil && fc != nil {
		all := make([]model.Resource, len(c.Edges))
		for i, e := range c.Edges {
			all[i] = e.Resource
		}
		r.prefetchReverse(ctx, all, edgeResourceSelections(oc, fc.Field.Selections, typ+"Connection", typ+"Edge"))
	}
	return c, nil
}

func edgeResource[T model.Resource](e *search.Edge) (T, error) {
	var zero T
	if e.Resource == nil {
		return zero, nil
	}
	res, ok := e.Resource.(T)
	if !ok {
		return zero, fmt.Errorf("search edge holds a %s, not a %s", e.Resource.TypeName(), zero.TypeName())
	}
	return res, nil
}

// reverseSpec is a reverse-reference field's arguments: which resources of which type
// refer to the parent through which parameter, filtered and paged how.
type reverseSpec struct {
	src, ref string
	args     map[string]any // search arguments over src, paging included
	key      string         // the arguments, canonical: the batch key without the parent
	conn     bool
}

func parseReverse(raw map[string]any, conn bool) (*reverseSpec, error) {
	src, _ := raw["type"].(string)
	ref, _ := raw[search.ArgReference].(string)
	if src == "" || ref == "" {
		return nil, fmt.Errorf("%w: a reverse reference needs type and _reference", search.ErrInvalid)
	}
	args := map[string]any{}
	if p, ok := raw["_params"].(map[string]any); ok {
		for k, v := range p {
			args[k] = v
		}
	} else if raw["_params"] != nil {
		return nil, fmt.Errorf("%w: _params takes an object of search arguments", search.ErrInvalid)
	}
	for _, k := range []string{search.ArgCount, search.ArgOffset, search.ArgSort, search.ArgCursor, search.ArgTotal} {
		if v, ok := raw[k]; ok && v != nil {
			args[k] = v
		}
	}
	b, err := json.Marshal(map[string]any{"t": src, "r": ref, "a": args, "c": conn})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", search.ErrInvalid, err)
	}
	return &reverseSpec{src: src, ref: ref, args: args, key: string(b), conn: conn}, nil
}

// reverseResult is one parent's reverse references: a list or a connection.
type reverseResult struct {
	list []model.Resource
	conn *search.Connection
	err  error
}

func reverseList(ctx context.Context, r *Resolver, obj model.Resource) ([]model.Resource, error) {
	res := r.reverse(ctx, obj, false)
	return res.list, res.err
}

func reverseConnection(ctx context.Context, r *Resolver, obj model.Resource) (*search.Connection, error) {
	res := r.reverse(ctx, obj, true)
	return res.conn, res.err
}

// reverse answers a reverse-reference field from what prefetchReverse fetched for all
// parents at this level, or fetches it for this parent alone.
func (r *Resolver) reverse(ctx context.Context, obj model.Resource, conn bool) reverseResult {
	spec, err := parseReverse(rawArgs(ctx), conn)
	if err != nil {
		return reverseResult{err: err}
	}
	l := loadersFor(ctx, r.Store)
	parent := obj.TypeName() + "/" + obj.ResourceID()
	if res, ok := l.reverseCached(spec.key, parent); ok {
		return res
	}
	results := r.fetchReverse(ctx, spec, []model.Resource{obj})
	return results[parent]
}

// fetchReverse runs one query for the reverse references of all parents and splits
// the matches by the parent they refer to.
func (r *Resolver) fetchReverse(ctx context.Context, spec *reverseSpec, parents []model.Resource) map[string]reverseResult {
	out := make(map[string]reverseResult, len(parents))
	fail := func(err error) map[string]reverseResult {
		for _, p := range parents {
			out[p.TypeName()+"/"+p.ResourceID()] = reverseResult{err: err}
		}
		return out
	}
	q, err := r.parse(ctx, spec.src, spec.args)
	if err != nil {
		return fail(err)
	}
	var refs []string
	for _, p := range parents {
		refs = append(refs, p.TypeName()+"/"+p.ResourceID())
	}
	p := search.ParamOf(spec.src, spec.ref)
	if p == nil || p.Type != "reference" {
		return fail(fmt.Errorf("%w: %q is not a reference search parameter of %s", search.ErrInvalid, spec.ref, spec.src))
	}
	if !slices.Contains(p.Targets, parents[0].TypeName()) {
		return fail(fmt.Errorf("%w: %s.%s cannot refer to %s", search.ErrInvalid, spec.src, spec.ref, parents[0].TypeName()))
	}
	paramCode := p.Code
	limit := min(r.ListLimit*len(parents), maxReverseBatch)
	recs, err := r.runner().Referrers(ctx, q, paramCode, refs, limit+1)
	if err != nil {
		return fail(err)
	}
	if len(recs) > limit {
		return fail(fmt.Errorf("%w: more than %d %s resources refer to these %d resources; narrow the search", ErrTooMany, limit, spec.src, len(parents)))
	}
	byParent := map[string][]model.Resource{}
	for _, rec := range recs {
		res, err := decode(rec)
		if err != nil {
			return fail(err)
		}
		seen := map[string]bool{}
		for _, ref := range search.Refs(rec.Doc, paramCode) {
			if !seen[ref] {
				seen[ref] = true
				byParent[ref] = append(byParent[ref], res)
			}
		}
	}
	for _, ref := range refs {
		all := byParent[ref]
		if spec.conn {
			c, err := search.StaticConnection(q, all, r.PageSize, r.ListLimit, r.Cursors)
			out[ref] = reverseResult{conn: c, err: err}
			continue
		}
		all = all[min(q.Offset, len(all)):]
		switch {
		case q.Count != nil && len(all) > *q.Count:
			all = all[:*q.Count]
		case q.Count == nil && len(all) > r.ListLimit:
			out[ref] = reverseResult{err: fmt.Errorf("%w: more than %d %s resources refer to %s; page with _count and _offset", ErrTooMany, r.ListLimit, spec.src, ref)}
			continue
		}
		if all == nil {
			all = []model.Resource{}
		}
		out[ref] = reverseResult{list: all}
	}
	return out
}
