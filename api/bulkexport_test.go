package api_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/authz"
)

// bulkCall is one HTTP exchange of the bulk data API.
type bulkCall struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) bulk(method, url, token string, prefer bool) bulkCall {
	e.t.Helper()
	if !strings.HasPrefix(url, "http") {
		url = e.srv.URL + url
	}
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Accept", "application/fhir+json")
	if prefer {
		req.Header.Set("Prefer", "respond-async")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return bulkCall{resp.StatusCode, resp.Header, b}
}

// exportAll kicks an export off, polls it to completion and returns the resources of each
// output file by type (ids in file order).
func (e *env) exportAll(path, token string) map[string][]map[string]any {
	e.t.Helper()
	k := e.bulk(http.MethodGet, path, token, true)
	if k.status != http.StatusAccepted || k.header.Get("Content-Location") == "" {
		e.t.Fatalf("kick-off %s: %d %s", path, k.status, k.body)
	}
	status := k.header.Get("Content-Location")
	deadline := time.Now().Add(time.Minute)
	var done bulkCall
	for {
		done = e.bulk(http.MethodGet, status, token, false)
		if done.status != http.StatusAccepted {
			break
		}
		if done.header.Get("X-Progress") == "" || done.header.Get("Retry-After") == "" {
			e.t.Errorf("in progress without X-Progress or Retry-After: %v", done.header)
		}
		if time.Now().After(deadline) {
			e.t.Fatal("export did not finish")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if done.status != http.StatusOK {
		e.t.Fatalf("status of %s: %d %s", path, done.status, done.body)
	}
	var manifest struct {
		TransactionTime     string `json:"transactionTime"`
		Request             string `json:"request"`
		RequiresAccessToken bool   `json:"requiresAccessToken"`
		Output              []struct {
			Type  string `json:"type"`
			URL   string `json:"url"`
			Count int    `json:"count"`
		} `json:"output"`
		Error []any `json:"error"`
	}
	if err := json.Unmarshal(done.body, &manifest); err != nil {
		e.t.Fatalf("manifest: %v: %s", err, done.body)
	}
	if !manifest.RequiresAccessToken || manifest.TransactionTime == "" || !strings.HasSuffix(manifest.Request, path) || manifest.Error == nil {
		e.t.Errorf("manifest: %s", done.body)
	}
	out := map[string][]map[string]any{}
	for _, o := range manifest.Output {
		f := e.bulk(http.MethodGet, o.URL, token, false)
		if f.status != http.StatusOK || f.header.Get("Content-Type") != "application/fhir+ndjson" {
			e.t.Fatalf("file %s: %d %v", o.URL, f.status, f.header)
		}
		if other := e.bulk(http.MethodGet, o.URL, "", false); other.status != http.StatusUnauthorized {
			e.t.Errorf("file without a token: %d", other.status)
		}
		sc := bufio.NewScanner(bytes.NewReader(f.body))
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			var r map[string]any
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				e.t.Fatalf("%s: line %q: %v", o.URL, sc.Text(), err)
			}
			if r["resourceType"] != o.Type {
				e.t.Errorf("%s holds a %v", o.URL, r["resourceType"])
			}
			out[o.Type] = append(out[o.Type], r)
		}
		if len(out[o.Type]) != o.Count {
			e.t.Errorf("%s: %d lines, manifest count %d", o.URL, len(out[o.Type]), o.Count)
		}
	}
	return out
}

func resourceIDs(rs []map[string]any) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r["id"].(string))
	}
	slices.Sort(out)
	return out
}

