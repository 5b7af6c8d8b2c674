package guard

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/introspection"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/introspect"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/search"
)

// Introspection shows each role the schema it may use, and nothing else. Rather than filter
// gqlgen's introspection answers field by field (which has to mirror every detail of how
// gqlgen wraps types, and did so wrongly), the guard builds, once per role set and policy
// load, a pruned copy of the schema and answers __schema and __type from it with gqlgen's
// own introspection types: whatever they are asked, they can only walk that copy, and the
// copy is consistent (every type a field, argument or interface names is in it), so no
// answer can name a type that is not shown or dereference one that is missing.

// roleIntrospection is a role set's view of the schema and its cached answers.
type roleIntrospection struct {
	once    sync.Once
	schema  *ast.Schema
	built   atomic.Bool // schema is set
	answers *introspect.Cache
}

// introspect answers Query.__schema and Query.__type from the role's view of the schema, for
// operations that also select data (introspect.Answers answers the others).
func (a *access) introspect(ctx context.Context, fc *graphql.FieldContext, next graphql.Resolver) (any, error) {
	if oc := graphql.GetOperationContext(ctx); oc == nil || oc.DisableIntrospection {
		return next(ctx) // gqlgen refuses it
	}
	s := a.v.introspectionSchema()
	switch fc.Field.Name {
	case "__schema":
		return introspection.WrapSchema(s), nil
	case "__type":
		name, _ := fc.Args["name"].(string)
		if def := s.Types[name]; def != nil {
			return introspection.WrapTypeFromDef(s, def), nil
		}
		return nil, nil
	}
	return next(ctx)
}

// View is the introspect.View of the request's role set: its view of the schema and the
// cache of its answers.
func (g *Guard) View(ctx context.Context) (*ast.Schema, *introspect.Cache) {
	a := accessFrom(ctx)
	if a == nil {
		return nil, nil
	}
	return a.v.introspectionSchema(), a.v.intro.answers
}

// introspectionSchema returns the role set's view of the schema, built on first use.
func (v *roleView) introspectionSchema() *ast.Schema {
	v.intro.once.Do(func() {
		v.intro.schema = v.pruneSchema()
		v.intro.built.Store(true)
	})
	return v.intro.schema
}

// WarmIntrospection builds the view of the schema of each role the policy names, one after
// the other, so that no client waits for its role's (a policy decision per field of the
// schema: a few hundred milliseconds each). It gives up when the policy is reloaded
// meanwhile: call it again after each reload.
func (g *Guard) WarmIntrospection() {
	gen := g.policy.Generation()
	for _, r := range g.policy.Roles() {
		if g.policy.Generation() != gen {
			return
		}
		g.access(&authz.Principal{Roles: []string{r}}).v.introspectionSchema()
	}
}

// IntrospectionSchemas returns the number of role sets whose view of the schema is built
// under the policy in force.
func (g *Guard) IntrospectionSchemas() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gen != g.policy.Generation() {
		return 0
	}
	n := 0
	for _, v := range g.views {
		if v.intro.built.Load() {
			n++
		}
	}
	return n
}

// IntrospectionEntries returns the number of introspection answers cached, over all role sets.
func (g *Guard) IntrospectionEntries() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, v := range g.views {
		n += v.intro.answers.Len()
	}
	return n
}

