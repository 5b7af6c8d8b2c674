// Package rewrite maps the FHIR GraphQL specification's forms onto fhirgate's statically
// typed schema: before validation it rewrites untyped selections on resources and reverse
// references named by type (Selections), and after a repeating element is read it applies
// the element's list arguments (ListArguments).
package rewrite

import (
	"slices"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

// Selections accepts the FHIR GraphQL specification's untyped selections on resources,
// such as `subject { resource { active } }`, which a statically typed schema would reject because
// resource is the Resource interface. Before validation, each selected field that the interface
// lacks moves into inline fragments on the resource types that have it (only the type named by
// resource's type argument, when given). It also rewrites the specification's reverse
// references inside a resource (ConditionList(_reference: patient)) into the schema's generic
// _reverse fields. It is safe for concurrent use.
type Selections struct {
	schema *ast.Schema
	// fieldTypes maps a field name to the resource types defining it, sorted.
	fieldTypes map[string][]string
	// common holds the fields of the Resource interface.
	common map[string]bool
	// resourceFieldNames are the names of the fields of type Resource anywhere in the schema;
	// a query that mentions none of them has nothing to rewrite.
	resourceFieldNames []string
}

// NewSelections returns the rewrite of queries against schema.
func NewSelections(schema *ast.Schema) *Selections {
	r := &Selections{schema: schema, fieldTypes: map[string][]string{}, common: map[string]bool{"__typename": true}}
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

// Mentions reports whether query may hold anything to rewrite; when it does not, it need not
// be parsed.
func (r *Selections) Mentions(query string) bool {
	return strings.Contains(query, "_reference") || slices.ContainsFunc(r.resourceFieldNames, func(name string) bool { return strings.Contains(query, name) })
}

// Rewrite rewrites the selections of doc in place and reports whether it changed any. The
// rewritten selections share fields between fragments, so that the rewrite takes linear
// time; printed, they repeat (see SelectionTokens).
func (r *Selections) Rewrite(doc *ast.QueryDocument) bool {
	w := &rewriter{Selections: r, done: map[*ast.Field]bool{}}
	for _, op := range doc.Operations {
		root := r.schema.Query
		if op.Operation == ast.Mutation {
			root = r.schema.Mutation
		}
		if root != nil {
			op.SelectionSet = w.rewrite(op.SelectionSet, root.Name)
		}
	}
	for _, frag := range doc.Fragments {
		frag.SelectionSet = w.rewrite(frag.SelectionSet, frag.TypeCondition)
	}
	return w.changed
}

// rewriter is one query's rewrite.
type rewriter struct {
	*Selections
	// done holds the fields rewritten already: typed places one field in the fragments of
	// every type that has it, and each is rewritten once, not once per fragment.
	done    map[*ast.Field]bool
	changed bool
}

// rewrite walks set, a selection on the named type, and moves the untyped selections of every
// field of type Resource into inline fragments; it sets changed when it moved any. Fields the
// schema does not know are left for validation to report.
func (w *rewriter) rewrite(set ast.SelectionSet, typeName string) ast.SelectionSet {
	parent := w.schema.Types[typeName]
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if parent == nil || w.done[s] {
				continue
			}
			w.done[s] = true
			def := parent.Fields.ForName(s.Name)
			if def == nil {
				if w.reverseField(s, parent) {
					w.changed = true
					// The field now exists: walk its selection like any other.
					if def := parent.Fields.ForName(s.Name); def != nil {
						s.SelectionSet = w.rewrite(s.SelectionSet, def.Type.Name())
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
				s.SelectionSet = w.typed(s.SelectionSet, typeArg, &w.changed)
			}
			s.SelectionSet = w.rewrite(s.SelectionSet, child)
		case *ast.InlineFragment:
			cond := s.TypeCondition
			if cond == "" {
				cond = typeName
			}
			s.SelectionSet = w.rewrite(s.SelectionSet, cond)
		}
	}
	return set
}

// typed moves the fields of set that the Resource interface lacks into inline fragments on the
// resource types that define them (only typeArg, when given).
func (r *Selections) typed(set ast.SelectionSet, typeArg *string, changed *bool) ast.SelectionSet {
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
func (r *Selections) reverseField(f *ast.Field, parent *ast.Definition) bool {
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

func (r *Selections) isResourceType(name string) bool {
	def := r.schema.Types[name]
	return def != nil && def.Kind == ast.Object && slices.Contains(def.Interfaces, "Resource")
}

// SelectionTokens returns the number of tokens the selection sets of doc would print as,
// counting a field shared by several fragments once per place it prints in, in time linear
// in the number of distinct selections. It saturates rather than overflows.
func SelectionTokens(doc *ast.QueryDocument) int {
	c := tokenCounter{fields: map[*ast.Field]int{}}
	n := 0
	for _, op := range doc.Operations {
		n = addSat(n, c.set(op.SelectionSet))
	}
	for _, frag := range doc.Fragments {
		n = addSat(n, c.set(frag.SelectionSet))
	}
	return n
}

type tokenCounter struct{ fields map[*ast.Field]int }

func (c tokenCounter) set(set ast.SelectionSet) int {
	if len(set) == 0 {
		return 0
	}
	n := 2 // { }
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			n = addSat(n, c.field(s))
		case *ast.InlineFragment:
			n = addSat(n, 1+directiveTokens(s.Directives)+c.set(s.SelectionSet)) // ...
			if s.TypeCondition != "" {
				n = addSat(n, 2) // on Type
			}
		case *ast.FragmentSpread:
			n = addSat(n, 2+directiveTokens(s.Directives)) // ...Name
		}
	}
	return n
}

func (c tokenCounter) field(f *ast.Field) int {
	if n, ok := c.fields[f]; ok {
		return n
	}
	n := 1 + argumentTokens(f.Arguments) + directiveTokens(f.Directives)
	if f.Alias != "" && f.Alias != f.Name {
		n += 2 // alias:
	}
	n = addSat(n, c.set(f.SelectionSet))
	c.fields[f] = n
	return n
}

func directiveTokens(ds ast.DirectiveList) int {
	n := 0
	for _, d := range ds {
		n += 2 + argumentTokens(d.Arguments) // @name(...)
	}
	return n
}

func argumentTokens(args ast.ArgumentList) int {
	if len(args) == 0 {
		return 0
	}
	n := 2 // ( )
	for _, a := range args {
		n += 2 + valueTokens(a.Value) // name: value
	}
	return n
}

func valueTokens(v *ast.Value) int {
	if v == nil {
		return 0
	}
	switch v.Kind {
	case ast.Variable:
		return 2 // $name
	case ast.ListValue:
		n := 2
		for _, c := range v.Children {
			n += valueTokens(c.Value)
		}
		return n
	case ast.ObjectValue:
		n := 2
		for _, c := range v.Children {
			n += 2 + valueTokens(c.Value)
		}
		return n
	}
	return 1
}

// tokenCap bounds token counts, which saturate rather than overflow.
const tokenCap = 1 << 40

func addSat(a, b int) int { return min(a+b, tokenCap) }
