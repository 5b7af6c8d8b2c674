package validate

import (
	"bufio"
	"bytes"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/internal/datasets"
)

func mustValidator(t testing.TB) *Validator {
	t.Helper()
	v, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// knownInvalidExamples are official examples that break a rule of the specification
// itself; each says which and why. Everything else must validate with zero errors.
var knownInvalidExamples = map[string]string{
	"ActivityDefinition-blood-tubes-supply.json":        "txt-2: text.div holds only whitespace",
	"ActivityDefinition-heart-valve-replacement.json":   "txt-2: text.div holds only whitespace",
	"EventDefinition-example.json":                      "txt-2: text.div holds only whitespace",
	"Questionnaire-zika-virus-exposure-assessment.json": "txt-2: text.div holds only an empty <pre>",
	"Questionnaire-qs1.json":                            "Questionnaire.item.linkId is 1..1; 32 nested items have none",
	"DeviceMetric-example.json":                         "DeviceMetric.parent allows Device only; it refers to a DeviceDefinition",
	"DeviceUseStatement-example.json":                   "DeviceUseStatement.reasonReference does not allow Procedure",
	"MedicationRequest-medrx0301.json":                  "MedicationRequest.dispenseRequest.performer allows Organization only; it refers to a Practitioner",
	"Observation-clinical-gender.json":                  "Observation.performer does not allow Encounter",
}

// syntheaResources returns every resource of the Synthea data set, one NDJSON line each.
func syntheaResources(t testing.TB) [][]byte {
	var out [][]byte
	for _, f := range datasets.Files(t, datasets.Synthea, "*.ndjson") {
		sc := bufio.NewScanner(bytes.NewReader(f.Data))
		sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
		for sc.Scan() {
			if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
				out = append(out, append([]byte(nil), line...))
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestOfficialExamplesValidate checks that the official R4 examples raise no error: the
// validator has no false positives on the specification's own data.
func TestOfficialExamplesValidate(t *testing.T) {
	v := mustValidator(t)
	files := datasets.Files(t, datasets.FHIRExamples, "*.json")
	if len(files) != 699 {
		t.Fatalf("%d official examples, want 699", len(files))
	}
	errorsByKey := map[string]int{}
	failed, warnings := 0, 0
	for _, f := range files {
		out := v.Validate(f.Data)
		warnings += out.Count(SeverityWarning)
		if reason, known := knownInvalidExamples[f.Name]; known {
			if !out.HasErrors() {
				t.Errorf("%s is listed as invalid (%s) but validates", f.Name, reason)
			}
			continue
		}
		if out.HasErrors() {
			failed++
			for _, is := range out.Only(SeverityError).Issues {
				errorsByKey[is.Key+" "+is.Code]++
			}
			if failed <= 40 {
				t.Errorf("%s:\n%s", f.Name, out.Only(SeverityError))
			}
		}
	}
	if valid := len(files) - len(knownInvalidExamples) - failed; valid != 690 {
		t.Errorf("%d examples validate without errors, want 690", valid)
	}
	t.Logf("%d examples, %d with errors, %d listed as invalid, %d warnings; errors by key: %v", len(files), failed, len(knownInvalidExamples), warnings, errorsByKey)
}

// TestSyntheaValidates checks that every Synthea resource validates with zero errors.
func TestSyntheaValidates(t *testing.T) {
	v := mustValidator(t)
	resources := syntheaResources(t)
	if len(resources) < 1000 {
		t.Fatalf("only %d Synthea resources", len(resources))
	}
	failed, warnings := 0, 0
	byMsg := map[string]int{}
	for _, r := range resources {
		out := v.Validate(r)
		warnings += out.Count(SeverityWarning)
		if out.HasErrors() {
			failed++
			for _, is := range out.Only(SeverityError).Issues {
				byMsg[is.Expression+" "+is.Diagnostics]++
			}
		}
	}
	if failed > 0 {
		var lines []string
		for m, n := range byMsg {
			lines = append(lines, fmt.Sprintf("%5d %s", n, m))
		}
		sort.Strings(lines)
		if len(lines) > 60 {
			lines = lines[:60]
		}
		t.Errorf("%d of %d Synthea resources have errors:\n%s", failed, len(resources), strings.Join(lines, "\n"))
	}
	t.Logf("%d Synthea resources, %d with errors, %d warnings", len(resources), failed, warnings)
}
