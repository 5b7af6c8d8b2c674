package guard

import (
	"strings"
	"sync"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/fhirpath"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/search"
)

// reads is what a search or an expression reads, in schema terms. A request may do it only
// when it may read all of it.
type reads struct {
	coords []coordinate // fields read
	whole  []string     // types read with everything below them; "" for a type known only at evaluation
	names  []string     // element names read on values whose type is known only at evaluation
	all    bool         // the whole stored resource, contained resources of any type included
}

func (r *reads) add(rs []fhirpath.Read) {
	for _, x := range rs {
		switch {
		case x.Whole:
			r.whole = append(r.whole, x.Type)
			if x.Owner != "" {
				r.coords = append(r.coords, coordinate{x.Owner, x.Name})
			}
		case x.Owner == "":
			r.names = append(r.names, x.Name)
		default:
			r.coords = append(r.coords, coordinate{x.Owner, x.Name})
		}
	}
}

// below records the elements at a dotted path below a value of type typ ("coding.system" below
// a CodeableConcept reads CodeableConcept.coding and Coding.system). A step the type lacks
// reads nothing: the data cannot hold it.
func (r *reads) below(types fhirpath.Schema, typ, path string) {
	if path == "" {
		return
	}
	for _, step := range strings.Split(path, ".") {
		elems, ok := types.Elements(typ)
		t, has := elems[step]
		if !ok || !has {
			return
		}
		r.coords = append(r.coords, coordinate{typ, step})
		typ = t
	}
}

// allowsReads reports whether the request may read everything in r.
func (a *access) allowsReads(r *reads) bool {
	if r.all {
		return a.readsEverything()
	}
	for _, c := range r.coords {
		if !a.allowsField(c.obj, c.field) {
			return false
		}
	}
	for _, t := range r.whole {
		if t == "" && len(a.v.hiddenAnywhere()) > 0 || t != "" && len(a.v.hiddenNames(t)) > 0 {
			return false
		}
	}
	if len(r.names) > 0 && !a.readsEveryType() {
		return false
	}
	hidden := a.v.hiddenAnywhere()
	for _, n := range r.names {
		if hidden[n] || model.IsChoiceName(n) && hiddenChoice(hidden, n) {
			return false
		}
	}
	return true
}

// hiddenChoice reports whether a choice of the choice element base is among hidden names.
func hiddenChoice(hidden map[string]bool, base string) bool {
	for h := range hidden {
		if rest, ok := strings.CutPrefix(h, base); ok && rest != "" && rest[0] >= 'A' && rest[0] <= 'Z' {
			return true
		}
	}
	return false
}

// readsEverything reports whether the request may read every field of every resource type:
// what a search over the whole stored JSON (_content, _text) needs.
func (a *access) readsEverything() bool {
	return len(a.v.hiddenAnywhere()) == 0 && a.readsEveryType()
}

// readsEveryType reports whether the request may read resources of every type.
func (a *access) readsEveryType() bool {
	for _, t := range model.ResourceTypes() {
		if !a.allowsType(t, authz.ActRead) {
			return false
		}
	}
	return true
}

// hiddenAnywhere returns the names of the fields the role may not read, on any object type.
func (v *roleView) hiddenAnywhere() map[string]bool {
	v.anyOnce.Do(func() {
		v.anyHidden = map[string]bool{}
		for name, def := range v.g.schema.Types {
			if def.Kind != ast.Object || isRoot(name) || strings.HasPrefix(name, "__") {
				continue
			}
			for _, f := range def.Fields {
				if !strings.HasPrefix(f.Name, "__") && !v.field(name, f.Name).ok {
					v.anyHidden[strings.TrimPrefix(f.Name, "_")] = true
				}
			}
		}
	})
	return v.anyHidden
}

// paramKey names one way of using a search parameter.
type paramKey struct{ typ, code, mod string }

// paramReads returns what a search of typ by p with modifier mod reads (search.ModSort when it
// sorts): every element its expression reads on the way, and the elements of the values it
// selects that the index holds in the fields such a search compares. Computed once per key: it
// depends on the schema only. An expression the analysis cannot type reads everything.
func (g *Guard) paramReads(typ string, p *model.SearchParam, mod string) *reads {
	k := paramKey{typ, p.Code, mod}
	if r, ok := g.params.Load(k); ok {
		return r.(*reads)
	}
	r := g.computeParamReads(typ, p, mod)
	g.params.Store(k, r)
	return r
}

