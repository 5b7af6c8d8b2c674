package resolvers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"

	"github.com/fhirgate/fhirgate/aggregate"
	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/authz/guard"
	"github.com/fhirgate/fhirgate/fhirpath"
	"github.com/fhirgate/fhirgate/graph"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/search"
)

// MinCell is the minimum cell size policy of aggregates: groups of fewer than Size resources
// are left out (and counted as suppressed) for the callers it applies to, and an aggregate of
// fewer matches (but none) is refused. It applies to the callers holding one of Roles, or, when
// Roles is empty, to those who read the aggregated type de-identified (the policy hides some of
// its fields from them, as it hides names and identifiers from the analyst role). Size 0 is off.
type MinCell struct {
	Size  int
	Roles []string
}

// size returns the minimum cell size for the caller in ctx aggregating typ; 0 when none applies.
func (m MinCell) size(ctx context.Context, typ string) int {
	if m.Size <= 0 {
		return 0
	}
	if len(m.Roles) == 0 {
		if guard.Deidentified(ctx, typ) {
			return m.Size
		}
		return 0
	}
	if p := authz.PrincipalFrom(ctx); p != nil && slices.ContainsFunc(m.Roles, p.HasRole) {
		return m.Size
	}
	return 0
}

// Aggregate counts and summarises the resources of typ that where matches (XList's search
// arguments as an object), grouped by groupBy, with statistics of measures (see package
// aggregate). The search and every key and measure are authorised as searches are; an
// aggregate reads its matches a page at a time, beyond the request's row limit, one storage
// call at a time. The plan that ran is reported in extensions.aggregatePlans by field path.
func (r *queryResolver) Aggregate(ctx context.Context, typ graph.ResourceType, where *search.Value, groupBy []*graph.AggregateKey, measures []*graph.AggregateMeasure) (*graph.Aggregate, error) {
	req, err := r.Resolver.aggregateRequest(ctx, string(typ), where, groupBy, measures)
	if err != nil {
		return nil, err
	}
	ctx = WithReadLimits(ctx, ReadLimits{Concurrency: 1})
	run := &aggregate.Runner{Search: &search.Runner{Store: r.Resolver.Store}, Stream: r.Resolver.Store, Pipelines: r.Resolver.Pipelines}
	res, err := run.Run(ctx, req)
	if err != nil {
		return nil, err
	}
	reportPlan(ctx, res.Plan)
	out := &graph.Aggregate{Count: int(res.Count), Stats: graphStats(res.Stats), Groups: []*graph.AggregateGroup{}, Suppressed: res.Suppressed}
	for _, g := range res.Groups {
		out.Groups = append(out.Groups, &graph.AggregateGroup{Key: g.Key, Count: int(g.Count), Stats: graphStats(g.Stats)})
	}
	return out, nil
}

// aggregateRequest reads and authorises an aggregate's arguments.
func (r *Resolver) aggregateRequest(ctx context.Context, typ string, where *search.Value, groupBy []*graph.AggregateKey, measures []*graph.AggregateMeasure) (*aggregate.Request, error) {
	args := map[string]any{}
	if where != nil && where.V != nil {
		m, ok := where.V.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: where takes the search arguments of %sList as an object", aggregate.ErrInvalid, typ)
		}
		args = m
	}
	q, err := r.parse(ctx, typ, args) // the Guard checks the search
	if err != nil {
		return nil, err
	}
	req := &aggregate.Request{Query: q, MinCell: r.MinCell.size(ctx, typ)}
	var params []*model.SearchParam
	for _, k := range groupBy {
		key := aggregate.Key{Name: label(k.Name, k.Param, k.Fhirpath)}
		if k.Bucket != nil {
			key.Bucket = aggregate.Bucket(strings.ToLower(string(*k.Bucket)))
		}
		if key.Param, key.Expr, err = source(ctx, typ, k.Param, k.Fhirpath); err != nil {
			return nil, fmt.Errorf("group key %q: %w", key.Name, err)
		}
		if key.Param != nil {
			params = append(params, key.Param)
		}
		req.Keys = append(req.Keys, key)
	}
	for _, m := range measures {
		ms := aggregate.Measure{Name: label(m.Name, m.Param, m.Fhirpath), Percentiles: m.Percentiles}
		if ms.Param, ms.Expr, err = source(ctx, typ, m.Param, m.Fhirpath); err != nil {
			return nil, fmt.Errorf("measure %q: %w", ms.Name, err)
		}
		if ms.Param != nil {
			params = append(params, ms.Param)
		}
		req.Measures = append(req.Measures, ms)
	}
	// Grouping or summarising by a parameter reads its indexed values, as searching by it does.
	if err := guard.CheckParams(ctx, typ, params...); err != nil {
		return nil, err
	}
	return req, nil
}

// label is a key's or measure's name: its own, else its parameter or expression.
func label(name, param, expr *string) string {
	for _, s := range []*string{name, param, expr} {
		if s != nil && *s != "" {
			return *s
		}
	}
	return ""
}

// source reads a key's or measure's parameter (by its code or its argument name) or FHIRPath
// expression, one of them; an expression is compiled against typ and checked, its results read
// whole, against what the caller may read.
func source(ctx context.Context, typ string, param, expr *string) (*model.SearchParam, *fhirpath.Expr, error) {
	switch {
	case param != nil && expr != nil:
		return nil, nil, fmt.Errorf("%w: give param or fhirpath, not both", aggregate.ErrInvalid)
	case param != nil:
		p := search.ParamOf(typ, search.ArgName(*param))
		if p == nil {
			return nil, nil, fmt.Errorf("%w: %s has no search parameter %q", aggregate.ErrInvalid, typ, *param)
		}
		return p, nil, nil
	case expr != nil:
		e, err := fhirpath.CompileFor(typ, *expr)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: fhirpath: %w", aggregate.ErrInvalid, err)
		}
		if _, err := guard.CheckFHIRPathIn(ctx, typ, typ, e, true); err != nil {
			return nil, nil, err
		}
		return nil, e, nil
	}
	return nil, nil, fmt.Errorf("%w: give param or fhirpath", aggregate.ErrInvalid)
}

func graphStats(in []aggregate.Stats) []*graph.AggregateStats {
	out := make([]*graph.AggregateStats, 0, len(in))
	for _, s := range in {
		g := &graph.AggregateStats{Name: s.Name, Unit: s.Unit, Count: int(s.Count)}
		if s.Count > 0 {
			mean := s.Mean()
			g.Min, g.Max, g.Mean, g.Sum = &s.Min, &s.Max, &mean, &s.Sum
		}
		for i := range s.Percentiles {
			g.Percentiles = append(g.Percentiles, &s.Percentiles[i])
		}
		out = append(out, g)
	}
	return out
}

var planMu sync.Mutex

// reportPlan notes the plan an aggregate ran in the answer's extensions.aggregatePlans, under
// the field's path.
func reportPlan(ctx context.Context, plan string) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return
	}
	planMu.Lock()
	defer planMu.Unlock()
	plans, _ := graphql.GetExtension(ctx, "aggregatePlans").(map[string]string)
	if plans == nil {
		plans = map[string]string{}
	}
	plans[fc.Path().String()] = plan
	graphql.RegisterExtension(ctx, "aggregatePlans", plans)
}
