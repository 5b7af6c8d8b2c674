package api_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/internal/datasets"
)

// putPatientExample stores the official Patient example, the resource the FHIR GraphQL page's
// flattening examples are applied to.
func putPatientExample(e *env) {
	e.t.Helper()
	e.put(string(datasets.ReadFile(e.t, datasets.FHIRExamples, "Patient-example.json")))
}

// compactJSON returns raw compacted, failing t when it is not JSON.
func compactJSON(t testing.TB, raw []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		t.Fatalf("not JSON: %s", raw)
	}
	return buf.String()
}

// TestFlatteningSpecExamples runs the examples of the FHIR GraphQL page's "Data Flattening
// Directives" on the Patient example, at the instance level (as the page applies them) and at
// the system level through Patient(id: example) (the page's own way of naming an id), and
// compares the answers byte for byte, key order included, with the outputs derived by hand from
// the page: the page's outputs, less text, which the example has in none of its names (a name
// that collates nothing is left out, as the page leaves it out).
func TestFlatteningSpecExamples(t *testing.T) {
	e := newEnv(t)
	putPatientExample(e)
	const oid = `"urn:oid:1.2.36.146.595.217.0.1"`
	cases := []struct{ name, query, want string }{
		{"flatten",
			`{ identifier @flatten { system value } active name @flatten { text given family } }`,
			`{"system":[` + oid + `],"value":["12345"],"active":true,"given":["Peter","James","Jim","Peter","James"],"family":["Chalmers","Windsor"]}`},
		{"first",
			`{ identifier @flatten { system value } active name @flatten { text given @first family } }`,
			`{"system":[` + oid + `],"value":["12345"],"active":true,"given":["Peter","Jim","Peter"],"family":["Chalmers","Windsor"]}`},
		{"singleton",
			`{ identifier @flatten { system @singleton value @singleton } active name @flatten @first { text given family @singleton } }`,
			`{"system":` + oid + `,"value":"12345","active":true,"given":["Peter","James"],"family":"Chalmers"}`},
		{"slice index, first singleton",
			`{ name @slice(path: "$index") @flatten {given @first @singleton family}}`,
			`{"given.0":"Peter","family.0":["Chalmers"],"given.1":"Jim","given.2":"Peter","family.2":["Windsor"]}`},
		{"slice use",
			`{ identifier @flatten { system value } active name @flatten @slice(path: "use") { given family @singleton } }`,
			`{"system":[` + oid + `],"value":["12345"],"active":true,"given.official":["Peter","James"],"family.official":"Chalmers","given.usual":["Jim"],"given.maiden":["Peter","James"],"family.maiden":"Windsor"}`},
		{"slice index",
			`{ identifier @flatten { system value } active name @flatten @slice(path: "$index") { given family @singleton } }`,
			`{"system":[` + oid + `],"value":["12345"],"active":true,"given.0":["Peter","James"],"family.0":"Chalmers","given.1":["Jim"],"given.2":["Peter","James"],"family.2":"Windsor"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.post("/Patient/example/$graphql", c.query, nil)
			if len(r.Errors) > 0 {
				t.Fatalf("instance level: %+v", r.Errors)
			}
			if got := compactJSON(t, rawData(t, r)); got != c.want {
				t.Errorf("instance level:\n got %s\nwant %s", got, c.want)
			}
			sys := e.post("", "{ Patient(id: example) "+c.query+" }", nil)
			if got := compactJSON(t, sys.mustData(t, "Patient")); got != c.want {
				t.Errorf("system level:\n got %s\nwant %s", got, c.want)
			}
		})
	}
	if len(cases) != 6 {
		t.Fatalf("the page has 6 flattening examples; %d checked", len(cases))
	}
}

// rawData returns the answer's data exactly as sent, key order included.
func rawData(t testing.TB, r *gqlResponse) []byte {
	t.Helper()
	var body struct{ Data json.RawMessage }
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	return body.Data
}

// TestFlatteningBeyondTheExamples covers what the page implies beyond its examples: a list at the
// root flattened into columns, nested slices whose suffixes accumulate, @slice without @flatten,
// decimals kept as written, children of the same type collated from two fields, and operations
// without the directives left as they were.
func TestFlatteningBeyondTheExamples(t *testing.T) {
	e := newEnv(t)
	putPatientExample(e)
	e.put(`{"resourceType":"Patient","id":"p2","gender":"female","active":false,"name":[{"use":"official","family":"Doe","given":["Jane"]}]}`,
		`{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"weight"},"valueQuantity":{"value":72.50,"unit":"kg"}}`)

	cases := []struct{ name, query, field, want string }{
		{"a list flattened into columns",
			`{ PatientList(_id: ["example", "p2"], _sort: ["_id"]) @flatten { id gender active } }`, "",
			`{"id":["example","p2"],"gender":["male","female"],"active":[true,false]}`},
		{"singletons of a list of one",
			`{ ObservationList(_id: "o1") @flatten { id @singleton valueQuantity @flatten { value @singleton unit @singleton } } }`, "",
			`{"id":"o1","value":72.50,"unit":"kg"}`},
		{"suffixes accumulate",
			`{ Patient(id: "example") { contact @flatten @slice(path: "gender") { telecom @flatten @slice(path: "system") { value @singleton } name @flatten { family } } } }`, "Patient",
			`{"value.female.phone":"+33 (237) 998327","family.female":["du Marché"]}`},
		{"slice without flatten",
			`{ Patient(id: "example") { telecom @slice(path: "use") { value } } }`, "Patient",
			`{"telecom.home":[{"value":null}],"telecom.work":[{"value":"(03) 5555 6473"}],"telecom.mobile":[{"value":"(03) 3410 5613"}],"telecom.old":[{"value":"(03) 5555 8834"}]}`},
		{"slice with singleton",
			`{ Patient(id: "example") { telecom @slice(path: "use") @singleton { value } } }`, "Patient",
			`{"telecom.home":{"value":null},"telecom.work":{"value":"(03) 5555 6473"},"telecom.mobile":{"value":"(03) 3410 5613"},"telecom.old":{"value":"(03) 5555 8834"}}`},
		{"same type from two fields",
			`{ Patient(id: "example") { identifier @flatten { value } telecom @flatten { value } } }`, "Patient",
			`{"value":["12345","(03) 5555 6473","(03) 3410 5613","(03) 5555 8834"]}`},
		{"no directive: as gqlgen answers",
			`{ Patient(id: "example") { name @include(if: true) { family } } }`, "Patient",
			`{"name":[{"family":"Chalmers"},{"family":null},{"family":"Windsor"}]}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.post("", c.query, nil)
			var got []byte
			if c.field == "" {
				if len(r.Errors) > 0 {
					t.Fatalf("%+v", r.Errors)
				}
				got = rawData(t, r)
			} else {
				got = r.mustData(t, c.field)
			}
			if s := compactJSON(t, got); s != c.want {
				t.Errorf("\n got %s\nwant %s", s, c.want)
			}
		})
	}
}

