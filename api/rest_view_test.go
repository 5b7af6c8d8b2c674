package api_test

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/authz"
)

// viewResponse is a $viewdefinition-run answer: rows in some format, or an OperationOutcome.
type viewResponse struct {
	Status      int
	ContentType string
	Body        []byte
}

// runView posts a Parameters body to /fhir/$viewdefinition-run (query, when set, after ?).
func (e *env) runView(token, query string, params ...string) *viewResponse {
	e.t.Helper()
	path := "/fhir/$viewdefinition-run"
	if query != "" {
		path += "?" + query
	}
	return e.postParameters(token, path, params)
}

// postParameters posts a Parameters body of params to path and returns the answer as it came.
func (e *env) postParameters(token, path string, params []string) *viewResponse {
	e.t.Helper()
	body := `{"resourceType":"Parameters","parameter":[` + strings.Join(params, ",") + `]}`
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("reading the answer: %v", err)
	}
	return &viewResponse{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: b}
}

// outcome returns the diagnostics of an OperationOutcome answer, failing when it is not one.
func (r *viewResponse) outcome(t *testing.T) string {
	t.Helper()
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Diagnostics string `json:"diagnostics"`
		} `json:"issue"`
	}
	if err := json.Unmarshal(r.Body, &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		t.Fatalf("status %d: not an OperationOutcome: %s", r.Status, truncate(string(r.Body), 300))
	}
	return oo.Issue[0].Diagnostics
}

// lines returns the NDJSON rows of the answer, each re-encoded with sorted keys.
func (r *viewResponse) lines(t *testing.T) []string {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("status %d: %s", r.Status, truncate(string(r.Body), 300))
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(r.Body)), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		b, _ := json.Marshal(m)
		out = append(out, string(b))
	}
	return out
}

func viewParam(view string) string { return `{"name":"viewResource","resource":` + view + `}` }
func resourceParam(res string) string {
	return `{"name":"resource","resource":` + res + `}`
}
func valueParam(name, key, value string) string {
	return fmt.Sprintf(`{"name":%q,%q:%s}`, name, key, value)
}

const (
	genderView = `{"resourceType":"ViewDefinition","resource":"Patient","select":[{"column":[{"name":"id","path":"getResourceKey()"},{"name":"gender","path":"gender"}]}]}`
	nameView   = `{"resource":"Patient","select":[{"column":[{"name":"id","path":"id"},{"name":"family","path":"name.family.first()"}]}]}`
	obsView    = `{"resource":"Observation","select":[{"column":[{"name":"id","path":"id"},{"name":"patient","path":"subject.getReferenceKey(Patient)"},{"name":"kg","path":"value.ofType(Quantity).value"}]}]}`
	viewPt1    = `{"resourceType":"Patient","id":"a","gender":"female","name":[{"family":"Ash"}]}`
	viewPt2    = `{"resourceType":"Patient","id":"b","gender":"male","name":[{"family":"Birch"}]}`
)

