package introspect

import (
	"context"
	"crypto/sha256"
	"encoding/json"

	"github.com/99designs/gqlgen/graphql"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// cacheSize bounds the answers a Cache keeps: clients send a handful of different
// introspection queries (GraphiQL's, codegen tools'), not thousands.
const cacheSize = 4

// Cache holds the answers of one view of the schema, by operation and variables.
type Cache struct {
	answers *lru.Cache[[sha256.Size]byte, json.RawMessage]
}

// NewCache returns an empty Cache.
func NewCache() *Cache {
	c, _ := lru.New[[sha256.Size]byte, json.RawMessage](cacheSize) // the size is valid
	return &Cache{answers: c}
}

// Len returns the number of answers kept.
func (c *Cache) Len() int { return c.answers.Len() }

// View returns the schema a request's introspection shows and the cache of its answers; a
// nil schema leaves the request to gqlgen.
type View func(ctx context.Context) (*ast.Schema, *Cache)

// Whole is the View of a server that shows everything: all of s.
func Whole(s *ast.Schema) View {
	c := NewCache()
	return func(context.Context) (*ast.Schema, *Cache) { return s, c }
}

// Answers is an operation middleware that answers an operation that only introspects from
// its view's schema (answer) and keeps the answer: it depends on the view and the operation
// alone, and a full introspection writes megabytes. Other operations go on to gqlgen.
func Answers(view View) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		oc := graphql.GetOperationContext(ctx)
		if oc == nil || oc.DisableIntrospection || !only(oc.Operation) {
			return next(ctx)
		}
		s, cache := view(ctx)
		k, ok := key(oc)
		if s == nil || !ok {
			return next(ctx)
		}
		if data, ok := cache.answers.Get(k); ok {
			return graphql.OneShot(&graphql.Response{Data: data})
		}
		data, err := answer(oc, s)
		if err != nil {
			return next(ctx) // gqlgen answers, or reports, what the direct answer does not know
		}
		cache.answers.Add(k, data)
		return graphql.OneShot(&graphql.Response{Data: data})
	}
}

// only reports whether op is a query that selects nothing but __schema, __type
// and __typename at its root (fragments included).
func only(op *ast.OperationDefinition) bool {
	if op == nil || op.Operation != ast.Query {
		return false
	}
	var selects func(set ast.SelectionSet, depth int) bool
	selects = func(set ast.SelectionSet, depth int) bool {
		if depth > 8 { // fragments spreading fragments: not worth following
			return false
		}
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				if s.Name != "__schema" && s.Name != "__type" && s.Name != "__typename" {
					return false
				}
			case *ast.InlineFragment:
				if !selects(s.SelectionSet, depth+1) {
					return false
				}
			case *ast.FragmentSpread:
				if s.Definition == nil || !selects(s.Definition.SelectionSet, depth+1) {
					return false
				}
			}
		}
		return len(set) > 0
	}
	return selects(op.SelectionSet, 0)
}

// key identifies an introspection operation's answer within a view: the
// query text, the operation chosen and the variables.
func key(oc *graphql.OperationContext) ([sha256.Size]byte, bool) {
	vars, err := json.Marshal(oc.Variables) // map keys in order: the same variables, the same bytes
	if err != nil {
		return [sha256.Size]byte{}, false
	}
	h := sha256.New()
	for _, part := range []string{oc.RawQuery, oc.OperationName, string(vars)} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	return key, true
}
