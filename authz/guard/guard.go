// Package guard enforces the authorisation policy inside GraphQL: it decides, per role set
// and schema coordinate, which fields a request may read, which resource types it may read,
// search and write, which search parameters and FHIRPath expressions it may use (by what they
// read), and what introspection shows each role. The api package installs it as field and
// operation middleware and as the resolvers' search guard.
package guard

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/fhirpath"
	"github.com/fhirgate/fhirgate/introspect"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/operation"
	"github.com/fhirgate/fhirgate/search"
)

// errForbidden is the error of everything the policy denies. Its messages name the schema
// coordinate or type and action, never a value, and are the same whether a value exists.
var errForbidden = fault.New(fault.Forbidden, "forbidden")

// errBadArgument is the error of a fhirpath argument that does not compile or type.
var errBadArgument = fault.New(fault.Invalid, "bad argument")

func forbidden(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errForbidden, fmt.Sprintf(format, args...))
}

// Guard enforces the policy inside GraphQL: on every field of every type (gqlgen field
// middleware), on the parameters of every search (resolvers.Guard), and on introspection,
// which shows each role only what it may use (introspect.go). It is safe for concurrent use.
type Guard struct {
	policy *authz.Policy
	schema *ast.Schema
	types  *schemaTypes // the schema as FHIRPath analysis sees it

	mu    sync.Mutex
	gen   any                  // the policy generation views were computed under
	views map[string]*roleView // by joined role names

	params sync.Map // paramKey -> *reads: paramReads, once per parameter and modifier
}

type fieldKey struct{ obj, field string }

type typeAction struct{ typ, act string }

// RootAction returns the resource type and action of a per-type root field of the object
// Query or Mutation ("Query", "PatientList": "Patient", "search"), and false for any other field.
func RootAction(obj, field string) (typ, act string, ok bool) {
	ta, ok := rootActions[fieldKey{obj, field}]
	return ta.typ, ta.act, ok
}

// rootActions maps each per-type root field ("Query.PatientList") to the resource type and
// action it performs: what the guard checks and what the audit trail records.
var rootActions = func() map[fieldKey]typeAction {
	m := map[fieldKey]typeAction{}
	for _, t := range model.ResourceTypes() {
		m[fieldKey{"Query", t}] = typeAction{t, authz.ActRead}
		m[fieldKey{"Query", t + "List"}] = typeAction{t, authz.ActSearch}
		m[fieldKey{"Query", t + "Connection"}] = typeAction{t, authz.ActSearch}
		m[fieldKey{"Mutation", t + "Create"}] = typeAction{t, authz.ActCreate}
		m[fieldKey{"Mutation", t + "Update"}] = typeAction{t, authz.ActUpdate}
		m[fieldKey{"Mutation", t + "Delete"}] = typeAction{t, authz.ActDelete}
	}
	// A FHIR operation of a type (ValueSetExpand) reads what the type's resources hold.
	for _, path := range operation.Paths() {
		if t, field := operation.Field(path); t != "" {
			m[fieldKey{"Query", field}] = typeAction{t, authz.ActRead}
		}
	}
	// Clinical NLP is the analyze action on DocumentReference: analysing a stored note
	// (which also writes its enrichment) and analysing text that may become one alike, so
	// one policy line grants or denies both.
	m[fieldKey{"Mutation", "DocumentReferenceAnalyze"}] = typeAction{"DocumentReference", authz.ActAnalyze}
	m[fieldKey{"Query", "analyzeText"}] = typeAction{"DocumentReference", authz.ActAnalyze}
	// Datastores are administered, not read: only a role granted manage on Datastore sees them.
	for _, f := range []fieldKey{{"Query", "datastores"}, {"Mutation", "datastoreCreate"}, {"Mutation", "datastoreDelete"}} {
		m[f] = typeAction{authz.ObjDatastore, authz.ActManage}
	}
	return m
}()

// openRoots are the root fields every authenticated caller may use, because what they do is
// checked part by part: each entry of a transaction for its own interaction and type.
var openRoots = map[fieldKey]bool{{"Mutation", "transaction"}: true}

