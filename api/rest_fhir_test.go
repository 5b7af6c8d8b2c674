package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/api"
)

// restAnswer is a FHIR REST answer: status, headers, raw body and the body decoded (nil
// when empty).
type restAnswer struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

// rest sends a request to the server with optional token, body and headers (name, value
// pairs); a body given as a string or []byte goes as it is, anything else as JSON.
func (e *env) rest(method, path, token string, body any, headers ...string) *restAnswer {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out := &restAnswer{Status: resp.StatusCode, Header: resp.Header}
	out.Raw, _ = io.ReadAll(resp.Body)
	if len(bytes.TrimSpace(out.Raw)) > 0 {
		if err := json.Unmarshal(out.Raw, &out.Body); err != nil {
			e.t.Fatalf("%s %s: status %d, undecodable body %q", method, path, resp.StatusCode, truncate(string(out.Raw), 300))
		}
	}
	return out
}

// want fails the test unless the answer has status and, when issue is set, is an
// OperationOutcome with that issue code.
func (r *restAnswer) want(t *testing.T, what string, status int, issue string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: status %d, want %d: %s", what, r.Status, status, truncate(string(r.Raw), 300))
		return
	}
	if issue == "" {
		return
	}
	if r.Body["resourceType"] != "OperationOutcome" {
		t.Errorf("%s: want an OperationOutcome, got %s", what, truncate(string(r.Raw), 200))
		return
	}
	is, _ := r.Body["issue"].([]any)
	for _, i := range is {
		if i.(map[string]any)["code"] == issue {
			return
		}
	}
	t.Errorf("%s: no issue %q in %s", what, issue, truncate(string(r.Raw), 300))
}