// TestViewRunFormats: inline resources (one, and a Bundle's entries) in every format, with the
// format's media type; ndjson by default; _format in the body or the query; _limit; csv header.
func TestViewRunFormats(t *testing.T) {
	e := newEnv(t)
	bundle := `{"resourceType":"Bundle","type":"collection","entry":[{"resource":` + viewPt2 + `},{"resource":{"resourceType":"Observation","id":"x","status":"final","code":{"text":"x"}}}]}`
	in := []string{viewParam(genderView), resourceParam(viewPt1), resourceParam(bundle)}

	r := e.runView("", "", in...)
	if r.ContentType != "application/x-ndjson" {
		t.Errorf("default content type %q", r.ContentType)
	}
	if got := strings.Join(r.lines(t), "\n"); got != `{"gender":"female","id":"Patient/a"}`+"\n"+`{"gender":"male","id":"Patient/b"}` {
		t.Errorf("ndjson rows\n%s", got)
	}
	// Column order is kept in the text itself.
	if !strings.HasPrefix(string(r.Body), `{"id":"Patient/a","gender":"female"}`) {
		t.Errorf("ndjson text %q", r.Body)
	}

	r = e.runView("", "", append(in, valueParam("_format", "valueCode", `"json"`))...)
	var rows []map[string]any
	if err := json.Unmarshal(r.Body, &rows); err != nil || r.ContentType != "application/json" || len(rows) != 2 || rows[1]["gender"] != "male" {
		t.Errorf("json: %s %s (%v)", r.ContentType, r.Body, err)
	}

	r = e.runView("", "_format=text/csv", in...)
	recs, err := csv.NewReader(bytes.NewReader(r.Body)).ReadAll()
	if err != nil || !strings.HasPrefix(r.ContentType, "text/csv") || fmt.Sprint(recs) != "[[id gender] [Patient/a female] [Patient/b male]]" {
		t.Errorf("csv: %s %q (%v)", r.ContentType, r.Body, err)
	}
	r = e.runView("", "", append(in, valueParam("_format", "valueString", `"csv"`), valueParam("header", "valueBoolean", "false"))...)
	if string(r.Body) != "Patient/a,female\r\nPatient/b,male\r\n" {
		t.Errorf("csv without header %q", r.Body)
	}

	r = e.runView("", "", append(in, valueParam("_format", "valueCode", `"parquet"`))...)
	if r.Status != http.StatusOK || r.ContentType != "application/vnd.apache.parquet" || !bytes.HasPrefix(r.Body, []byte("PAR1")) || !bytes.HasSuffix(r.Body, []byte("PAR1")) {
		t.Errorf("parquet: status %d, %s, %d bytes", r.Status, r.ContentType, len(r.Body))
	}

	r = e.runView("", "", append(in, valueParam("_limit", "valueInteger", "1"))...)
	if got := r.lines(t); len(got) != 1 || !strings.Contains(got[0], "Patient/a") {
		t.Errorf("_limit 1: %v", got)
	}
}

// TestViewRunStreamsPastTheBuffer: an answer larger than what is held back streams whole.
func TestViewRunStreamsPastTheBuffer(t *testing.T) {
	e := newEnv(t)
	var entries []string
	for i := range 3000 {
		entries = append(entries, fmt.Sprintf(`{"resource":{"resourceType":"Patient","id":"p%d","gender":"other","name":[{"family":"Family%d"}]}}`, i, i))
	}
	bundle := `{"resourceType":"Bundle","type":"collection","entry":[` + strings.Join(entries, ",") + `]}`
	r := e.runView("", "", viewParam(nameView), resourceParam(bundle))
	lines := r.lines(t)
	if len(r.Body) < 64<<10 || len(lines) != 3000 || lines[2999] != `{"family":"Family2999","id":"p2999"}` {
		t.Errorf("%d bytes, %d rows, last %q", len(r.Body), len(lines), lines[len(lines)-1])
	}
}

