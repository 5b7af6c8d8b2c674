package fhirpkg_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/fhirpkg"
	"github.com/fhirgate/fhirgate/terminology"
	"github.com/fhirgate/fhirgate/validate"
)

// TestUSCoreSubset installs the US Core 5.0.1 subset of testdata/packages: its 8
// StructureDefinitions (4 profiles, 4 extensions) and 2 value sets.
func TestUSCoreSubset(t *testing.T) {
	p, err := fhirpkg.Open("../testdata/packages/hl7.fhir.us.core-5.0.1-subset.tgz")
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "hl7.fhir.us.core" || p.Version != "5.0.1" || len(p.Resources) != 10 {
		t.Fatalf("package %s#%s with %d resources, want hl7.fhir.us.core#5.0.1 with 10", p.Name, p.Version, len(p.Resources))
	}
	set := validate.NewProfileSet()
	reg := terminology.NewRegistry(terminology.Default())
	s, err := fhirpkg.Install(p, set, reg)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Profiles) != 4 || len(s.Extensions) != 4 || s.Terminology["ValueSet"] != 2 || len(s.Unsupported) != 0 || set.Len() != 8 {
		t.Errorf("installed %+v (set of %d), want 4 profiles, 4 extensions, 2 value sets", s, set.Len())
	}
	if m, _ := reg.Member("http://hl7.org/fhir/us/core/ValueSet/omb-race-category", "urn:oid:2.16.840.1.113883.6.238", "2106-3"); m != terminology.In {
		t.Errorf("omb-race-category: 2106-3 is %v, want in", m)
	}
}

// tgz builds a package archive of files.
func tgz(t *testing.T, files map[string]string) *bytes.Buffer {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	zw.Close()
	return &buf
}

// TestDifferentialOnly: a profile without a snapshot is not installed, and says why; files
// outside package/ (examples, other/) are not read.
func TestDifferentialOnly(t *testing.T) {
	p, err := fhirpkg.Read(tgz(t, map[string]string{
		"package/package.json": `{"name": "example.diff", "version": "0.1.0"}`,
		"package/StructureDefinition-diff.json": `{"resourceType": "StructureDefinition", "url": "http://example.org/diff", "type": "Patient",
			"derivation": "constraint", "differential": {"element": [{"id": "Patient.birthDate", "path": "Patient.birthDate", "min": 1}]}}`,
		"package/example/Patient-1.json": `{"resourceType": "Patient"}`,
		"package/other/x.json":           `{"resourceType": "Patient"}`,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Resources) != 1 {
		t.Fatalf("%d resources read, want 1 (package/ only)", len(p.Resources))
	}
	s, err := fhirpkg.Install(p, validate.NewProfileSet(), terminology.NewRegistry(terminology.Default()))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Unsupported) != 1 || !strings.Contains(s.Unsupported[0], "differential are not supported (no snapshot generation)") {
		t.Errorf("unsupported: %q", s.Unsupported)
	}
	_, err = validate.CompileProfile(p.Resources[0].JSON)
	if !errors.Is(err, validate.ErrNoSnapshot) {
		t.Errorf("CompileProfile: %v, want ErrNoSnapshot", err)
	}
	if _, err := fhirpkg.Read(tgz(t, map[string]string{"package/x.json": `{}`})); err == nil {
		t.Error("an archive without package/package.json was read as a package")
	}
}