func (r *restAnswer) str(path ...string) string {
	var v any = r.Body
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

const restPatient = `{"resourceType":"Patient","id":"client-chosen","identifier":[{"system":"urn:mrn","value":"%s"}],"name":[{"family":"Smith","given":["Ann"]}],"gender":"female","birthDate":"1970-01-02","extension":[{"url":"http://example.org/w","valueDecimal":1.50}]}`

func patientJSON(mrn string) string { return strings.Replace(restPatient, "%s", mrn, 1) }

// TestRESTCRUD: create, read, vread, update, delete with their statuses, headers and bodies.
func TestRESTCRUD(t *testing.T) {
	e := newEnv(t)
	r := e.rest("POST", "/fhir/Patient", "", patientJSON("1"))
	r.want(t, "create", http.StatusCreated, "")
	id := r.str("id")
	loc := r.Header.Get("Location")
	if id == "" || id == "client-chosen" || !strings.HasSuffix(loc, "/fhir/Patient/"+id+"/_history/1") || !strings.HasPrefix(loc, "http://") {
		t.Fatalf("create: id %q, Location %q", id, loc)
	}
	if r.Header.Get("ETag") != `W/"1"` || r.Header.Get("Last-Modified") == "" || r.str("meta", "versionId") != "1" {
		t.Errorf("create headers: %v, meta %v", r.Header, r.Body["meta"])
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
		t.Errorf("content type %q", ct)
	}
	if !strings.Contains(string(r.Raw), `"valueDecimal":1.50`) {
		t.Errorf("decimal not kept: %s", r.Raw)
	}

	r = e.rest("GET", "/fhir/Patient/"+id, "", nil)
	r.want(t, "read", http.StatusOK, "")
	if r.str("name") != "" || r.Header.Get("ETag") != `W/"1"` || !strings.Contains(string(r.Raw), `"family":"Smith"`) {
		t.Errorf("read: %v %s", r.Header, r.Raw)
	}
	lastMod := r.Header.Get("Last-Modified")
	e.rest("GET", "/fhir/Patient/"+id, "", nil, "If-None-Match", `W/"1"`).want(t, "If-None-Match current", http.StatusNotModified, "")
	e.rest("GET", "/fhir/Patient/"+id, "", nil, "If-None-Match", `W/"7"`).want(t, "If-None-Match other", http.StatusOK, "")
	e.rest("GET", "/fhir/Patient/"+id, "", nil, "If-Modified-Since", lastMod).want(t, "If-Modified-Since", http.StatusNotModified, "")
	e.rest("GET", "/fhir/Patient/"+id, "", nil, "If-Modified-Since", time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)).want(t, "modified since", http.StatusOK, "")

	upd := strings.Replace(strings.Replace(patientJSON("1"), "client-chosen", id, 1), `"female"`, `"other"`, 1)
	e.rest("PUT", "/fhir/Patient/"+id, "", upd, "If-Match", `W/"9"`).want(t, "stale If-Match", http.StatusPreconditionFailed, "conflict")
	r = e.rest("PUT", "/fhir/Patient/"+id, "", upd, "If-Match", `W/"1"`)
	r.want(t, "update", http.StatusOK, "")
	if r.Header.Get("ETag") != `W/"2"` || r.str("gender") != "other" {
		t.Errorf("update: %v %s", r.Header, r.Raw)
	}
	r = e.rest("GET", "/fhir/Patient/"+id+"/_history/1", "", nil)
	r.want(t, "vread 1", http.StatusOK, "")
	if r.str("gender") != "female" || r.Header.Get("ETag") != `W/"1"` {
		t.Errorf("vread: %s", r.Raw)
	}
	e.rest("GET", "/fhir/Patient/"+id+"/_history/3", "", nil).want(t, "vread missing", http.StatusNotFound, "not-found")
	e.rest("GET", "/fhir/Patient/"+id+"/_history/x", "", nil).want(t, "vread bad", http.StatusNotFound, "not-found")

	// Create on update, at the client's id.
	r = e.rest("PUT", "/fhir/Patient/chosen-1", "", strings.Replace(patientJSON("2"), "client-chosen", "chosen-1", 1))
	r.want(t, "create on update", http.StatusCreated, "")
	if !strings.HasSuffix(r.Header.Get("Location"), "/fhir/Patient/chosen-1/_history/1") {
		t.Errorf("create on update Location %q", r.Header.Get("Location"))
	}

	// Prefer.
	r = e.rest("PUT", "/fhir/Patient/chosen-1", "", strings.Replace(patientJSON("2"), "client-chosen", "chosen-1", 1), "Prefer", "return=minimal")
	if r.Status != http.StatusOK || len(r.Raw) != 0 || r.Header.Get("ETag") != `W/"2"` {
		t.Errorf("return=minimal: %d %q %v", r.Status, r.Raw, r.Header)
	}
	r = e.rest("POST", "/fhir/Patient", "", patientJSON("3"), "Prefer", "return=OperationOutcome")
	r.want(t, "return=OperationOutcome", http.StatusCreated, "")
	if r.Body["resourceType"] != "OperationOutcome" || r.Header.Get("Location") == "" {
		t.Errorf("return=OperationOutcome: %s", r.Raw)
	}

	// Delete: 410 after, history stays, a second delete changes nothing.
	r = e.rest("DELETE", "/fhir/Patient/"+id, "", nil)
	r.want(t, "delete", http.StatusOK, "informational")
	if r.Header.Get("ETag") != `W/"3"` {
		t.Errorf("delete ETag %q", r.Header.Get("ETag"))
	}
	e.rest("GET", "/fhir/Patient/"+id, "", nil).want(t, "read deleted", http.StatusGone, "deleted")
	e.rest("GET", "/fhir/Patient/"+id+"/_history/2", "", nil).want(t, "vread before delete", http.StatusOK, "")
	e.rest("GET", "/fhir/Patient/"+id+"/_history/3", "", nil).want(t, "vread the deletion", http.StatusGone, "deleted")
	e.rest("DELETE", "/fhir/Patient/"+id, "", nil).want(t, "delete again", http.StatusNoContent, "")
	e.rest("DELETE", "/fhir/Patient/never", "", nil).want(t, "delete absent", http.StatusNotFound, "not-found")
	e.rest("GET", "/fhir/Patient/never", "", nil).want(t, "read absent", http.StatusNotFound, "not-found")
}