// pruneSchema builds the role's view of the schema:
//   - an object type shows if the role may read it and some field of it shows; a field shows
//     if the guard lets the role read it and its type shows (to a fixed point);
//   - root fields follow the actions the role may do; search arguments show if the role may
//     search by them, and sub-field filter arguments if it may read the field they filter;
//   - an interface shows the fields every member shown still shows, so that each member
//     still implements it, and shows if one is left; a union shows if a member does;
//   - the ResourceType enum lists the resource types shown;
//   - of all that, only the types reachable from the roots (and introspection's own) remain.
func (v *roleView) pruneSchema() *ast.Schema {
	full := v.g.schema
	hidden := v.hiddenTypes()
	defs := map[string]*ast.Definition{}
	for name, def := range full.Types {
		if !hidden[name] {
			defs[name] = v.pruneDefinition(def, hidden)
		}
	}
	possible := map[string][]*ast.Definition{}
	for name, members := range full.PossibleTypes {
		if defs[name] == nil {
			continue
		}
		for _, m := range members {
			if d := defs[m.Name]; d != nil {
				possible[name] = append(possible[name], d)
			}
		}
	}

	s := &ast.Schema{
		Types:         map[string]*ast.Definition{},
		Directives:    full.Directives,
		PossibleTypes: map[string][]*ast.Definition{},
		Implements:    map[string][]*ast.Definition{},
		Description:   full.Description,
	}
	var roots []string
	for _, r := range []*ast.Definition{full.Query, full.Mutation, full.Subscription} {
		if r != nil && defs[r.Name] != nil && hasOwnField(defs[r.Name]) {
			roots = append(roots, r.Name)
		}
	}
	for name := range defs {
		if strings.HasPrefix(name, "__") {
			roots = append(roots, name)
		}
	}
	for _, d := range full.Directives {
		for _, arg := range d.Arguments {
			roots = append(roots, arg.Type.Name())
		}
	}
	for name := range reachable(defs, possible, roots) {
		s.Types[name] = defs[name]
		if ps := possible[name]; len(ps) > 0 {
			s.PossibleTypes[name] = ps
			for _, p := range ps {
				s.Implements[p.Name] = append(s.Implements[p.Name], defs[name])
			}
		}
	}
	pick := func(r *ast.Definition) *ast.Definition {
		if r == nil {
			return nil
		}
		return s.Types[r.Name]
	}
	s.Query, s.Mutation, s.Subscription = pick(full.Query), pick(full.Mutation), pick(full.Subscription)
	if s.Query == nil { // a role that may do nothing still gets a valid schema
		s.Query = &ast.Definition{Kind: ast.Object, Name: full.Query.Name, Description: full.Query.Description}
		s.Types[s.Query.Name] = s.Query
	}
	return s
}

// hasOwnField reports whether def has a field other than introspection's own.
func hasOwnField(def *ast.Definition) bool {
	return slices.ContainsFunc(def.Fields, func(f *ast.FieldDefinition) bool { return !strings.HasPrefix(f.Name, "__") })
}

// hiddenTypes returns the object types the role may not read or whose every field is hidden,
// to a fixed point (a field whose type is hidden is hidden too), and the interfaces and
// unions whose every member is hidden.
func (v *roleView) hiddenTypes() map[string]bool {
	s := v.g.schema
	// The roots by identity: "Subscription" is also a FHIR resource type.
	root := func(def *ast.Definition) bool { return def == s.Query || def == s.Mutation || def == s.Subscription }
	hidden := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for name, def := range s.Types {
			if hidden[name] || strings.HasPrefix(name, "__") {
				continue
			}
			var shown bool
			switch def.Kind {
			case ast.Object:
				if !root(def) && !v.allows(name, authz.ActRead) {
					break // a data type the role may not read, or a resource type
				}
				shown = slices.ContainsFunc(def.Fields, func(f *ast.FieldDefinition) bool { return v.fieldShown(name, f, hidden) })
			case ast.Interface:
				shown = slices.ContainsFunc(def.Fields, func(f *ast.FieldDefinition) bool { return v.interfaceFieldShown(def, f, hidden) })
			case ast.Union:
				shown = slices.ContainsFunc(s.PossibleTypes[name], func(m *ast.Definition) bool { return !hidden[m.Name] })
			default:
				continue
			}
			if !shown && !root(def) {
				hidden[name], changed = true, true
			}
		}
	}
	return hidden
}