// decision is what a role set may do with one field. resource names the resource type whose
// SMART scopes must also allow reading it; scopes differ per principal.
type decision struct {
	ok       bool
	resource string
}

// roleView holds the decisions of one set of roles, computed on first use and kept until
// the policy is reloaded.
type roleView struct {
	g      *Guard
	roles  []string
	fields sync.Map // fieldKey -> decision

	names sync.Map // type -> map[string]bool: names of hidden fields reachable from it

	anyOnce   sync.Once
	anyHidden map[string]bool // names of hidden fields of any type

	intro roleIntrospection // the role's view of the schema, for introspection

	redactState // Redact's plans
}

// access is the authorisation state of one request.
type access struct {
	p *authz.Principal
	v *roleView

	everyOnce sync.Once
	every     bool // the caller may read every resource type (everyType)
}

type accessKey struct{}

func accessFrom(ctx context.Context) *access {
	a, _ := ctx.Value(accessKey{}).(*access)
	return a
}

// WithPrincipal returns ctx carrying the authorisation state of p's requests: the guard
// checks nothing in a context without one.
func (g *Guard) WithPrincipal(ctx context.Context, p *authz.Principal) context.Context {
	return context.WithValue(ctx, accessKey{}, g.access(p))
}

// New returns the guard of policy over schema.
func New(policy *authz.Policy, schema *ast.Schema) *Guard {
	return &Guard{policy: policy, schema: schema, types: &schemaTypes{schema: schema}}
}

// ObjectGroups returns the policy's object groups: resource types and the schema's other
// object types (data types, backbone elements, connections).
func ObjectGroups(schema *ast.Schema) map[string][]string {
	groups := map[string][]string{authz.GroupResource: model.ResourceTypes()}
	for name, def := range schema.Types {
		if def.Kind == ast.Object && !model.IsResourceType(name) && !isRoot(name) && !strings.HasPrefix(name, "__") {
			groups[authz.GroupDataType] = append(groups[authz.GroupDataType], name)
		}
	}
	slices.Sort(groups[authz.GroupDataType])
	return groups
}

func isRoot(name string) bool { return name == "Query" || name == "Mutation" || name == "Subscription" }

// SubscriptionRoot is the schema's subscription root type (not "Subscription", which R4
// names a resource type), and ChangedField its one field, whose type argument names the
// resource type it subscribes to: subscribing needs the search and subscribe actions on it.
const (
	SubscriptionRoot = "SubscriptionRoot"
	ChangedField     = "changed"
)

// subscribable reports whether the role view may subscribe to the changes of typ.
func (v *roleView) subscribable(typ string) bool {
	return v.allows(typ, authz.ActSearch) && v.allows(typ, authz.ActSubscribe)
}

// subscribesAny reports whether the role view may subscribe to some resource type: the
// changed field shows in its introspection then.
func (v *roleView) subscribesAny() bool {
	return slices.ContainsFunc(model.ResourceTypes(), v.subscribable)
}

// access returns the authorisation state for p.
func (g *Guard) access(p *authz.Principal) *access {
	key := strings.Join(p.Roles, "\x00")
	g.mu.Lock()
	defer g.mu.Unlock()
	if gen := g.policy.Generation(); gen != g.gen {
		g.gen, g.views = gen, map[string]*roleView{}
	}
	v := g.views[key]
	if v == nil {
		v = &roleView{g: g, roles: slices.Clone(p.Roles), intro: roleIntrospection{answers: introspect.NewCache()}}
		g.views[key] = v
	}
	return &access{p: p, v: v}
}

func (v *roleView) allows(obj, act string) bool {
	for _, r := range v.roles {
		if v.g.policy.Allows(r, obj, act) {
			return true
		}
	}
	return false
}

// field returns the role decision for reading obj.field.
func (v *roleView) field(obj, field string) decision {
	k := fieldKey{obj, field}
	if d, ok := v.fields.Load(k); ok {
		return d.(decision)
	}
	d := v.decide(obj, field)
	v.fields.Store(k, d)
	return d
}

