package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/graph"
	"github.com/fhirgate/fhirgate/internal/datasets"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/validate"
)

// matrix checks what each role sees against what the policy says it may: every cell is one
// (role, type, field, access path) with a value in the data.
type matrix struct {
	t      *testing.T
	policy *authz.Policy
	schema *ast.Schema
	cells  map[string]int // checked cells by access path
	fails  int
}

// visible is the policy's answer for a field, computed here from the policy rules as the
// model documents them, not through the server's guard: the field's coordinate, the resource
// type holding it, and the data type it returns must all be readable. A primitive's
// extensions (_birthDate) share the primitive's coordinate.
func (m *matrix) visible(role, typ, field string) bool {
	name := strings.TrimPrefix(field, "_")
	ok := m.policy.Allows(role, typ+"."+name, authz.ActRead)
	if model.IsResourceType(typ) {
		ok = ok && m.policy.Allows(role, typ, authz.ActRead)
	}
	if def := m.schema.Types[typ]; def != nil {
		if f := def.Fields.ForName(field); f != nil {
			rt := f.Type.Name()
			if d := m.schema.Types[rt]; d != nil && d.Kind == ast.Object && !model.IsResourceType(rt) {
				ok = ok && m.policy.Allows(role, rt, authz.ActRead)
			}
		}
	}
	return ok
}

func (m *matrix) failf(format string, args ...any) {
	m.t.Helper()
	if m.fails++; m.fails <= 40 {
		m.t.Errorf(format, args...)
	}
}

// walk compares a response object of GraphQL type typ with the JSON it was stored from.
func (m *matrix) walk(via, role, typ string, want, got map[string]any, path string, errs map[string]string) {
	def := m.schema.Types[typ]
	if def == nil {
		return
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		wv := want[k]
		f := def.Fields.ForName(k)
		if wv == nil || k == "resourceType" || f == nil {
			continue
		}
		p := k
		if path != "" {
			p = path + "." + k
		}
		gv := got[k]
		m.cells[via]++
		if !m.visible(role, typ, k) {
			if gv != nil {
				m.failf("%s: %s sees hidden %s.%s at %s: %v", via, role, typ, k, p, truncate(fmt.Sprint(gv), 80))
			} else if errs[p] != "FORBIDDEN" {
				m.failf("%s: %s: hidden %s.%s at %s is null without a FORBIDDEN error (%q)", via, role, typ, k, p, errs[p])
			}
			continue
		}
		if gv == nil {
			m.failf("%s: %s misses allowed %s.%s at %s (error %q)", via, role, typ, k, p, errs[p])
			continue
		}
		rt := f.Type.Name()
		if d := m.schema.Types[rt]; d == nil || d.Kind != ast.Object && d.Kind != ast.Interface {
			continue
		}
		// Resources inside resources (contained, Bundle entries) are of their own type.
		typeOf := func(el map[string]any) string {
			if t, ok := el["resourceType"].(string); ok {
				return t
			}
			return rt
		}
		switch wv := wv.(type) {
		case map[string]any:
			if gm, ok := gv.(map[string]any); ok {
				m.walk(via, role, typeOf(wv), wv, gm, p, errs)
			}
		case []any:
			gl, _ := gv.([]any)
			for i, el := range wv {
				wm, ok1 := el.(map[string]any)
				if i >= len(gl) || !ok1 {
					continue
				}
				if gm, ok := gl[i].(map[string]any); ok {
					m.walk(via, role, typeOf(wm), wm, gm, fmt.Sprintf("%s.%d", p, i), errs)
				}
			}
		}
	}
}

// pathExamples is how many examples of each type are read through every access path.
const pathExamples = 2

type example struct {
	typ, id string
	res     map[string]any
	raw     string
	ref     string // id of the Observation that refers to it through focus
}

