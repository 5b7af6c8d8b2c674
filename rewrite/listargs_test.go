package rewrite

import (
	"fmt"
	"testing"
)

// TestFHIRPathCacheIsBounded: expressions sent by clients fill the cache up to its bound and
// no further; the most recently used stay.
func TestFHIRPathCacheIsBounded(t *testing.T) {
	fhirpathCache.Purge()
	const sent = 3 * fhirpathCacheSize
	for i := range sent {
		if _, err := compileFHIRPath(fmt.Sprintf("value = %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := fhirpathCache.Len(); n != fhirpathCacheSize {
		t.Errorf("%d distinct expressions left %d compiled in the cache, want the bound %d", sent, n, fhirpathCacheSize)
	}
	if !fhirpathCache.Contains(fmt.Sprintf("value = %d", sent-1)) || fhirpathCache.Contains("value = 0") {
		t.Error("the cache does not keep the most recent expressions")
	}
	if _, err := compileFHIRPath("value = ("); err == nil || fhirpathCache.Contains("value = (") {
		t.Errorf("an expression that does not compile: error %v, cached %v", err, fhirpathCache.Contains("value = ("))
	}
}