func (g *Guard) computeParamReads(typ string, p *model.SearchParam, mod string) *reads {
	r := &reads{}
	if p.Code == "_content" || p.Code == "_text" { // the stored JSON, contained resources included
		r.all = true
		return r
	}
	if p.Expression == "" {
		return r // nothing is extracted; such a search is refused as unsupported
	}
	results, ok := r.expression(g.types, typ, typ, p.Expression)
	if !ok {
		return &reads{all: true}
	}
	if p.Type != "composite" {
		for _, res := range results {
			r.value(g.types, p.Type, mod, res.Type)
		}
		return r
	}
	for _, res := range results {
		for _, c := range p.Components {
			cp := search.ParamOf(typ, c.Code)
			parts, ok := r.expression(g.types, typ, res.Type, c.Expression)
			if cp == nil || !ok {
				return &reads{all: true}
			}
			for _, part := range parts {
				r.value(g.types, cp.Type, componentMod(mod), part.Type)
			}
		}
	}
	return r
}

// componentMod is the use of a composite's component: :missing tests every field of every
// component; any other search compares each component as a plain search would.
func componentMod(mod string) string {
	if mod == search.ModMissing {
		return mod
	}
	return ""
}

// expression adds what expr reads on a value of type focus in a resource of type typ, and
// returns what it selects.
func (r *reads) expression(types fhirpath.Schema, typ, focus, expr string) ([]fhirpath.Read, bool) {
	e, err := fhirpath.Compile(expr)
	if err != nil {
		return nil, false
	}
	rs, results, err := e.ReadsIn(typ, focus, types)
	if err != nil {
		return nil, false
	}
	r.add(rs)
	return results, true
}

// value adds what the index of a parameter of type ptype holds of a value of type typ, for a
// search with modifier mod.
func (r *reads) value(types fhirpath.Schema, ptype, mod, typ string) {
	paths, whole := search.ElementReads(ptype, mod, typ)
	if whole {
		r.whole = append(r.whole, typ)
	}
	for _, path := range paths {
		r.below(types, typ, path)
	}
}

// expressionReads returns what a client's FHIRPath expression reads on a value of type typ.
func (g *Guard) expressionReads(typ, expr string) (*reads, error) {
	e, err := fhirpath.Compile(expr)
	if err != nil {
		return nil, err
	}
	rs, _, err := e.Reads(typ, g.types)
	if err != nil {
		return nil, err
	}
	r := &reads{}
	r.add(rs)
	return r, nil
}

// schemaTypes gives the FHIRPath analysis the element structure of the GraphQL schema's
// object types, which is FHIR's: field names are JSON names, scalars are primitives.
type schemaTypes struct {
	schema *ast.Schema
	cache  sync.Map // type -> map[string]string
}

// Fields that are GraphQL's, not FHIR elements: the data holds no such key.
var graphQLOnly = map[coordinate]bool{{"Reference", "resource"}: true}

func (s *schemaTypes) Elements(typ string) (map[string]string, bool) {
	if m, ok := s.cache.Load(typ); ok {
		return m.(map[string]string), true
	}
	def := s.schema.Types[typ]
	if def == nil || def.Kind != ast.Object || def == s.schema.Query || def == s.schema.Mutation || def == s.schema.Subscription {
		return nil, false // (the FHIR resource Subscription is no root while the schema has no subscriptions)
	}
	m := map[string]string{}
	for _, f := range def.Fields {
		if strings.HasPrefix(f.Name, "__") || f.Name == "_reverse" || f.Name == "_reverseConnection" || graphQLOnly[coordinate{typ, f.Name}] {
			continue
		}
		m[f.Name] = s.fhirType(f.Type.Name())
	}
	s.cache.Store(typ, m)
	return m, true
}

// graphQLScalars names the FHIR primitives that the schema spells as GraphQL's built-in scalars.
var graphQLScalars = map[string]string{"String": "string", "Boolean": "boolean", "Int": "integer", "Float": "decimal", "ID": "id"}

// fhirType returns the FHIR name of a schema type: primitives start with a lower-case letter.
func (s *schemaTypes) fhirType(t string) string {
	if p, ok := graphQLScalars[t]; ok {
		return p
	}
	if d := s.schema.Types[t]; d != nil && (d.Kind == ast.Scalar || d.Kind == ast.Enum) {
		return strings.ToLower(t[:1]) + t[1:]
	}
	return t
}
