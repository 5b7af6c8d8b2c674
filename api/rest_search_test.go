package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// entries returns the ids of a Bundle's entries of a search mode ("" for any), in order.
func (r *restAnswer) entries(mode string) []string {
	var out []string
	es, _ := r.Body["entry"].([]any)
	for _, e := range es {
		m := e.(map[string]any)
		if mode != "" {
			s, _ := m["search"].(map[string]any)
			if s["mode"] != mode {
				continue
			}
		}
		res, _ := m["resource"].(map[string]any)
		out = append(out, fmt.Sprint(res["resourceType"], "/", res["id"]))
	}
	return out
}

// link returns a Bundle link's URL, made relative to the server.
func (r *restAnswer) link(e *env, rel string) string {
	ls, _ := r.Body["link"].([]any)
	for _, l := range ls {
		m := l.(map[string]any)
		if m["relation"] == rel {
			return strings.TrimPrefix(m["url"].(string), e.srv.URL)
		}
	}
	return ""
}

func seedREST(e *env) {
	e.put(
		`{"resourceType":"Organization","id":"org","name":"Acme"}`,
		`{"resourceType":"Practitioner","id":"doc","name":[{"family":"House"}]}`,
		`{"resourceType":"Patient","id":"p1","name":[{"family":"Alpha"}],"birthDate":"1970-01-01","managingOrganization":{"reference":"Organization/org"},"generalPractitioner":[{"reference":"Practitioner/doc"}]}`,
		`{"resourceType":"Patient","id":"p2","name":[{"family":"Beta"}],"birthDate":"1980-01-01"}`,
		`{"resourceType":"Patient","id":"p3","name":[{"family":"Gamma"}],"birthDate":"1990-01-01"}`,
		`{"resourceType":"Patient","id":"p4","name":[{"family":"Delta"}],"birthDate":"2000-01-01"}`,
		`{"resourceType":"Patient","id":"p5","name":[{"family":"Epsilon"}],"birthDate":"2010-01-01"}`,
	)
	for i := 1; i <= 3; i++ {
		e.put(fmt.Sprintf(`{"resourceType":"Observation","id":"o%d","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/p1"},"performer":[{"reference":"Practitioner/doc"}]}`, i))
	}
	e.put(`{"resourceType":"Observation","id":"o9","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/p2"}}`)
}

