// Package flatten implements the data flattening directives of the FHIR GraphQL specification
// (R4 graphql.html, "Data Flattening Directives"): @flatten, @first, @singleton and
// @slice(path:), which turn nested resources into the flat rows analysts feed to R or pandas.
//
// The directives are not in the generated SDL: declaring an executable directive there makes
// gqlgen wrap every field of the executor in a directive check. Declare adds them to the served
// schema instead, so that validation accepts them and introspection (GraphiQL, codegen) shows
// them, and an Extension applies them around gqlgen's execution:
//   - before execution, MutateOperationContext refuses a misapplied directive (@flatten on a
//     field without sub-selections, @singleton with no flattened parent, a @slice path that
//     does not compile or reads what the caller may not read);
//   - during execution, Fields (field middleware) keeps the first element of a field with
//     @first and records the suffix of each element of a field with @slice, computed on the
//     elements as resolved, so that a path may read fields the query does not select;
//   - after execution, InterceptResponse reshapes the answer from the operation's selection
//     set, in one pass: a flattened field's children move into its parent's place, collated as
//     lists when the field (or a flattened ancestor) repeats; @singleton collates to one value;
//     @slice appends its suffixes to the names produced. A clash the specification calls an
//     error (children of different FHIR types under one name, a singleton with several values)
//     answers no data and the error.
//
// Values keep their JSON text (a decimal 1.50 stays 1.50). A name that collates no value at all
// is left out, as in the specification's examples.
package flatten

import (
	"context"
	"reflect"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/fhirpath"
)

// The directives' names.
const (
	Flatten   = "flatten"
	First     = "first"
	Singleton = "singleton"
	Slice     = "slice"
)

// ErrMisapplied is the error of a directive the query places where the specification does not
// allow it; ErrShape the error of an answer that cannot be flattened as asked.
var (
	ErrMisapplied = fault.New(fault.Invalid, "misapplied flattening directive")
	ErrShape      = fault.New(fault.Invalid, "cannot flatten the answer")
)

// sdl declares the directives, with descriptions GraphiQL shows.
const sdl = `
"FHIR GraphQL: the field is not produced in the answer; its children are, in its place. When the field repeats (or a flattened parent does) each child collates to a list of the values of every element. Children collated under one name must have the same FHIR type."
directive @flatten on FIELD
"FHIR GraphQL: keeps only the first element of a repeating field (a FHIRPath filter [$index = 0] on the field's own list, after its other arguments)."
directive @first on FIELD
"FHIR GraphQL: under a parent with @flatten (or with @slice on the same field), the field collates to one value rather than a list; more than one value is an error."
directive @singleton on FIELD
"FHIR GraphQL: each element of the field appends '.' and the result of path, a FHIRPath expression on the element ($index: its position), to the names it produces, breaking a list into named values, e.g. name @flatten @slice(path: \"use\") { family } gives family.official."
directive @slice(path: String!) on FIELD
`

var declareMu sync.Mutex

// Declare adds the directives' definitions to schema, once: call it before the schema serves
// any request (validation and introspection read the definitions without a lock).
func Declare(schema *ast.Schema) {
	declareMu.Lock()
	defer declareMu.Unlock()
	if schema.Directives[Flatten] != nil {
		return
	}
	doc, err := parser.ParseSchema(&ast.Source{Name: "flatten.graphqls", Input: sdl})
	if err != nil {
		panic("flatten: directive definitions: " + err.Error()) // fixed at build time
	}
	if schema.Directives == nil {
		schema.Directives = map[string]*ast.DirectiveDefinition{}
	}
	for _, d := range doc.Directives {
		schema.Directives[d.Name] = d
	}
}

// Options configure an Extension.
type Options struct {
	// CheckPath vets a @slice path, compiled for the element type typ (a GraphQL type name),
	// for the caller in ctx: reading a field the caller may not read is an error, as it is in
	// a fhirpath argument. Nil checks nothing.
	CheckPath func(ctx context.Context, typ string, e *fhirpath.Expr) error
}

