package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/storage"
)

// put writes resources given as JSON straight to storage, in one commit.
func (e *env) put(jsons ...string) {
	e.t.Helper()
	var writes []storage.Write
	for _, j := range jsons {
		res, err := model.Unmarshal([]byte(j))
		if err != nil {
			e.t.Fatalf("fixture %s: %v", truncate(j, 80), err)
		}
		writes = append(writes, storage.Write{Op: storage.OpPut, Type: res.TypeName(), ID: res.ResourceID(), Resource: res})
	}
	if _, err := e.store.Commit(context.Background(), writes); err != nil {
		e.t.Fatal(err)
	}
}

// seedObservations writes n patients, n practitioners and n observations, observation i
// referring to patient i and practitioner i.
func seedObservations(e *env, n int) {
	var batch []string
	flush := func() {
		if len(batch) > 0 {
			e.put(batch...)
			batch = batch[:0]
		}
	}
	for i := 0; i < n; i++ {
		batch = append(batch,
			fmt.Sprintf(`{"resourceType":"Patient","id":"p%d","gender":"female","birthDate":"1970-01-%02d"}`, i, i%28+1),
			fmt.Sprintf(`{"resourceType":"Practitioner","id":"d%d","active":true,"name":[{"family":"Doc%d"}]}`, i, i),
			fmt.Sprintf(`{"resourceType":"Observation","id":"o%d","status":"final","code":{"text":"weight"},"valueQuantity":{"value":%d.50,"unit":"kg"},"subject":{"reference":"Patient/p%d"},"performer":[{"reference":"Practitioner/d%d"}]}`, i, 60+i%40, i, i))
		if len(batch) >= 300 {
			flush()
		}
	}
	flush()
}

const nestedQuery = `query($n: Int) { ObservationList(_count: $n) {
  id valueQuantity { value }
  subject { resource { ... on Patient { id birthDate } } }
  performer { resource { ... on Practitioner { id name { family } } } }
} }`

// TestNestedReferencesCostConstantRoundTrips resolves subject and performer of N observations
// and counts the MongoDB commands the request sends: the same for N = 10 and N = 1,000.
func TestNestedReferencesCostConstantRoundTrips(t *testing.T) {
	counts := map[int]int64{}
	for _, n := range []int{10, 1000} {
		e := newEnv(t)
		seedObservations(e, n)
		var resp *gqlResponse
		var names map[string]int
		counts[n], names = recordCommands(func() { resp = e.post("", nestedQuery, map[string]any{"n": n}) })
		t.Logf("N=%d: commands %v", n, names)
		var obs []struct {
			ID      string
			Subject struct {
				Resource struct{ ID, BirthDate string }
			}
			Performer []struct {
				Resource struct {
					ID   string
					Name []struct{ Family string }
				}
			}
		}
		if err := json.Unmarshal(resp.mustData(t, "ObservationList"), &obs); err != nil {
			t.Fatal(err)
		}
		if len(obs) != n {
			t.Fatalf("N=%d: got %d observations", n, len(obs))
		}
		for _, o := range obs {
			i := strings.TrimPrefix(o.ID, "o")
			if o.Subject.Resource.ID != "p"+i || o.Performer[0].Resource.ID != "d"+i || o.Performer[0].Resource.Name[0].Family != "Doc"+i {
				t.Fatalf("N=%d: observation %s resolved to %+v", n, o.ID, o)
			}
		}
	}
	t.Logf("MongoDB commands per request: N=10 → %d, N=1000 → %d", counts[10], counts[1000])
	if counts[10] != counts[1000] {
		t.Errorf("round trips grow with N: %d for N=10, %d for N=1000", counts[10], counts[1000])
	}
	if counts[1000] > 4 {
		t.Errorf("%d round trips, want at most 4 (list, patients, practitioners, and a count)", counts[1000])
	}
}

