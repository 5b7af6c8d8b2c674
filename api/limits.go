package api

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/lexer"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/fhirgate/fhirgate/authz/guard"
	"github.com/fhirgate/fhirgate/fault"
)

// errTooComplex is the error of every query the limits refuse.
var errTooComplex = fault.New(fault.TooComplex, "too complex")

// A query refused by the limits is a protocol error, like a validation failure: gqlgen answers
// it with 422 rather than 200.
func init() { errcode.RegisterErrorType("QUERY_TOO_COMPLEX", errcode.KindProtocol) }

// Limits bound what one GraphQL operation may ask for. All are enforced before execution, and
// checking them takes time linear in the size of the query.
type Limits struct {
	// MaxDepth is the deepest nesting of selections allowed.
	MaxDepth int
	// MaxCost is the highest estimated cost allowed: every field costs one (ten when it reads
	// storage: root fields, Reference.resource and reverse references), and the fields under a
	// list count once per element expected: its _count argument, else ListGuess. A connection
	// counts like a list: its edges once per element of its _count, else of the page size.
	// On a field of an interface such as Resource, only the costliest resource type's
	// fragments count, since one resource has one type.
	MaxCost int
	// ListGuess is the number of elements assumed for a list without a _count argument.
	ListGuess int
	// MaxTokens is the most lexical tokens (names, punctuation, values) a query may hold. It is
	// counted before the query is parsed and again after the FHIR untyped selections on
	// resources are expanded into typed fragments (which multiplies them by the resource types
	// that have each field). It bounds parsing and validation: gqlparser's check that
	// overlapping fields can be merged takes time quadratic in the number of fields.
	MaxTokens int
	// MaxSameName is the most fields a selection may hold under one response name, counting
	// those its fragments add: that check compares every pair of them. The FHIR untyped
	// selections, expanded for each resource type, are exempt: they are bounded by MaxTokens.
	MaxSameName int
}

// limitsExtension enforces Limits on each validated operation.
type limitsExtension struct {
	Limits
	// pageSize is a connection's page size when _count is absent.
	pageSize int
	// noteChars is the note size limit of clinical NLP (see measurer.nlpCost).
	noteChars int
	schema    *ast.Schema
	// roots are the schema's root operation types, whose fields read storage.
	roots map[*ast.Definition]bool
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = limitsExtension{}

func newLimitsExtension(l Limits, pageSize, noteChars int, schema *ast.Schema) limitsExtension {
	roots := map[*ast.Definition]bool{}
	for _, d := range []*ast.Definition{schema.Query, schema.Mutation, schema.Subscription} {
		if d != nil {
			roots[d] = true
		}
	}
	return limitsExtension{Limits: l, pageSize: pageSize, noteChars: noteChars, schema: schema, roots: roots}
}

func (limitsExtension) ExtensionName() string                   { return "FHIRGateLimits" }
func (limitsExtension) Validate(graphql.ExecutableSchema) error { return nil }
func (l limitsExtension) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	m := l.measurer(oc.Variables)
	depth, cost, err := m.operation(oc.Operation)
	if err != nil {
		return limitError(err.Error())
	}
	if l.MaxDepth > 0 && depth > l.MaxDepth {
		return limitError(fmt.Sprintf("query depth %d exceeds the limit of %d", depth, l.MaxDepth))
	}
	if l.MaxCost > 0 && cost > l.MaxCost {
		return limitError(fmt.Sprintf("query cost %d exceeds the limit of %d", cost, l.MaxCost))
	}
	return nil
}

