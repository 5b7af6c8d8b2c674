package guard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/graph"
	"github.com/fhirgate/fhirgate/internal/datasets"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/search"
)

var testSchema = graph.NewExecutableSchema(graph.Config{}).Schema()

func testGuard(t testing.TB) *Guard {
	t.Helper()
	policy, err := authz.NewPolicy(authz.PolicyConfig{Groups: ObjectGroups(testSchema)})
	if err != nil {
		t.Fatal(err)
	}
	return New(policy, testSchema)
}

func (r *reads) String() string {
	var parts []string
	for _, c := range r.coords {
		parts = append(parts, c.obj+"."+c.field)
	}
	slices.Sort(parts)
	parts = slices.Compact(parts)
	for _, w := range r.whole {
		parts = append(parts, "whole "+w)
	}
	for _, n := range r.names {
		parts = append(parts, "? "+n)
	}
	if r.all {
		parts = append(parts, "all")
	}
	return strings.Join(parts, " ")
}

// TestParamReads: a search reads the elements along its parameter's expression and, below the
// values it selects, what the index holds in the fields the modifier compares.
func TestParamReads(t *testing.T) {
	g := testGuard(t)
	cases := []struct{ typ, code, mod, want string }{
		{"Patient", "family", "", "HumanName.family Patient.name"},
		{"Patient", "birthdate", search.ModSort, "Patient.birthDate"},
		{"Patient", "address", "", "Patient.address whole Address"},
		{"Patient", "address-state", "", "Address.state Patient.address"},
		{"Patient", "phone", "", "ContactPoint.rank ContactPoint.system ContactPoint.use ContactPoint.value Patient.telecom"},
		{"Patient", "general-practitioner", "", "Patient.generalPractitioner Reference.reference"},
		{"Patient", "general-practitioner", "identifier", "Identifier.system Identifier.value Patient.generalPractitioner Reference.identifier"},
		{"Observation", "code", "", "CodeableConcept.coding Coding.code Coding.system Observation.code"},
		{"Observation", "code", "text", "CodeableConcept.coding CodeableConcept.text Coding.display Observation.code"},
		{"Observation", "code", search.ModSort, "CodeableConcept.coding Coding.code Observation.code"},
		{"Observation", "value-quantity", "", "Observation.valueQuantity Observation.valueSampledData Quantity.code Quantity.system Quantity.unit Quantity.value whole SampledData"},
		{"Condition", "onset-date", "", "Condition.onsetDateTime Condition.onsetPeriod Period.end Period.start"},
		{"Patient", "_tag", "", "Coding.code Coding.system Meta.tag Patient.meta"},
		{"Patient", "_content", "", "all"},
		{"Patient", "_text", "", "all"},
	}
	for _, c := range cases {
		p := search.ParamOf(c.typ, c.code)
		if p == nil {
			t.Fatalf("no parameter %s.%s", c.typ, c.code)
		}
		if got := g.paramReads(c.typ, p, c.mod).String(); got != c.want {
			t.Errorf("%s.%s:%s (%s):\n got %s\nwant %s", c.typ, c.code, c.mod, p.Expression, got, c.want)
		}
	}
}

// TestEveryParamIsTyped: every search parameter of every type is analysed against the schema;
// one that could not be would read everything and be refused to every role that hides a field.
func TestEveryParamIsTyped(t *testing.T) {
	g := testGuard(t)
	n := 0
	for _, typ := range model.ResourceTypes() {
		for i := range model.SearchParams(typ) {
			p := &model.SearchParams(typ)[i]
			if p.Code == "_content" || p.Code == "_text" || p.Expression == "" {
				continue
			}
			for _, mod := range []string{"", search.ModSort, search.ModMissing} {
				if g.paramReads(typ, p, mod).all {
					t.Errorf("%s.%s (%s) could not be analysed", typ, p.Code, p.Expression)
				}
				n++
			}
		}
	}
	if n < 6000 {
		t.Errorf("only %d parameter uses analysed", n)
	}
	t.Logf("%d parameter uses analysed", n)
}

// modsOf lists the modifiers to check for a parameter type.
func modsOf(ptype string) []string {
	switch ptype {
	case "string":
		return []string{"", search.ModSort, search.ModMissing, "exact", "contains"}
	case "token":
		return []string{"", search.ModSort, search.ModMissing, "text", "of_type", "not", "in"}
	case "reference":
		return []string{"", search.ModSort, search.ModMissing, "identifier"}
	case "composite", "special":
		return []string{"", search.ModMissing}
	}
	return []string{"", search.ModSort, search.ModMissing}
}

