package validate

import (
	"testing"
)

// BenchmarkValidateSynthea validates the Synthea resources one after another, as the
// import path would, and reports resources per second on one core (run with -cpu 1).
func BenchmarkValidateSynthea(b *testing.B) {
	v := mustValidator(b)
	resources := syntheaResources(b)
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		for _, r := range resources {
			if out := v.Validate(r); out.HasErrors() && i == 0 {
				b.Logf("%s", out.Only(SeverityError))
			}
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "resources/s")
}
