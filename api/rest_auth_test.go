package api_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/authz"
)

// TestRESTRoles: the REST API applies the same policy as GraphQL: an analyst never gets a
// hidden element (reads, searches, includes, history), a partner only its types, a patient
// only its compartment (includes and history too).
func TestRESTRoles(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{})
	seedREST(a.env)
	a.put(`{"resourceType":"AuditEvent","id":"ae","type":{"code":"rest"},"recorded":"2020-01-01T00:00:00Z","agent":[{"requestor":true}],"source":{"observer":{"display":"x"}}}`)
	// A second version of p1, and one of p2, for history.
	a.put(`{"resourceType":"Patient","id":"p1","name":[{"family":"Alpha"}],"birthDate":"1970-01-01","managingOrganization":{"reference":"Organization/org"},"generalPractitioner":[{"reference":"Practitioner/doc"}],"gender":"female"}`)
	a.put(`{"resourceType":"Patient","id":"p2","name":[{"family":"Beta"}],"birthDate":"1980-01-01","gender":"male"}`)

	a.rest("GET", "/fhir/Patient/p1", "", nil).want(t, "no token", http.StatusUnauthorized, "login")

	analyst := a.token(t, "analyst", "")
	hidden := []string{"Alpha", "Beta", "House", "1970-01-01", "1980-01-01"}
	checked := 0
	for _, path := range []string{
		"/fhir/Patient/p1", "/fhir/Patient/p1/_history/1", "/fhir/Patient?_count=10",
		"/fhir/Observation?_include=Observation:subject&_include=Observation:performer",
		"/fhir/Patient?_revinclude=Observation:subject&_include=Patient:general-practitioner",
		"/fhir/Patient/p1/_history", "/fhir/Patient/_history", "/fhir/_history?_count=50",
		"/fhir/Practitioner/doc", "/fhir/Patient?_elements=name,birthDate",
	} {
		r := a.rest("GET", path, analyst, nil)
		r.want(t, "analyst "+path, http.StatusOK, "")
		for _, h := range hidden {
			if strings.Contains(string(r.Raw), h) {
				t.Errorf("analyst %s: hidden %q gets through: %s", path, h, truncate(string(r.Raw), 300))
			}
		}
		if !strings.Contains(string(r.Raw), `"REDACTED"`) {
			t.Errorf("analyst %s: no REDACTED label: %s", path, truncate(string(r.Raw), 300))
		}
		checked++
	}
	r := a.rest("GET", "/fhir/Patient/p1", analyst, nil)
	if r.str("gender") != "female" || r.str("id") != "p1" {
		t.Errorf("analyst loses what is not hidden: %s", r.Raw)
	}
	a.rest("GET", "/fhir/Patient?name=Alpha", analyst, nil).want(t, "analyst search by a hidden element", http.StatusForbidden, "forbidden")
	a.rest("GET", "/fhir/AuditEvent/ae", analyst, nil).want(t, "analyst AuditEvent", http.StatusForbidden, "forbidden")
	a.rest("POST", "/fhir/Patient", analyst, `{"resourceType":"Patient"}`).want(t, "analyst create", http.StatusForbidden, "forbidden")
	a.rest("DELETE", "/fhir/Patient/p1", analyst, nil).want(t, "analyst delete", http.StatusForbidden, "forbidden")
	a.rest("PATCH", "/fhir/Patient/p1", analyst, `[]`, "Content-Type", "application/json-patch+json").want(t, "analyst patch", http.StatusForbidden, "forbidden")
	if r := a.rest("GET", "/fhir/_history?_count=50", analyst, nil); strings.Contains(string(r.Raw), "AuditEvent/ae") {
		t.Errorf("analyst system history shows the AuditEvent")
	}

	partner := a.token(t, "partner", "")
	a.rest("GET", "/fhir/Patient/p1", partner, nil).want(t, "partner Patient", http.StatusOK, "")
	a.rest("GET", "/fhir/Organization/org", partner, nil).want(t, "partner Organization", http.StatusForbidden, "forbidden")
	a.rest("GET", "/fhir/Organization", partner, nil).want(t, "partner Organization search", http.StatusForbidden, "forbidden")
	a.rest("GET", "/fhir/Patient?_include=Patient:organization:Organization", partner, nil).want(t, "partner explicit include", http.StatusForbidden, "forbidden")
	r = a.rest("GET", "/fhir/Patient?_id=p1&_include=Patient:organization&_include=Patient:general-practitioner", partner, nil)
	r.want(t, "partner include", http.StatusOK, "")
	if inc := r.entries("include"); len(inc) != 0 {
		t.Errorf("partner includes types it may not read: %v", inc)
	}
	if r := a.rest("GET", "/fhir/_history?_count=50", partner, nil); strings.Contains(string(r.Raw), `/fhir/Organization/org"`) || !strings.Contains(string(r.Raw), `/fhir/Patient/p1"`) {
		t.Errorf("partner system history: %s", truncate(string(r.Raw), 300))
	}

	alice := a.token(t, "patient", "p1")
	a.rest("GET", "/fhir/Patient/p1", alice, nil).want(t, "patient own", http.StatusOK, "")
	other := a.rest("GET", "/fhir/Patient/p2", alice, nil)
	other.want(t, "patient other", http.StatusNotFound, "not-found")
	if absent := a.rest("GET", "/fhir/Patient/zz", alice, nil); absent.str("issue") != other.str("issue") || !slices.Equal(absent.entries(""), other.entries("")) {
		t.Errorf("another's resource answers unlike an absent one")
	}
	a.rest("GET", "/fhir/Patient/p2/_history", alice, nil).want(t, "patient other's history", http.StatusNotFound, "not-found")
	a.rest("GET", "/fhir/Patient/p2/_history/1", alice, nil).want(t, "patient other's version", http.StatusNotFound, "not-found")
	a.rest("GET", "/fhir/Observation/o9", alice, nil).want(t, "patient other's observation", http.StatusNotFound, "not-found")
	for _, path := range []string{
		"/fhir/Observation", "/fhir/Observation?_include=Observation:subject",
		"/fhir/Patient?_revinclude=Observation:subject", "/fhir/Observation?_include=Observation:subject&_revinclude:iterate=Observation:subject",
		"/fhir/_history?_count=100", "/fhir/Observation/_history", "/fhir/Patient/_history",
	} {
		r := a.rest("GET", path, alice, nil)
		r.want(t, "patient "+path, http.StatusOK, "")
		for _, leak := range []string{"Patient/p2", "Observation/o9", "Beta", "Patient/p3"} {
			if strings.Contains(string(r.Raw), leak) {
				t.Errorf("patient %s: sees %s: %s", path, leak, truncate(string(r.Raw), 300))
			}
		}
		checked++
	}
	r = a.rest("GET", "/fhir/Observation?_include=Observation:subject", alice, nil)
	if got := fmt.Sprint(r.entries("match"), r.entries("include")); got != "[Observation/o1 Observation/o2 Observation/o3] [Patient/p1]" {
		t.Errorf("patient search with include: %s", got)
	}
	// A patient writes into its own compartment only.
	a.rest("POST", "/fhir/Observation", alice, `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p2"}}`).want(t, "patient writes for another", http.StatusForbidden, "forbidden")

	clinician := a.token(t, "clinician", "")
	a.rest("GET", "/fhir/AuditEvent/ae", clinician, nil).want(t, "clinician AuditEvent", http.StatusForbidden, "forbidden")
	r = a.rest("GET", "/fhir/Patient/p1", clinician, nil)
	if !strings.Contains(string(r.Raw), "Alpha") || strings.Contains(string(r.Raw), "REDACTED") {
		t.Errorf("clinician reads the whole patient: %s", r.Raw)
	}
	t.Logf("%d role answers checked for leaks", checked)
}