// TestParamReadsCoverExtraction is the independent check of what the guard believes a search
// reads: in up to five official examples per type, every primitive value is changed in turn and
// the resource indexed again; when a parameter's index changes in a field that a modifier
// compares, the element changed must be among what the guard says that use of the parameter reads.
func TestParamReadsCoverExtraction(t *testing.T) {
	g := testGuard(t)
	files := datasets.Files(t, datasets.FHIRExamples, "*.json")
	if len(files) != 699 {
		t.Fatalf("want the 699 official examples, found %d files", len(files))
	}
	var (
		mu               sync.Mutex // guards seen, leaves and failures
		seen             = map[paramKey]bool{}
		leaves, failures int
	)
	check := func(f datasets.File) {
		res := decodeNumbers(t, f.Data)
		typ, _ := res["resourceType"].(string)
		if model.SearchParams(typ) == nil {
			return
		}
		base := indexEntries(t, typ, res)
		walkLeaves(g.types, typ, res, nil, func(path []coordinate, change func() func()) {
			undo := change()
			after := indexEntries(t, typ, res)
			undo()
			mu.Lock()
			defer mu.Unlock()
			leaves++
			for _, p := range model.SearchParams(typ) {
				if reflect.DeepEqual(base[p.Code], after[p.Code]) {
					continue // nothing of this parameter's index changed
				}
				for _, mod := range modsOf(p.Type) {
					if slices.Equal(project(typ, &p, mod, base[p.Code]), project(typ, &p, mod, after[p.Code])) {
						continue
					}
					seen[paramKey{typ, p.Code, mod}] = true
					if r := g.paramReads(typ, &p, mod); !r.covers(path) && failures < 30 {
						failures++
						t.Errorf("%s: %s.%s:%s changes with %v, outside what the guard vets: %s", f.Name, typ, p.Code, mod, path, r)
					}
				}
			}
		})
	}
	work := make(chan datasets.File)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for f := range work {
				check(f)
			}
		})
	}
	perType := map[string]int{}
	for _, f := range files {
		// Five examples of a type, none over 40 kB, find nearly all that every example finds,
		// at a fraction of the time: an example costs its size times its number of values.
		typ, _, _ := strings.Cut(f.Name, "-")
		if len(f.Data) <= 40<<10 && perType[typ] < 5 {
			perType[typ]++
			work <- f
		}
	}
	close(work)
	wg.Wait()
	t.Logf("%d values changed in examples of %d types; %d parameter uses seen to change", leaves, len(perType), len(seen))
	if len(seen) < 1500 {
		t.Errorf("only %d parameter uses seen to change", len(seen))
	}
}

// covers reports whether the element at path (its coordinates from the resource down) is
// among what r reads: itself, or below a type read whole.
func (r *reads) covers(path []coordinate) bool {
	if r.all {
		return true
	}
	leaf := path[len(path)-1]
	leaf.field = strings.TrimPrefix(leaf.field, "_") // a primitive's extensions go with it
	if slices.Contains(r.coords, leaf) || slices.Contains(r.names, leaf.field) {
		return true
	}
	for _, c := range path {
		if slices.Contains(r.whole, c.obj) || slices.Contains(r.whole, "") {
			return true
		}
	}
	return false
}