// TestAuthorizationMatrix reads every official example as each of the five roles through
// every access path (direct read, list, connection, reference, reverse reference, the
// instance endpoint), searches each type by each of its parameters, and reads the schema by
// introspection, and checks every field against the policy: hidden values never appear,
// allowed ones do.
func TestAuthorizationMatrix(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{}, func(c *api.Config) {
		c.Limits = api.Limits{} // the examples' selections are deep and wide; not under test here
		c.Auth.Limits = api.PrincipalLimits{}
		c.Validation = validate.Warn // every official example is read, the 9 strict refuses too
	})
	m := &matrix{t: t, policy: a.policy, schema: graph.NewExecutableSchema(graph.Config{}).Schema(), cells: map[string]int{}}

	byType := loadExamples(t, a.store)
	roles := []struct{ role, patient string }{{"admin", ""}, {"clinician", ""}, {"analyst", ""}, {"partner", ""}, {"patient", "example"}}
	types := slices.Sorted(maps.Keys(byType))

	for _, r := range roles {
		tok := a.token(t, r.role, r.patient)
		for _, typ := range types {
			exs := byType[typ]
			var q strings.Builder
			q.WriteString("{")
			sels := make([]string, len(exs))
			for i, ex := range exs {
				sel := newSelection()
				sel.add(ex.res)
				var b strings.Builder
				sel.write(&b)
				sels[i] = b.String()
				fmt.Fprintf(&q, " d%d: %s(id: %q) %s", i, typ, ex.id, sels[i])
				if i >= pathExamples {
					continue // every example is read directly; the first few through every path
				}
				fmt.Fprintf(&q, " l%d: %sList(_id: %q) %s", i, typ, ex.id, sels[i])
				fmt.Fprintf(&q, " c%d: %sConnection(_id: %q) { edges { resource %s } }", i, typ, ex.id, sels[i])
				fmt.Fprintf(&q, " r%d: Observation(id: %q) { focus { resource { ... on %s %s } } }", i, ex.ref, typ, sels[i])
				fmt.Fprintf(&q, " v%d: %s(id: %q) { ObservationList(_reference: focus) { id status code { text } subject { reference display } } }", i, typ, ex.id)
			}
			q.WriteString(" }")
			resp := a.postAs(tok, "", q.String())
			errs := errorPaths(resp)
			for i, ex := range exs {
				inCompartment := r.patient == "" || strings.Contains(ex.raw, `"Patient/`+r.patient+`"`) || typ == "Patient" && ex.id == r.patient
				// The examples' Subscriptions are no one's: only roles that see every
				// Subscription (authz.SubscriptionScope) reach them.
				owned := typ != "Subscription" || authz.SeesAllSubscriptions(&authz.Principal{Roles: []string{r.role}})
				for _, path := range []struct{ via, alias, inner string }{
					{"direct", fmt.Sprintf("d%d", i), ""},
					{"list", fmt.Sprintf("l%d", i), "0"},
					{"connection", fmt.Sprintf("c%d", i), "edges.0.resource"},
					{"reference", fmt.Sprintf("r%d", i), "focus.0.resource"},
				} {
					if path.via != "direct" && i >= pathExamples {
						continue
					}
					got := dig(resp.Data[path.alias], path.inner)
					if got == nil {
						if r.patient == "" && owned && (path.via != "reference" || m.visible(r.role, "Observation", "focus")) && m.policy.Allows(r.role, typ, authz.ActRead) && (path.via == "direct" || path.via == "reference" || m.policy.Allows(r.role, typ, authz.ActSearch)) {
							m.failf("%s: %s cannot reach %s/%s (errors %v)", path.via, r.role, typ, ex.id, truncate(fmt.Sprint(resp.Errors), 300))
						}
						continue
					}
					if !inCompartment {
						m.failf("%s: patient %s sees %s/%s outside the compartment", path.via, r.patient, typ, ex.id)
						continue
					}
					if !owned {
						m.failf("%s: %s sees %s/%s, which it does not own", path.via, r.role, typ, ex.id)
						continue
					}
					prefix := path.alias
					if path.inner != "" {
						prefix += "." + path.inner
					}
					m.walk(path.via, r.role, typ, ex.res, got, prefix, errs)
				}
				// Reverse reference: the referring Observation's fields, reached from the example.
				if i >= pathExamples {
					continue
				}
				if rev := dig(resp.Data[fmt.Sprintf("v%d", i)], "ObservationList.0"); rev != nil {
					want := map[string]any{"id": ex.ref, "status": "final", "code": map[string]any{"text": "referrer"},
						"subject": map[string]any{"reference": "Patient/example", "display": "Referrer's patient"}}
					m.walk("reverse reference", r.role, "Observation", want, rev, fmt.Sprintf("v%d.ObservationList.0", i), errs)
				} else if r.patient == "" && owned && m.policy.Allows(r.role, typ, authz.ActRead) && m.policy.Allows(r.role, "Observation", authz.ActSearch) {
					m.failf("reverse reference: %s cannot reach the referrer of %s/%s: %v", r.role, typ, ex.id, truncate(fmt.Sprint(resp.Errors), 300))
				}
			}
			// The instance-level endpoint, for the first example of the type.
			ex := exs[0]
			ir := a.postAs(tok, "/"+typ+"/"+ex.id+"/$graphql", sels[0])
			whole, _ := json.Marshal(ir.Data)
			if got := dig(whole, ""); len(got) > 0 {
				m.walk("instance", r.role, typ, ex.res, got, "", errorPaths(ir))
			}
			m.searches(a, tok, r.role, typ)
		}
		m.introspection(a, tok, r.role)
	}
	total := 0
	for _, n := range m.cells {
		total += n
	}
	t.Logf("authorization matrix: %d cells checked (%v) over %d roles, %d types, %d examples", total, m.cells, len(roles), len(types), countExamples(byType))
	if m.fails > 0 {
		t.Errorf("%d cells failed", m.fails)
	}
	if total < 100_000 {
		t.Errorf("only %d cells checked", total)
	}
}