// TestRESTMetadata: /fhir/metadata is public and says what is served: every resource type,
// and for each, every interaction it lists is routed (a request for it reaches an
// interaction, which refuses an XML Accept with 406, where an unrouted one would be 404).
func TestRESTMetadata(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{})
	r := a.rest("GET", "/fhir/metadata", "", nil)
	r.want(t, "metadata", http.StatusOK, "")
	if r.Body["resourceType"] != "CapabilityStatement" || r.Body["fhirVersion"] != "4.0.1" {
		t.Fatalf("metadata: %s", truncate(string(r.Raw), 300))
	}
	rest := r.Body["rest"].([]any)[0].(map[string]any)
	resources := rest["resource"].([]any)
	if len(resources) != 147 {
		t.Errorf("%d resource types, want 147", len(resources))
	}
	admin := a.token(t, "admin", "")
	paths := map[string]func(typ string) (method, path string){
		"read":             func(t string) (string, string) { return "GET", "/fhir/" + t + "/x" },
		"vread":            func(t string) (string, string) { return "GET", "/fhir/" + t + "/x/_history/1" },
		"update":           func(t string) (string, string) { return "PUT", "/fhir/" + t + "/x" },
		"patch":            func(t string) (string, string) { return "PATCH", "/fhir/" + t + "/x" },
		"delete":           func(t string) (string, string) { return "DELETE", "/fhir/" + t + "/x" },
		"create":           func(t string) (string, string) { return "POST", "/fhir/" + t },
		"search-type":      func(t string) (string, string) { return "GET", "/fhir/" + t },
		"history-instance": func(t string) (string, string) { return "GET", "/fhir/" + t + "/x/_history" },
		"history-type":     func(t string) (string, string) { return "GET", "/fhir/" + t + "/_history" },
	}
	routed, params := 0, 0
	for _, res := range resources {
		m := res.(map[string]any)
		typ := m["type"].(string)
		params += len(m["searchParam"].([]any))
		inter := m["interaction"].([]any)
		if len(inter) != len(paths) {
			t.Errorf("%s lists %d interactions, want %d", typ, len(inter), len(paths))
		}
		for _, i := range inter {
			code := i.(map[string]any)["code"].(string)
			mk, ok := paths[code]
			if !ok {
				t.Errorf("%s: interaction %q the test does not know", typ, code)
				continue
			}
			method, path := mk(typ)
			got := a.rest(method, path, admin, nil, "Accept", "application/fhir+xml")
			if got.Status != http.StatusNotAcceptable {
				t.Errorf("%s %s (%s): status %d, want 406 from the interaction", method, path, code, got.Status)
			}
			routed++
		}
	}
	sys := rest["interaction"].([]any)
	var sysCodes []string
	for _, i := range sys {
		sysCodes = append(sysCodes, i.(map[string]any)["code"].(string))
	}
	if !slices.Equal(sysCodes, []string{"history-system", "batch", "transaction"}) {
		t.Errorf("system interactions: %v", sysCodes)
	}
	for _, code := range []string{"batch", "transaction"} {
		got := a.rest("POST", "/fhir", admin, []byte(`{"resourceType":"Bundle","type":"`+code+`"}`))
		if got.Status != http.StatusOK || !strings.Contains(string(got.Raw), `"type":"`+code+`-response"`) {
			t.Errorf("%s: status %d %s", code, got.Status, got.Raw)
		}
	}
	if got := a.rest("GET", "/fhir/_history", admin, nil, "Accept", "application/fhir+xml"); got.Status != http.StatusNotAcceptable {
		t.Errorf("history-system: status %d", got.Status)
	}
	t.Logf("%d type interactions routed, %d search parameters listed", routed, params)
	if routed != 147*len(paths) || params < 2000 {
		t.Errorf("routed %d, parameters %d", routed, params)
	}
	// SMART configuration: public, from the server's settings.
	s := newAuthEnv(t, authz.VerifierConfig{}, func(c *api.Config) {
		c.Auth.SMART.Issuer, c.Auth.SMART.TokenEndpoint, c.Auth.SMART.AuthorizationEndpoint = "https://idp.example", "https://idp.example/token", "https://idp.example/authorize"
	})
	r = s.rest("GET", "/fhir/.well-known/smart-configuration", "", nil)
	r.want(t, "smart-configuration", http.StatusOK, "")
	if r.str("issuer") != "https://idp.example" || r.str("token_endpoint") != "https://idp.example/token" || !strings.Contains(string(r.Raw), "permission-v2") {
		t.Errorf("smart-configuration: %s", r.Raw)
	}
}
