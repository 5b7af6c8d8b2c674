package rewrite

import (
	"testing"

	"github.com/fhirgate/fhirgate/fhirpath"
)

// TestFHIRPathArgumentsShareTheEngineCache: fhirpath arguments are compiled once, in the
// engine's one bounded cache (fhirpath.TestCacheIsBounded tests the bound).
func TestFHIRPathArgumentsShareTheEngineCache(t *testing.T) {
	a, err := compileFHIRPath("value = 'rewrite-cache-test'")
	if err != nil {
		t.Fatal(err)
	}
	b, err := fhirpath.Cached("value = 'rewrite-cache-test'")
	if err != nil || a != b {
		t.Fatalf("the argument was not served from the engine's cache: %p %p %v", a, b, err)
	}
	if _, err := compileFHIRPath("value = ("); err == nil {
		t.Error("an expression that does not compile was accepted")
	}
}