// TestRESTSearchPaging: pages follow next links to every match once, previous goes back,
// total counts all, POST _search answers as GET does.
func TestRESTSearchPaging(t *testing.T) {
	e := newEnv(t)
	seedREST(e)
	r := e.rest("GET", "/fhir/Patient?_count=2&_sort=birthdate", "", nil)
	r.want(t, "first page", http.StatusOK, "")
	if r.Body["type"] != "searchset" || r.Body["total"] != float64(5) {
		t.Fatalf("bundle: %s", truncate(string(r.Raw), 300))
	}
	var all []string
	pages := 0
	for path := "/fhir/Patient?_count=2&_sort=birthdate"; path != ""; pages++ {
		p := e.rest("GET", path, "", nil)
		p.want(t, "page "+path, http.StatusOK, "")
		all = append(all, p.entries("match")...)
		if pages == 1 { // back from the second page to the first
			prev := e.rest("GET", p.link(e, "previous"), "", nil)
			if got := prev.entries("match"); fmt.Sprint(got) != "[Patient/p1 Patient/p2]" {
				t.Errorf("previous page: %v", got)
			}
		}
		path = p.link(e, "next")
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if want := "[Patient/p1 Patient/p2 Patient/p3 Patient/p4 Patient/p5]"; fmt.Sprint(all) != want || pages != 3 {
		t.Errorf("pages %d: %v, want %s", pages, all, want)
	}
	if self := r.link(e, "self"); !strings.Contains(self, "_sort=birthdate") {
		t.Errorf("self link %q", self)
	}
	// POST _search with a form body.
	r = e.rest("POST", "/fhir/Patient/_search", "", "birthdate=ge1985&_sort=-birthdate", "Content-Type", "application/x-www-form-urlencoded")
	r.want(t, "POST _search", http.StatusOK, "")
	if got := fmt.Sprint(r.entries("match")); got != "[Patient/p5 Patient/p4 Patient/p3]" {
		t.Errorf("POST _search: %s", got)
	}
	e.rest("POST", "/fhir/Patient/_search", "", "x", "Content-Type", "application/fhir+json").want(t, "_search JSON", http.StatusUnsupportedMediaType, "not-supported")
	// _summary=count, _total=none, _elements, _summary=true, _summary=data.
	r = e.rest("GET", "/fhir/Patient?_summary=count", "", nil)
	if r.Body["total"] != float64(5) || len(r.entries("")) != 0 {
		t.Errorf("_summary=count: %s", r.Raw)
	}
	r = e.rest("GET", "/fhir/Patient?_count=1&_total=none", "", nil)
	if _, ok := r.Body["total"]; ok {
		t.Errorf("_total=none: %s", truncate(string(r.Raw), 200))
	}
	r = e.rest("GET", "/fhir/Patient/p1?_elements=birthDate", "", nil)
	if !strings.Contains(string(r.Raw), `"birthDate"`) || strings.Contains(string(r.Raw), `"name"`) || !strings.Contains(string(r.Raw), `"SUBSETTED"`) || r.str("id") != "p1" {
		t.Errorf("_elements: %s", r.Raw)
	}
	r = e.rest("GET", "/fhir/Patient?_id=p1&_summary=true", "", nil)
	es := r.Body["entry"].([]any)
	p1 := fmt.Sprint(es[0].(map[string]any)["resource"])
	if !strings.Contains(p1, "birthDate") || !strings.Contains(p1, "managingOrganization") || strings.Contains(p1, "generalPractitioner") || !strings.Contains(p1, "SUBSETTED") {
		t.Errorf("_summary=true: %s", p1)
	}
}

// TestRESTSearchIncludes: _include, _revinclude and :iterate add their resources once, in
// mode include.
func TestRESTSearchIncludes(t *testing.T) {
	e := newEnv(t)
	seedREST(e)
	r := e.rest("GET", "/fhir/Observation?subject=Patient/p1&_include=Observation:subject&_include=Observation:performer:Practitioner", "", nil)
	r.want(t, "include", http.StatusOK, "")
	if got, want := fmt.Sprint(r.entries("match")), "[Observation/o1 Observation/o2 Observation/o3]"; got != want {
		t.Errorf("matches %s, want %s", got, want)
	}
	inc := r.entries("include")
	slices.Sort(inc)
	if fmt.Sprint(inc) != "[Patient/p1 Practitioner/doc]" {
		t.Errorf("included %v", inc)
	}
	if r.Body["total"] != float64(3) {
		t.Errorf("total %v counts includes", r.Body["total"])
	}
	r = e.rest("GET", "/fhir/Patient?_id=p1,p2&_revinclude=Observation:subject", "", nil)
	inc = r.entries("include")
	slices.Sort(inc)
	if fmt.Sprint(inc) != "[Observation/o1 Observation/o2 Observation/o3 Observation/o9]" {
		t.Errorf("revincluded %v", inc)
	}
	r = e.rest("GET", "/fhir/Observation?_id=o9&_include=Observation:subject&_include:iterate=Patient:organization", "", nil)
	inc = r.entries("include")
	if fmt.Sprint(inc) != "[Patient/p2]" {
		t.Errorf("iterate without a reference: %v", inc)
	}
	r = e.rest("GET", "/fhir/Observation?_id=o1&_include=Observation:subject&_include:iterate=Patient:organization&_include:iterate=Patient:general-practitioner", "", nil)
	inc = r.entries("include")
	slices.Sort(inc)
	if fmt.Sprint(inc) != "[Organization/org Patient/p1 Practitioner/doc]" {
		t.Errorf("iterate: %v", inc)
	}
}

// TestRESTSearchInjection: operators and JSON in parameter names and values are values, or
// refused; they never reach storage as operators.
func TestRESTSearchInjection(t *testing.T) {
	e := newEnv(t)
	seedREST(e)
	for _, q := range []string{
		"name[$ne]=x", "name.$ne=x", `_id={"$ne":""}`, "_id[$regex]=.*", "name=%7B%22%24gt%22%3A%22%22%7D",
		"family:$where=1", "_has:Observation:subject:$where=1", "birthdate=gt1970&birthdate[$exists]=true",
		"name=" + url.QueryEscape(`.*`), "_sort=" + url.QueryEscape(`{"$natural":1}`), "subject:Patient.$where=1",
	} {
		r := e.rest("GET", "/fhir/Patient?"+q, "", nil)
		switch r.Status {
		case http.StatusBadRequest:
			r.want(t, q, http.StatusBadRequest, "invalid")
		case http.StatusOK:
			if n := len(r.entries("match")); n != 0 {
				t.Errorf("%s: %d matches: the value acted as more than a value", q, n)
			}
		default:
			t.Errorf("%s: status %d: %s", q, r.Status, truncate(string(r.Raw), 200))
		}
	}
}

// TestRESTHistory: instance, type and system history, newest first, paged, with deletions,
// each entry with the request that made it.
func TestRESTHistory(t *testing.T) {
	e := newEnv(t)
	pat := func(gender string) string {
		return `{"resourceType":"Patient","id":"h1","gender":"` + gender + `"}`
	}
	e.rest("PUT", "/fhir/Patient/h1", "", pat("male")).want(t, "v1", http.StatusCreated, "")
	e.rest("PUT", "/fhir/Patient/h1", "", pat("female")).want(t, "v2", http.StatusOK, "")
	e.rest("PATCH", "/fhir/Patient/h1", "", `[{"op":"add","path":"/active","value":true}]`, "Content-Type", "application/json-patch+json").want(t, "v3", http.StatusOK, "")
	e.rest("POST", "/fhir/Observation", "", `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`).want(t, "obs", http.StatusCreated, "")
	e.rest("DELETE", "/fhir/Patient/h1", "", nil).want(t, "delete", http.StatusOK, "")
	e.rest("PUT", "/fhir/Patient/h2", "", `{"resourceType":"Patient","id":"h2"}`).want(t, "h2", http.StatusCreated, "")

	r := e.rest("GET", "/fhir/Patient/h1/_history", "", nil)
	r.want(t, "instance history", http.StatusOK, "")
	type hist struct{ method, url, status, etag, gender string }
	got := func(r *restAnswer) []hist {
		var out []hist
		es, _ := r.Body["entry"].([]any)
		for _, e := range es {
			m := e.(map[string]any)
			res, _ := m["resource"].(map[string]any)
			g, _ := res["gender"].(string)
			req, resp := m["request"].(map[string]any), m["response"].(map[string]any)
			out = append(out, hist{req["method"].(string), req["url"].(string), resp["status"].(string), resp["etag"].(string), g})
		}
		return out
	}
	want := `[{DELETE Patient/h1 204 No Content W/"4" } {PATCH Patient/h1 200 OK W/"3" female} {PUT Patient/h1 200 OK W/"2" female} {PUT Patient/h1 201 Created W/"1" male}]`
	if r.Body["type"] != "history" || fmt.Sprint(got(r)) != want || r.Body["total"] != float64(4) {
		t.Errorf("instance history: %v %s", got(r), truncate(string(r.Raw), 300))
	}
	r = e.rest("GET", "/fhir/Patient/h1/_history?_count=3", "", nil)
	next := e.rest("GET", r.link(e, "next"), "", nil)
	if len(got(r)) != 3 || fmt.Sprint(got(next)) != `[{PUT Patient/h1 201 Created W/"1" male}]` {
		t.Errorf("instance history pages: %v then %v", got(r), got(next))
	}
	// Type history: Patients only, newest first, paged across commits.
	var all []string
	for path := "/fhir/Patient/_history?_count=2"; path != ""; {
		p := e.rest("GET", path, "", nil)
		p.want(t, "type history", http.StatusOK, "")
		es, _ := p.Body["entry"].([]any)
		for _, x := range es {
			m := x.(map[string]any)
			u := m["fullUrl"].(string)
			all = append(all, u[strings.LastIndex(u, "/")+1:]+"@"+m["response"].(map[string]any)["etag"].(string))
		}
		path = p.link(e, "next")
		if len(all) > 10 {
			t.Fatal("type history does not end")
		}
	}
	if want := `[h2@W/"1" h1@W/"4" h1@W/"3" h1@W/"2" h1@W/"1"]`; fmt.Sprint(all) != want {
		t.Errorf("type history: %v, want %s", all, want)
	}
	r = e.rest("GET", "/fhir/_history", "", nil)
	if h := got(r); len(h) != 6 || fmt.Sprint(h[2]) != `{POST Observation 201 Created W/"1" }` {
		t.Errorf("system history: %v, want 6 entries, the third the Observation's creation", h)
	}
	e.rest("GET", "/fhir/Patient/none/_history", "", nil).want(t, "history of nothing", http.StatusNotFound, "not-found")
	r = e.rest("GET", "/fhir/_history?_since=2999-01-01T00:00:00Z", "", nil)
	if _, ok := r.Body["entry"]; ok {
		t.Errorf("_since in the future: %s", truncate(string(r.Raw), 200))
	}
}