// TestViewRunServerData runs views over stored resources: all of them, a patient's
// compartment, a group's members', and those changed after _since.
func TestViewRunServerData(t *testing.T) {
	e := newEnv(t)
	seedObservations(e, 6) // p0..p5, each with observation o<i>
	e.put(`{"resourceType":"Group","id":"g1","type":"person","actual":true,"member":[{"entity":{"reference":"Patient/p1"}},{"entity":{"reference":"Patient/p4"}},{"entity":{"reference":"Patient/p5"},"inactive":true},{"entity":{"reference":"Practitioner/d1"}}]}`,
		`{"resourceType":"Group","id":"empty","type":"person","actual":true}`)

	all := e.runView("", "", viewParam(obsView)).lines(t)
	if len(all) != 6 || all[0] != `{"id":"o0","kg":60.5,"patient":"Patient/p0"}` {
		t.Errorf("all observations: %v", all)
	}
	r := e.runView("", "", viewParam(obsView), valueParam("patient", "valueReference", `{"reference":"Patient/p3"}`))
	if got := r.lines(t); len(got) != 1 || got[0] != `{"id":"o3","kg":63.5,"patient":"Patient/p3"}` {
		t.Errorf("patient p3: %v", got)
	}
	r = e.runView("", "", viewParam(genderView), valueParam("group", "valueReference", `{"reference":"Group/g1"}`))
	if got := r.lines(t); fmt.Sprint(got) != `[{"gender":"female","id":"Patient/p1"} {"gender":"female","id":"Patient/p4"}]` {
		t.Errorf("group g1 (p5 inactive, a practitioner): %v", got)
	}
	r = e.runView("", "", viewParam(obsView), valueParam("group", "valueReference", `{"reference":"Group/g1"}`),
		valueParam("patient", "valueString", `"Patient/p2"`))
	if got := r.lines(t); len(got) != 3 {
		t.Errorf("group g1 and patient p2: %v", got)
	}
	r = e.runView("", "", viewParam(obsView), valueParam("group", "valueReference", `{"reference":"Group/empty"}`))
	if r.Status != http.StatusOK || len(r.Body) != 0 {
		t.Errorf("empty group: status %d %q", r.Status, r.Body)
	}
	if r = e.runView("", "", viewParam(obsView), valueParam("group", "valueReference", `{"reference":"Group/nope"}`)); r.Status != http.StatusNotFound {
		t.Errorf("missing group: status %d %s", r.Status, r.Body)
	}

	// _since: only what changed after the instant.
	rec, err := e.store.Read(t.Context(), "Observation", "o5")
	if err != nil {
		t.Fatal(err)
	}
	since := rec.LastUpdated.Format("2006-01-02T15:04:05.000Z07:00")
	e.put(`{"resourceType":"Observation","id":"o9","status":"final","code":{"text":"weight"},"valueQuantity":{"value":99,"unit":"kg"},"subject":{"reference":"Patient/p0"}}`)
	r = e.runView("", "", viewParam(obsView), valueParam("_since", "valueInstant", `"`+since+`"`))
	if got := r.lines(t); fmt.Sprint(got) != `[{"id":"o9","kg":99,"patient":"Patient/p0"}]` {
		t.Errorf("_since: %v", got)
	}

	// A view stored as a Binary (R4 has no ViewDefinition type).
	e.put(`{"resourceType":"Binary","id":"v1","contentType":"application/json","data":"`+base64.StdEncoding.EncodeToString([]byte(genderView))+`"}`,
		`{"resourceType":"Binary","id":"png","contentType":"image/png","data":"aGVsbG8="}`)
	r = e.runView("", "", valueParam("viewReference", "valueReference", `{"reference":"Binary/v1"}`), valueParam("patient", "valueString", `"Patient/p2"`))
	if got := r.lines(t); fmt.Sprint(got) != `[{"gender":"female","id":"Patient/p2"}]` {
		t.Errorf("viewReference: %v", got)
	}
	if r = e.runView("", "", valueParam("viewReference", "valueReference", `{"reference":"Binary/png"}`)); r.Status != http.StatusBadRequest || !strings.Contains(r.outcome(t), "contentType") {
		t.Errorf("viewReference to an image: %d %s", r.Status, r.Body)
	}
	if r = e.runView("", "", valueParam("viewReference", "valueReference", `{"reference":"Binary/none"}`)); r.Status != http.StatusNotFound {
		t.Errorf("viewReference to nothing: %d %s", r.Status, r.Body)
	}
}

// TestViewRunReadBudget: a view that would read more resources than one request may is
// refused before it starts, with a way out.
func TestViewRunReadBudget(t *testing.T) {
	e := newEnv(t, func(c *api.Config) { c.Reads.MaxRows = 4 })
	seedObservations(e, 6)
	r := e.runView("", "", viewParam(genderView))
	if r.Status != http.StatusBadRequest || !strings.Contains(r.outcome(t), "the view would read 6 Patient resources, more than the 4") {
		t.Errorf("status %d %s", r.Status, r.Body)
	}
	if got := e.runView("", "", viewParam(genderView), valueParam("patient", "valueString", `"Patient/p1"`)).lines(t); len(got) != 1 {
		t.Errorf("one patient: %v", got)
	}
}

