package api

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

var errTooComplex = errors.New("query too complex")

// A query refused by the limits is a protocol error, like a validation failure: gqlgen answers
// it with 422 rather than 200.
func init() { errcode.RegisterErrorType("QUERY_TOO_COMPLEX", errcode.KindProtocol) }

// Limits bound what one GraphQL operation may ask for. Both are enforced before execution.
type Limits struct {
	// MaxDepth is the deepest nesting of selections allowed.
	MaxDepth int
	// MaxCost is the highest estimated cost allowed: every field costs one (ten when it reads
	// storage: root fields and resolved resources), and the fields under a list count once per
	// element expected (its _count argument, else ListGuess).
	MaxCost int
	// ListGuess is the number of elements assumed for a list without a _count argument.
	ListGuess int
}

// limitsExtension enforces Limits on each validated operation.
type limitsExtension struct{ Limits }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = limitsExtension{}

func (limitsExtension) ExtensionName() string                   { return "FHIRGateLimits" }
func (limitsExtension) Validate(graphql.ExecutableSchema) error { return nil }
func (l limitsExtension) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	depth, cost := measure(oc.Operation.SelectionSet, oc.Variables, l.ListGuess, 1)
	if l.MaxDepth > 0 && depth > l.MaxDepth {
		return limitError(fmt.Sprintf("query depth %d exceeds the limit of %d", depth, l.MaxDepth))
	}
	if l.MaxCost > 0 && cost > l.MaxCost {
		return limitError(fmt.Sprintf("query cost %d exceeds the limit of %d", cost, l.MaxCost))
	}
	return nil
}

func limitError(msg string) *gqlerror.Error {
	return &gqlerror.Error{
		Err:     fmt.Errorf("%w: %s", errTooComplex, msg),
		Message: msg,
		Extensions: map[string]any{
			"code":     "QUERY_TOO_COMPLEX",
			"resource": outcomeJSON("error", "too-costly", msg),
		},
	}
}

// measure returns the depth and estimated cost of a selection set at the given depth.
// Cost saturates instead of overflowing, so a hostile query cannot wrap it around.
func measure(set ast.SelectionSet, vars map[string]any, listGuess, depth int) (maxDepth, cost int) {
	maxDepth = depth - 1
	for _, sel := range set {
		var d, c int
		switch s := sel.(type) {
		case *ast.Field:
			d, c = measure(s.SelectionSet, vars, listGuess, depth+1)
			if len(s.SelectionSet) == 0 {
				d = depth
			}
			if s.Definition != nil && s.Definition.Type.Elem != nil {
				c = mulSat(c, listSize(s, vars, listGuess))
			}
			c = addSat(c, fieldCost(s, depth))
		case *ast.InlineFragment:
			d, c = measure(s.SelectionSet, vars, listGuess, depth)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				d, c = measure(s.Definition.SelectionSet, vars, listGuess, depth)
			}
		}
		maxDepth = max(maxDepth, d)
		cost = addSat(cost, c)
	}
	return maxDepth, cost
}

// readCost is the cost of a field that reads storage: a root field or a resolved resource.
const readCost = 10

// fieldCost is the cost of one field itself: readCost when it reads storage, else one, so that
// a query of many aliased reads costs what it makes the server do.
func fieldCost(f *ast.Field, depth int) int {
	if depth == 1 || (f.Definition != nil && f.Definition.Type.Name() == "Resource") {
		return readCost
	}
	return 1
}

func listSize(f *ast.Field, vars map[string]any, guess int) int {
	arg := f.Arguments.ForName("_count")
	if arg == nil {
		return guess
	}
	v, err := arg.Value.Value(vars)
	if err != nil {
		return guess
	}
	switch n := v.(type) {
	case int64:
		return clampInt(n)
	case int:
		return clampInt(int64(n))
	case string:
		if i, err := strconv.ParseInt(n, 10, 64); err == nil {
			return clampInt(i)
		}
	}
	return guess
}

func clampInt(n int64) int {
	if n < 1 {
		return 1
	}
	if n > 1<<30 {
		return 1 << 30
	}
	return int(n)
}

const costCap = 1 << 40

func addSat(a, b int) int { return min(a+b, costCap) }

func mulSat(a, b int) int {
	if a != 0 && b > costCap/a {
		return costCap
	}
	return min(a*b, costCap)
}
