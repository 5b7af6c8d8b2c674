package enrich

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/nlp"
)

func testDoc(t *testing.T) *model.DocumentReference {
	t.Helper()
	doc, err := model.UnmarshalAs[*model.DocumentReference]([]byte(`{"resourceType":"DocumentReference","id":"d1","status":"current","subject":{"reference":"Patient/p1"},
		"extension":[{"url":"http://example.org/keep","valueString":"kept"},{"url":"` + ExtEntity + `","valueString":"stale"}],
		"content":[{"attachment":{"contentType":"text/plain","data":"eA=="}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestGenerator: what each kind of finding generates, from findings written by hand.
func TestGenerator(t *testing.T) {
	findings := []Finding{
		{Entity: nlp.Entity{ID: 0, Text: "Smith", Category: nlp.PHI, Type: "NAME", Score: 0.9, BeginOffset: 0, EndOffset: 5}},
		{Entity: nlp.Entity{ID: 1, Text: "hypertension", Category: nlp.MedicalCondition, Type: "DX_NAME", Score: 0.9, Concepts: []nlp.Concept{{Code: "I10", Description: "Essential (primary) hypertension", Score: 0.9}}}},
		{Entity: nlp.Entity{ID: 2, Text: "hypertension", Category: nlp.MedicalCondition, Type: "DX_NAME", Score: 0.9, Concepts: []nlp.Concept{{Code: "I10", Score: 0.9}}}},
		{Entity: nlp.Entity{ID: 3, Text: "chest pain", Category: nlp.MedicalCondition, Score: 0.9, Traits: []nlp.Trait{{Name: nlp.TraitNegation, Score: 0.9}}, Concepts: []nlp.Concept{{Code: "R07.9", Score: 0.9}}}},
		{Entity: nlp.Entity{ID: 4, Text: "breast cancer", Category: nlp.MedicalCondition, Score: 0.9, Traits: []nlp.Trait{{Name: nlp.TraitFamily, Score: 0.9}}, Concepts: []nlp.Concept{{Code: "C50.919", Score: 0.9}}}},
		{Entity: nlp.Entity{ID: 5, Text: "asthma", Category: nlp.MedicalCondition, Score: 0.2, Concepts: []nlp.Concept{{Code: "J45.909", Score: 0.2}}}},
		{Entity: nlp.Entity{ID: 6, Text: "Grandma's tonic", Category: nlp.Medication, Type: "GENERIC_NAME", Score: 0.8, Attributes: []nlp.Attribute{
			{Type: "FREQUENCY", Text: "daily", BeginOffset: 30, EndOffset: 35}, {Type: "DOSAGE", Text: "1 spoon", BeginOffset: 20, EndOffset: 27}}}},
		{Attachment: 1, Entity: nlp.Entity{ID: 0, Text: "Temperature", Category: nlp.TestTreatmentProcedure, Type: "TEST_NAME", Score: 0.9, Attributes: []nlp.Attribute{{Type: "TEST_VALUE", Text: "38.5"}, {Type: "TEST_UNIT", Text: "C"}}}},
		{Attachment: 1, Entity: nlp.Entity{ID: 1, Text: "CT scan", Category: nlp.TestTreatmentProcedure, Type: "TEST_NAME", Score: 0.9}},
	}
	doc := testDoc(t)
	g := &generator{doc: doc, prev: &previousOutput{byKey: map[string]model.LiteralRef{}}, minScore: DefaultMinScore}
	gen := g.resources(findings)
	var kinds []string
	for _, r := range gen {
		b, _ := json.Marshal(r.res)
		kinds = append(kinds, r.typ+" "+string(b))
	}
	// One Condition for the two mentions of I10; none for the negated, family and
	// low-scoring ones; the medication without a code has code.text only; one Observation.
	if len(gen) != 3 || gen[0].typ != "Condition" || gen[1].typ != "MedicationStatement" || gen[2].typ != "Observation" {
		t.Fatalf("generated %d: %v", len(gen), kinds)
	}
	if g.links[1] != g.links[2] || g.links[1] != "Condition/"+gen[0].id || g.links[3] != "" || g.links[4] != "" || g.links[5] != "" {
		t.Errorf("links %v", g.links)
	}
	med := gen[1].res["medicationCodeableConcept"].(map[string]any)
	if _, coded := med["coding"]; coded || med["text"] != "Grandma's tonic" {
		t.Errorf("uncoded medication: %v", med)
	}
	if dose := gen[1].res["dosage"].([]any)[0].(map[string]any)["text"]; dose != "1 spoon daily" {
		t.Errorf("dosage %q", dose)
	}
	if q := gen[2].res["valueQuantity"].(map[string]any); q["value"] != json.Number("38.5") || q["unit"] != "C" {
		t.Errorf("Observation value %v", q)
	}
	for _, r := range gen {
		w := r.write() // parses as the model type: a malformed resource would panic here
		if res, ok := w.Resource.(model.Resource); !ok || res.TypeName() != r.typ {
			t.Errorf("%s parsed as %T", r.typ, w.Resource)
		}
	}

	setExtensions(doc, findings, g.links, "prov1")
	b, _ := json.Marshal(doc.Extension)
	ext := string(b)
	if strings.Count(ext, ExtEntity) != len(findings) || strings.Count(ext, ExtAnalysis) != 1 || !strings.Contains(ext, `"valueString":"kept"`) || strings.Contains(ext, "stale") {
		t.Errorf("extensions: %s", ext)
	}
	// No text of the note is copied: the PHI name, the entity and attribute words.
	for _, text := range []string{"Smith", "Grandma", "spoon", "chest pain"} {
		if strings.Contains(ext, text) {
			t.Errorf("extensions copy %q from the note", text)
		}
	}
	if !strings.Contains(ext, `"valueReference":{"reference":"Condition/`+gen[0].id+`"}`) || !strings.Contains(ext, `"system":"`+ICD10CM+`","code":"I10"`) {
		t.Errorf("extensions lack the link or the code: %s", ext)
	}
}

// TestGeneratorSubject: a document about no Patient or Group generates no resources.
func TestGeneratorSubject(t *testing.T) {
	doc := testDoc(t)
	ref := "Practitioner/x"
	doc.Subject.Reference = &ref
	g := &generator{doc: doc, prev: &previousOutput{byKey: map[string]model.LiteralRef{}}, minScore: DefaultMinScore}
	f := Finding{Entity: nlp.Entity{Text: "hypertension", Category: nlp.MedicalCondition, Score: 0.9, Concepts: []nlp.Concept{{Code: "I10", Score: 0.9}}}}
	if gen := g.resources([]Finding{f}); len(gen) != 0 {
		t.Errorf("generated %d for a Practitioner subject", len(gen))
	}
}