// searches filters typ by each of its search parameters and checks that a parameter over a
// field the role may not read is refused, and that admins are refused none.
func (m *matrix) searches(a *authEnv, tok, role, typ string) {
	list := m.schema.Query.Fields.ForName(typ + "List")
	var q strings.Builder
	q.WriteString("{")
	var params []*model.SearchParam
	for _, arg := range list.Arguments {
		p := search.ParamOf(typ, arg.Name)
		value := map[string]string{"string": `"zz"`, "token": `"zz"`, "date": `"2000"`, "number": `"1"`, "quantity": `"1"`, "reference": `"zz"`, "uri": `"http://zz"`}
		if p == nil || value[p.Type] == "" || p.Code == "_query" {
			continue
		}
		fmt.Fprintf(&q, " s%d: %sList(%s: %s, _count: 1) { id }", len(params), typ, arg.Name, value[p.Type])
		params = append(params, p)
	}
	q.WriteString(" }")
	if len(params) == 0 {
		return
	}
	resp := a.postAs(tok, "", q.String())
	errs := errorPaths(resp)
	for i, p := range params {
		code := errs[fmt.Sprintf("s%d", i)]
		field := firstField(typ, p.Expression)
		hidden := field != "" && m.schema.Types[typ].Fields.ForName(field) != nil && !m.visible(role, typ, field)
		switch {
		case role == "admin" && code == "FORBIDDEN":
			m.failf("search: admin refused %s by %s", typ, p.Code)
		case hidden && code != "FORBIDDEN":
			m.failf("search: %s searched %s by %s over hidden %s.%s (error %q)", role, typ, p.Code, typ, field, code)
		case !hidden && role != "admin":
			continue // the parameter may read hidden fields deeper down; the guard's own tests cover those
		}
		m.cells["search filter"]++
	}
}

// firstField returns the element a parameter's expression reads first on typ: Patient.name.family -> name.
func firstField(typ, expr string) string {
	expr = strings.TrimLeft(expr, "( ")
	rest, ok := strings.CutPrefix(expr, typ+".")
	if !ok {
		return ""
	}
	end := strings.IndexAny(rest, ".( |)")
	if end < 0 {
		end = len(rest)
	}
	return rest[:end]
}

// introspection checks the role's view of the schema: a field shows only if the role may read
// it; a readable scalar field of a type that shows, shows; root fields follow the actions.
func (m *matrix) introspection(a *authEnv, tok, role string) {
	resp := a.postAs(tok, "", `{ __schema { types { name kind fields { name } } } }`)
	if len(resp.Errors) > 0 {
		m.failf("introspection as %s: %v", role, resp.Errors)
		return
	}
	var s struct {
		Types []struct {
			Name, Kind string
			Fields     []struct{ Name string }
		}
	}
	json.Unmarshal(resp.Data["__schema"], &s)
	shown := map[string]map[string]bool{}
	for _, t := range s.Types {
		shown[t.Name] = map[string]bool{}
		for _, f := range t.Fields {
			shown[t.Name][f.Name] = true
		}
	}
	for name, def := range m.schema.Types {
		if def.Kind != ast.Object || strings.HasPrefix(name, "__") {
			continue
		}
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			listed := shown[name][f.Name]
			m.cells["introspection"]++
			if name == "Query" || name == "Mutation" {
				typ, act := rootAction(f.Name)
				if typ != "" && listed != m.policy.Allows(role, typ, act) {
					m.failf("introspection: %s sees root field %s.%s: %v, policy says %v", role, name, f.Name, listed, !listed)
				}
				continue
			}
			visible := m.visible(role, name, f.Name)
			rt := m.schema.Types[f.Type.Name()]
			switch {
			case listed && !visible:
				m.failf("introspection: %s sees hidden field %s.%s", role, name, f.Name)
			case !listed && visible && shown[name] != nil && rt != nil && (rt.Kind == ast.Scalar || rt.Kind == ast.Enum):
				m.failf("introspection: %s misses readable field %s.%s", role, name, f.Name)
			}
		}
	}
}