func decodeNumbers(t testing.TB, b []byte) map[string]any {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// indexEntries indexes res and returns each parameter's entries, field by field; a composite's
// components are flattened (k0.c is component 0's code).
func indexEntries(t testing.TB, typ string, res map[string]any) map[string][]map[string]string {
	raw, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	ix, err := search.Extract(typ, raw)
	if err != nil {
		t.Fatal(err)
	}
	// The entries are documents, which encoding/json writes as objects; a composite's
	// components are objects inside.
	b, err := json.Marshal(ix.Entries)
	if err != nil {
		t.Fatal(err)
	}
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal(b, &entries); err != nil {
		t.Fatal(err)
	}
	out := map[string][]map[string]string{}
	for _, e := range entries {
		m := map[string]string{}
		for k, v := range e {
			var sub map[string]json.RawMessage
			if err := json.Unmarshal(v, &sub); err == nil && len(v) > 0 && v[0] == '{' {
				for sk, sv := range sub {
					m[k+"."+sk] = scalar(sv)
				}
				continue
			}
			m[k] = scalar(v)
		}
		out[m["p"]] = append(out[m["p"]], m)
	}
	return out
}

// scalar returns a JSON string unquoted, and any other JSON value as written: the two sides
// of a comparison print alike.
func scalar(raw json.RawMessage) string {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	return string(raw)
}

// project returns what a search of typ by p with modifier mod can tell of a resource's
// entries: the set of entries cut down to the fields it compares (an entry matches or not on
// those alone), or for :missing whether there is any.
func project(typ string, p *model.SearchParam, mod string, entries []map[string]string) []string {
	if mod == search.ModMissing {
		return []string{strconv.FormatBool(len(entries) > 0)}
	}
	var out []string
	for _, e := range entries {
		var b strings.Builder
		for _, k := range slices.Sorted(maps.Keys(e)) {
			if comparedBy(typ, p, mod, k) {
				fmt.Fprintf(&b, "%s=%s;", k, e[k])
			}
		}
		out = append(out, b.String())
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// comparedBy reports whether a search of typ by p with modifier mod compares index field k.
func comparedBy(typ string, p *model.SearchParam, mod, k string) bool {
	ptype := p.Type
	if c, sub, ok := strings.Cut(k, "."); ok { // a composite's component
		i, _ := strconv.Atoi(strings.TrimPrefix(c, "k"))
		ptype, k = search.ParamOf(typ, p.Components[i].Code).Type, sub
	}
	if k == "p" {
		return false
	}
	cmp := search.ComparedFields(ptype, mod)
	return cmp == nil || slices.Contains(cmp, k)
}

// walkLeaves calls visit for every primitive value below v, a value of type typ, with the
// schema coordinates from the resource down to it and a function that changes the value and
// returns its undo. Contained and bundled resources switch to their own type.
func walkLeaves(types *schemaTypes, typ string, v any, path []coordinate, visit func([]coordinate, func() func())) {
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	if rt, ok := m["resourceType"].(string); ok {
		typ = rt
	}
	elems, _ := types.Elements(typ)
	for k, x := range m {
		if k == "resourceType" {
			continue
		}
		p := append(slices.Clip(path), coordinate{typ, k})
		child := elems[k]
		switch x := x.(type) {
		case []any:
			for i := range x {
				leafOrWalk(types, child, x[i], p, func(n any) { x[i] = n }, visit)
			}
		default:
			leafOrWalk(types, child, x, p, func(n any) { m[k] = n }, visit)
		}
	}
}

func leafOrWalk(types *schemaTypes, typ string, v any, path []coordinate, set func(any), visit func([]coordinate, func() func())) {
	var changed any
	switch x := v.(type) {
	case map[string]any:
		walkLeaves(types, typ, x, path, visit)
		return
	case string:
		changed = x + "Zq9"
	case json.Number:
		f, _ := x.Float64()
		changed = json.Number(strconv.FormatFloat(f+1.5, 'g', -1, 64))
	case bool:
		changed = !x
	default:
		return
	}
	visit(path, func() func() {
		set(changed)
		return func() { set(v) }
	})
}

// TestSchemaTypes: the analysis sees FHIR's element names and types, not GraphQL's extras.
func TestSchemaTypes(t *testing.T) {
	types := &schemaTypes{schema: testSchema}
	ref, _ := types.Elements("Reference")
	if _, ok := ref["resource"]; ok {
		t.Error("Reference.resource is GraphQL's, not a FHIR element")
	}
	pat, ok := types.Elements("Patient")
	if !ok || pat["birthDate"] != "date" || pat["deceasedBoolean"] != "boolean" || pat["multipleBirthInteger"] != "integer" || pat["name"] != "HumanName" {
		t.Errorf("Patient elements: %v", pat)
	}
	if _, ok := pat["_reverse"]; ok {
		t.Error("_reverse is GraphQL's, not a FHIR element")
	}
	if sub, ok := types.Elements("Subscription"); !ok || sub["criteria"] != "string" {
		t.Errorf("Subscription (the resource) elements: %v", sub)
	}
	if _, ok := types.Elements("Resource"); ok {
		t.Error("Resource is abstract")
	}
	if def := testSchema.Types["Patient"]; def == nil || def.Kind != ast.Object {
		t.Fatal("no Patient type")
	}
}

// hiddenPaths returns the paths of element names, from a value of type typ down at most depth
// steps through readable elements, that end at an element the request may not read.
func hiddenPaths(a *access, types *schemaTypes, typ string, depth int) [][]string {
	var out [][]string
	var walk func(t string, path []string)
	walk = func(t string, path []string) {
		elems, ok := types.Elements(t)
		if !ok || len(path) >= depth {
			return
		}
		for _, name := range slices.Sorted(maps.Keys(elems)) {
			p := append(slices.Clip(path), name)
			if !a.allowsField(t, name) {
				out = append(out, p)
				continue
			}
			if et := elems[name]; !model.IsResourceType(et) {
				walk(et, p)
			}
		}
	}
	walk(typ, nil)
	return out
}

// keywords are FHIRPath words that name an element only when delimited: `div`.
var keywords = map[string]bool{"div": true, "mod": true, "and": true, "or": true, "xor": true, "implies": true, "in": true, "contains": true, "is": true, "as": true}

// forms returns FHIRPath expressions that read the element at path in different ways.
func forms(types *schemaTypes, typ string, path []string) []string {
	quoted := make([]string, len(path))
	for i, name := range path {
		quoted[i] = "`" + name + "`"
		if keywords[name] {
			path = slices.Clone(path)
			path[i] = quoted[i]
		}
	}
	parent, leaf := strings.Join(path[:len(path)-1], "."), path[len(path)-1]
	in := func(s string) string { // s read on the parent
		if parent == "" {
			return s
		}
		return parent + "." + s
	}
	whereOn := func(crit string) string {
		if parent == "" {
			return "where(" + crit + ").exists()"
		}
		return parent + ".where(" + crit + ").exists()"
	}
	out := []string{
		in(leaf) + ".exists()",
		"%resource." + in(leaf) + ".exists()",
		whereOn(leaf + ".exists()"),
		whereOn("$this." + leaf + ".exists()"),
		in(leaf) + " = " + in(leaf),
		strings.Join(quoted, ".") + ".exists()",
	}
	if parent != "" {
		out = append(out, parent+".exists("+leaf+".exists())", parent+" = "+parent)
	}
	// A choice element's value: by its base name, cast or not.
	owner := typ
	for _, step := range path[:len(path)-1] {
		elems, _ := types.Elements(owner)
		owner = elems[strings.Trim(step, "`")]
	}
	for _, base := range model.ChoiceElements(owner) {
		if suffix, ok := strings.CutPrefix(leaf, base); ok && suffix != "" {
			elems, _ := types.Elements(owner)
			ft := elems[leaf]
			out = append(out, in(base)+".exists()", in(base)+".ofType("+ft+").exists()", "("+in(base)+" as "+ft+").exists()")
		}
	}
	return out
}

// TestFHIRPathReachesNoHiddenField: for every resource type and every element hidden from a
// role within three steps of it, every way of naming it in FHIRPath (plain, from %resource,
// inside where and exists, through $this, compared whole, by its choice name, cast with
// ofType or as) is refused, and the same expression is accepted for an admin.
func TestFHIRPathReachesNoHiddenField(t *testing.T) {
	g := testGuard(t)
	admin := g.access(&authz.Principal{Subject: "a", Roles: []string{"admin"}})
	n := 0
	for _, role := range []string{"analyst", "partner"} {
		a := g.access(&authz.Principal{Subject: role, Roles: []string{role}})
		for _, typ := range model.ResourceTypes() {
			if !a.allowsType(typ, authz.ActSearch) {
				continue
			}
			for _, path := range hiddenPaths(a, g.types, typ, 3) {
				for _, expr := range forms(g.types, typ, path) {
					n++
					if err := a.checkFHIRPath(typ, expr); err == nil {
						t.Errorf("%s: %s.where(%s) accepted", role, typ, expr)
					}
					if err := admin.checkFHIRPath(typ, expr); err != nil {
						t.Errorf("admin: %s: %s: %v", typ, expr, err)
					}
				}
			}
		}
		for _, expr := range []string{"descendants().exists()", "children().exists()", "generalPractitioner.resolve().name.exists()", "contained.name.exists()"} {
			if err := a.checkFHIRPath("Patient", expr); err == nil {
				t.Errorf("%s: Patient.where(%s) accepted", role, expr)
			}
		}
	}
	if n < 10_000 {
		t.Errorf("only %d expressions checked", n)
	}
	t.Logf("%d expressions checked", n)
}

// TestElementFiltersReadWhatTheyName: every filter argument of every repeating element in the
// schema reads the element it names: refused exactly when that element is hidden from the role.
func TestElementFiltersReadWhatTheyName(t *testing.T) {
	g := testGuard(t)
	n, refused := 0, 0
	for _, role := range []string{"admin", "analyst", "partner", "clinician"} {
		a := g.access(&authz.Principal{Subject: role, Roles: []string{role}})
		for _, owner := range slices.Sorted(maps.Keys(testSchema.Types)) {
			def := testSchema.Types[owner]
			if def.Kind != ast.Object || isRoot(owner) || strings.HasPrefix(owner, "__") {
				continue
			}
			for _, f := range def.Fields {
				if f.Name == "_reverse" || f.Name == "_reverseConnection" || graphQLOnly[coordinate{owner, f.Name}] {
					continue
				}
				for _, arg := range f.Arguments {
					if arg.Name == "_count" || arg.Name == "_offset" || arg.Name == "fhirpath" {
						continue
					}
					v := "x"
					fc := &graphql.FieldContext{Field: graphql.CollectedField{Field: &ast.Field{Name: f.Name, Definition: f}}, Args: map[string]any{arg.Name: &v}}
					err := a.checkElementFilters(fc)
					want := a.allowsField(f.Type.Name(), arg.Name)
					if (err == nil) != want {
						t.Errorf("%s: %s.%s(%s:) error %v, want readable=%v", role, owner, f.Name, arg.Name, err, want)
					}
					n++
					if err != nil {
						refused++
					}
				}
			}
		}
	}
	if n < 1000 || refused == 0 {
		t.Errorf("%d filter arguments checked, %d refused", n, refused)
	}
	t.Logf("%d filter arguments checked, %d refused", n, refused)
}

// TestRoleSetDecidesAsAnyOfItsRoles: a token's set of roles may read a field when one of its
// roles may, for every pair of the policy's roles and every field of the schema, whether or
// not the single roles' views were built first.
func TestRoleSetDecidesAsAnyOfItsRoles(t *testing.T) {
	singles := testGuard(t) // the single roles' decisions, from a guard of their own
	roles := singles.policy.Roles()
	checked := 0
	for i, a := range roles {
		for _, b := range roles[i+1:] {
			g := testGuard(t) // nothing built: the set's view builds its roles' views
			set := g.access(&authz.Principal{Roles: []string{a, b}}).v
			va := singles.access(&authz.Principal{Roles: []string{a}}).v
			vb := singles.access(&authz.Principal{Roles: []string{b}}).v
			for name, def := range testSchema.Types {
				if strings.HasPrefix(name, "__") {
					continue
				}
				for _, f := range def.Fields {
					want := va.field(name, f.Name).ok || vb.field(name, f.Name).ok
					if got := set.field(name, f.Name); got.ok != want {
						t.Fatalf("%s,%s on %s.%s: %v, want %v", a, b, name, f.Name, got.ok, want)
					}
					checked++
				}
			}
		}
	}
	t.Logf("%d decisions of %d role pairs checked", checked, len(roles)*(len(roles)-1)/2)
	if checked < 100_000 {
		t.Errorf("only %d decisions checked", checked)
	}
}

// TestWholeReadOfAnyTypeNeedsEveryType: a value whose type is known only at evaluation (a
// contained resource resolve() reaches) may be a resource of any type, so reading it whole
// needs a role that reads every field of every type.
func TestWholeReadOfAnyTypeNeedsEveryType(t *testing.T) {
	g := testGuard(t)
	r := &reads{whole: []string{""}}
	want := map[string]bool{"admin": true, "analyst": false, "clinician": false, "partner": false, "patient": false}
	for _, role := range g.policy.Roles() {
		w, ok := want[role]
		if !ok {
			t.Fatalf("no expectation for role %s", role)
		}
		if got := g.access(&authz.Principal{Roles: []string{role}}).allowsReads(r); got != w {
			t.Errorf("%s: whole read of a value of any type allowed %v, want %v", role, got, w)
		}
	}
}
