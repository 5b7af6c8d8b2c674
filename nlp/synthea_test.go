package nlp

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/internal/datasets"
)

// syntheaFiles reads the named NDJSON files of the project's Synthea sample.
func syntheaFiles(t testing.TB, names ...string) map[string][]json.RawMessage {
	t.Helper()
	out := map[string][]json.RawMessage{}
	for _, n := range names {
		data := datasets.ReadFile(t, datasets.Synthea, n+".000.ndjson")
		for _, line := range bytes.Split(data, []byte("\n")) {
			if len(bytes.TrimSpace(line)) > 0 {
				out[n] = append(out[n], json.RawMessage(line))
			}
		}
	}
	return out
}

type syntheaNote struct {
	patient, text string
}

func syntheaNotes(t testing.TB, files map[string][]json.RawMessage) []syntheaNote {
	var out []syntheaNote
	for _, raw := range files["DocumentReference"] {
		var d struct {
			Subject struct{ Reference string }
			Content []struct {
				Attachment struct{ ContentType, Data string }
			}
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		data, err := base64.StdEncoding.DecodeString(d.Content[0].Attachment.Data)
		if err != nil {
			t.Fatal(err)
		}
		text, err := Decode(d.Content[0].Attachment.ContentType, data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, syntheaNote{patient: d.Subject.Reference, text: text})
	}
	return out
}

// semanticTag matches SNOMED's "(disorder)", "(finding)" ... at the end of a display.
func snomedWords(display string) (map[string]bool, string) {
	tag := ""
	if i := strings.LastIndex(display, " ("); i > 0 && strings.HasSuffix(display, ")") {
		display, tag = display[:i], display[i+2:len(display)-1]
	}
	m := map[string]bool{}
	for _, w := range contentWords(words(display)) {
		m[w] = true
	}
	return m, tag
}

// sameCondition tells whether a condition found in a note names a Condition of the patient:
// their content words overlap by half or more of the larger set (Jaccard >= 0.5 would be
// stricter; Synthea writes "escherichia coli urinary tract infection", notes may say less).
func sameCondition(found []string, gold map[string]bool) bool {
	if len(found) == 0 || len(gold) == 0 {
		return false
	}
	common := 0
	for _, w := range uniq(found) {
		if gold[w] {
			common++
		}
	}
	return 2*common >= max(len(uniq(found)), len(gold))
}

// TestSyntheaNotes analyses the Synthea notes and scores what is found against the same
// patients' Conditions (SNOMED CT: matched by description words, see sameCondition) and
// MedicationRequests (RxNorm: matched by code, the top concept of each medication).
func TestSyntheaNotes(t *testing.T) {
	files := syntheaFiles(t, "DocumentReference", "Condition", "MedicationRequest")
	notes := syntheaNotes(t, files)
	if len(notes) != 1215 {
		t.Fatalf("%d notes, want 1215", len(notes))
	}
	goldConds := map[string][]map[string]bool{} // patient -> displays' words
	goldDisorders := map[string]int{}
	goldAll := map[string][]map[string]bool{} // every Condition, findings too: what precision is scored against
	for _, raw := range files["Condition"] {
		var c struct {
			Subject struct{ Reference string }
			Code    struct{ Coding []struct{ Display string } }
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		ws, tag := snomedWords(c.Code.Coding[0].Display)
		goldAll[c.Subject.Reference] = append(goldAll[c.Subject.Reference], ws)
		if tag != "disorder" {
			continue // findings (employment, stress) and situations are social facts, not diagnoses
		}
		goldConds[c.Subject.Reference] = append(goldConds[c.Subject.Reference], ws)
		goldDisorders[c.Subject.Reference]++
	}
	goldMeds := map[string]map[string]bool{}
	for _, raw := range files["MedicationRequest"] {
		var m struct {
			Subject struct{ Reference string }
			Med     struct{ Coding []struct{ Code string } } `json:"medicationCodeableConcept"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		if goldMeds[m.Subject.Reference] == nil {
			goldMeds[m.Subject.Reference] = map[string]bool{}
		}
		for _, c := range m.Med.Coding {
			goldMeds[m.Subject.Reference][c.Code] = true
		}
	}
	foundConds := map[string]map[string][]string{} // patient -> entity words key -> words
	foundMeds := map[string]map[string]bool{}
	entities := 0
	for _, n := range notes {
		r := analyze(t, n.text)
		entities += len(r.Entities)
		for _, e := range r.Entities {
			if hasTrait(e, TraitNegation) || hasTrait(e, TraitFamily) || hasTrait(e, TraitHypothetic) {
				continue
			}
			switch e.Category {
			case MedicalCondition:
				if !hasTrait(e, TraitDiagnosis) {
					continue // signs and symptoms (chief complaints) are not Conditions in Synthea
				}
				ws := contentWords(words(e.Text))
				if foundConds[n.patient] == nil {
					foundConds[n.patient] = map[string][]string{}
				}
				foundConds[n.patient][strings.Join(ws, " ")] = ws
			case Medication:
				if len(e.Concepts) > 0 {
					if foundMeds[n.patient] == nil {
						foundMeds[n.patient] = map[string]bool{}
					}
					foundMeds[n.patient][e.Concepts[0].Code] = true
				}
			}
		}
	}
	// Conditions.
	var tp, fp, fn int
	for p, found := range foundConds {
		for _, ws := range found {
			ok := false
			for _, g := range goldAll[p] {
				if sameCondition(ws, g) {
					ok = true
					break
				}
			}
			if ok {
				tp++
			} else {
				fp++
				if testing.Verbose() && fp <= 15 {
					t.Logf("not a Condition of the patient: %q", strings.Join(ws, " "))
				}
			}
		}
	}
	recalled := 0
	gold := 0
	for p, gs := range goldConds {
		seen := map[string]bool{}
		for _, g := range gs {
			k := strings.Join(sortedKeys(g), " ")
			if seen[k] {
				continue
			}
			seen[k] = true
			gold++
			for _, ws := range foundConds[p] {
				if sameCondition(ws, g) {
					recalled++
					break
				}
			}
		}
	}
	fn = gold - recalled
	cp, cr, cf := prf(tp, fp, fn)
	t.Logf("conditions (patient, distinct disorder): found %d, %d match a Condition; %d of %d disorders found: P=%.3f R=%.3f F=%.3f",
		tp+fp, tp, recalled, gold, cp, float64(recalled)/float64(gold), cf)
	_ = cr
	// Medications.
	tp, fp, fn = 0, 0, 0
	for p, found := range foundMeds {
		for c := range found {
			if goldMeds[p][c] {
				tp++
			} else {
				fp++
			}
		}
	}
	for p, g := range goldMeds {
		for c := range g {
			if !foundMeds[p][c] {
				fn++
			}
		}
	}
	mp, mr, mf := prf(tp, fp, fn)
	t.Logf("medications (patient, RxNorm code): tp=%d fp=%d fn=%d P=%.3f R=%.3f F=%.3f", tp, fp, fn, mp, mr, mf)
	t.Logf("%d notes, %d entities, offsets checked", len(notes), entities)
	if mr < 0.8 || mp < 0.8 {
		t.Errorf("RxNorm codes: P=%.3f R=%.3f, want both >= 0.8", mp, mr)
	}
	if float64(recalled)/float64(gold) < 0.6 {
		t.Errorf("disorder recall %.3f below 0.6", float64(recalled)/float64(gold))
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slicesSort(out)
	return out
}

func slicesSort(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
