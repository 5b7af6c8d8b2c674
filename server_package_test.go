package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestPackageFlag runs the server with --package and the US Core subset: the log says what
// was loaded, and $validate checks against the package's profiles.
func TestPackageFlag(t *testing.T) {
	const pkg = "testdata/packages/hl7.fhir.us.core-5.0.1-subset.tgz"
	env := map[string]string{"FHIRGATE_PACKAGES": pkg + ", other.tgz"}
	cfg, err := parseConfig([]string{"fhirgate"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil || strings.Join(cfg.packages, "|") != pkg+"|other.tgz" {
		t.Fatalf("FHIRGATE_PACKAGES: %q, %v", cfg.packages, err)
	}
	var stderr syncBuffer
	base, _ := startServerLogging(t, &stderr, "--auth=off", "--package", pkg)
	var logged map[string]any
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(line, `"FHIR package loaded"`) {
			json.Unmarshal([]byte(line), &logged)
		}
	}
	if logged["package"] != "hl7.fhir.us.core#5.0.1" || logged["profiles"] != 4.0 || logged["extensions"] != 4.0 || logged["valueSets"] != 2.0 || logged["notLoaded"] != 0.0 {
		t.Errorf("package log line: %v\n%s", logged, stderr.String())
	}
	body := `{"resourceType": "Patient", "gender": "female", "name": [{"family": "Shaw"}]}`
	resp, err := http.Post(base+"/fhir/Patient/$validate?profile=http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient", "application/fhir+json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"Patient.identifier: minimum required = 1, but only found 0`) {
		t.Errorf("$validate: status %d: %s", resp.StatusCode, b)
	}

	// A package that cannot be read stops the server before it serves.
	cfg, _ = parseConfig([]string{"fhirgate", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--auth=off", "--package", "testdata/packages/SOURCE.md"}, func(string) string { return "" }, io.Discard)
	if err := serve(context.Background(), cfg, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--package") {
		t.Errorf("unreadable package: %v", err)
	}
}
