package api_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/api"
)

// ids decodes a list of {id} objects.
func idsOf(t testing.TB, raw json.RawMessage) []string {
	t.Helper()
	var items []struct{ ID string }
	if err := json.Unmarshal(raw, &items); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	out := []string{}
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}

func TestSearchThroughGraphQL(t *testing.T) {
	e := newEnv(t)
	seedObservations(e, 30)
	e.put(`{"resourceType":"Condition","id":"c1","subject":{"reference":"Patient/p1"},"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},"code":{"text":"asthma"}}`,
		`{"resourceType":"Condition","id":"c2","subject":{"reference":"Patient/p1"},"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"resolved"}]}}`,
		`{"resourceType":"Condition","id":"c3","subject":{"reference":"Patient/p2"},"clinicalStatus":{"coding":[{"code":"active"}]}}`)

	cases := []struct {
		query string
		field string
		want  string
	}{
		{`{ PatientList(birthdate: "1970-01-02") { id } }`, "PatientList", "p1,p29"},
		{`{ PatientList(birthdate: {ge: "1970-01-27", lt: "1970-01-29"}) { id } }`, "PatientList", "p26,p27"},
		{`{ ObservationList(value_quantity: "gt87", _sort: "-value-quantity") { id } }`, "ObservationList", "o29,o28,o27"},
		{`{ ObservationList(value_quantity: "gt87", fhirpath: "valueQuantity.value = 88.50") { id } }`, "ObservationList", "o28"},
		{`{ ConditionList(clinical_status: "active", _sort: "_id") { id } }`, "ConditionList", "c1,c3"},
		{`{ ConditionList(patient: "Patient/p1", clinical_status: {not: "resolved"}) { id } }`, "ConditionList", "c1"},
		{`{ ConditionList(subject: {Patient: {birthdate: "1970-01-03"}}) { id } }`, "ConditionList", "c3"},
		{`{ PatientList(_has: {Condition: {patient: {clinical_status: "active"}}}, _sort: "_id") { id } }`, "PatientList", "p1,p2"},
		{`{ PatientList(_id: ["p3", "p4"]) { id } }`, "PatientList", "p3,p4"},
		{`{ ObservationList(performer: "Practitioner/d7") { id } }`, "ObservationList", "o7"},
		{`{ PractitionerList(name: "doc2", _sort: "-name", _count: 3) { id } }`, "PractitionerList", "d29,d28,d27"},
		{`{ PatientList(_filter: {_id: "p5"}) { id } }`, "PatientList", "p5"},
	}
	for _, c := range cases {
		resp := e.post("", c.query, nil)
		got := idsOf(t, resp.mustData(t, c.field))
		if !strings.Contains(c.query, "_sort") {
			sort.Strings(got)
		}
		if strings.Join(got, ",") != c.want {
			t.Errorf("%s = %v, want %s", c.query, got, c.want)
		}
	}
}

func TestSearchErrorsThroughGraphQL(t *testing.T) {
	e := newEnv(t)
	cases := []struct{ query, code string }{
		{`{ PatientList(birthdate: "last tuesday") { id } }`, "BAD_USER_INPUT"},
		{`{ PatientList(gender: {gt: "m"}) { id } }`, "BAD_USER_INPUT"},
		{`{ PatientList(shoe_size: "9") { id } }`, "GRAPHQL_VALIDATION_FAILED"},
		{`{ PatientList(_filter: {shoe_size: "9"}) { id } }`, "BAD_USER_INPUT"},
		{`{ ObservationList(code: {in: "http://loinc.org/vs"}) { id } }`, "NOT_SUPPORTED"},
		{`{ ObservationList(code: {below: "no-system"}) { id } }`, "BAD_USER_INPUT"},
		{`{ PatientList(family: {$ne: ""}) { id } }`, "GRAPHQL_PARSE_FAILED"},
		{`{ PatientConnection(_cursor: "garbage") { count } }`, "BAD_USER_INPUT"},
	}
	for _, c := range cases {
		resp := e.post("", c.query, nil)
		if len(resp.Errors) == 0 {
			t.Errorf("%s: no error", c.query)
			continue
		}
		if got := resp.Errors[0].Extensions["code"]; got != c.code {
			t.Errorf("%s: code %v (%s), want %s", c.query, got, resp.Errors[0].Message, c.code)
		}
		outcomeIssue(t, resp.Errors[0])
	}
}

// TestListNeverTruncates: more matches than the list limit is an error, not a cut.
func TestListNeverTruncates(t *testing.T) {
	e := newEnv(t, func(c *api.Config) { c.ListLimit = 10 })
	seedObservations(e, 12)
	resp := e.post("", `{ PatientList(gender: "female") { id } }`, nil)
	if len(resp.Errors) == 0 || resp.Errors[0].Extensions["code"] != "TOO_MANY_RESULTS" {
		t.Fatalf("want TOO_MANY_RESULTS, got %+v", resp.Errors)
	}
	if got := idsOf(t, e.post("", `{ PatientList(gender: "female", _count: 5, _offset: 10) { id } }`, nil).mustData(t, "PatientList")); len(got) != 2 {
		t.Errorf("page after 10 of 12: %v", got)
	}
}