// TestRESTErrors: every refusal is an OperationOutcome with the status FHIR gives it.
func TestRESTErrors(t *testing.T) {
	e := newEnv(t)
	e.rest("PUT", "/fhir/Patient/p1", "", strings.Replace(patientJSON("1"), "client-chosen", "p1", 1)).want(t, "seed", http.StatusCreated, "")
	for _, tc := range []struct {
		what, method, path string
		body               any
		headers            []string
		status             int
		issue              string
	}{
		{"unknown type", "GET", "/fhir/Nothing/1", nil, nil, 404, "not-supported"},
		{"unknown type search", "GET", "/fhir/Nothing", nil, nil, 404, "not-supported"},
		{"xml _format", "GET", "/fhir/Patient/p1?_format=xml", nil, nil, 406, "not-supported"},
		{"xml Accept", "GET", "/fhir/Patient/p1", nil, []string{"Accept", "application/fhir+xml"}, 406, "not-supported"},
		{"xml body", "POST", "/fhir/Patient", `<Patient xmlns="http://hl7.org/fhir"/>`, []string{"Content-Type", "application/fhir+xml"}, 415, "not-supported"},
		{"malformed JSON", "POST", "/fhir/Patient", `{"resourceType":"Patient",`, nil, 400, "structure"},
		{"not an object", "POST", "/fhir/Patient", `[1,2]`, nil, 400, "structure"},
		{"empty body", "POST", "/fhir/Patient", ``, nil, 400, "required"},
		{"other type", "POST", "/fhir/Patient", `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`, nil, 400, "invalid"},
		{"unknown element", "POST", "/fhir/Patient", `{"resourceType":"Patient","favouriteColour":"blue"}`, nil, 422, ""},
		{"invalid value", "POST", "/fhir/Patient", `{"resourceType":"Patient","gender":"sometimes"}`, nil, 422, ""},
		{"missing required", "POST", "/fhir/Observation", `{"resourceType":"Observation","code":{"text":"x"}}`, nil, 422, ""},
		{"update without id", "PUT", "/fhir/Patient/p1", `{"resourceType":"Patient"}`, nil, 400, "required"},
		{"update id mismatch", "PUT", "/fhir/Patient/p1", `{"resourceType":"Patient","id":"p2"}`, nil, 400, "invalid"},
		{"bad If-Match", "PUT", "/fhir/Patient/p1", `{"resourceType":"Patient","id":"p1"}`, []string{"If-Match", "yesterday"}, 400, "invalid"},
		{"bad search parameter", "GET", "/fhir/Patient?nosuch=1", nil, nil, 400, "invalid"},
		{"bad search value", "GET", "/fhir/Patient?birthdate=notadate", nil, nil, 400, "invalid"},
		{"_filter", "GET", "/fhir/Patient?_filter=name%20eq%20x", nil, nil, 501, "not-supported"},
		{"bad _summary", "GET", "/fhir/Patient?_summary=maybe", nil, nil, 400, "invalid"},
		{"bad _include", "GET", "/fhir/Patient?_include=Observation", nil, nil, 400, "invalid"},
		{"_include of another type", "GET", "/fhir/Patient?_include=Observation:subject", nil, nil, 400, "invalid"},
		{"conditional without criteria", "DELETE", "/fhir/Patient", nil, nil, 400, "required"},
		{"history parameter", "GET", "/fhir/Patient/p1/_history?_at=2020", nil, nil, 501, "not-supported"},
		{"unrouted", "POST", "/fhir/Patient/p1", `{}`, nil, 404, "not-supported"},
		{"bad patch type", "PATCH", "/fhir/Patient/p1", `x`, []string{"Content-Type", "text/plain"}, 415, "not-supported"},
	} {
		r := e.rest(tc.method, tc.path, "", tc.body, tc.headers...)
		r.want(t, tc.what, tc.status, tc.issue)
		if r.Body["resourceType"] != "OperationOutcome" {
			t.Errorf("%s: not an OperationOutcome: %s", tc.what, truncate(string(r.Raw), 200))
		}
	}
	// A validation failure names its problems at their location.
	r := e.rest("POST", "/fhir/Patient", "", `{"resourceType":"Patient","gender":"sometimes"}`)
	if !strings.Contains(string(r.Raw), "Patient.gender") {
		t.Errorf("validation outcome does not locate the problem: %s", r.Raw)
	}
	// The search error names the parameter.
	if r := e.rest("GET", "/fhir/Patient?nosuch=1", "", nil); !strings.Contains(string(r.Raw), "nosuch") {
		t.Errorf("unknown parameter not named: %s", r.Raw)
	}
	// An oversized body: 413, an OperationOutcome, before anything is read.
	small := newEnv(t, func(c *api.Config) { c.MaxBodyBytes = 1000 })
	r = small.rest("POST", "/fhir/Patient", "", `{"resourceType":"Patient","name":[{"text":"`+strings.Repeat("x", 5000)+`"}]}`)
	r.want(t, "oversized body", http.StatusRequestEntityTooLarge, "too-costly")
}