func (v *roleView) decide(obj, field string) decision {
	if len(v.roles) > 1 {
		// A set of roles may read what any of its roles may. Each role's own view holds its
		// decisions (warmed at policy load), so a new set costs map lookups, not a policy
		// evaluation per field of the schema.
		var d decision
		for _, r := range v.roles {
			if d = v.g.access(&authz.Principal{Roles: []string{r}}).v.field(obj, field); d.ok {
				break
			}
		}
		return d
	}
	if ta, ok := rootActions[fieldKey{obj, field}]; ok {
		return decision{ok: v.allows(ta.typ, ta.act)}
	}
	if obj == SubscriptionRoot && field == ChangedField {
		return decision{ok: v.subscribesAny()}
	}
	if openRoots[fieldKey{obj, field}] {
		return decision{ok: true}
	}
	// A primitive's extensions (_birthDate) are governed with the primitive (birthDate).
	name := strings.TrimPrefix(field, "_")
	if name == "" || strings.HasPrefix(name, "_") {
		name = field
	}
	var d decision
	if model.IsResourceType(obj) {
		d.resource = obj
	}
	var valueType string
	if def := v.g.schema.Types[obj]; def != nil {
		if f := def.Fields.ForName(field); f != nil {
			valueType = f.Type.Name()
		}
	}
	for _, r := range v.roles {
		p := v.g.policy
		ok := p.Allows(r, obj+"."+name, authz.ActRead) && (d.resource == "" || p.Allows(r, obj, authz.ActRead))
		if vt := v.g.schema.Types[valueType]; ok && vt != nil && vt.Kind == ast.Object && !model.IsResourceType(valueType) {
			ok = p.Allows(r, valueType, authz.ActRead)
		}
		if ok {
			d.ok = true
			break
		}
	}
	return d
}

// allowsField reports whether the request may read obj.field.
func (a *access) allowsField(obj, field string) bool {
	d := a.v.field(obj, field)
	return d.ok && (d.resource == "" || a.p.ScopeAllows(d.resource, authz.ActRead))
}

// CheckType returns a Forbidden error unless the caller in ctx may do act on resources of
// typ (as for a FHIR operation of that type at /fhir); a context without a caller, as when
// authentication is off, is not checked.
func CheckType(ctx context.Context, typ, act string) error {
	if a := accessFrom(ctx); a != nil && !a.allowsType(typ, act) {
		return forbidden("not permitted to %s %s", act, typ)
	}
	return nil
}

// CheckSubscribe returns a Forbidden error unless the caller in ctx may subscribe to the
// changes of resources of typ: it needs the search and the subscribe actions on typ, by its
// roles and its scopes. A context without a caller is not checked.
func CheckSubscribe(ctx context.Context, typ string) error {
	if a := accessFrom(ctx); a != nil && (!a.allowsType(typ, authz.ActSearch) || !a.allowsType(typ, authz.ActSubscribe)) {
		return forbidden("not permitted to subscribe to %s", typ)
	}
	return nil
}

// CheckWholeRead returns a Forbidden error unless the caller in ctx may read resources of typ
// whole: every field, and contained resources of any type. What such a read returns (a
// resource $fhirpath's resolve() loads) reaches the caller with nothing hidden.
func CheckWholeRead(ctx context.Context, typ string) error {
	if a := accessFrom(ctx); a != nil && (!a.allowsType(typ, authz.ActRead) || len(a.v.hiddenNames(typ)) > 0) {
		return forbidden("not permitted to read %s whole", typ)
	}
	return nil
}

// CheckFHIRPathIn returns a Forbidden error when e, evaluated on a value of type focus inside
// a resource of type resource, reads a field the caller in ctx may not read; returned says
// that its results reach the caller as they are (a view's column), so everything below them
// is read too. Otherwise it returns the types of the values e yields ("" where only
// evaluation can tell), for checking the expressions evaluated on them in turn. An expression
// that does not type against the schema is an Invalid error. A context without a caller is
// not checked, and the result is then nil.
func CheckFHIRPathIn(ctx context.Context, resource, focus string, e *fhirpath.Expr, returned bool) ([]string, error) {
	a := accessFrom(ctx)
	if a == nil {
		return nil, nil
	}
	analyse := e.ReadsIn
	if returned {
		analyse = e.ReadsReturned
	}
	rs, results, err := analyse(resource, focus, a.v.g.types)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadArgument, err)
	}
	r := &reads{}
	r.add(rs)
	if !a.allowsReads(r) {
		return nil, forbidden("the expression reads fields that are not permitted")
	}
	types := make([]string, len(results))
	for i, res := range results {
		types[i] = res.Type
	}
	return types, nil
}