// TestViewRunBadInput: every malformed request is an OperationOutcome naming the problem, with
// nothing streamed.
func TestViewRunBadInput(t *testing.T) {
	e := newEnv(t)
	view := viewParam(genderView)
	res := resourceParam(viewPt1)
	cases := []struct {
		name   string
		query  string
		params []string
		status int
		want   string
	}{
		{"no view", "", []string{res}, 400, "a ViewDefinition is needed"},
		{"both views", "", []string{view, valueParam("viewReference", "valueString", `"Binary/x"`), res}, 400, "not both"},
		{"viewReference to another type", "", []string{valueParam("viewReference", "valueString", `"Library/x"`)}, 400, "must name a Binary"},
		{"unknown parameter", "", []string{view, res, valueParam("_count", "valueInteger", "3")}, 400, `unknown parameter "_count"`},
		{"unknown format", "", []string{view, res, valueParam("_format", "valueCode", `"xlsx"`)}, 400, `_format "xlsx"`},
		{"unknown format in the query", "_format=xml", []string{view, res}, 400, `_format "xml"`},
		{"zero limit", "", []string{view, res, valueParam("_limit", "valueInteger", "0")}, 400, "_limit must be a positive integer"},
		{"negative limit", "", []string{view, res, valueParam("_limit", "valueInteger", "-2")}, 400, "_limit"},
		{"bad since", "", []string{view, valueParam("_since", "valueString", `"yesterday"`)}, 400, "_since must be an instant"},
		{"patient of another type", "", []string{view, valueParam("patient", "valueReference", `{"reference":"Observation/1"}`)}, 400, "patient must name a Patient"},
		{"absolute patient", "", []string{view, valueParam("patient", "valueReference", `{"reference":"http://x.org/fhir/Patient/1"}`)}, 400, "patient must name a Patient"},
		{"group of another type", "", []string{view, valueParam("group", "valueString", `"Patient/1"`)}, 400, "group must name a Group"},
		{"patient with inline resources", "", []string{view, res, valueParam("patient", "valueString", `"Patient/a"`)}, 400, "do not apply to resources given with the request"},
		{"a resource that is no object", "", []string{view, `{"name":"resource","resource":[1]}`}, 400, "holds no resource"},
		{"invalid view: duplicate column", "", []string{viewParam(`{"resource":"Patient","select":[{"column":[{"name":"a","path":"id"},{"name":"a","path":"gender"}]}]}`), res}, 400,
			`invalid ViewDefinition: select[0].column[1].name: column "a" is already defined`},
		{"invalid view: bad FHIRPath", "", []string{viewParam(`{"resource":"Patient","select":[{"column":[{"name":"a","path":"name.("}]}]}`), res}, 400, "select[0].column[0].path: fhirpath"},
		{"invalid view: wrong type", "", []string{viewParam(`{"resource":"Patient","select":[{"column":[{"name":"a","path":"gender","type":"integer"}]}]}`), res}, 400, "declared integer, but the path yields code"},
		{"invalid view: unknown key", "", []string{viewParam(`{"resource":"Patient","selec":[]}`), res}, 400, `unknown key "selec"`},
		{"a view failing on a resource", "", []string{viewParam(`{"resource":"Patient","select":[{"column":[{"name":"given","path":"name.given"}]}]}`),
			resourceParam(`{"resourceType":"Patient","id":"x","name":[{"given":["A","B"]}]}`)}, 400, `Patient/x: column "given": the path yields 2 values`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.runView("", c.query, c.params...)
			if r.Status != c.status {
				t.Fatalf("status %d, want %d: %s", r.Status, c.status, truncate(string(r.Body), 300))
			}
			if msg := r.outcome(t); !strings.Contains(msg, c.want) {
				t.Errorf("diagnostics %q, want %q", msg, c.want)
			}
		})
	}
	if r := e.fhir(http.MethodPost, "/fhir/$viewdefinition-run", "", []byte(`{"resourceType":"Patient"}`)); r.Status != http.StatusBadRequest {
		t.Errorf("a body that is no Parameters: status %d", r.Status)
	}
	if r := e.fhir(http.MethodGet, "/fhir/$viewdefinition-run", "", nil); r.Status == http.StatusOK {
		t.Errorf("GET: status %d", r.Status)
	}
}

