package aggregate

import (
	"context"
	"math"

	"github.com/fhirgate/fhirgate/search"
)

// pipelined reports whether req can run as the pipeline plan: an engine with pipelines, keys
// and measures that are all search parameters, no percentiles and no fhirpath argument.
func (r *Runner) pipelined(req *Request) bool {
	if r.Pipelines == nil || !r.Pipelines.Pipelines() || req.Query.FHIRPath != "" {
		return false
	}
	for _, k := range req.Keys {
		if k.Param == nil {
			return false
		}
	}
	for _, m := range req.Measures {
		if m.Param == nil || len(m.Percentiles) > 0 {
			return false
		}
	}
	return true
}

// pipeline runs the pipeline plan; it returns nil, and no error, when the engine refuses the
// pipeline.
func (r *Runner) pipeline(ctx context.Context, req *Request) (*Result, error) {
	spec := search.GroupSpec{MaxGroups: r.maxGroups()}
	for _, k := range req.Keys {
		spec.Keys = append(spec.Keys, search.GroupKey{Param: k.Param, Bucket: string(k.Bucket)})
	}
	for _, m := range req.Measures {
		spec.Measures = append(spec.Measures, m.Param)
	}
	g, ok, err := r.Search.Group(ctx, r.Pipelines, req.Query, spec)
	if err != nil || !ok {
		return nil, err
	}
	return fromGrouped(g, req, r.maxGroups())
}

// fromGrouped renders the engine's groups as the stream plan would: keys rendered (groups whose
// keys render alike merge), statistics per unit.
func fromGrouped(g *search.Grouped, req *Request, maxGroups int) (*Result, error) {
	res := &Result{Count: g.Total, Plan: "pipeline"}
	type merged struct {
		key   []*string
		count int64
		stats []map[string]*summary
	}
	groups := map[string]*merged{}
	var order []string
	render := func(keys []*search.Indexed) []*string {
		out := make([]*string, len(keys))
		for i, x := range keys {
			if x == nil {
				continue
			}
			if s, ok := renderIndexed(req.Keys[i].Param.Type, *x, req.Keys[i].Bucket); ok {
				out[i] = &s
			}
		}
		return out
	}
	group := func(key []*string) *merged {
		id := tupleID(key)
		m := groups[id]
		if m == nil {
			m = &merged{key: key, stats: make([]map[string]*summary, len(req.Measures))}
			for i := range m.stats {
				m.stats[i] = map[string]*summary{}
			}
			groups[id] = m
			order = append(order, id)
		}
		return m
	}
	for _, row := range g.Groups {
		group(render(row.Keys)).count += row.Count
	}
	if len(groups) > maxGroups {
		return nil, errTooManyGroups(maxGroups)
	}
	totals := make([]map[string]*summary, len(req.Measures))
	for i := range totals {
		totals[i] = map[string]*summary{}
	}
	for _, row := range g.Stats {
		into := totals
		if row.Grouped {
			into = group(render(row.Keys)).stats
		}
		unit := ""
		if row.Unit != nil {
			unit = *row.Unit
		}
		sm := into[row.Measure][unit]
		if sm == nil {
			sm = &summary{min: math.Inf(1), max: math.Inf(-1)}
			into[row.Measure][unit] = sm
		}
		sm.merge(&summary{count: row.Count, min: row.Min, max: row.Max, sum: row.Sum})
	}
	res.Stats = summaries{byMeasure: totals}.stats(req.Measures)
	res.Groups = []Group{}
	if len(req.Keys) > 0 {
		for _, id := range order {
			m := groups[id]
			res.Groups = append(res.Groups, Group{Key: m.key, Count: m.count, Stats: summaries{byMeasure: m.stats}.stats(req.Measures)})
		}
	}
	return res, nil
}