func rootAction(field string) (typ, act string) {
	if model.IsResourceType(field) {
		return field, authz.ActRead
	}
	for suffix, act := range map[string]string{"List": authz.ActSearch, "Connection": authz.ActSearch, "Create": authz.ActCreate, "Update": authz.ActUpdate, "Delete": authz.ActDelete} {
		if t, ok := strings.CutSuffix(field, suffix); ok && model.IsResourceType(t) {
			return t, act
		}
	}
	return "", ""
}

// errorPaths maps each error's path ("d0.name.0") to its code.
func errorPaths(r *gqlResponse) map[string]string {
	out := map[string]string{}
	for _, e := range r.Errors {
		var parts []string
		for _, p := range e.Path {
			// Fields of resources inside resources are aliased <Type>__<field> (see selection.write).
			s := fmt.Sprint(p)
			if i := strings.Index(s, "__"); i > 0 && model.IsResourceType(s[:i]) {
				s = s[i+2:]
			}
			parts = append(parts, s)
		}
		code, _ := e.Extensions["code"].(string)
		out[strings.Join(parts, ".")] = code
	}
	return out
}

// dig decodes raw and follows a dotted path of keys and indexes into it; nil when absent.
func dig(raw json.RawMessage, path string) map[string]any {
	var v any
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil {
		return nil
	}
	if path != "" {
		for _, k := range strings.Split(path, ".") {
			switch x := v.(type) {
			case map[string]any:
				v = x[k]
			case []any:
				var i int
				if _, err := fmt.Sscan(k, &i); err != nil || i >= len(x) {
					return nil
				}
				v = x[i]
			default:
				return nil
			}
		}
	}
	out, _ := normalizeResponse(v).(map[string]any)
	return out
}

func countExamples(m map[string][]*example) int {
	n := 0
	for _, exs := range m {
		n += len(exs)
	}
	return n
}

// loadExamples stores every official example, and for each an Observation about
// Patient/example that refers to it through focus, and returns the examples by type.
func loadExamples(t *testing.T, store *storage.Store) map[string][]*example {
	t.Helper()
	byType := map[string][]*example{}
	var writes []storage.Write
	add := func(raw []byte) model.Resource {
		res, err := model.Unmarshal(raw)
		if err != nil {
			t.Fatalf("%v: %s", err, truncate(string(raw), 100))
		}
		writes = append(writes, storage.Write{Op: storage.OpPut, Type: res.TypeName(), ID: res.ResourceID(), Resource: res})
		return res
	}
	for i, f := range datasets.Files(t, datasets.FHIRExamples, "*.json") {
		c := newRoundTripCase(t, f.Name, f.Data, idFromFileName(f.Name))
		delete(c.res, "meta") // the stored meta is the server's
		raw, _ := json.Marshal(c.res)
		add(raw)
		ex := &example{typ: c.typ, id: c.id, res: decodeJSON(t, raw), raw: string(raw), ref: fmt.Sprintf("referrer-%d", i)}
		byType[c.typ] = append(byType[c.typ], ex)
		add(fmt.Appendf(nil, `{"resourceType":"Observation","id":%q,"status":"final","code":{"text":"referrer"},"subject":{"reference":"Patient/example","display":"Referrer's patient"},"focus":[{"reference":"%s/%s"}]}`, ex.ref, c.typ, c.id))
	}
	for len(writes) > 0 {
		n := min(len(writes), 200)
		if _, err := store.Commit(context.Background(), writes[:n]); err != nil {
			t.Fatal(err)
		}
		writes = writes[n:]
	}
	return byType
}