// TestViewRunPolicy: the caller's policy applies to the view as to a search. The analyst may
// read genders and keys but not names, in a column, a where clause or below a forEach; an
// admin may, and a clinician may read names; a partner may not read the types it is not given; a patient's token reads
// its own compartment only.
func TestViewRunPolicy(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{})
	seedObservations(a.env, 3)
	analyst, clinician, admin := a.token(t, "analyst", ""), a.token(t, "clinician", ""), a.token(t, "admin", "")

	if r := a.runView("", "", viewParam(genderView)); r.Status != http.StatusUnauthorized {
		t.Errorf("no token: %d", r.Status)
	}
	if got := a.runView(analyst, "", viewParam(genderView)).lines(t); len(got) != 3 || got[0] != `{"gender":"female","id":"Patient/p0"}` {
		t.Errorf("analyst, genders: %v", got)
	}
	if got := a.runView(analyst, "", viewParam(obsView)).lines(t); len(got) != 3 {
		t.Errorf("analyst, observations with patient keys: %v", got)
	}
	refused := []struct{ name, view, want string }{
		{"a column of names", `{"resource":"Patient","select":[{"column":[{"name":"id","path":"id"},{"name":"names","path":"name"}]}]}`,
			`view column "names" (select[0].column[1].path) reads fields the caller may not read`},
		{"a column of family names", nameView, `view column "family"`},
		{"below forEach", `{"resource":"Patient","select":[{"forEach":"contact","column":[{"name":"fam","path":"name.family"}]}]}`, `view column "fam" (select[0].column[0].path)`},
		{"a where clause", `{"resource":"Patient","where":[{"path":"name.family = 'Doc1'"}],"select":[{"column":[{"name":"id","path":"id"}]}]}`,
			"the view's where[0].path reads fields"},
		{"a forEach over names", `{"resource":"Patient","select":[{"forEach":"name","column":[{"name":"one","path":"1"}]}]}`, "the view's select[0].forEach reads fields"},
		{"a birth date", `{"resource":"Patient","select":[{"column":[{"name":"born","path":"birthDate"}]}]}`, `view column "born"`},
		{"a whole contact", `{"resource":"Patient","select":[{"column":[{"name":"c","path":"contact.first()"}]}]}`, `view column "c"`},
		{"a whole resource", `{"resource":"Patient","select":[{"column":[{"name":"all","path":"$this"}]}]}`, `view column "all"`},
		{"an observation's performer display", `{"resource":"Observation","select":[{"column":[{"name":"who","path":"performer.display.first()"}]}]}`, `view column "who"`},
		{"a union branch", `{"resource":"Patient","select":[{"unionAll":[{"column":[{"name":"v","path":"gender"}]},{"column":[{"name":"v","path":"telecom.value.first()"}]}]}]}`, `view column "v" (select[0].unionAll[1].column[0].path)`},
	}
	for _, c := range refused {
		r := a.runView(analyst, "", viewParam(c.view), resourceParam(viewPt1))
		if r.Status != http.StatusForbidden {
			t.Errorf("analyst, %s: status %d %s", c.name, r.Status, truncate(string(r.Body), 200))
			continue
		}
		if msg := r.outcome(t); !strings.Contains(msg, c.want) || strings.Contains(msg, "Ash") {
			t.Errorf("analyst, %s: %q, want %q", c.name, msg, c.want)
		}
		// The same view is the admin's to run.
		if r := a.runView(admin, "", viewParam(c.view), resourceParam(viewPt1)); r.Status != http.StatusOK {
			t.Errorf("admin, %s: status %d %s", c.name, r.Status, truncate(string(r.Body), 200))
		}
	}
	if got := a.runView(clinician, "", viewParam(nameView)).lines(t); len(got) != 3 {
		t.Errorf("clinician, names: %v", got)
	}

	partner := a.token(t, "partner", "")
	pr := `{"resource":"Practitioner","select":[{"column":[{"name":"id","path":"id"}]}]}`
	if r := a.runView(partner, "", viewParam(pr)); r.Status != http.StatusForbidden || !strings.Contains(r.outcome(t), "read Practitioner") {
		t.Errorf("partner, practitioners: %d %s", r.Status, r.Body)
	}
	if got := a.runView(partner, "", viewParam(genderView)).lines(t); len(got) != 3 {
		t.Errorf("partner, patients: %v", got)
	}

	// A patient's token: its compartment, whatever the view asks for.
	p1 := a.token(t, "patient", "p1")
	if got := a.runView(p1, "", viewParam(obsView)).lines(t); fmt.Sprint(got) != `[{"id":"o1","kg":61.5,"patient":"Patient/p1"}]` {
		t.Errorf("patient p1, observations: %v", got)
	}
	if got := a.runView(p1, "", viewParam(genderView), valueParam("patient", "valueString", `"Patient/p2"`)).lines(t); len(got) != 0 {
		t.Errorf("patient p1 asking for p2: %v", got)
	}
}