// TestTwoLevelsOfReferences follows Observation → Patient → Organization: one more round trip
// for the second level, still independent of the number of rows.
func TestTwoLevelsOfReferences(t *testing.T) {
	counts := map[int]int64{}
	for _, n := range []int{5, 300} {
		e := newEnv(t)
		var batch []string
		for i := 0; i < n; i++ {
			batch = append(batch,
				fmt.Sprintf(`{"resourceType":"Organization","id":"org%d","name":"Org %d"}`, i, i),
				fmt.Sprintf(`{"resourceType":"Patient","id":"p%d","managingOrganization":{"reference":"Organization/org%d"}}`, i, i),
				fmt.Sprintf(`{"resourceType":"Observation","id":"o%d","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p%d"}}`, i, i))
		}
		e.put(batch...)
		var resp *gqlResponse
		counts[n], _ = recordCommands(func() {
			resp = e.post("", `{ ObservationList(_count: 1000) { id subject { resource { ... on Patient { managingOrganization { resource { ... on Organization { name } } } } } } } }`, nil)
		})
		var obs []struct {
			ID      string
			Subject struct {
				Resource struct {
					ManagingOrganization struct{ Resource struct{ Name string } }
				}
			}
		}
		json.Unmarshal(resp.mustData(t, "ObservationList"), &obs)
		if len(obs) != n {
			t.Fatalf("N=%d: %d observations", n, len(obs))
		}
		for _, o := range obs {
			if want := "Org " + strings.TrimPrefix(o.ID, "o"); o.Subject.Resource.ManagingOrganization.Resource.Name != want {
				t.Fatalf("%s resolved to %+v, want %s", o.ID, o.Subject, want)
			}
		}
	}
	t.Logf("commands: N=5 → %d, N=300 → %d", counts[5], counts[300])
	if counts[5] != counts[300] || counts[300] > 4 {
		t.Errorf("two levels cost %d (N=5) and %d (N=300) commands; want equal and at most 4 (list, count, one per level)", counts[5], counts[300])
	}
}

