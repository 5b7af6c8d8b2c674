package validate

import (
	"testing"

	"github.com/fhirgate/fhirgate/internal/datasets"
)

// FuzzValidate checks that no input makes the validator panic, and that what it reports is
// well formed: every issue has a severity, a code and diagnostics.
func FuzzValidate(f *testing.F) {
	for _, name := range []string{"Patient-example.json", "Observation-example.json", "Questionnaire-qs1.json", "Bundle-bundle-example.json"} {
		f.Add(datasets.ReadFile(f, datasets.FHIRExamples, name))
	}
	f.Add([]byte(`{"resourceType":"Patient","_birthDate":{"extension":[{"url":"x","valueString":"y"}]},"name":[null,{"given":[null],"_given":[{"id":"a"}]}]}`))
	f.Add([]byte(`{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Bundle","entry":[{"resource":{}}]}}]}`))
	v := mustValidator(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, is := range v.Validate(data).Issues {
			if is.Severity == "" || is.Code == "" || is.Diagnostics == "" {
				t.Fatalf("malformed issue %+v", is)
			}
		}
	})
}