// TestRESTConditional: If-None-Exist, conditional update, delete and patch by matches.
func TestRESTConditional(t *testing.T) {
	e := newEnv(t)
	crit := "identifier=urn:mrn|100"
	r := e.rest("POST", "/fhir/Patient", "", patientJSON("100"), "If-None-Exist", crit)
	r.want(t, "conditional create, none", http.StatusCreated, "")
	first := r.str("id")
	r = e.rest("POST", "/fhir/Patient", "", patientJSON("100"), "If-None-Exist", crit)
	r.want(t, "conditional create, one", http.StatusOK, "")
	if r.str("id") != first {
		t.Errorf("conditional create returned %q, want the existing %q", r.str("id"), first)
	}
	r = e.rest("POST", "/fhir/Patient", "", patientJSON("100"), "If-None-Exist", "Patient?"+crit)
	r.want(t, "conditional create with type prefix", http.StatusOK, "")

	// Conditional update: one match updates it.
	body := strings.Replace(strings.Replace(patientJSON("100"), `"id":"client-chosen",`, "", 1), `"female"`, `"male"`, 1)
	r = e.rest("PUT", "/fhir/Patient?"+crit, "", body)
	r.want(t, "conditional update, one", http.StatusOK, "")
	if r.str("id") != first || r.str("gender") != "male" || r.Header.Get("ETag") != `W/"2"` {
		t.Errorf("conditional update: %s %v", r.Raw, r.Header)
	}
	// No match: creates.
	r = e.rest("PUT", "/fhir/Patient?identifier=urn:mrn|200", "", strings.Replace(patientJSON("200"), `"id":"client-chosen",`, "", 1))
	r.want(t, "conditional update, none", http.StatusCreated, "")
	second := r.str("id")
	// Several: 412, for create, update, delete and patch.
	e.rest("POST", "/fhir/Patient", "", patientJSON("300")).want(t, "seed", http.StatusCreated, "")
	e.rest("POST", "/fhir/Patient", "", patientJSON("300")).want(t, "seed", http.StatusCreated, "")
	many := "identifier=urn:mrn|300"
	e.rest("POST", "/fhir/Patient", "", patientJSON("300"), "If-None-Exist", many).want(t, "conditional create, several", http.StatusPreconditionFailed, "multiple-matches")
	e.rest("PUT", "/fhir/Patient?"+many, "", `{"resourceType":"Patient"}`).want(t, "conditional update, several", http.StatusPreconditionFailed, "multiple-matches")
	e.rest("DELETE", "/fhir/Patient?"+many, "", nil).want(t, "conditional delete, several", http.StatusPreconditionFailed, "multiple-matches")
	e.rest("PATCH", "/fhir/Patient?"+many, "", `[]`, "Content-Type", "application/json-patch+json").want(t, "conditional patch, several", http.StatusPreconditionFailed, "multiple-matches")
	// Conditional patch of one.
	r = e.rest("PATCH", "/fhir/Patient?identifier=urn:mrn|200", "", `[{"op":"replace","path":"/gender","value":"unknown"}]`, "Content-Type", "application/json-patch+json")
	r.want(t, "conditional patch, one", http.StatusOK, "")
	if r.str("id") != second || r.str("gender") != "unknown" {
		t.Errorf("conditional patch: %s", r.Raw)
	}
	e.rest("PATCH", "/fhir/Patient?identifier=urn:mrn|999", "", `[]`, "Content-Type", "application/json-patch+json").want(t, "conditional patch, none", http.StatusNotFound, "not-found")
	// Conditional delete: one, then none.
	e.rest("DELETE", "/fhir/Patient?identifier=urn:mrn|200", "", nil).want(t, "conditional delete, one", http.StatusOK, "")
	e.rest("GET", "/fhir/Patient/"+second, "", nil).want(t, "read conditionally deleted", http.StatusGone, "deleted")
	e.rest("DELETE", "/fhir/Patient?identifier=urn:mrn|200", "", nil).want(t, "conditional delete, none", http.StatusNoContent, "")
}

