package rewrite

import (
	"testing"

	"github.com/fhirgate/fhirgate/fhirpath"
)

// TestFHIRPathArgumentsShareTheEngineCache: fhirpath arguments are compiled once, in the
// engine's one bounded cache (fhirpath.TestCacheIsBounded tests the bound).
func TestFHIRPathArgumentsShareTheEngineCache(t *testing.T) {
	a, err := compileFHIRPath("Extension", "value = 'rewrite-cache-test'")
	if err != nil {
		t.Fatal(err)
	}
	b, err := fhirpath.CompileFor("Extension", "value = 'rewrite-cache-test'")
	if err != nil || a != b {
		t.Fatalf("the argument was not served from the engine's cache: %p %p %v", a, b, err)
	}
	if _, err := compileFHIRPath("Extension", "value = ("); err == nil {
		t.Error("an expression that does not compile was accepted")
	}
	// Typed: a path the element's type cannot have is an error, not an empty result.
	if _, err := compileFHIRPath("HumanName", "postal.exists()"); err == nil {
		t.Error("HumanName.postal was accepted")
	}
	if _, err := compileFHIRPath("HumanName", "family.exists() and period.end.exists()"); err != nil {
		t.Errorf("a valid path was refused: %v", err)
	}
}