// TestBulkExport exports at system, Patient and Group level with _type, _since and
// _typeFilter, checks every file against what was written, and the caller's limits: a
// patient's export holds its compartment only, jobs are their owner's, and bad requests
// are refused.
func TestBulkExport(t *testing.T) {
	dir := t.TempDir()
	a := newAuthEnv(t, authz.VerifierConfig{}, func(c *api.Config) { c.ExportDir = dir })
	admin := a.token(t, "admin", "")
	put := func(r string) {
		t.Helper()
		var m map[string]any
		json.Unmarshal([]byte(r), &m)
		resp := a.fhirPut(admin, m)
		if resp != "" {
			t.Fatalf("write %s: %s", r, resp)
		}
	}
	for _, id := range []string{"p1", "p2", "p3"} {
		put(`{"resourceType":"Patient","id":"` + id + `","gender":"female","name":[{"family":"Fam` + id + `"}]}`)
	}
	obs := func(id, patient string) string {
		return `{"resourceType":"Observation","id":"` + id + `","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/` + patient + `"}}`
	}
	put(obs("o1", "p1"))
	put(obs("o2", "p1"))
	put(obs("o3", "p2"))
	put(`{"resourceType":"Practitioner","id":"dr1","name":[{"family":"Who"}]}`)
	put(`{"resourceType":"Group","id":"g1","type":"person","actual":true,"member":[{"entity":{"reference":"Patient/p1"}},{"entity":{"reference":"Patient/p3"}}]}`)

	sys := a.exportAll("/fhir/$export?_type=Patient,Observation,Practitioner", admin)
	if got := resourceIDs(sys["Patient"]); !slices.Equal(got, []string{"p1", "p2", "p3"}) {
		t.Errorf("system Patient: %v", got)
	}
	if got := resourceIDs(sys["Observation"]); !slices.Equal(got, []string{"o1", "o2", "o3"}) {
		t.Errorf("system Observation: %v", got)
	}
	if len(sys["Practitioner"]) != 1 || len(sys) != 3 {
		t.Errorf("system export types: %v", len(sys))
	}
	if m := sys["Patient"][0]; m["meta"] == nil || m["name"] == nil {
		t.Errorf("exported resource lost fields: %v", m)
	}

	all := a.exportAll("/fhir/$export", admin)
	if len(all["Patient"]) != 3 || len(all["Group"]) != 1 || len(all["Practitioner"]) != 1 {
		t.Errorf("system export without _type: %d types", len(all))
	}

	pat := a.exportAll("/fhir/Patient/$export", admin)
	if got := resourceIDs(pat["Observation"]); len(got) != 3 || len(pat["Patient"]) != 3 || pat["Practitioner"] != nil {
		t.Errorf("Patient export: %v, Practitioner %v", got, pat["Practitioner"] != nil)
	}

	grp := a.exportAll("/fhir/Group/g1/$export?_type=Patient,Observation", admin)
	if got := resourceIDs(grp["Patient"]); !slices.Equal(got, []string{"p1", "p3"}) {
		t.Errorf("Group Patient: %v", got)
	}
	if got := resourceIDs(grp["Observation"]); !slices.Equal(got, []string{"o1", "o2"}) {
		t.Errorf("Group Observation: %v", got)
	}

	// A Group without Patient members exports nothing, of any type.
	put(`{"resourceType":"Group","id":"g0","type":"person","actual":true}`)
	if empty := a.exportAll("/fhir/Group/g0/$export", admin); len(empty) != 0 {
		t.Errorf("empty Group export: %d types", len(empty))
	}

	tf := a.exportAll("/fhir/$export?_type=Observation&_typeFilter="+urlEscape("Observation?subject=Patient/p2"), admin)
	if got := resourceIDs(tf["Observation"]); !slices.Equal(got, []string{"o3"}) {
		t.Errorf("_typeFilter: %v", got)
	}

	time.Sleep(10 * time.Millisecond)
	mark := time.Now().UTC()
	time.Sleep(10 * time.Millisecond)
	put(obs("o2", "p1")) // a new version
	since := a.exportAll("/fhir/$export?_type=Observation,Patient&_since="+mark.Format(time.RFC3339Nano), admin)
	if got := resourceIDs(since["Observation"]); !slices.Equal(got, []string{"o2"}) || since["Patient"] != nil {
		t.Errorf("_since: %v, Patient %v", got, since["Patient"])
	}

	// A patient exports its own compartment and nothing else.
	p1 := a.token(t, "patient", "p1")
	mine := a.exportAll("/fhir/Patient/$export?_type=Patient,Observation", p1)
	if got := resourceIDs(mine["Patient"]); !slices.Equal(got, []string{"p1"}) {
		t.Errorf("patient p1's Patient export: %v", got)
	}
	if got := resourceIDs(mine["Observation"]); !slices.Equal(got, []string{"o1", "o2"}) {
		t.Errorf("patient p1's Observation export: %v", got)
	}

	// An analyst's export is de-identified exactly as its queries are.
	analyst := a.token(t, "analyst", "")
	deid := a.exportAll("/fhir/$export?_type=Patient,Observation", analyst)
	if len(deid["Patient"]) != 3 || len(deid["Observation"]) != 3 {
		t.Fatalf("analyst export: %d Patients, %d Observations", len(deid["Patient"]), len(deid["Observation"]))
	}
	for _, p := range deid["Patient"] {
		b, _ := json.Marshal(p)
		if p["name"] != nil || p["gender"] != "female" || !strings.Contains(string(b), `"REDACTED"`) {
			t.Errorf("analyst's exported Patient: %s", b)
		}
	}

	// Jobs are their owner's; a deleted one is gone.
	k := a.bulk(http.MethodGet, "/fhir/$export?_type=Patient", admin, true)
	loc := k.header.Get("Content-Location")
	clin := a.token(t, "clinician", "")
	if c := a.bulk(http.MethodGet, loc, clin, false); c.status != http.StatusForbidden {
		t.Errorf("another caller's job: %d", c.status)
	}
	if c := a.bulk(http.MethodDelete, loc, admin, false); c.status != http.StatusAccepted {
		t.Errorf("DELETE: %d %s", c.status, c.body)
	}
	if c := a.bulk(http.MethodGet, loc, admin, false); c.status != http.StatusNotFound {
		t.Errorf("deleted job: %d", c.status)
	}

	for _, bad := range []struct {
		path, token string
		prefer      bool
		want        int
	}{
		{"/fhir/$export", admin, false, http.StatusBadRequest},
		{"/fhir/$export?_type=Nope", admin, true, http.StatusBadRequest},
		{"/fhir/Patient/$export?_type=Practitioner", admin, true, http.StatusBadRequest},
		{"/fhir/$export?_since=yesterday", admin, true, http.StatusBadRequest},
		{"/fhir/$export?_outputFormat=text/csv", admin, true, http.StatusBadRequest},
		{"/fhir/$export?patient=Patient/p1", admin, true, http.StatusBadRequest},
		{"/fhir/$export?_typeFilter=" + urlEscape("Observation?nope=1"), admin, true, http.StatusBadRequest},
		{"/fhir/Group/nope/$export", admin, true, http.StatusNotFound},
		{"/fhir/$export?_type=AuditEvent", clin, true, http.StatusForbidden},
		{"/fhir/$export", "", true, http.StatusUnauthorized},
		{"/fhir/$export-status/0123", admin, false, http.StatusNotFound},
		{"/fhir/$export-file/0123/Patient", admin, false, http.StatusNotFound},
	} {
		c := a.bulk(http.MethodGet, bad.path, bad.token, bad.prefer)
		if c.status != bad.want || !bytes.Contains(c.body, []byte("OperationOutcome")) {
			t.Errorf("%s: %d %s, want %d with an OperationOutcome", bad.path, c.status, c.body, bad.want)
		}
	}
}

func urlEscape(s string) string {
	return strings.NewReplacer("?", "%3F", "=", "%3D", "&", "%26", "|", "%7C", "/", "%2F").Replace(s)
}

// fhirPut writes a resource through GraphQL as token and returns the errors' text, "" when none.
func (e *env) fhirPut(token string, r map[string]any) string {
	e.t.Helper()
	typ := r["resourceType"].(string)
	q := `mutation($r: ` + typ + `Input!, $id: ID!) { ` + typ + `Update(id: $id, res: $r) { id } }`
	resp := e.postAsVars(token, "", q, map[string]any{"r": r, "id": r["id"]})
	if len(resp.Errors) > 0 {
		b, _ := json.Marshal(resp.Errors)
		return string(b)
	}
	return ""
}
