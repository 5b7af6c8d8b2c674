package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// fhirkitDir holds the pinned FHIR client library (npm fhir-kit-client) and its script.
var fhirkitDir = filepath.Join("..", "bench", "fhirkit")

// TestRESTFHIRKitClient: a real FHIR client library (fhir-kit-client, pinned in
// bench/fhirkit) drives the REST API over HTTP: capability statement, CRUD, vread, patch,
// search with paging, POST search, history at every level, conditional create, update and
// delete, and errors; the test checks what the client got back. Without Node.js or the
// package it skips on a bare clone, and fails where FHIRGATE_REQUIRE_FHIRKIT=1 says they were
// installed (`npm ci --prefix bench/fhirkit --ignore-scripts --no-audit --no-fund`).
func TestRESTFHIRKitClient(t *testing.T) {
	missing := t.Skip
	if os.Getenv("FHIRGATE_REQUIRE_FHIRKIT") == "1" {
		missing = t.Fatal
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("fhir-kit-client interoperability: node is not on PATH")
	}
	if _, err := os.Stat(filepath.Join(fhirkitDir, "node_modules", "fhir-kit-client", "package.json")); err != nil {
		missing("fhir-kit-client interoperability: run `npm ci --prefix bench/fhirkit --ignore-scripts --no-audit --no-fund`")
	}
	e := newEnv(t)
	script, _ := filepath.Abs(filepath.Join(fhirkitDir, "interop.mjs"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script, e.srv.URL+"/fhir")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var got map[string]any
	if jerr := json.Unmarshal(out, &got); err != nil || jerr != nil {
		t.Fatalf("interop.mjs: %v %v\nstdout: %s\nstderr: %s", err, jerr, truncate(string(out), 2000), truncate(stderr.String(), 2000))
	}
	id := fmt.Sprint(got["create"].(map[string]any)["id"])
	want := map[string]string{
		"capabilities":      `{"fhirVersion":"4.0.1","patientInteractions":["create","delete","history-instance","history-type","patch","read","search-type","update","vread"],"types":147}`,
		"create":            `{"id":"` + id + `","version":"1"}`,
		"read":              `{"family":"Kit","gender":"female"}`,
		"update":            `{"gender":"male","version":"2"}`,
		"vread":             `{"gender":"female","version":"1"}`,
		"patch":             `{"gender":"unknown","version":"3"}`,
		"searchPages":       `{"distinct":5,"ids":5,"pages":3,"total":5}`,
		"postSearch":        `{"family":"Kit","total":1}`,
		"history":           `{"instance":["3","2","1"],"kind":"history","system":7,"type":7}`,
		"conditionalCreate": `{"family":"Kit","matches":1}`,
		"conditionalUpdate": `{"family":"Updated","matches":1,"version":"2"}`,
		"conditionalDelete": `{"matches":0}`,
		"delete":            `"ok"`,
		"readDeleted":       `{"error":410}`,
		"readMissing":       `{"error":404}`,
		"invalid":           `{"error":422}`,
	}
	for step, w := range want {
		b, _ := json.Marshal(got[step])
		if string(b) != w {
			t.Errorf("%s: the client got %s, want %s", step, b, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("the script ran %d steps, the test checks %d", len(got), len(want))
	}
	t.Logf("%d fhir-kit-client steps checked", len(want))
}