func (l limitsExtension) measurer(vars map[string]any) *measurer {
	return &measurer{vars: vars, listGuess: l.ListGuess, pageSize: l.pageSize, noteChars: l.noteChars, schema: l.schema, roots: l.roots, fragments: map[string]*measure{}}
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

// querySize refuses, before gqlgen parses and validates a query, one with more than
// Limits.MaxTokens tokens or with more than Limits.MaxSameName fields under one response name in
// a selection: gqlparser's check that overlapping fields can be merged compares every pair of
// such fields, and reports one error per pair that conflicts.
type querySize struct{ maxTokens, maxSameName int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = querySize{}

func (querySize) ExtensionName() string                   { return "FHIRGateQuerySize" }
func (querySize) Validate(graphql.ExecutableSchema) error { return nil }
func (l querySize) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	if l.maxTokens > 0 && countTokens(p.Query, l.maxTokens) > l.maxTokens {
		return limitError(fmt.Sprintf("the query has more than %d tokens", l.maxTokens))
	}
	if l.maxSameName <= 0 {
		return nil
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: p.Query}, l.maxTokens)
	if err != nil {
		return nil // the executor reports syntax errors with its usual message
	}
	c := sameNames{doc: doc, max: l.maxSameName, fragments: map[string]map[string]int{}}
	for _, op := range doc.Operations {
		if _, err := c.set(op.SelectionSet); err != nil {
			return limitError(err.Error())
		}
	}
	return nil
}

// sameNames counts, in each selection of a document, the fields under each response name,
// those that fragments add included. Each fragment is counted once and remembered.
type sameNames struct {
	doc       *ast.QueryDocument
	max       int
	fragments map[string]map[string]int // nil while being counted: a cycle, for validation to report
}

// set returns the fields under each response name in set, with its fragments, and checks
// every selection below it.
func (c *sameNames) set(set ast.SelectionSet) (map[string]int, error) {
	counts := map[string]int{}
	if err := c.collect(set, counts, map[string]bool{}); err != nil {
		return nil, err
	}
	for name, n := range counts {
		if n > c.max {
			return nil, fmt.Errorf("a selection holds %d fields named %q, more than %d: select it once, or alias the fields apart", n, name, c.max)
		}
	}
	return counts, nil
}

// collect adds the response names of set, and of the fragments it spreads (each once), to counts.
func (c *sameNames) collect(set ast.SelectionSet, counts map[string]int, spread map[string]bool) error {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			name := s.Alias
			if name == "" {
				name = s.Name
			}
			counts[name]++
			if _, err := c.set(s.SelectionSet); err != nil {
				return err
			}
		case *ast.InlineFragment:
			if err := c.collect(s.SelectionSet, counts, spread); err != nil {
				return err
			}
		case *ast.FragmentSpread:
			if spread[s.Name] {
				continue
			}
			spread[s.Name] = true
			frag, err := c.fragment(s.Name)
			if err != nil {
				return err
			}
			for name, n := range frag {
				counts[name] += n
			}
		}
	}
	return nil
}

func (c *sameNames) fragment(name string) (map[string]int, error) {
	if counts, ok := c.fragments[name]; ok {
		return counts, nil // nil while in progress: a cycle adds nothing
	}
	def := c.doc.Fragments.ForName(name)
	if def == nil {
		return nil, nil
	}
	c.fragments[name] = nil
	counts, err := c.set(def.SelectionSet)
	if err != nil {
		return nil, err
	}
	c.fragments[name] = counts
	return counts, nil
}

// maxValidationErrors bounds the errors one query's validation reports.
const maxValidationErrors = 100

// cappedRules returns gqlparser's default validation rules reporting, all together, at most
// maxValidationErrors errors: a query of many conflicting fields would otherwise get one error
// per pair of them. gqlgen calls it once per validation.
func cappedRules() *rules.Rules {
	r := rules.NewDefaultRules()
	reported := 0
	for name, rule := range r.GetInner() {
		r.ReplaceRule(name, func(events *core.Events, addError core.AddErrFunc) {
			rule(events, func(options ...core.ErrorOption) {
				if reported < maxValidationErrors {
					reported++
					addError(options...)
				}
			})
		})
	}
	return r
}

// countTokens returns the number of lexical tokens in query, counting no further than
// max+1. A lexical error ends the count: the parser reports it.
func countTokens(query string, max int) int {
	lex := lexer.New(&ast.Source{Input: query})
	n := 0
	for n <= max {
		tok, err := lex.ReadToken()
		if err != nil || tok.Kind == lexer.EOF {
			break
		}
		n++
	}
	return n
}

// measure is the estimated work of a selection set: its height (levels of nested fields) and
// cost. perEdge is the cost of one element of the edges of the connection that holds the set
// (zero elsewhere), kept apart so that the connection multiplies it by its page size.
type measure struct{ height, cost, perEdge int }

