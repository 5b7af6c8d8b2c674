package validate

import (
	"bufio"
	"bytes"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/audit"
	"github.com/fhirgate/fhirgate/demo"
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

// TestDemoValidates checks that the demo population (go run . --demo) passes strict
// validation, so the demo still loads.
func TestDemoValidates(t *testing.T) {
	v := mustValidator(t)
	raws := demo.Generate(demo.DefaultOptions())
	if len(raws) < 100 {
		t.Fatalf("only %d demo resources", len(raws))
	}
	failed := 0
	for _, r := range raws {
		if out := v.Validate(r); out.HasErrors() {
			failed++
			if failed <= 10 {
				t.Errorf("%.120s:\n%s", r, out.Only(SeverityError))
			}
		}
	}
	t.Logf("%d demo resources, %d with errors", len(raws), failed)
}

// TestAuditEventsValidate checks that the AuditEvents the server records of every shape of
// request pass strict validation: the audit trail is written through the same commit.
func TestAuditEventsValidate(t *testing.T) {
	v := mustValidator(t)
	events := []audit.Event{
		{Time: time.Now(), Action: audit.Execute, Interaction: "graphql", Outcome: audit.Success, Query: "{ PatientList { id } }"},
		{Time: time.Now(), Subject: "u1", Roles: []string{"clinician"}, Client: "app", Patient: "p1", Address: "10.0.0.1",
			Action: audit.Create, Interaction: "create", Outcome: audit.MinorFailure, OutcomeDesc: "refused", Entities: []string{"Patient/p1", "Observation/o1"}},
		{Time: time.Now(), Subject: "u2", Action: audit.Read, Interaction: "read", Outcome: audit.SeriousFail, OutcomeDesc: "internal", Entities: []string{"Patient/p2"}},
		{Time: time.Now(), Subject: "u3", Action: audit.Delete, Interaction: "delete", Outcome: audit.Success, Entities: []string{"Patient/p3"}},
	}
	for i, e := range events {
		res, _, err := e.Resource()
		if err != nil {
			t.Fatal(err)
		}
		data, err := res.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if out := v.Validate(data); out.HasErrors() {
			t.Errorf("event %d:\n%s", i, out.Only(SeverityError))
		}
	}
}