// TestRESTPatch: JSON Patch and FHIRPath Patch, their failures, and If-Match.
func TestRESTPatch(t *testing.T) {
	e := newEnv(t)
	e.rest("PUT", "/fhir/Patient/p1", "", strings.Replace(patientJSON("1"), "client-chosen", "p1", 1)).want(t, "seed", http.StatusCreated, "")
	jp := func(patch string, headers ...string) *restAnswer {
		return e.rest("PATCH", "/fhir/Patient/p1", "", patch, append([]string{"Content-Type", "application/json-patch+json"}, headers...)...)
	}
	r := jp(`[{"op":"replace","path":"/gender","value":"male"},{"op":"add","path":"/name/0/given/-","value":"Beth"},{"op":"remove","path":"/birthDate"}]`)
	r.want(t, "json patch", http.StatusOK, "")
	if r.str("gender") != "male" || strings.Contains(string(r.Raw), "birthDate") || !strings.Contains(string(r.Raw), `"given":["Ann","Beth"]`) || r.Header.Get("ETag") != `W/"2"` {
		t.Errorf("json patch result: %s %v", r.Raw, r.Header)
	}
	if !strings.Contains(string(r.Raw), `"valueDecimal":1.50`) {
		t.Errorf("patch lost the decimal's form: %s", r.Raw)
	}
	jp(`[{"op":"test","path":"/gender","value":"female"}]`).want(t, "failed test", http.StatusUnprocessableEntity, "processing")
	jp(`[{"op":"remove","path":"/nothing"}]`).want(t, "missing path", http.StatusUnprocessableEntity, "processing")
	jp(`{"op":"remove"}`).want(t, "malformed patch", http.StatusBadRequest, "structure")
	jp(`[{"op":"replace","path":"/id","value":"p9"}]`).want(t, "id change", http.StatusUnprocessableEntity, "processing")
	jp(`[{"op":"replace","path":"/gender","value":"sometimes"}]`).want(t, "invalid result", http.StatusUnprocessableEntity, "")
	jp(`[{"op":"replace","path":"/gender","value":"female"}]`, "If-Match", `W/"1"`).want(t, "stale If-Match", http.StatusPreconditionFailed, "conflict")
	e.rest("PATCH", "/fhir/Patient/none", "", `[]`, "Content-Type", "application/json-patch+json").want(t, "patch absent", http.StatusNotFound, "not-found")

	fp := func(ops ...string) *restAnswer {
		return e.rest("PATCH", "/fhir/Patient/p1", "", `{"resourceType":"Parameters","parameter":[`+strings.Join(ops, ",")+`]}`)
	}
	op := func(parts string) string { return `{"name":"operation","part":[` + parts + `]}` }
	r = fp(
		op(`{"name":"type","valueCode":"replace"},{"name":"path","valueString":"Patient.gender"},{"name":"value","valueCode":"female"}`),
		op(`{"name":"type","valueCode":"add"},{"name":"path","valueString":"Patient"},{"name":"name","valueString":"birthDate"},{"name":"value","valueDate":"1980-03-04"}`),
		op(`{"name":"type","valueCode":"insert"},{"name":"path","valueString":"Patient.identifier"},{"name":"index","valueInteger":0},{"name":"value","valueIdentifier":{"system":"urn:other","value":"9"}}`),
		op(`{"name":"type","valueCode":"delete"},{"name":"path","valueString":"Patient.identifier.where(system='urn:mrn')"}`),
		op(`{"name":"type","valueCode":"add"},{"name":"path","valueString":"Patient"},{"name":"name","valueString":"contact"},{"name":"value","part":[{"name":"gender","valueCode":"male"},{"name":"name","valueHumanName":{"family":"Kin"}}]}`),
	)
	r.want(t, "fhirpath patch", http.StatusOK, "")
	var got struct {
		Gender     string `json:"gender"`
		BirthDate  string `json:"birthDate"`
		Identifier []struct{ System, Value string }
		Contact    []struct{ Gender string }
	}
	json.Unmarshal(r.Raw, &got)
	if got.Gender != "female" || got.BirthDate != "1980-03-04" || len(got.Identifier) != 1 || got.Identifier[0].System != "urn:other" || len(got.Contact) != 1 || got.Contact[0].Gender != "male" {
		t.Errorf("fhirpath patch result: %s", r.Raw)
	}
	fp(op(`{"name":"type","valueCode":"replace"},{"name":"path","valueString":"Patient.name.given"},{"name":"value","valueString":"x"}`)).want(t, "replace of several", http.StatusUnprocessableEntity, "processing")
	fp(op(`{"name":"type","valueCode":"explode"},{"name":"path","valueString":"Patient"}`)).want(t, "unknown op", http.StatusUnprocessableEntity, "processing")
	fp(op(`{"name":"type","valueCode":"delete"},{"name":"path","valueString":"Patient.(("}`)).want(t, "bad path", http.StatusBadRequest, "invalid")
	e.rest("PATCH", "/fhir/Patient/p1", "", `{"resourceType":"Patient"}`).want(t, "not Parameters", http.StatusBadRequest, "structure")
}