// TestViewDefinitionRunGraphQL: the GraphQL field runs views as the REST operation does, under
// the same policy, and answers rows of JSON values in column order.
func TestViewDefinitionRunGraphQL(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{}, func(c *api.Config) { c.ListLimit = 4 })
	seedObservations(a.env, 3)
	const q = `query($v: JSON, $ref: String, $r: [ResourceInput!], $p: String, $l: Int) {
		viewDefinitionRun(view: $v, viewReference: $ref, resources: $r, patient: $p, _limit: $l) { columns { name type collection } rows } }`
	decodeView := func(s string) map[string]any {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	analyst := a.token(t, "analyst", "")
	r := a.postAsVars(analyst, "", q, map[string]any{"v": decodeView(obsView), "p": "Patient/p2"})
	if len(r.Errors) > 0 {
		t.Fatalf("errors %v", r.Errors)
	}
	want := `{"columns":[{"collection":false,"name":"id","type":"id"},{"collection":false,"name":"patient","type":"string"},{"collection":false,"name":"kg","type":"decimal"}],"rows":[["o2","Patient/p2",62.50]]}` // the stored decimal, digit for digit
	if got := canonicalJSON(t, r.Data["viewDefinitionRun"]); got != want {
		t.Errorf("observations of p2\n got %s\nwant %s", got, want)
	}
	r = a.postAsVars(analyst, "", q, map[string]any{"v": decodeView(genderView), "r": []any{decodeView(viewPt1)}})
	if got := canonicalJSON(t, r.Data["viewDefinitionRun"]); !strings.Contains(got, `"rows":[["Patient/a","female"]]`) {
		t.Errorf("inline resource: %s %v", got, r.Errors)
	}
	r = a.postAsVars(analyst, "", q, map[string]any{"v": decodeView(nameView)})
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" || !strings.Contains(r.Errors[0].Message, `view column "family"`) {
		t.Errorf("analyst, names: %v", r.Errors)
	}
	clinician := a.token(t, "clinician", "")
	r = a.postAsVars(clinician, "", q, map[string]any{"v": decodeView(nameView), "l": 2})
	if got := canonicalJSON(t, r.Data["viewDefinitionRun"]); !strings.Contains(got, `"rows":[["p0",null],["p1",null]]`) { // seeded patients have no names
		t.Errorf("clinician, names with _limit 2: %s %v", got, r.Errors)
	}
	for _, c := range []struct {
		vars map[string]any
		code string
		want string
	}{
		{map[string]any{"v": decodeView(`{"resource":"Observation","select":[{"column":[{"name":"id","path":"id"}]},{"forEach":"performer","column":[{"name":"p","path":"reference"}]}]}`), "r": []any{}}, "", ""},
		{map[string]any{"v": decodeView(`{"resource":"Practitioner","select":[{"column":[{"name":"id","path":"id"}]},{"forEach":"name","column":[{"name":"f","path":"family"}]}]}`)}, "", ""},
		{map[string]any{}, "BAD_USER_INPUT", "a ViewDefinition is needed"},
		{map[string]any{"v": decodeView(genderView), "ref": "Binary/x"}, "BAD_USER_INPUT", "not both"},
		{map[string]any{"ref": "Library/x"}, "BAD_USER_INPUT", "must name a Binary"},
		{map[string]any{"v": decodeView(`{"resource":"Patient","select":[]}`)}, "BAD_USER_INPUT", "at least one select"},
		{map[string]any{"v": decodeView(genderView), "l": 5}, "BAD_USER_INPUT", "_limit must be between 1 and 4"},
		{map[string]any{"v": decodeView(genderView), "p": "Patient/../x"}, "BAD_USER_INPUT", "patient must be"},
	} {
		r := a.postAsVars(clinician, "", q, c.vars)
		if c.code == "" {
			if len(r.Errors) > 0 {
				t.Errorf("%v: %v", c.vars, r.Errors)
			}
			continue
		}
		if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != c.code || !strings.Contains(r.Errors[0].Message, c.want) {
			t.Errorf("%v: %v, want %s %q", c.vars, r.Errors, c.code, c.want)
		}
	}
	// More rows than a list may hold (4): refused, pointing at the streaming operation.
	seedObservations(a.env, 6)
	r = a.postAsVars(clinician, "", q, map[string]any{"v": decodeView(genderView)})
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "TOO_MANY_RESULTS" || !strings.Contains(r.Errors[0].Message, "$viewdefinition-run") {
		t.Errorf("too many rows: %v", r.Errors)
	}
}

