package api

import (
	"bytes"
	"context"
	"slices"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
)

// resourceSelections accepts the FHIR GraphQL specification's untyped selections on resources,
// such as `subject { resource { active } }`, which a statically typed schema would reject because
// resource is the Resource interface. Before validation, each selected field that the interface
// lacks moves into inline fragments on the resource types that have it (only the type named by
// resource's type argument, when given). Queries without such selections pass through untouched.
type resourceSelections struct {
	schema *ast.Schema
	// fieldTypes maps a field name to the resource types defining it, sorted.
	fieldTypes map[string][]string
	// common holds the fields of the Resource interface.
	common map[string]bool
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = (*resourceSelections)(nil)

// resourceFields are the fields whose type is Resource or a list of it.
var resourceFields = map[string]bool{"resource": true, "contained": true}

func newResourceSelections(schema *ast.Schema) *resourceSelections {
	r := &resourceSelections{schema: schema, fieldTypes: map[string][]string{}, common: map[string]bool{"__typename": true}}
	iface := schema.Types["Resource"]
	for _, f := range iface.Fields {
		r.common[f.Name] = true
	}
	for _, impl := range schema.PossibleTypes["Resource"] {
		for _, f := range impl.Fields {
			r.fieldTypes[f.Name] = append(r.fieldTypes[f.Name], impl.Name)
		}
	}
	for _, types := range r.fieldTypes {
		slices.Sort(types)
	}
	return r
}

func (*resourceSelections) ExtensionName() string                   { return "FHIRResourceSelections" }
func (*resourceSelections) Validate(graphql.ExecutableSchema) error { return nil }

func (r *resourceSelections) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	doc, err := parser.ParseQuery(&ast.Source{Input: p.Query})
	if err != nil {
		return nil // let the executor report the syntax error with its usual message
	}
	changed := false
	for _, op := range doc.Operations {
		op.SelectionSet = r.rewrite(op.SelectionSet, false, nil, &changed)
	}
	for _, frag := range doc.Fragments {
		frag.SelectionSet = r.rewrite(frag.SelectionSet, false, nil, &changed)
	}
	if !changed {
		return nil
	}
	var buf bytes.Buffer
	formatter.NewFormatter(&buf, formatter.WithComments()).FormatQueryDocument(doc)
	p.Query = buf.String()
	return nil
}

// rewrite returns set with its untyped resource selections moved into inline fragments, and
// sets *changed when it moved any. underResource says set is the selection of a resource field,
// whose type argument (if given) is typeArg.
func (r *resourceSelections) rewrite(set ast.SelectionSet, underResource bool, typeArg *string, changed *bool) ast.SelectionSet {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			var ta *string
			if resourceFields[s.Name] {
				if a := s.Arguments.ForName("type"); a != nil && a.Value.Kind == ast.EnumValue {
					ta = &a.Value.Raw
				}
			}
			s.SelectionSet = r.rewrite(s.SelectionSet, resourceFields[s.Name], ta, changed)
		case *ast.InlineFragment:
			s.SelectionSet = r.rewrite(s.SelectionSet, false, nil, changed)
		}
	}
	if !underResource {
		return set
	}
	var keep ast.SelectionSet
	fragments := map[string]*ast.InlineFragment{}
	var order []string
	for _, sel := range set {
		f, ok := sel.(*ast.Field)
		var types []string
		if ok && !r.common[f.Name] {
			types = r.fieldTypes[f.Name]
			if typeArg != nil {
				types = slices.DeleteFunc(slices.Clone(types), func(t string) bool { return t != *typeArg })
			}
		}
		if len(types) == 0 {
			keep = append(keep, sel)
			continue
		}
		for _, t := range types {
			frag := fragments[t]
			if frag == nil {
				frag = &ast.InlineFragment{TypeCondition: t}
				fragments[t] = frag
				order = append(order, t)
			}
			frag.SelectionSet = append(frag.SelectionSet, f)
		}
	}
	if len(fragments) == 0 {
		return set
	}
	*changed = true
	slices.Sort(order)
	for _, t := range order {
		keep = append(keep, fragments[t])
	}
	return keep
}