// TestFlatteningErrors checks the page's error cases and the misapplied directives: each answers
// an error with an OperationOutcome and no data, and the server goes on answering.
func TestFlatteningErrors(t *testing.T) {
	e := newEnv(t)
	putPatientExample(e)
	cases := []struct{ name, query, code, msg string }{
		// "The server SHALL return an error if there is more than one value when flattening."
		{"singleton of two values", `{ name @flatten { family @singleton } }`, "BAD_USER_INPUT", `"family" has 2 values`},
		{"singleton of a list", `{ name @flatten @first { given @singleton } }`, "BAD_USER_INPUT", `"given" has 2 values`},
		// "all the collated children must have the same FHIR type. The server SHALL return an error if they don't."
		{"children of different types", `{ identifier @flatten { system } telecom @flatten { system } }`, "BAD_USER_INPUT", "different FHIR types (uri and code)"},
		{"singleton without a flattened parent", `{ name { family @singleton } }`, "BAD_USER_INPUT", "@singleton on family"},
		{"singleton at the root", `{ active @singleton }`, "BAD_USER_INPUT", "@singleton on active"},
		{"flatten on a scalar", `{ active @flatten }`, "BAD_USER_INPUT", "@flatten on active"},
		{"slice path not an element", `{ name @slice(path: "nosuch") @flatten { family } }`, "BAD_USER_INPUT", "@slice on name"},
		{"slice path syntax", `{ name @slice(path: "use ==") @flatten { family } }`, "BAD_USER_INPUT", "@slice on name"},
		{"slice path empty", `{ name @slice(path: "") @flatten { family } }`, "BAD_USER_INPUT", "path must be a FHIRPath expression"},
		{"slice path of several values", `{ name @slice(path: "given") @flatten { family } }`, "BAD_USER_INPUT", "gives 2 values"},
		{"slice path of a complex value", `{ name @slice(path: "period") @flatten { family } }`, "BAD_USER_INPUT", "a slice needs a primitive value"},
		{"unknown directive", `{ name @flat { family } }`, "GRAPHQL_VALIDATION_FAILED", `Unknown directive "@flat"`},
		{"slice without path", `{ name @slice @flatten { family } }`, "GRAPHQL_VALIDATION_FAILED", "path"},
		{"slice path not a string", `{ name @slice(path: 1) @flatten { family } }`, "GRAPHQL_VALIDATION_FAILED", "String"},
		{"on a fragment", `{ ... on Patient @flatten { active } }`, "GRAPHQL_VALIDATION_FAILED", "may not be used on INLINE_FRAGMENT"},
		{"repeated", `{ name @flatten @flatten { family } }`, "GRAPHQL_VALIDATION_FAILED", "can only be used once"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.post("/Patient/example/$graphql", c.query, nil)
			if len(r.Errors) == 0 {
				t.Fatalf("answered %s", rawData(t, r))
			}
			if len(r.Data) > 0 {
				t.Errorf("data beside the error: %s", rawData(t, r))
			}
			got := r.Errors[0]
			if code, _ := got.Extensions["code"].(string); code != c.code || !strings.Contains(got.Message, c.msg) {
				t.Errorf("error %s %q, want %s containing %q", code, got.Message, c.code, c.msg)
			}
			if issue := outcomeIssue(t, got); issue != "invalid" {
				t.Errorf("OperationOutcome issue %q, want invalid", issue)
			}
		})
	}
	// The server is unaffected.
	r := e.post("/Patient/example/$graphql", `{ active }`, nil)
	if got := compactJSON(t, rawData(t, r)); got != `{"active":true}` {
		t.Errorf("after the errors: %s", got)
	}
}