// measurer measures one operation. Each named fragment is measured once and remembered, so
// fragments that spread other fragments several times cost time linear in the query's size,
// not exponential.
type measurer struct {
	vars      map[string]any
	listGuess int
	pageSize  int
	schema    *ast.Schema
	roots     map[*ast.Definition]bool
	fragments map[string]*measure // nil while being measured: a cycle
	// noteChars is the note size limit, the cost of analysing one stored note.
	noteChars int
	// visits counts the selections measured, for tests of linearity.
	visits int
}

var errFragmentCycle = errors.New("fragment cycle")

// operation returns an operation's depth and estimated cost, saturating instead of overflowing.
func (m *measurer) operation(op *ast.OperationDefinition) (depth, cost int, err error) {
	var root *ast.Definition
	switch op.Operation {
	case ast.Mutation:
		root = m.schema.Mutation
	case ast.Subscription:
		root = m.schema.Subscription
	default:
		root = m.schema.Query
	}
	ms, err := m.set(op.SelectionSet, root)
	if err != nil {
		return 0, 0, err
	}
	return ms.height, addSat(ms.cost, ms.perEdge), nil
}

// set measures a selection set made on parent. Fields always count. On an interface or union,
// a fragment on an object type counts only for objects of that type, so the set costs its
// fields, the fragments that apply to every object, and the costliest type's fragments.
func (m *measurer) set(set ast.SelectionSet, parent *ast.Definition) (measure, error) {
	abstract := parent == nil || parent.Kind != ast.Object
	var all measure
	var byType map[string]*measure
	for _, sel := range set {
		m.visits++
		var ms measure
		var cond *ast.Definition
		var err error
		switch s := sel.(type) {
		case *ast.Field:
			ms, err = m.field(s)
		case *ast.InlineFragment:
			cond = parent
			if s.TypeCondition != "" {
				cond = m.schema.Types[s.TypeCondition]
			}
			ms, err = m.set(s.SelectionSet, cond)
		case *ast.FragmentSpread:
			ms, err = m.fragment(s)
			if s.Definition != nil {
				cond = s.Definition.Definition
			}
		}
		if err != nil {
			return measure{}, err
		}
		into := &all
		if abstract && cond != nil && cond.Kind == ast.Object {
			if byType == nil {
				byType = map[string]*measure{}
			}
			if byType[cond.Name] == nil {
				byType[cond.Name] = &measure{}
			}
			into = byType[cond.Name]
		}
		into.add(ms)
	}
	var most measure
	for _, ms := range byType {
		most.height = max(most.height, ms.height)
		most.cost = max(most.cost, ms.cost)
		most.perEdge = max(most.perEdge, ms.perEdge)
	}
	all.add(most)
	return all, nil
}

func (a *measure) add(b measure) {
	a.height = max(a.height, b.height)
	a.cost = addSat(a.cost, b.cost)
	a.perEdge = addSat(a.perEdge, b.perEdge)
}

// fragment measures a named fragment on its first spread and remembers the result.
func (m *measurer) fragment(s *ast.FragmentSpread) (measure, error) {
	if s.Definition == nil {
		return measure{}, nil
	}
	if ms, ok := m.fragments[s.Name]; ok {
		if ms == nil {
			return measure{}, fmt.Errorf("%w: fragment %s spreads itself", errFragmentCycle, s.Name)
		}
		return *ms, nil
	}
	m.fragments[s.Name] = nil
	ms, err := m.set(s.Definition.SelectionSet, s.Definition.Definition)
	if err != nil {
		return measure{}, err
	}
	m.fragments[s.Name] = &ms
	return ms, nil
}

