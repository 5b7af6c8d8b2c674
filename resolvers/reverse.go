package resolvers

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/fhirgate/fhirgate/model"
)

// Names of the generic reverse-reference fields the api rewrites XList(_reference:) and
// XConnection(_reference:) into.
const (
	reverseListField = "_reverse"
	reverseConnField = "_reverseConnection"
)

// prefetchReverse fetches, for all parents at once, every reverse-reference field that
// sel selects on them, then does the same one level down for everything it fetched:
// one query per field and nesting level, whatever the number of parents.
func (r *Resolver) prefetchReverse(ctx context.Context, parents []model.Resource, sel ast.SelectionSet) {
	r.prefetchReverseAt(ctx, parents, sel, 0)
}

// maxReverseDepth bounds how deep prefetchReverse follows reverse references; the
// query depth limit bounds them anyway, and deeper levels still resolve, unbatched.
const maxReverseDepth = 8

func (r *Resolver) prefetchReverseAt(ctx context.Context, parents []model.Resource, sel ast.SelectionSet, depth int) {
	oc := graphql.GetOperationContext(ctx)
	if oc == nil || len(parents) == 0 || len(sel) == 0 || depth == maxReverseDepth {
		return
	}
	l := loadersFor(ctx, r.Store)
	byType := map[string][]model.Resource{}
	var order []string
	for _, p := range parents {
		if p == nil {
			continue
		}
		if byType[p.TypeName()] == nil {
			order = append(order, p.TypeName())
		}
		byType[p.TypeName()] = append(byType[p.TypeName()], p)
	}
	for _, typ := range order {
		for _, f := range graphql.CollectFields(oc, sel, []string{typ}) {
			if f.Name != reverseListField && f.Name != reverseConnField {
				continue
			}
			conn := f.Name == reverseConnField
			spec, err := parseReverse(f.ArgumentMap(oc.Variables), conn)
			if err != nil {
				continue // the resolver reports it
			}
			results := r.fetchReverse(ctx, spec, byType[typ])
			l.storeReverse(spec.key, results)
			var children []model.Resource
			for _, res := range results {
				children = append(children, res.list...)
				if res.conn != nil {
					for _, e := range res.conn.Edges {
						children = append(children, e.Resource)
					}
				}
			}
			childSel := f.Selections
			if conn {
				childSel = edgeResourceSelections(oc, f.Selections, "ResourceConnection", "ResourceEdge")
			}
			r.prefetchReverseAt(ctx, children, childSel, depth+1)
		}
	}
}

// edgeResourceSelections returns what a connection selection selects on edges.resource.
func edgeResourceSelections(oc *graphql.OperationContext, sel ast.SelectionSet, connType, edgeType string) ast.SelectionSet {
	var out ast.SelectionSet
	for _, e := range graphql.CollectFields(oc, sel, []string{connType}) {
		if e.Name != "edges" {
			continue
		}
		for _, rf := range graphql.CollectFields(oc, e.Selections, []string{edgeType}) {
			if rf.Name == "resource" {
				out = append(out, rf.Selections...)
			}
		}
	}
	return out
}