// allowsType reports whether the request may do act on resources of typ.
func (a *access) allowsType(typ, act string) bool {
	return a.v.allows(typ, act) && a.p.ScopeAllows(typ, act)
}

// Fields is the field middleware: every field of every type is checked before it
// resolves, so a denied field is null with a FORBIDDEN error and never computed.
func (g *Guard) Fields(ctx context.Context, next graphql.Resolver) (any, error) {
	a := accessFrom(ctx)
	fc := graphql.GetFieldContext(ctx)
	if a == nil || fc == nil {
		return next(ctx)
	}
	obj, name := fc.Object, fc.Field.Name
	if strings.HasPrefix(obj, "__") { // inside an introspection answer: already the role's view
		return next(ctx)
	}
	if strings.HasPrefix(name, "__") { // __schema, __type
		return a.introspect(ctx, fc, next)
	}
	if ta, ok := rootActions[fieldKey{obj, name}]; ok {
		if !a.allowsType(ta.typ, ta.act) {
			return nil, forbidden("not permitted to %s %s", ta.act, ta.typ)
		}
		return next(ctx)
	}
	if obj == SubscriptionRoot && name == ChangedField {
		if err := CheckSubscribe(ctx, fmt.Sprint(fc.Args["type"])); err != nil {
			return nil, err
		}
		return next(ctx)
	}
	if !a.allowsField(obj, name) {
		return nil, forbidden("not permitted to read %s.%s", obj, name)
	}
	if obj == "Reference" && name == "resource" {
		return a.referenced(ctx, fc, next)
	}
	if name == "_reverse" || name == "_reverseConnection" {
		if typ := fmt.Sprint(fc.Args["type"]); !a.allowsType(typ, authz.ActSearch) {
			return nil, forbidden("not permitted to search %s", typ)
		}
	}
	if !fc.IsResolver {
		if err := a.checkElementFilters(fc); err != nil {
			return nil, err
		}
	}
	return next(ctx)
}

// checkElementFilters vets the arguments of a repeating element (see rewrite.ListArguments): a filter
// such as address(city: "Lynn") or a fhirpath argument reads the elements it names, so it is
// allowed only when they are readable, else it would answer yes or no about them.
func (a *access) checkElementFilters(fc *graphql.FieldContext) error {
	typ := fc.Field.Definition.Type.Name()
	for name, arg := range fc.Args {
		switch name {
		case "_count", "_offset":
			continue
		case "fhirpath":
			if expr, ok := arg.(*string); ok && expr != nil {
				if err := a.checkFHIRPath(typ, *expr); err != nil {
					return err
				}
			}
			continue
		}
		if !isSet(arg) {
			continue
		}
		if !a.allowsField(typ, name) {
			return forbidden("not permitted to filter %s by %s", typ, name)
		}
	}
	return nil
}

// isSet reports whether an argument value was given: gqlgen passes absent optional
// arguments as nil pointers.
func isSet(arg any) bool {
	if arg == nil {
		return false
	}
	v := reflect.ValueOf(arg)
	return v.Kind() != reflect.Pointer || !v.IsNil()
}

// referenced resolves Reference.resource for a caller who may not read every type: a
// reference to a type it may not read is refused before it is resolved (the type is in
// the reference the caller already sees, so the refusal tells nothing new), and one that
// resolves to such a type anyway (contained, or written without a type) is refused after.
func (a *access) referenced(ctx context.Context, fc *graphql.FieldContext, next graphql.Resolver) (any, error) {
	if ref, ok := fc.Parent.Result.(*model.Reference); ok && ref != nil && ref.Reference != nil {
		if r, ok := model.ParseReference(*ref.Reference); ok && !a.allowsType(r.Type, authz.ActRead) {
			return nil, forbidden("not permitted to read %s", r.Type)
		}
	}
	res, err := next(ctx)
	if r, ok := res.(model.Resource); ok && err == nil && !a.allowsType(r.TypeName(), authz.ActRead) {
		return nil, forbidden("not permitted to read %s", r.TypeName())
	}
	return res, err
}