type connPage struct {
	Count    *int
	Offset   *int
	Pagesize int
	First    *string
	Previous *string
	Next     *string
	Last     *string
	Edges    []struct {
		Mode     string
		Resource struct{ ID string }
	}
}

func (e *env) page(t testing.TB, args string, vars map[string]any) connPage {
	t.Helper()
	q := fmt.Sprintf(`query($c: String) { PatientConnection(%s) { count offset pagesize first previous next last edges { mode resource { id } } } }`, args)
	var p connPage
	if err := json.Unmarshal(e.post("", q, vars).mustData(t, "PatientConnection"), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConnectionCursors walks a search forwards then backwards with cursors while
// resources are inserted: every resource present from the start is seen exactly once
// each way, in order.
func TestConnectionCursors(t *testing.T) {
	e := newEnv(t)
	// 20 pages, with a write between any two: as many pages as 10,000 resources in pages of
	// 500 make, at a tenth of the seeding.
	const n, size = 3000, 150
	var batch []string
	for i := 0; i < n; i++ {
		batch = append(batch, fmt.Sprintf(`{"resourceType":"Patient","id":"p%05d","gender":"female","birthDate":"19%02d-01-01"}`, i, i%100))
		if len(batch) == 500 {
			e.put(batch...)
			batch = nil
		}
	}
	args := fmt.Sprintf(`gender: "female", _sort: ["birthdate"], _count: %d, _cursor: $c`, size)
	first := e.page(t, args, nil)
	if first.Count == nil || *first.Count != n || first.Pagesize != size || first.Previous != nil || first.Next == nil {
		t.Fatalf("first page: count %v pagesize %d previous %v next %v", first.Count, first.Pagesize, first.Previous, first.Next)
	}
	var forward []string
	p := first
	inserted := 0
	for pages := 0; ; pages++ {
		for _, ed := range p.Edges {
			forward = append(forward, ed.Resource.ID)
		}
		// Concurrent writes between pages: new patients sort everywhere.
		e.put(fmt.Sprintf(`{"resourceType":"Patient","id":"new%d","gender":"female","birthDate":"19%02d-06-01"}`, pages, (pages*37)%100))
		inserted++
		if p.Next == nil {
			break
		}
		p = e.page(t, args, map[string]any{"c": *p.Next})
	}
	var back []string
	for {
		for i := len(p.Edges) - 1; i >= 0; i-- {
			back = append(back, p.Edges[i].Resource.ID)
		}
		if p.Previous == nil {
			break
		}
		p = e.page(t, args, map[string]any{"c": *p.Previous})
	}
	check := func(name string, seen []string) {
		count := map[string]int{}
		for _, id := range seen {
			count[id]++
		}
		for i := 0; i < n; i++ {
			if id := fmt.Sprintf("p%05d", i); count[id] != 1 {
				t.Fatalf("%s: %s seen %d times", name, id, count[id])
			}
		}
		for id, c := range count {
			if c != 1 {
				t.Fatalf("%s: %s seen %d times", name, id, c)
			}
		}
	}
	check("forward", forward)
	check("backward", back)
	t.Logf("forward %d, backward %d resources; %d inserted while paging", len(forward), len(back), inserted)
}

// TestReverseReferencesBatched: a list of N patients with their observations and
// conditions costs the same MongoDB round trips for N = 10 and N = 1,000.
func TestReverseReferencesBatched(t *testing.T) {
	counts := map[int]int64{}
	for _, n := range []int{10, 1000} {
		e := newEnv(t)
		seedObservations(e, n)
		q := `query($n: Int) { PatientList(_count: $n) { id
			ObservationList(_reference: subject, status: "final") { id valueQuantity { value } }
			conds: ConditionList(_reference: patient) { id }
			ObservationConnection(_reference: patient, _count: 1) { count edges { resource { id } } }
		} }`
		var resp *gqlResponse
		counts[n], _ = recordCommands(func() { resp = e.post("", q, map[string]any{"n": n}) })
		var pats []struct {
			ID                    string
			ObservationList       []struct{ ID string }
			Conds                 []struct{ ID string }
			ObservationConnection struct {
				Count int
				Edges []struct{ Resource struct{ ID string } }
			}
		}
		if err := json.Unmarshal(resp.mustData(t, "PatientList"), &pats); err != nil {
			t.Fatal(err)
		}
		if len(pats) != n {
			t.Fatalf("N=%d: %d patients", n, len(pats))
		}
		for _, p := range pats {
			want := "o" + strings.TrimPrefix(p.ID, "p")
			if len(p.ObservationList) != 1 || p.ObservationList[0].ID != want || len(p.Conds) != 0 ||
				p.ObservationConnection.Count != 1 || p.ObservationConnection.Edges[0].Resource.ID != want {
				t.Fatalf("N=%d: patient %s: %+v", n, p.ID, p)
			}
		}
	}
	t.Logf("MongoDB commands per request: N=10 → %d, N=1000 → %d", counts[10], counts[1000])
	if counts[10] != counts[1000] {
		t.Errorf("round trips grow with N: %d for N=10, %d for N=1000", counts[10], counts[1000])
	}
}

// TestFHIRPathOnRepeatingElements: name(fhirpath: ...) keeps the elements for which
// the expression is true, before _count.
func TestFHIRPathOnRepeatingElements(t *testing.T) {
	e := newEnv(t)
	e.put(`{"resourceType":"Patient","id":"fp","name":[{"text":"Nick"},{"use":"official","family":"Chalmers","given":["Peter"]},{"family":"Windsor","period":{"end":"2002"}}]}`)
	var p struct {
		Name []struct{ Family string }
		Ext  []struct{ URL string }
	}
	resp := e.post("", `{ Patient(id: "fp") { name(fhirpath: "family.exists() and period.exists().not()") { family } } }`, nil)
	if err := json.Unmarshal(resp.mustData(t, "Patient"), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Name) != 1 || p.Name[0].Family != "Chalmers" {
		t.Errorf("names = %+v, want only Chalmers", p.Name)
	}
	resp = e.post("", `{ Patient(id: "fp") { name(fhirpath: "family.exists()", _count: 1, _offset: 1) { family } } }`, nil)
	json.Unmarshal(resp.mustData(t, "Patient"), &p)
	if len(p.Name) != 1 || p.Name[0].Family != "Windsor" {
		t.Errorf("paged names = %+v, want only Windsor", p.Name)
	}
	resp = e.post("", `{ Patient(id: "fp") { name(fhirpath: "family.frobnicate('x')") { family } } }`, nil)
	if len(resp.Errors) == 0 || resp.Errors[0].Extensions["code"] != "BAD_USER_INPUT" {
		t.Errorf("unsupported FHIRPath function: want BAD_USER_INPUT, got %+v", resp.Errors)
	}
	// Compiled against the element's type: a name HumanName does not have is an error (as
	// "birth" for birthDate is), not a filter that silently matches nothing.
	resp = e.post("", `{ Patient(id: "fp") { name(fhirpath: "postal.exists()") { family } } }`, nil)
	if len(resp.Errors) == 0 || resp.Errors[0].Extensions["code"] != "BAD_USER_INPUT" {
		t.Errorf("a path HumanName cannot have: want BAD_USER_INPUT, got %+v", resp.Errors)
	}
}

// TestReverseReferenceAtInstanceLevel: the spec's reverse-reference form works at the
// instance endpoint, whose root is the resource itself.
func TestReverseReferenceAtInstanceLevel(t *testing.T) {
	e := newEnv(t)
	seedObservations(e, 3)
	resp := e.post("/Patient/p1/$graphql", `{ id ObservationList(_reference: subject) { id } ObservationConnection(_reference: patient) { count edges { resource { id } } } }`, nil)
	if len(resp.Errors) > 0 {
		t.Fatalf("errors: %+v", resp.Errors)
	}
	var got struct {
		ObservationList       []struct{ ID string }
		ObservationConnection struct {
			Count int
			Edges []struct{ Resource struct{ ID string } }
		}
	}
	b, _ := json.Marshal(resp.Data)
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.ObservationList) != 1 || got.ObservationList[0].ID != "o1" || got.ObservationConnection.Count != 1 || got.ObservationConnection.Edges[0].Resource.ID != "o1" {
		t.Errorf("got %+v", got)
	}
	resp = e.post("", `{ Patient(id: "p1") { ObservationList(_reference: code) { id } } }`, nil)
	if len(resp.Errors) == 0 || resp.Errors[0].Extensions["code"] != "BAD_USER_INPUT" {
		t.Errorf("reverse reference through a token parameter: want BAD_USER_INPUT, got %+v", resp.Errors)
	}
}

// TestReverseReferencesBelowReferences: reverse references on resources reached through
// Reference.resource are batched too.
func TestReverseReferencesBelowReferences(t *testing.T) {
	counts := map[int]int64{}
	for _, n := range []int{10, 300} {
		e := newEnv(t)
		seedObservations(e, n)
		q := `query($n: Int) { ObservationList(_count: $n) { id subject { resource { ... on Patient { id ObservationList(_reference: patient) { id } } } } } }`
		var resp *gqlResponse
		counts[n], _ = recordCommands(func() { resp = e.post("", q, map[string]any{"n": n}) })
		var obs []struct {
			ID      string
			Subject struct {
				Resource struct {
					ID              string
					ObservationList []struct{ ID string }
				}
			}
		}
		if err := json.Unmarshal(resp.mustData(t, "ObservationList"), &obs); err != nil {
			t.Fatal(err)
		}
		for _, o := range obs {
			if l := o.Subject.Resource.ObservationList; len(l) != 1 || l[0].ID != o.ID {
				t.Fatalf("N=%d: %s: %+v", n, o.ID, o.Subject)
			}
		}
	}
	t.Logf("MongoDB commands per request: N=10 → %d, N=300 → %d", counts[10], counts[300])
	if counts[10] != counts[300] {
		t.Errorf("round trips grow with N: %d for N=10, %d for N=300", counts[10], counts[300])
	}
}
