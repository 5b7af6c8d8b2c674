package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/authz"
)

func importParams(urls ...string) []byte {
	var ps []any
	for _, u := range urls {
		ps = append(ps, map[string]any{"name": "input", "part": []any{map[string]any{"name": "url", "valueUrl": u}}})
	}
	b, _ := json.Marshal(map[string]any{"resourceType": "Parameters", "parameter": ps})
	return b
}

// TestFHIRImport runs $import: admin only, files below the import directory only, polled
// to completion with its counts and the lines it could not import; a job can be cancelled.
func TestFHIRImport(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	lines := `{"resourceType":"Patient","id":"i1","name":[{"family":"A"}]}
{"resourceType":"Patient","id":"i2","gender":"robot"}
{"resourceType":"Patient","id":"i3","name":[{"family":"C"}]}
`
	os.MkdirAll(filepath.Join(dir, "sub"), 0o700)
	os.WriteFile(filepath.Join(dir, "sub", "Patient.ndjson"), []byte(lines), 0o600)
	os.WriteFile(filepath.Join(outside, "secret.ndjson"), []byte(lines), 0o600)
	os.Symlink(filepath.Join(outside, "secret.ndjson"), filepath.Join(dir, "link.ndjson"))
	a := newAuthEnv(t, authz.VerifierConfig{}, func(c *api.Config) { c.ImportDir = dir })
	admin := a.token(t, "admin", "")

	if r := a.fhir(http.MethodPost, "/fhir/$import", a.token(t, "clinician", ""), importParams("sub")); r.Status != http.StatusForbidden {
		t.Errorf("a clinician's $import: %d %s", r.Status, r.Raw)
	}
	for _, bad := range []string{"../" + filepath.Base(outside) + "/secret.ndjson", filepath.Join(outside, "secret.ndjson"), "link.ndjson"} {
		if r := a.fhir(http.MethodPost, "/fhir/$import", admin, importParams(bad)); r.Status != http.StatusForbidden || !strings.Contains(string(r.Raw), "outside the import directory") {
			t.Errorf("$import of %s: %d %s, want 403", bad, r.Status, r.Raw)
		}
	}
	if r := a.fhir(http.MethodPost, "/fhir/$import", admin, importParams("nope.ndjson")); r.Status != http.StatusBadRequest {
		t.Errorf("$import of a missing file: %d %s", r.Status, r.Raw)
	}

	req, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/fhir/$import", strings.NewReader(string(importParams("sub"))))
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Content-Location")
	if resp.StatusCode != http.StatusAccepted || !strings.Contains(loc, "/fhir/$import-status/") {
		t.Fatalf("kick-off: %d, Content-Location %q", resp.StatusCode, loc)
	}
	var done bulkCall
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		done = a.bulk(http.MethodGet, loc, admin, false)
		if done.status != http.StatusAccepted {
			break
		}
		if done.header.Get("X-Progress") == "" {
			t.Error("a running import without X-Progress")
		}
		if time.Now().After(deadline) {
			t.Fatal("the import did not finish")
		}
	}
	var result struct {
		Written int
		Failed  int
		Output  []struct {
			Type  string
			Count int
		}
		Error []struct {
			File    string
			Line    int
			Outcome map[string]any
		}
	}
	if err := json.Unmarshal(done.body, &result); err != nil || done.status != http.StatusOK {
		t.Fatalf("status: %d %s", done.status, done.body)
	}
	if result.Written != 2 || result.Failed != 1 || len(result.Output) != 1 || result.Output[0].Count != 2 ||
		len(result.Error) != 1 || result.Error[0].Line != 2 || result.Error[0].File != filepath.Join("sub", "Patient.ndjson") || result.Error[0].Outcome["resourceType"] != "OperationOutcome" {
		t.Errorf("result %s", done.body)
	}
	for _, id := range []string{"i1", "i3"} {
		if _, err := a.store.Read(context.Background(), "Patient", id); err != nil {
			t.Errorf("Patient/%s: %v", id, err)
		}
	}
	if other := a.bulk(http.MethodGet, loc, a.token(t, "clinician", ""), false); other.status != http.StatusNotFound {
		t.Errorf("another caller's job: %d", other.status)
	}
	if c := a.bulk(http.MethodDelete, loc, admin, false); c.status != http.StatusAccepted {
		t.Errorf("DELETE: %d %s", c.status, c.body)
	}
	if c := a.bulk(http.MethodGet, loc, admin, false); c.status != http.StatusNotFound {
		t.Errorf("after DELETE: %d", c.status)
	}
}
