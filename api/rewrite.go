package api

import (
	"bytes"
	"context"
	"slices"
	"strings"

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
	// resourceFieldNames are the names of the fields of type Resource anywhere in the schema;
	// a query that mentions none of them is passed through without parsing.
	resourceFieldNames []string
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = (*resourceSelections)(nil)

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
	seen := map[string]bool{}
	for _, def := range schema.Types {
		for _, f := range def.Fields {
			if f.Type.Name() == "Resource" && !seen[f.Name] {
				seen[f.Name] = true
				r.resourceFieldNames = append(r.resourceFieldNames, f.Name)
			}
		}
	}
	slices.Sort(r.resourceFieldNames)
	return r
}

func (*resourceSelections) ExtensionName() string                   { return "FHIRResourceSelections" }
func (*resourceSelections) Validate(graphql.ExecutableSchema) error { return nil }

func (r *resourceSelections) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	if !strings.Contains(p.Query, "_reference") && !slices.ContainsFunc(r.resourceFieldNames, func(name string) bool { return strings.Contains(p.Query, name) }) {
		return nil
	}
	doc, err := parser.ParseQuery(&ast.Source{Input: p.Query})
	if err != nil {
		return nil // let the executor report the syntax error with its usual message
	}
	changed := false
	for _, op := range doc.Operations {
		root := r.schema.Query
		if op.Operation == ast.Mutation {
			root = r.schema.Mutation
		}
		if root != nil {
			op.SelectionSet = r.rewrite(op.SelectionSet, root.Name, &changed)
		}
	}
	for _, frag := range doc.Fragments {
		frag.SelectionSet = r.rewrite(frag.SelectionSet, frag.TypeCondition, &changed)
	}
	if !changed {
		return nil
	}
	var buf bytes.Buffer
	formatter.NewFormatter(&buf, formatter.WithComments()).FormatQueryDocument(doc)
	p.Query = buf.String()
	return nil
}

// rewrite walks set, a selection on the named type, and moves the untyped selections of every
// field of type Resource into inline fragments; it sets *changed when it moved any. Fields the
// schema does not know are left for validation to report.
func (r *resourceSelections) rewrite(set ast.SelectionSet, typeName string, changed *bool) ast.SelectionSet {
	parent := r.schema.Types[typeName]
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if parent == nil {
				continue
			}
			def := parent.Fields.ForName(s.Name)
			if def == nil {
				if r.reverseField(s, parent) {
					*changed = true
					// The field now exists: walk its selection like any other.
					if def := parent.Fields.ForName(s.Name); def != nil {
						s.SelectionSet = r.rewrite(s.SelectionSet, def.Type.Name(), changed)
					}
				}
				continue
			}
			child := def.Type.Name()
			if child == "Resource" {
				var typeArg *string
				if a := s.Arguments.ForName("type"); a != nil && a.Value.Kind == ast.EnumValue {
					typeArg = &a.Value.Raw
				}
				s.SelectionSet = r.typed(s.SelectionSet, typeArg, changed)
			}
			s.SelectionSet = r.rewrite(s.SelectionSet, child, changed)
		case *ast.InlineFragment:
			cond := s.TypeCondition
			if cond == "" {
				cond = typeName
			}
			s.SelectionSet = r.rewrite(s.SelectionSet, cond, changed)
		}
	}
	return set
}

// typed moves the fields of set that the Resource interface lacks into inline fragments on the
// resource types that define them (only typeArg, when given).
func (r *resourceSelections) typed(set ast.SelectionSet, typeArg *string, changed *bool) ast.SelectionSet {
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

// reverseField rewrites the FHIR GraphQL form of a reverse reference inside a resource,
// ConditionList(_reference: patient, clinical_status: "active") or
// ConditionConnection(_reference: patient, ...), into the schema's generic fields
// _reverse(type: Condition, _reference: "patient", _params: {clinical_status: "active"})
// and _reverseConnection(...), keeping the spec's name as the result key and typing the
// selection with an inline fragment on the source type.
func (r *resourceSelections) reverseField(f *ast.Field, parent *ast.Definition) bool {
	if !slices.Contains(parent.Interfaces, "Resource") || f.Arguments.ForName("_reference") == nil {
		return false
	}
	src, conn := "", false
	if t, ok := strings.CutSuffix(f.Name, "Connection"); ok && r.isResourceType(t) {
		src, conn = t, true
	} else if t, ok := strings.CutSuffix(f.Name, "List"); ok && r.isResourceType(t) {
		src = t
	} else {
		return false
	}
	control := map[string]bool{"_reference": true, "_count": true, "_offset": true, "_sort": true}
	name := "_reverse"
	if conn {
		name = "_reverseConnection"
		control["_cursor"], control["_total"] = true, true
	}
	args := ast.ArgumentList{{Name: "type", Value: &ast.Value{Kind: ast.EnumValue, Raw: src}}}
	params := &ast.Value{Kind: ast.ObjectValue}
	for _, a := range f.Arguments {
		if !control[a.Name] {
			params.Children = append(params.Children, &ast.ChildValue{Name: a.Name, Value: a.Value})
			continue
		}
		if a.Name == "_reference" && a.Value.Kind == ast.EnumValue {
			a = &ast.Argument{Name: a.Name, Value: &ast.Value{Kind: ast.StringValue, Raw: a.Value.Raw}}
		}
		args = append(args, a)
	}
	if len(params.Children) > 0 {
		args = append(args, &ast.Argument{Name: "_params", Value: params})
	}
	if f.Alias == "" {
		f.Alias = f.Name
	}
	f.Name, f.Arguments = name, args
	typed := func(set ast.SelectionSet) ast.SelectionSet {
		return ast.SelectionSet{&ast.InlineFragment{TypeCondition: src, SelectionSet: set}}
	}
	if !conn {
		f.SelectionSet = typed(f.SelectionSet)
		return true
	}
	for _, sel := range f.SelectionSet {
		if e, ok := sel.(*ast.Field); ok && e.Name == "edges" {
			for _, es := range e.SelectionSet {
				if rf, ok := es.(*ast.Field); ok && rf.Name == "resource" {
					rf.SelectionSet = typed(rf.SelectionSet)
				}
			}
		}
	}
	return true
}

func (r *resourceSelections) isResourceType(name string) bool {
	def := r.schema.Types[name]
	return def != nil && def.Kind == ast.Object && slices.Contains(def.Interfaces, "Resource")
}