// interfaceFieldShown reports whether field f of interface iface shows: it shows on iface
// and on every member shown, of which there is one at least.
func (v *roleView) interfaceFieldShown(iface *ast.Definition, f *ast.FieldDefinition, hidden map[string]bool) bool {
	if !v.fieldShown(iface.Name, f, hidden) {
		return false
	}
	members := 0
	for _, m := range v.g.schema.PossibleTypes[iface.Name] {
		if hidden[m.Name] {
			continue
		}
		mf := m.Fields.ForName(f.Name)
		if mf == nil || !v.fieldShown(m.Name, mf, hidden) {
			return false
		}
		members++
	}
	return members > 0
}

// fieldShown reports whether field f of owner shows: the role may read it (for a root field:
// do its action) and its type shows.
func (v *roleView) fieldShown(owner string, f *ast.FieldDefinition, hidden map[string]bool) bool {
	return !strings.HasPrefix(f.Name, "__") && !hidden[f.Type.Name()] && v.field(owner, f.Name).ok
}

// pruneDefinition returns def as the role sees it: its fields, arguments, interfaces and
// (for ResourceType) enum values pruned. Introspection's own types stay as they are.
func (v *roleView) pruneDefinition(def *ast.Definition, hidden map[string]bool) *ast.Definition {
	if strings.HasPrefix(def.Name, "__") {
		return def
	}
	out := *def
	switch def.Kind {
	case ast.Object, ast.Interface:
		out.Fields = nil
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				out.Fields = append(out.Fields, f) // __schema, __type: gqlgen lists them nowhere
				continue
			}
			if def.Kind == ast.Interface && !v.interfaceFieldShown(def, f, hidden) || !v.fieldShown(def.Name, f, hidden) {
				continue
			}
			pf := *f
			pf.Arguments = slices.DeleteFunc(slices.Clone(f.Arguments), func(arg *ast.ArgumentDefinition) bool {
				return !v.argumentShown(def.Name, f, arg.Name)
			})
			out.Fields = append(out.Fields, &pf)
		}
		out.Interfaces = slices.DeleteFunc(slices.Clone(def.Interfaces), func(name string) bool { return hidden[name] })
	case ast.Enum:
		if def.Name == "ResourceType" {
			out.EnumValues = slices.DeleteFunc(slices.Clone(def.EnumValues), func(ev *ast.EnumValueDefinition) bool {
				return hidden[ev.Name] || !model.IsResourceType(ev.Name)
			})
		}
	}
	return &out
}

// argumentShown reports whether argument arg of owner.f shows: a search argument if the role
// may search by its parameter, a sub-field filter if it may read the field it filters, and
// any other argument (paging, fhirpath, sorting) always.
func (v *roleView) argumentShown(owner string, f *ast.FieldDefinition, arg string) bool {
	if ta, ok := rootActions[fieldKey{owner, f.Name}]; ok && ta.act == authz.ActSearch {
		p := search.ParamOf(ta.typ, arg)
		return p == nil || v.roleAccess().allowsReads(v.g.paramReads(ta.typ, p, ""))
	}
	elem := v.g.schema.Types[f.Type.Name()]
	if elem == nil || elem.Kind != ast.Object || model.IsResourceType(elem.Name) || elem.Fields.ForName(arg) == nil {
		return true
	}
	return v.field(elem.Name, arg).ok
}

// roleAccess is the access of a principal with the view's roles and no scopes: what the
// roles alone allow.
func (v *roleView) roleAccess() *access {
	return &access{p: &authz.Principal{Roles: v.roles}, v: v}
}

// reachable returns the names of the types reachable from roots through fields, arguments,
// input fields, interfaces and possible types.
func reachable(defs map[string]*ast.Definition, possible map[string][]*ast.Definition, roots []string) map[string]bool {
	seen := map[string]bool{}
	stack := slices.Clone(roots)
	for len(stack) > 0 {
		name := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		def := defs[name]
		if seen[name] || def == nil {
			continue
		}
		seen[name] = true
		for _, f := range def.Fields {
			stack = append(stack, f.Type.Name())
			for _, arg := range f.Arguments {
				stack = append(stack, arg.Type.Name())
			}
		}
		stack = append(stack, def.Interfaces...)
		for _, p := range possible[name] {
			stack = append(stack, p.Name)
		}
	}
	return seen
}