// field measures one field with everything below it.
func (m *measurer) field(f *ast.Field) (measure, error) {
	var typ *ast.Definition
	if f.Definition != nil {
		typ = m.schema.Types[f.Definition.Type.Name()]
	}
	sub, err := m.set(f.SelectionSet, typ)
	if err != nil {
		return measure{}, err
	}
	if f.Name == "edges" && f.ObjectDefinition != nil && strings.HasSuffix(f.ObjectDefinition.Name, "Connection") {
		// The edges of a connection: one per element of its page, counted by the connection.
		return measure{height: sub.height + 1, cost: m.fieldCost(f), perEdge: addSat(sub.cost, sub.perEdge)}, nil
	}
	below := sub.cost
	if isConnection(f) {
		below = addSat(below, mulSat(sub.perEdge, m.connectionSize(f)))
	} else {
		// Only a connection's own set has edges; elsewhere count them once.
		below = addSat(below, sub.perEdge)
	}
	if f.Definition != nil && f.Definition.Type.Elem != nil {
		below = mulSat(below, m.listSize(f))
	}
	return measure{height: sub.height + 1, cost: addSat(below, m.fieldCost(f))}, nil
}

// readCost is the cost of a field that reads storage.
const readCost = 10

// aggregateCost is the cost of an aggregate, which may read every resource of a type: at the
// default cost limit, a query holds at most a hundred.
const aggregateCost = 10_000

// nlpCost is the cost of a clinical NLP root field beyond readCost: one per byte of the
// text analyzeText analyses, and for DocumentReferenceAnalyze as much as the longest note
// allowed, whose size is only known once the document is read. So the cost bounds the
// text one request may have analysed (a text given once in a variable and analysed by
// many aliases counts once per alias).
func (m *measurer) nlpCost(f *ast.Field) int {
	if f.ObjectDefinition == nil || !m.roots[f.ObjectDefinition] {
		return 0
	}
	switch f.Name {
	case "analyzeText":
		if arg := f.Arguments.ForName("text"); arg != nil {
			if v, err := arg.Value.Value(m.vars); err == nil {
				if s, ok := v.(string); ok {
					return len(s)
				}
			}
		}
	case "DocumentReferenceAnalyze":
		return m.noteChars
	}
	return 0
}

// fieldCost is the cost of one field itself: readCost when it reads storage (a root field
// other than introspection, Reference.resource or a reverse reference), else one, so that a
// query of many aliased reads costs what it makes the server do.
func (m *measurer) fieldCost(f *ast.Field) int {
	switch {
	case m.roots[f.ObjectDefinition] && f.Name == guard.AggregateField:
		return aggregateCost
	case m.roots[f.ObjectDefinition] && !strings.HasPrefix(f.Name, "__"):
		return addSat(readCost, m.nlpCost(f))
	case
		f.Name == "resource" && f.ObjectDefinition != nil && f.ObjectDefinition.Name == "Reference",
		f.Name == reverseListField || f.Name == reverseConnField:
		return readCost
	}
	return 1
}

// Names of the generic reverse-reference fields (see rewrite.Selections).
const (
	reverseListField = "_reverse"
	reverseConnField = "_reverseConnection"
)

// isConnection reports whether f returns a connection: a page of resources with edges.
func isConnection(f *ast.Field) bool {
	return f.Definition != nil && f.Definition.Type.Elem == nil && strings.HasSuffix(f.Definition.Type.Name(), "Connection")
}

// connectionSize is the number of edges a connection is expected to hold: its _count, else
// the page size.
func (m *measurer) connectionSize(f *ast.Field) int {
	if n, ok := m.countArg(f); ok {
		return n
	}
	return max(m.pageSize, 1)
}

// listSize is the number of elements a list is expected to hold: its _count, else ListGuess.
func (m *measurer) listSize(f *ast.Field) int {
	if n, ok := m.countArg(f); ok {
		return n
	}
	return m.listGuess
}

// countArg returns the value of f's _count argument, when it has one that is a number.
func (m *measurer) countArg(f *ast.Field) (int, bool) {
	arg := f.Arguments.ForName("_count")
	if arg == nil {
		return 0, false
	}
	v, err := arg.Value.Value(m.vars)
	if err != nil {
		return 0, false
	}
	switch n := v.(type) {
	case int64:
		return clampInt(n), true
	case int:
		return clampInt(int64(n)), true
	case string:
		if i, err := strconv.ParseInt(n, 10, 64); err == nil {
			return clampInt(i), true
		}
	}
	return 0, false
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