// CheckSearch implements resolvers.Guard: searching by a parameter reads the fields behind
// it, so each one must be readable, and each type searched must be searchable.
func (g *Guard) CheckSearch(ctx context.Context, q *search.Query) error {
	return CheckSearch(ctx, q)
}

// CheckSearch is [Guard.CheckSearch] for the caller in ctx, whichever guard authenticated
// it; a context without a caller, as when authentication is off, is not checked.
func CheckSearch(ctx context.Context, q *search.Query) error {
	a := accessFrom(ctx)
	if a == nil {
		return nil
	}
	var err error
	fail := func(e error) {
		if err == nil {
			err = e
		}
	}
	if !a.allowsType(q.Type, authz.ActSearch) {
		fail(forbidden("not permitted to search %s", q.Type))
	}
	q.Uses(func(typ string, p *model.SearchParam, mod string) {
		switch {
		case p == nil:
			if !a.allowsType(typ, authz.ActSearch) {
				fail(forbidden("not permitted to search %s", typ))
			}
		case !a.allowsReads(a.v.g.paramReads(typ, p, mod)):
			fail(forbidden("not permitted to %s %s by %s", searchVerb(mod), typ, search.ArgName(p.Code)+modSuffix(mod)))
		}
	})
	if q.FHIRPath != "" {
		fail(a.checkFHIRPath(q.Type, q.FHIRPath))
	}
	return err
}

func searchVerb(mod string) string {
	if mod == search.ModSort {
		return "sort"
	}
	return "search"
}

func modSuffix(mod string) string {
	if mod == "" || mod == search.ModSort {
		return ""
	}
	return ":" + mod
}

// checkFHIRPath refuses a FHIRPath expression over a value of type typ that reads a field
// the request may not read. What it reads is worked out from the compiled expression, typed
// against the schema (a choice name reads its choices; names inside function arguments
// read relative to their focus), not from its text.
func (a *access) checkFHIRPath(typ, expr string) error {
	r, err := a.v.g.expressionReads(typ, expr)
	if err != nil {
		return fmt.Errorf("%w: %w", errBadArgument, err)
	}
	if !a.allowsReads(r) {
		return forbidden("fhirpath: the expression reads fields below %s that are not permitted", typ)
	}
	return nil
}

// hiddenNames returns the names of the hidden fields reachable from typ through visible
// fields, within the resource (references are not followed; contained resources are).
func (v *roleView) hiddenNames(typ string) map[string]bool {
	if m, ok := v.names.Load(typ); ok {
		return m.(map[string]bool)
	}
	out := map[string]bool{}
	seen := map[string]bool{}
	var walk func(t string)
	walk = func(t string) {
		def := v.g.schema.Types[t]
		if seen[t] || def == nil || def.Kind != ast.Object {
			return
		}
		seen[t] = true
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			d := v.field(t, f.Name)
			if !d.ok {
				out[strings.TrimPrefix(f.Name, "_")] = true
				continue
			}
			vt := f.Type.Name()
			if vd := v.g.schema.Types[vt]; t != "Reference" && vd != nil && (vd.Kind == ast.Interface || vd.Kind == ast.Union) {
				// contained (or a Bundle entry's resource) holds resources of any type, and
				// a type the role may not read hides its fields. Reference.resource
				// follows the reference: not within the resource.
				for n := range v.hiddenAnywhere() {
					out[n] = true
				}
				continue
			}
			if !model.IsResourceType(vt) {
				walk(vt)
			}
		}
	}
	walk(typ)
	v.names.Store(typ, out)
	return out
}

// coordinate is a schema coordinate Type.field.
type coordinate = fieldKey
