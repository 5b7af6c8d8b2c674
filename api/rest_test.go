package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/fhirgate/fhirgate/authz"
)

// fhirResponse is a FHIR REST answer: its status and its resource, decoded.
type fhirResponse struct {
	Status int
	Body   map[string]any
	Raw    []byte
}

// issues returns the OperationOutcome's issues as severity, code and diagnostics.
func (r *fhirResponse) issues() []map[string]any {
	var out []map[string]any
	is, _ := r.Body["issue"].([]any)
	for _, i := range is {
		out = append(out, i.(map[string]any))
	}
	return out
}

// fhir sends a FHIR REST request (path under the server root, such as "/fhir/$fhirpath")
// with an optional bearer token, and decodes the JSON answer.
func (e *env) fhir(method, path, token string, body any) *fhirResponse {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, ok := body.([]byte)
		if !ok {
			b, _ = json.Marshal(body)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
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
	out := &fhirResponse{Status: resp.StatusCode}
	out.Raw, _ = io.ReadAll(resp.Body)
	if err := json.Unmarshal(out.Raw, &out.Body); err != nil {
		e.t.Fatalf("%s %s: status %d, undecodable body %q", method, path, resp.StatusCode, truncate(string(out.Raw), 300))
	}
	return out
}

// TestRESTSurface: /fhir answers in FHIR (an OperationOutcome for what it does not serve) and
// only to an authenticated caller.
func TestRESTSurface(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{})
	r := a.fhir(http.MethodGet, "/fhir/Patient/nothing-here", "", nil)
	if r.Status != http.StatusUnauthorized {
		t.Errorf("no token: status %d, want 401", r.Status)
	}
	r = a.fhir(http.MethodGet, "/fhir/NoSuchThing", a.token(t, "admin", ""), nil)
	if r.Status != http.StatusNotFound || r.Body["resourceType"] != "OperationOutcome" || len(r.issues()) != 1 {
		t.Errorf("unknown path: status %d, body %s", r.Status, r.Raw)
	}
}