// Extension applies the flattening directives (see the package documentation). Install it with
// Use after the handlers that must see the reshaped answer's errors, and its Fields with
// AroundFields after the authorisation middleware and before rewrite.ListArguments, so that
// @first and @slice see a field's elements after its filter arguments. It is safe for
// concurrent use.
type Extension struct {
	schema *ast.Schema
	opts   Options
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
	graphql.OperationInterceptor
	graphql.ResponseInterceptor
} = (*Extension)(nil)

// New returns the extension for schema, in which Declare has declared the directives.
func New(schema *ast.Schema, opts Options) *Extension { return &Extension{schema: schema, opts: opts} }

// ExtensionName implements graphql.HandlerExtension.
func (*Extension) ExtensionName() string { return "FHIRFlattening" }

// Validate implements graphql.HandlerExtension.
func (*Extension) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext refuses a misapplied directive before anything runs.
func (x *Extension) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if !mentions(oc.RawQuery) {
		return nil
	}
	c := &checker{ctx: ctx, opts: x.opts, oc: oc, seen: map[fragmentUse]bool{}}
	c.set(oc.Operation.SelectionSet, nil)
	return c.err
}

// state is what one operation's reshaping needs from its execution: the suffixes of the
// elements of each field with @slice, by the field's path in the answer.
type state struct {
	mu     sync.Mutex
	slices map[string][]string
}

type stateKey struct{}

func stateFrom(ctx context.Context) *state {
	st, _ := ctx.Value(stateKey{}).(*state)
	return st
}

// InterceptOperation gives an operation that uses a flattening directive the state its
// reshaping needs; other operations run untouched.
func (x *Extension) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	if oc == nil || oc.Operation == nil || !mentions(oc.RawQuery) || !uses(oc) {
		return next(ctx)
	}
	return next(context.WithValue(ctx, stateKey{}, &state{slices: map[string][]string{}}))
}

// InterceptResponse reshapes the answer of an operation that uses a flattening directive.
func (x *Extension) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	st := stateFrom(ctx)
	oc := graphql.GetOperationContext(ctx)
	if st == nil || oc == nil || resp == nil || len(resp.Data) == 0 || string(resp.Data) == "null" {
		return resp
	}
	st.mu.Lock()
	slices := st.slices
	st.slices = map[string][]string{} // a subscription's next event starts afresh
	st.mu.Unlock()
	data, err := reshape(x.schema, oc, resp.Data, slices)
	if err == nil {
		resp.Data = data
		return resp
	}
	// The answer cannot be shaped as asked: no data, and the error, presented as every other.
	before := len(graphql.GetErrors(ctx))
	graphql.AddError(ctx, err)
	resp.Data = []byte("null")
	resp.Errors = append(resp.Errors, graphql.GetErrors(ctx)[before:]...)
	return resp
}

// Fields is the field middleware of @first and @slice: it keeps the first element of a field
// with @first, and records the suffixes of the elements of a field with @slice.
func (x *Extension) Fields(ctx context.Context, next graphql.Resolver) (any, error) {
	st := stateFrom(ctx)
	if st == nil {
		return next(ctx)
	}
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Field.Field == nil || len(fc.Field.Directives) == 0 {
		return next(ctx)
	}
	first := fc.Field.Directives.ForName(First) != nil
	slice := fc.Field.Directives.ForName(Slice)
	if !first && slice == nil {
		return next(ctx)
	}
	res, err := next(ctx)
	if err != nil || res == nil {
		return res, err
	}
	v := reflect.ValueOf(res)
	if first && v.Kind() == reflect.Slice && v.Len() > 1 {
		v = v.Slice(0, 1)
		res = v.Interface()
	}
	if slice != nil {
		suffixes, err := sliceSuffixes(v, fc.Field.Definition.Type.Name(), slicePath(slice, graphql.GetOperationContext(ctx)))
		if err != nil {
			return nil, err
		}
		key := fc.Path().String()
		st.mu.Lock()
		st.slices[key] = suffixes
		st.mu.Unlock()
	}
	return res, nil
}

// mentions reports whether a query may use a flattening directive; when it does not, nothing
// else need look at it. (GraphQL allows blanks between @ and the name: the names alone.)
func mentions(query string) bool {
	for _, name := range []string{Flatten, First, Singleton, Slice} {
		if strings.Contains(query, name) {
			return true
		}
	}
	return false
}