// canonicalJSON re-encodes raw JSON with sorted keys.
func canonicalJSON(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return string(raw)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// TestViewDefinitionRunOrder: both $viewdefinition-run and viewDefinitionRun give a patient's
// rows in resource id order, though they were written in another (the embedded engine streams
// in id order; viewrun's TestCollectOrdersByID checks viewDefinitionRun's order over a stream
// in any order).
func TestViewDefinitionRunOrder(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{})
	a.env.put(`{"resourceType":"Patient","id":"pz","gender":"male"}`)
	ids := []string{"oz", "om", "ob", "oy", "oa"} // written in this order, one commit each
	for i, id := range ids {
		a.env.put(fmt.Sprintf(`{"resourceType":"Observation","id":%q,"status":"final","code":{"text":"weight"},"valueQuantity":{"value":%d,"unit":"kg"},"subject":{"reference":"Patient/pz"}}`, id, 70+i))
	}
	clinician := a.token(t, "clinician", "")
	streamed := a.env.runView(clinician, "", viewParam(obsView), valueParam("patient", "valueString", `"Patient/pz"`)).lines(t)
	if got := fmt.Sprint(streamed); got != `[{"id":"oa","kg":74,"patient":"Patient/pz"} {"id":"ob","kg":72,"patient":"Patient/pz"} {"id":"om","kg":71,"patient":"Patient/pz"} {"id":"oy","kg":73,"patient":"Patient/pz"} {"id":"oz","kg":70,"patient":"Patient/pz"}]` {
		t.Errorf("$viewdefinition-run: %s", got)
	}
	const q = `query($v: JSON, $p: String) { viewDefinitionRun(view: $v, patient: $p) { rows } }`
	var v map[string]any
	if err := json.Unmarshal([]byte(obsView), &v); err != nil {
		t.Fatal(err)
	}
	r := a.postAsVars(clinician, "", q, map[string]any{"v": v, "p": "Patient/pz"})
	want := `{"rows":[["oa","Patient/pz",74],["ob","Patient/pz",72],["om","Patient/pz",71],["oy","Patient/pz",73],["oz","Patient/pz",70]]}`
	if got := canonicalJSON(t, r.Data["viewDefinitionRun"]); got != want || len(r.Errors) > 0 {
		t.Errorf("rows %s %v\nwant %s", got, r.Errors, want)
	}
}