func TestSpecificationExamples(t *testing.T) {
	e := newEnv(t)
	e.put(
		`{"resourceType":"Patient","id":"pat1","active":true,"birthDate":"1974-12-25","_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"1974-12-25T14:35:45-05:00"}]},
		  "name":[{"use":"official","family":"Chalmers","given":["Peter","James"]},{"use":"usual","given":["Jim"]}],
		  "extension":[{"url":"http://example.org/a","valueString":"A"},{"url":"http://example.org/b","valueString":"B"}]}`,
		`{"resourceType":"Observation","id":"obs1","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/pat1"},
		  "contained":[{"resourceType":"Practitioner","id":"pr1","active":false,"name":[{"family":"Inline"}]}],
		  "performer":[{"reference":"#pr1"},{"reference":"Patient/missing"}]}`,
	)
	cases := []struct{ name, query, want string }{
		{"untyped resource selection", `{ Observation(id: "obs1") { subject { resource { active } } } }`, `{"subject":{"resource":{"active":true}}}`},
		{"resource(type:)", `{ Observation(id: "obs1") { subject { resource(type: Patient) { birthDate } } } }`, `{"subject":{"resource":{"birthDate":"1974-12-25"}}}`},
		{"type mismatch resolves to null", `{ Observation(id: "obs1") { subject { resource(type: Group) { id } } } }`, `{"subject":{"resource":null}}`},
		{"contained reference", `{ Observation(id: "obs1") { performer(_count: 1) { resource { ... on Practitioner { name { family } } } } } }`, `{"performer":[{"resource":{"name":[{"family":"Inline"}]}}]}`},
		{"optional unresolvable", `{ Observation(id: "obs1") { performer(_offset: 1) { reference resource(optional: true) { id } } } }`, `{"performer":[{"reference":"Patient/missing","resource":null}]}`},
		{"primitive extension", `{ Patient(id: "pat1") { birthDate _birthDate { extension { url valueDateTime } } } }`, `{"birthDate":"1974-12-25","_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"1974-12-25T14:35:45-05:00"}]}}`},
		{"sub-field filter (enum literal)", `{ Patient(id: "pat1") { name(use: official) { given } } }`, `{"name":[{"given":["Peter","James"]}]}`},
		{"sub-field filter (string)", `{ Patient(id: "pat1") { extension(url: "http://example.org/b") { valueString } } }`, `{"extension":[{"valueString":"B"}]}`},
		{"_count and _offset on a list", `{ Patient(id: "pat1") { extension(_offset: 1, _count: 5) { url } } }`, `{"extension":[{"url":"http://example.org/b"}]}`},
		{"contained as Resource", `{ Observation(id: "obs1") { contained { resourceType id ... on Practitioner { active } } } }`, `{"contained":[{"resourceType":"Practitioner","id":"pr1","active":false}]}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := e.post("", c.query, nil)
			var field string
			for k := range resp.Data {
				field = k
			}
			got := resp.mustData(t, field)
			assertJSONEqual(t, got, c.want)
		})
	}

	t.Run("unresolvable reference is an error", func(t *testing.T) {
		resp := e.post("", `{ Observation(id: "obs1") { performer { resource { id } } } }`, nil)
		if len(resp.Errors) != 1 {
			t.Fatalf("errors = %+v, want one for Patient/missing", resp.Errors)
		}
		if code := outcomeIssue(t, resp.Errors[0]); code != "not-found" {
			t.Errorf("issue code %q, want not-found", code)
		}
		if got := fmt.Sprint(resp.Errors[0].Path); got != "[Observation performer 1 resource]" {
			t.Errorf("error path %s", got)
		}
	})

	t.Run("GET with query parameter", func(t *testing.T) {
		q := url.QueryEscape(`{ Patient(id: "pat1") { id active } }`)
		resp := e.raw(http.MethodGet, "/$graphql?query="+q, "", nil)
		assertJSONEqual(t, resp.mustData(t, "Patient"), `{"id":"pat1","active":true}`)
	})
}

// TestIntrospection checks what GraphiQL's documentation explorer relies on.
func TestIntrospection(t *testing.T) {
	e := newEnv(t)
	resp := e.post("", `{ __type(name: "Patient") { kind interfaces { name } fields { name args { name } } } __schema { types { name } } }`, nil)
	var typ struct {
		Kind       string
		Interfaces []struct{ Name string }
		Fields     []struct {
			Name string
			Args []struct{ Name string }
		}
	}
	json.Unmarshal(resp.mustData(t, "__type"), &typ)
	fields := map[string][]string{}
	for _, f := range typ.Fields {
		for _, a := range f.Args {
			fields[f.Name] = append(fields[f.Name], a.Name)
		}
		if _, ok := fields[f.Name]; !ok {
			fields[f.Name] = nil
		}
	}
	if typ.Kind != "OBJECT" || len(typ.Interfaces) != 1 || typ.Interfaces[0].Name != "Resource" {
		t.Errorf("Patient: kind %s interfaces %+v", typ.Kind, typ.Interfaces)
	}
	for _, f := range []string{"id", "birthDate", "_birthDate", "deceasedBoolean", "deceasedDateTime", "contained", "name", "managingOrganization"} {
		if _, ok := fields[f]; !ok {
			t.Errorf("Patient lacks field %s (has %d fields)", f, len(typ.Fields))
		}
	}
	if got := strings.Join(fields["name"], ","); got != "use,text,family,fhirpath,_count,_offset" {
		t.Errorf("Patient.name arguments: %s", got)
	}
	var schema struct{ Types []struct{ Name string } }
	json.Unmarshal(resp.mustData(t, "__schema"), &schema)
	if len(schema.Types) < 800 {
		t.Errorf("schema has %d types", len(schema.Types))
	}
}

func TestInstanceLevelEndpoint(t *testing.T) {
	e := newEnv(t)
	e.put(`{"resourceType":"Patient","id":"pat1","gender":"male","name":[{"family":"Chalmers"}],"contained":[{"resourceType":"Organization","id":"o","name":"Inline Org"}],"managingOrganization":{"reference":"#o"}}`)
	resp := e.post("/Patient/pat1/$graphql", `{ id gender name { family } managingOrganization { resource { ... on Organization { name } } } }`, nil)
	if resp.Status != http.StatusOK || len(resp.Errors) > 0 {
		t.Fatalf("status %d errors %+v", resp.Status, resp.Errors)
	}
	var data map[string]json.RawMessage
	raw, _ := json.Marshal(resp.Data)
	json.Unmarshal(raw, &data)
	assertJSONEqual(t, raw, `{"id":"pat1","gender":"male","name":[{"family":"Chalmers"}],"managingOrganization":{"resource":{"name":"Inline Org"}}}`)

	q := url.QueryEscape(`{ gender }`)
	if got := e.raw(http.MethodGet, "/Patient/pat1/$graphql?query="+q, "", nil); string(mustMarshal(got.Data)) != `{"gender":"male"}` {
		t.Errorf("GET instance: %s", mustMarshal(got.Data))
	}
	missing := e.post("/Patient/nobody/$graphql", `{ id }`, nil)
	if missing.Status != http.StatusNotFound || len(missing.Errors) != 1 || outcomeIssue(t, missing.Errors[0]) != "not-found" {
		t.Errorf("missing instance: status %d errors %+v", missing.Status, missing.Errors)
	}
	if r := e.post("/Nope/pat1/$graphql", `{ id }`, nil); r.Status != http.StatusNotFound {
		t.Errorf("unknown type: status %d", r.Status)
	}
	if r := e.post("/Patient/pat1/$graphql", `mutation { ping }`, nil); r.Status != http.StatusBadRequest || outcomeIssue(t, r.Errors[0]) != "invalid" {
		t.Errorf("mutation at instance level: status %d %+v", r.Status, r.Errors)
	}
}

func TestVersioningThroughGraphQL(t *testing.T) {
	e := newEnv(t)
	upd := `mutation($id: ID!, $res: PatientInput!, $v: String) { PatientUpdate(id: $id, res: $res, ifMatch: $v) { id meta { versionId lastUpdated } gender } }`
	res := map[string]any{"resourceType": "Patient", "gender": "male"}
	for want := 1; want <= 2; want++ {
		r := e.post("", upd, map[string]any{"id": "v1", "res": res})
		var p struct {
			Meta struct {
				VersionID string `json:"versionId"`
			}
		}
		json.Unmarshal(r.mustData(t, "PatientUpdate"), &p)
		if p.Meta.VersionID != fmt.Sprint(want) {
			t.Fatalf("update %d: versionId %q", want, p.Meta.VersionID)
		}
	}
	stale := e.post("", upd, map[string]any{"id": "v1", "res": map[string]any{"resourceType": "Patient", "gender": "female"}, "v": "1"})
	if len(stale.Errors) != 1 || outcomeIssue(t, stale.Errors[0]) != "conflict" || stale.Errors[0].Extensions["code"] != "CONFLICT" {
		t.Fatalf("stale update: %+v", stale.Errors)
	}
	ok := e.post("", upd, map[string]any{"id": "v1", "res": map[string]any{"resourceType": "Patient", "gender": "female"}, "v": `W/"2"`})
	ok.mustData(t, "PatientUpdate")
	hist, err := e.store.History(context.Background(), "Patient", "v1")
	if err != nil || len(hist) != 3 {
		t.Fatalf("history: %d versions, %v", len(hist), err)
	}
	if !strings.Contains(string(hist[0].JSON), `"female"`) || !strings.Contains(string(hist[2].JSON), `"male"`) {
		t.Errorf("history content wrong: newest %s", hist[0].JSON)
	}

	// 50 concurrent unconditional updates: every one becomes a version.
	var wg sync.WaitGroup
	errs := make(chan string, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := map[string]any{"resourceType": "Patient", "gender": "other", "birthDate": fmt.Sprintf("1970-01-%02d", i%28+1)}
			r := e.post("", upd, map[string]any{"id": "v1", "res": body})
			if len(r.Errors) > 0 {
				errs <- r.Errors[0].Message
			}
		}()
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Errorf("concurrent update failed: %s", msg)
	}
	hist, _ = e.store.History(context.Background(), "Patient", "v1")
	if len(hist) != 53 {
		t.Errorf("after 50 concurrent updates: %d versions, want 53", len(hist))
	}

	del := e.post("", `mutation { PatientDelete(id: "v1") { issue { code } } }`, nil)
	assertJSONEqual(t, del.mustData(t, "PatientDelete"), `{"issue":[{"code":"deleted"}]}`)
	gone := e.post("", `{ Patient(id: "v1") { id } }`, nil)
	if len(gone.Errors) != 1 || outcomeIssue(t, gone.Errors[0]) != "deleted" {
		t.Errorf("read after delete: %+v", gone.Errors)
	}
	created := e.post("", `mutation($r: PatientInput!) { PatientCreate(res: $r) { id meta { versionId } } }`, map[string]any{"r": map[string]any{"resourceType": "Patient", "id": "ignored"}})
	var c struct {
		ID   string
		Meta struct {
			VersionID string `json:"versionId"`
		}
	}
	json.Unmarshal(created.mustData(t, "PatientCreate"), &c)
	if c.ID == "" || c.ID == "ignored" || c.Meta.VersionID != "1" {
		t.Errorf("create: %+v", c)
	}
}

func TestBadInputIsRefusedAndWritesNothing(t *testing.T) {
	e := newEnv(t, func(c *api.Config) {
		c.MaxBodyBytes = 64 << 10
		c.Limits.MaxDepth = 8
		c.Limits.MaxCost = 5000
		c.ListLimit = 3
	})
	upd := `mutation($id: ID!, $res: PatientInput!) { PatientUpdate(id: $id, res: $res) { id } }`
	cases := []struct {
		name  string
		res   any
		id    string
		issue string
		msg   string
	}{
		{"wrong resourceType", map[string]any{"resourceType": "Observation", "status": "final", "code": map[string]any{}}, "b1", "invalid", "expected Patient"},
		{"unknown element", map[string]any{"resourceType": "Patient", "favouriteColour": "blue"}, "b2", "structure", `unknown element "favouriteColour"`},
		{"bad date", map[string]any{"resourceType": "Patient", "birthDate": "1970-02-30x"}, "b3", "value", "not a valid date"},
		{"bad id in res", map[string]any{"resourceType": "Patient", "id": "has space"}, "b4", "value", "not a valid id"},
		{"id mismatch", map[string]any{"resourceType": "Patient", "id": "other"}, "b5", "invalid", `does not match res.id "other"`},
		{"wrong JSON type", map[string]any{"resourceType": "Patient", "active": "yes"}, "b6", "value", "active"},
		{"decimal as string", map[string]any{"resourceType": "Patient", "multipleBirthInteger": 1.5}, "b7", "value", "multipleBirthInteger"},
		{"invalid JSON string", "{not json", "b8", "invalid", "invalid"},
		{"bad path id", map[string]any{"resourceType": "Patient"}, "a/b", "invalid", "id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.post("", upd, map[string]any{"id": c.id, "res": c.res})
			if len(r.Errors) != 1 {
				t.Fatalf("errors %+v", r.Errors)
			}
			if got := outcomeIssue(t, r.Errors[0]); got != c.issue {
				t.Errorf("issue %q, want %q", got, c.issue)
			}
			if !strings.Contains(r.Errors[0].Message, c.msg) {
				t.Errorf("message %q lacks %q", r.Errors[0].Message, c.msg)
			}
			if _, err := e.store.Read(context.Background(), "Patient", c.id); err == nil {
				t.Errorf("%s was written despite the error", c.id)
			}
		})
	}

	t.Run("oversized body", func(t *testing.T) {
		big := strings.Repeat("x", 70<<10)
		r := e.post("", upd, map[string]any{"id": "big", "res": map[string]any{"resourceType": "Patient", "name": []any{map[string]any{"text": big}}}})
		if r.Status != http.StatusRequestEntityTooLarge || outcomeIssue(t, r.Errors[0]) != "too-costly" {
			t.Errorf("status %d errors %+v", r.Status, r.Errors)
		}
		if _, err := e.store.Read(context.Background(), "Patient", "big"); err == nil {
			t.Error("oversized resource was written")
		}
	})
	t.Run("depth limit", func(t *testing.T) {
		q := `{ Patient(id: "x") { extension { extension { extension { extension { extension { extension { extension { extension { url } } } } } } } } } }`
		r := e.post("", q, nil)
		if r.Status != http.StatusUnprocessableEntity || len(r.Errors) != 1 || outcomeIssue(t, r.Errors[0]) != "too-costly" || !strings.Contains(r.Errors[0].Message, "depth 10 exceeds the limit of 8") {
			t.Errorf("status %d errors %+v", r.Status, r.Errors)
		}
	})
	t.Run("cost limit", func(t *testing.T) {
		q := `{ PatientList(_count: 1000) { name(_count: 100) { given } } }`
		r := e.post("", q, nil)
		if r.Status != http.StatusUnprocessableEntity || len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Message, "cost 101010 exceeds the limit of 5000") {
			t.Errorf("status %d errors %+v", r.Status, r.Errors)
		}
	})
	t.Run("aliased reads are costed as reads", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("{")
		for i := 0; i < 600; i++ {
			fmt.Fprintf(&b, " a%d: Patient(id: \"x\") { id }", i)
		}
		b.WriteString(" }")
		r := e.post("", b.String(), nil)
		if r.Status != http.StatusUnprocessableEntity || len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Message, "cost 6600 exceeds the limit of 5000") {
			t.Errorf("status %d errors %+v", r.Status, r.Errors)
		}
	})
	t.Run("list over the limit is an error, not a cut", func(t *testing.T) {
		e.put(`{"resourceType":"Patient","id":"l1"}`, `{"resourceType":"Patient","id":"l2"}`, `{"resourceType":"Patient","id":"l3"}`, `{"resourceType":"Patient","id":"l4"}`)
		r := e.post("", `{ PatientList { id } }`, nil)
		if len(r.Errors) != 1 || outcomeIssue(t, r.Errors[0]) != "too-costly" || !strings.Contains(r.Errors[0].Message, "more than 3") {
			t.Errorf("errors %+v", r.Errors)
		}
		over := e.post("", `{ PatientList(_count: 4) { id } }`, nil)
		if len(over.Errors) != 1 || !strings.Contains(over.Errors[0].Message, "_count 4 exceeds the list limit of 3") {
			t.Errorf("_count over the limit: %+v", over.Errors)
		}
		paged := e.post("", `{ PatientList(_count: 2, _offset: 1) { id } }`, nil)
		assertJSONEqual(t, paged.mustData(t, "PatientList"), `[{"id":"l2"},{"id":"l3"}]`)
	})
	t.Run("syntax error", func(t *testing.T) {
		r := e.post("", `{ Patient(id: "x") { id `, nil)
		if r.Status != http.StatusUnprocessableEntity || len(r.Errors) == 0 || outcomeIssue(t, r.Errors[0]) != "invalid" {
			t.Errorf("status %d errors %+v", r.Status, r.Errors)
		}
	})
	t.Run("unknown field", func(t *testing.T) {
		r := e.post("", `{ Patient(id: "x") { favouriteColour } }`, nil)
		if r.Status != http.StatusUnprocessableEntity || len(r.Errors) == 0 || outcomeIssue(t, r.Errors[0]) != "invalid" {
			t.Errorf("status %d errors %+v", r.Status, r.Errors)
		}
	})
	t.Run("not JSON", func(t *testing.T) {
		r := e.raw(http.MethodPost, "", "application/json", []byte("{{{"))
		if r.Status != http.StatusBadRequest || len(r.Errors) == 0 {
			t.Errorf("status %d errors %+v", r.Status, r.Errors)
		}
	})
}

func assertJSONEqual(t testing.TB, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON %s", got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want invalid JSON %s", want)
	}
	if !jsonEqual(g, w) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func jsonEqual(a, b any) bool {
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return string(ab) == string(bb)
}

func mustMarshal(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