// TestIDLiterals: the page writes Patient(id: example); GraphQL reads example as an enum value,
// which fhirgate accepts for an ID argument as the string of the same text, while literals that
// are no names stay errors.
func TestIDLiterals(t *testing.T) {
	e := newEnv(t)
	putPatientExample(e)
	for _, q := range []string{
		`{ Patient(id: example) { id, active } }`,
		`{ Patient(id:example){id active} }`,
		`query { p: Patient(id: example) { id } }`,
		`{ ...F } fragment F on Query { Patient(id: example) { id } }`,
	} {
		r := e.post("", q, nil)
		if len(r.Errors) > 0 {
			t.Errorf("%s: %+v", q, r.Errors)
			continue
		}
		if !strings.Contains(dataString(r), `"id":"example"`) {
			t.Errorf("%s: %s", q, dataString(r))
		}
	}
	for _, q := range []string{`{ Patient(id: true) { id } }`, `{ Patient(id: null) { id } }`, `{ Patient(id: {a: 1}) { id } }`} {
		r := e.post("", q, nil)
		if c := codes(r); len(c) == 0 || c[0] != "GRAPHQL_VALIDATION_FAILED" {
			t.Errorf("%s: %v %s", q, c, dataString(r))
		}
	}
}

// TestFlatteningDirectivesIntrospected: every role's view of the schema (and the whole schema of
// a server without authentication) declares the four directives, where GraphiQL and code
// generators read them; a role's @slice path is held to what it may read.
func TestFlatteningDirectivesIntrospected(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{})
	const q = `{ __schema { directives { name locations args { name type { kind name ofType { name } } } } } }`
	type directive struct {
		Name      string
		Locations []string
		Args      []struct {
			Name string
			Type struct {
				Kind   string
				Name   *string
				OfType *struct{ Name string }
			}
		}
	}
	check := func(who string, r *gqlResponse) {
		t.Helper()
		var s struct{ Directives []directive }
		if err := json.Unmarshal(r.mustData(t, "__schema"), &s); err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, d := range s.Directives {
			switch d.Name {
			case "flatten", "first", "singleton":
				if !slices.Equal(d.Locations, []string{"FIELD"}) || len(d.Args) != 0 {
					t.Errorf("%s: @%s %+v", who, d.Name, d)
				}
				found++
			case "slice":
				if !slices.Equal(d.Locations, []string{"FIELD"}) || len(d.Args) != 1 || d.Args[0].Name != "path" ||
					d.Args[0].Type.Kind != "NON_NULL" || d.Args[0].Type.OfType == nil || d.Args[0].Type.OfType.Name != "String" {
					t.Errorf("%s: @slice %+v", who, d)
				}
				found++
			}
		}
		if found != 4 {
			t.Errorf("%s: %d of the 4 flattening directives introspected", who, found)
		}
	}
	roles := a.policy.Roles()
	if len(roles) < 5 {
		t.Fatalf("the policy names %d roles", len(roles))
	}
	for _, role := range roles {
		check(role, a.postAs(a.token(t, role, "example"), "", q))
	}
	check("authentication off", newEnv(t).post("", q, nil))
	t.Logf("checked the directives in %d roles' schemas and the whole schema", len(roles))

	// An analyst may not read Address.city: slicing by it is refused, by state it is not.
	a.put(`{"resourceType":"Patient","id":"p1","address":[{"city":"Lynn","state":"MA"},{"city":"Salem","state":"NH"}]}`)
	analyst := a.token(t, "analyst", "")
	r := a.postAs(analyst, "", `{ Patient(id: p1) { address @slice(path: "city") @flatten { state } } }`)
	if c := codes(r); len(c) == 0 || c[0] != "FORBIDDEN" || strings.Contains(dataString(r)+r.Errors[0].Message, "Lynn") {
		t.Errorf("analyst sliced by city: %v %s", c, dataString(r))
	}
	r = a.postAs(analyst, "", `{ Patient(id: p1) { address @slice(path: "state") @flatten { state @singleton } } }`)
	if got := compactJSON(t, r.mustData(t, "Patient")); got != `{"state.MA":"MA","state.NH":"NH"}` {
		t.Errorf("analyst sliced by state: %s", got)
	}
}
