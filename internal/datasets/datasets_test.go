package datasets

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestSetsHoldWhatTheirSourcesSay checks each set against the counts in its SOURCE.md: 699
// examples of 124 types, each named after its resourceType and id; 7160 Synthea resources in
// 13 files.
func TestSetsHoldWhatTheirSourcesSay(t *testing.T) {
	types := map[string]bool{}
	examples := Files(t, FHIRExamples, "*.json")
	for _, f := range examples {
		var r struct{ ResourceType, ID string }
		if err := json.Unmarshal(f.Data, &r); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		if want := r.ResourceType + "-" + r.ID + ".json"; f.Name != want {
			t.Errorf("%s holds %s", f.Name, want)
		}
		types[r.ResourceType] = true
	}
	if len(examples) != 699 || len(types) != 124 {
		t.Errorf("%d examples of %d types, want 699 of 124", len(examples), len(types))
	}

	synthea := Files(t, Synthea, "*.000.ndjson")
	lines := 0
	for _, f := range synthea {
		lines += bytes.Count(f.Data, []byte("\n"))
	}
	if len(synthea) != 13 || lines != 7160 {
		t.Errorf("%d Synthea files of %d resources, want 13 of 7160", len(synthea), lines)
	}
	if b := ReadFile(t, FHIRExamples, "Patient-example.json"); !bytes.Contains(b, []byte(`"id": "example"`)) {
		t.Errorf("Patient-example.json: %.80s", b)
	}
}

// recorder is a testing.TB that notes a fatal failure and stops the goroutine, as t.Fatal does.
type recorder struct {
	testing.TB
	failure string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatal(args ...any) {
	r.failure = fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failure = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fails runs f with a recorder and returns the failure it reported, "" for none.
func fails(f func(t testing.TB)) string {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r.failure
}

// TestNothingFoundFailsTheTest: a pattern that matches no file, a file that is not there and a
// working directory outside any module each fail the test rather than let it check nothing.
func TestNothingFoundFailsTheTest(t *testing.T) {
	if msg := fails(func(t testing.TB) { Files(t, FHIRExamples, "*.xml") }); !strings.Contains(msg, "no file of fhir-r4-examples matches") {
		t.Errorf("no match: failure %q", msg)
	}
	if msg := fails(func(t testing.TB) { ReadFile(t, Synthea, "Observation.000.ndjson") }); !strings.Contains(msg, "no file Observation.000.ndjson") {
		t.Errorf("missing file: failure %q", msg)
	}
	if msg := fails(func(t testing.TB) { Files(t, Set("no-such-set"), "*") }); !strings.Contains(msg, "no-such-set.tar.gz") {
		t.Errorf("missing set: failure %q", msg)
	}
	if _, err := moduleRoot(t.TempDir()); err == nil {
		t.Error("found a module root above a temporary directory")
	}
}

// TestModuleRootFromAnyDepth: the root is found from the module's own directory and from
// directories below it.
func TestModuleRootFromAnyDepth(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Dir(filepath.Dir(wd)) // internal/datasets
	for _, dir := range []string{want, wd, filepath.Join(wd, "a", "b")} {
		if got, err := moduleRoot(dir); err != nil || got != want {
			t.Errorf("moduleRoot(%s) = %s, %v; want %s", dir, got, err, want)
		}
	}
}
