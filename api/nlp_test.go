package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/enrich"
	"github.com/fhirgate/fhirgate/nlp"
	"github.com/fhirgate/fhirgate/resolvers"
	"github.com/fhirgate/fhirgate/storage"
)

// entityJSON is an NLPEntity as the tests select it.
type entityJSON struct {
	ID          int
	Text        string
	Category    string
	Type        string
	Score       float64
	BeginOffset int
	EndOffset   int
	Attachment  *int
	Traits      []struct{ Name string }
	Attributes  []struct {
		Type, Text             string
		BeginOffset, EndOffset int
	}
	Concepts []struct{ Code, System string }
}

const entityFields = `id text category type score beginOffset endOffset attachment traits { name score } attributes { type text score relationshipType beginOffset endOffset } concepts { code description score system }`

func (e entityJSON) hasTrait(name string) bool {
	for _, t := range e.Traits {
		if t.Name == name {
			return true
		}
	}
	return false
}

// find returns the first entity of category whose text is text (case-insensitive).
func find(ents []entityJSON, category, text string) *entityJSON {
	for i := range ents {
		if ents[i].Category == category && strings.EqualFold(ents[i].Text, text) {
			return &ents[i]
		}
	}
	return nil
}

// checkOffsets fails unless every entity's and attribute's offsets, in code points of
// text, give back its text.
func checkOffsets(t *testing.T, text string, ents []entityJSON) {
	t.Helper()
	runes := []rune(text)
	span := func(b, e int) string {
		if b < 0 || e > len(runes) || b > e {
			return fmt.Sprintf("<bad span %d:%d>", b, e)
		}
		return string(runes[b:e])
	}
	for _, en := range ents {
		if got := span(en.BeginOffset, en.EndOffset); got != en.Text {
			t.Errorf("entity %q: text[%d:%d] = %q", en.Text, en.BeginOffset, en.EndOffset, got)
		}
		for _, a := range en.Attributes {
			if got := span(a.BeginOffset, a.EndOffset); got != a.Text {
				t.Errorf("attribute %q of %q: text[%d:%d] = %q", a.Text, en.Text, a.BeginOffset, a.EndOffset, got)
			}
		}
	}
}

// analyzeText runs analyzeText as token and returns the entities.
func analyzeText(t *testing.T, a *authEnv, token, text string) []entityJSON {
	t.Helper()
	r := a.postAsVars(token, "", `query($t: String!) { analyzeText(text: $t) { version entities { `+entityFields+` } } }`, map[string]any{"t": text})
	var out struct {
		Version  string
		Entities []entityJSON
	}
	if err := json.Unmarshal(r.mustData(t, "analyzeText"), &out); err != nil {
		t.Fatal(err)
	}
	if out.Version != nlp.Version {
		t.Errorf("version %q, want %q", out.Version, nlp.Version)
	}
	return out.Entities
}

// TestAnalyzeText: entities of sentences with their codes, values, offsets (in code points,
// multi-byte characters included) and negation.
func TestAnalyzeText(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{})
	tok := a.token(t, "clinician", "")
	text := "Café visit — patient has type 2 diabetes mellitus.\r\nDenies chest pain. Taking metformin 500 mg by mouth twice daily. Hemoglobin A1c 7.2 %."
	ents := analyzeText(t, a, tok, text)
	checkOffsets(t, text, ents)

	dm := find(ents, "MEDICAL_CONDITION", "type 2 diabetes mellitus")
	if dm == nil || len(dm.Concepts) == 0 || dm.Concepts[0].Code != "E11.9" || dm.Concepts[0].System != enrich.ICD10CM || dm.hasTrait(nlp.TraitNegation) {
		t.Errorf("diabetes: %+v", dm)
	}
	pain := find(ents, "MEDICAL_CONDITION", "chest pain")
	if pain == nil || !pain.hasTrait(nlp.TraitNegation) {
		t.Errorf("chest pain, want NEGATION: %+v", pain)
	}
	met := find(ents, "MEDICATION", "metformin")
	if met == nil || len(met.Concepts) == 0 || met.Concepts[0].System != enrich.RxNorm {
		t.Fatalf("metformin: %+v", met)
	}
	attrs := map[string]string{}
	for _, at := range met.Attributes {
		attrs[at.Type] = at.Text
	}
	if attrs["DOSAGE"]+attrs["STRENGTH"] == "" || attrs["FREQUENCY"] != "twice daily" {
		t.Errorf("metformin attributes: %v", attrs)
	}
	a1c := find(ents, "TEST_TREATMENT_PROCEDURE", "Hemoglobin A1c")
	value := ""
	if a1c != nil {
		for _, at := range a1c.Attributes {
			if at.Type == "TEST_VALUE" {
				value = at.Text
			}
		}
	}
	if value != "7.2" {
		t.Errorf("Hemoglobin A1c value %q, want 7.2: %+v", value, a1c)
	}
	// Nothing is written.
	for _, typ := range []string{"Condition", "MedicationStatement", "Observation", "Provenance", "DocumentReference"} {
		if n, err := a.store.Count(context.Background(), typ, storage.Query{}); err != nil || n != 0 {
			t.Errorf("%s: %d stored (%v), want none", typ, n, err)
		}
	}
}

// TestAnalyzeTextAliases: 40 short sentences in one request pass the limits; a text over the
// note size limit is refused, and so is a request that would have the server analyse more
// than its cost allows, however few bytes it sends.
func TestAnalyzeTextAliases(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{})
	tok := a.token(t, "clinician", "")
	var q strings.Builder
	q.WriteString("{")
	for i := range 40 {
		fmt.Fprintf(&q, " s%d: analyzeText(text: %q) { entities { text category beginOffset endOffset traits { name } concepts { code } } }", i, fmt.Sprintf("Patient %d denies chest pain but has hypertension.", i))
	}
	q.WriteString(" }")
	r := a.postAs(tok, "", q.String())
	if r.Status != http.StatusOK || len(r.Errors) > 0 || len(r.Data) != 40 {
		t.Fatalf("40 aliases: status %d, %d results, errors %+v", r.Status, len(r.Data), r.Errors)
	}
	for i := range 40 {
		var res struct{ Entities []entityJSON }
		json.Unmarshal(r.Data[fmt.Sprintf("s%d", i)], &res)
		if p := find(res.Entities, "MEDICAL_CONDITION", "chest pain"); p == nil || !p.hasTrait(nlp.TraitNegation) {
			t.Fatalf("alias %d: %+v", i, res.Entities)
		}
		if h := find(res.Entities, "MEDICAL_CONDITION", "hypertension"); h == nil || h.hasTrait(nlp.TraitNegation) {
			t.Fatalf("alias %d: hypertension %+v", i, h)
		}
	}

	// A text over the limit (100,000 characters by default; here multi-byte).
	long := strings.Repeat("é", enrich.DefaultMaxChars+1)
	r = a.postAsVars(tok, "", `query($t: String!) { analyzeText(text: $t) { version } }`, map[string]any{"t": long})
	if got := codes(r); len(got) != 1 || got[0] != "BAD_USER_INPUT" || outcomeIssue(t, r.Errors[0]) != "invalid" {
		t.Errorf("text over the limit: %v %+v", got, r.Errors)
	}
	// One text of 60,000 bytes in a variable, analysed by 20 aliases: 1.2 MB of analysis
	// from a 60 KB request is over the cost limit, refused before anything runs.
	var big strings.Builder
	big.WriteString("query($t: String!) {")
	for i := range 20 {
		fmt.Fprintf(&big, " a%d: analyzeText(text: $t) { version }", i)
	}
	big.WriteString(" }")
	r = a.postAsVars(tok, "", big.String(), map[string]any{"t": strings.Repeat("no chest pain. ", 4000)})
	if got := codes(r); len(got) != 1 || got[0] != "QUERY_TOO_COMPLEX" {
		t.Errorf("20 aliases of 60 KB: status %d, codes %v", r.Status, got)
	}
}

// note is a DocumentReference for patient with the given attachments (JSON objects).
func note(id, patient string, attachments ...string) string {
	var content []string
	for _, at := range attachments {
		content = append(content, `{"attachment":`+at+`}`)
	}
	return fmt.Sprintf(`{"resourceType":"DocumentReference","id":%q,"status":"current","subject":{"reference":"Patient/%s"},"date":"2024-03-01T10:00:00Z","context":{"encounter":[{"reference":"Encounter/enc-%s"}]},"content":[%s]}`,
		id, patient, patient, strings.Join(content, ","))
}

func textAttachment(contentType, text string) string {
	return fmt.Sprintf(`{"contentType":%q,"data":%q}`, contentType, base64.StdEncoding.EncodeToString([]byte(text)))
}

const noteText = `Assessment: Type 2 diabetes mellitus, poorly controlled. Hemoglobin A1c 8.1 %.
Denies chest pain. Family history: mother had breast cancer.
Plan: continue metformin 1000 mg by mouth twice daily and start lisinopril 10 mg daily for hypertension.`

const analyzeMutation = `mutation($id: ID!, $o: NLPOptions) { DocumentReferenceAnalyze(id: $id, options: $o) {
	version written deleted provenance entities { ` + entityFields + ` }
	document { id meta { versionId } extension { url } } } }`

type analysisJSON struct {
	Version    string
	Written    []string
	Deleted    []string
	Provenance string
	Entities   []entityJSON
	Document   struct {
		ID        string
		Meta      struct{ VersionID string }
		Extension []struct{ URL string }
	}
}

func analyze(t *testing.T, a *authEnv, token, id string, opts map[string]any) (*analysisJSON, *gqlResponse) {
	t.Helper()
	r := a.postAsVars(token, "", analyzeMutation, map[string]any{"id": id, "o": opts})
	var out analysisJSON
	if raw := r.Data["DocumentReferenceAnalyze"]; len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatal(err)
		}
	}
	return &out, r
}

// seedPatient writes a Patient and its Encounter.
func seedPatient(a *authEnv, id string) {
	a.put(fmt.Sprintf(`{"resourceType":"Patient","id":%q}`, id),
		fmt.Sprintf(`{"resourceType":"Encounter","id":"enc-%s","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"subject":{"reference":"Patient/%s"}}`, id, id))
}

// listIDs runs XList(args) as token and returns the ids.
func listIDs(t *testing.T, a *authEnv, token, typ, args string) []string {
	t.Helper()
	if args != "" {
		args = "(" + args + ")"
	}
	r := a.postAs(token, "", fmt.Sprintf(`{ %sList%s { id } }`, typ, args))
	var out []struct{ ID string }
	json.Unmarshal(r.mustData(t, typ+"List"), &out)
	ids := make([]string, len(out))
	for i, o := range out {
		ids[i] = o.ID
	}
	return ids
}

func countType(t *testing.T, s *storage.Store, typ string) int64 {
	t.Helper()
	n, err := s.Count(context.Background(), typ, storage.Query{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDocumentReferenceAnalyze: the mutation end to end: entities of both attachments (one
// base64, one a Binary), the enrichment written and searchable, the Provenance, and re-runs
// that replace the previous enrichment, including another pipeline version's.
func TestDocumentReferenceAnalyze(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{})
	tok := a.token(t, "clinician", "")
	seedPatient(a, "p1")
	second := "Blood pressure 150/95. No shortness of breath."
	a.put(fmt.Sprintf(`{"resourceType":"Binary","id":"b1","contentType":"text/plain","data":%q}`, base64.StdEncoding.EncodeToString([]byte(second))))
	a.put(note("doc1", "p1", textAttachment("text/plain; charset=utf-8", noteText), `{"contentType":"text/plain","url":"Binary/b1"}`))

	out, r := analyze(t, a, tok, "doc1", nil)
	if len(r.Errors) > 0 {
		t.Fatalf("errors: %+v", r.Errors)
	}
	var first, fromBinary []entityJSON
	for _, e := range out.Entities {
		if e.Attachment != nil && *e.Attachment == 1 {
			fromBinary = append(fromBinary, e)
		} else {
			first = append(first, e)
		}
	}
	checkOffsets(t, noteText, first)
	checkOffsets(t, second, fromBinary)
	if len(first) == 0 || len(fromBinary) == 0 {
		t.Fatalf("entities: %d from the data, %d from the Binary", len(first), len(fromBinary))
	}
	if p := find(first, "MEDICAL_CONDITION", "chest pain"); p == nil || !p.hasTrait(nlp.TraitNegation) {
		t.Errorf("chest pain: %+v", p)
	}
	if out.Version != nlp.Version || out.Written[0] != "DocumentReference/doc1" || !strings.HasPrefix(out.Provenance, "Provenance/") || out.Written[len(out.Written)-1] != out.Provenance {
		t.Errorf("analysis: %+v", out)
	}
	written := map[string]int{}
	for _, w := range out.Written {
		written[strings.Split(w, "/")[0]]++
	}
	t.Logf("entities %d, written %v", len(out.Entities), written)
	for _, typ := range []string{"Condition", "MedicationStatement", "Observation"} {
		if written[typ] == 0 {
			t.Errorf("no %s written: %v", typ, out.Written)
		}
		if got := countType(t, a.store, typ); got != int64(written[typ]) {
			t.Errorf("%s: %d stored, %d written", typ, got, written[typ])
		}
	}

	// Generated resources are ordinary: searchable by code, tag and link to the document.
	dm := listIDs(t, a, tok, "Condition", `code: "http://hl7.org/fhir/sid/icd-10-cm|E11.9", subject: "Patient/p1"`)
	if len(dm) != 1 {
		t.Errorf("ConditionList(code: E11.9): %v", dm)
	}
	if got := listIDs(t, a, tok, "Condition", `_tag: "`+enrich.TagSystem+`|`+enrich.TagGenerated+`"`); len(got) != written["Condition"] {
		t.Errorf("tagged Conditions: %d, want %d", len(got), written["Condition"])
	}
	// Negated findings and the mother's cancer generate nothing.
	r = a.postAs(tok, "", `{ ConditionList(subject: "Patient/p1") { code { text coding { code } } evidence { detail { reference } } verificationStatus { coding { code } } } }`)
	conds := string(r.mustData(t, "ConditionList"))
	for _, not := range []string{"chest pain", "breast cancer", "shortness of breath"} {
		if strings.Contains(strings.ToLower(conds), not) {
			t.Errorf("a Condition asserts %q: %s", not, conds)
		}
	}
	if !strings.Contains(conds, `"reference":"DocumentReference/doc1"`) || !strings.Contains(conds, `"unconfirmed"`) {
		t.Errorf("Conditions lack evidence or status: %s", conds)
	}
	r = a.postAs(tok, "", `{ MedicationStatementList(subject: "Patient/p1") { status medicationCodeableConcept { text coding { system code } } dosage { text } derivedFrom { reference } } }`)
	meds := string(r.mustData(t, "MedicationStatementList"))
	if !strings.Contains(meds, enrich.RxNorm) || !strings.Contains(strings.ToLower(meds), "metformin") || !strings.Contains(meds, "twice daily") {
		t.Errorf("MedicationStatements: %s", meds)
	}
	r = a.postAs(tok, "", `{ ObservationList(subject: "Patient/p1") { status code { text } valueQuantity { value unit } valueString derivedFrom { reference } } }`)
	obs := string(r.mustData(t, "ObservationList"))
	if !strings.Contains(obs, `"value":8.1`) || !strings.Contains(obs, `"valueString":"150/95"`) || !strings.Contains(obs, `"reference":"DocumentReference/doc1"`) {
		t.Errorf("Observations: %s", obs)
	}
	r = a.postAs(tok, "", `{ ProvenanceList(target: "DocumentReference/doc1") { id target { reference } agent { who { display } } entity { role what { reference } } } }`)
	var provs []struct {
		ID     string
		Target []struct{ Reference string }
		Agent  []struct{ Who struct{ Display string } }
	}
	json.Unmarshal(r.mustData(t, "ProvenanceList"), &provs)
	if len(provs) != 1 || "Provenance/"+provs[0].ID != out.Provenance || !strings.Contains(provs[0].Agent[0].Who.Display, nlp.Version) || len(provs[0].Target) != len(out.Written) {
		t.Errorf("Provenance: %+v", provs)
	}
	exts := 0
	for _, x := range out.Document.Extension {
		if x.URL == enrich.ExtEntity {
			exts++
		}
	}
	if exts != len(out.Entities) {
		t.Errorf("%d entity extensions for %d entities", exts, len(out.Entities))
	}

	// A re-run replaces: the same resources (ids kept), no more of anything.
	counts := func() map[string]int64 {
		m := map[string]int64{}
		for _, typ := range []string{"Condition", "MedicationStatement", "Observation", "Provenance"} {
			m[typ] = countType(t, a.store, typ)
		}
		return m
	}
	before := counts()
	again, r := analyze(t, a, tok, "doc1", nil)
	if len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	if strings.Join(again.Written[1:], ",") != strings.Join(out.Written[1:], ",") || len(again.Deleted) != 0 {
		t.Errorf("re-run wrote %v deleted %v, first run %v", again.Written, again.Deleted, out.Written)
	}
	if after := counts(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("re-run: counts %v, before %v", after, before)
	}
	exts = 0
	for _, x := range again.Document.Extension {
		if x.URL == enrich.ExtEntity || x.URL == enrich.ExtAnalysis {
			exts++
		}
	}
	if exts != len(again.Entities)+1 {
		t.Errorf("re-run: %d enrichment extensions, want %d", exts, len(again.Entities)+1)
	}

	// Output of another pipeline version, with a finding this one does not make, is replaced.
	a.put(`{"resourceType":"Condition","id":"old-version","meta":{"tag":[{"system":"` + enrich.TagSystem + `","code":"generated"},{"system":"` + enrich.DocumentTagSystem + `","code":"doc1"},{"system":"` + enrich.VersionTagSystem + `","code":"fhirgate-nlp/0.0.1"}]},"identifier":[{"system":"` + enrich.FindingSystem + `","value":"DocumentReference/doc1#condition|I10.X"}],"code":{"text":"old"},"subject":{"reference":"Patient/p1"}}`)
	third, r := analyze(t, a, tok, "doc1", nil)
	if len(r.Errors) > 0 || len(third.Deleted) != 1 || third.Deleted[0] != "Condition/old-version" {
		t.Errorf("old version's output: deleted %v, errors %+v", third.Deleted, r.Errors)
	}
	if after := counts(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("after replacing the old version: counts %v, want %v", after, before)
	}

	// dryRun writes nothing.
	v := third.Document.Meta.VersionID
	dry, r := analyze(t, a, tok, "doc1", map[string]any{"dryRun": true})
	if len(r.Errors) > 0 || len(dry.Written) != len(third.Written) {
		t.Errorf("dryRun: %+v %+v", dry.Written, r.Errors)
	}
	rec, _ := a.store.Read(context.Background(), "DocumentReference", "doc1")
	if fmt.Sprint(rec.VersionID) != v {
		t.Errorf("dryRun wrote the document: version %d, was %s", rec.VersionID, v)
	}
}

// TestDocumentReferenceAnalyzeAuthorisation: the analyze action governs both fields; a
// clinician bound to a patient analyses that patient's notes only, and the enrichment
// lands in that patient's compartment.
func TestDocumentReferenceAnalyzeAuthorisation(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{})
	seedPatient(a, "p1")
	seedPatient(a, "p2")
	a.put(note("doc1", "p1", textAttachment("text/plain", noteText)), note("doc2", "p2", textAttachment("text/plain", noteText)))

	// Every default role without analyze on DocumentReference is refused both fields.
	refused := 0
	for _, role := range []string{authz.RoleAnalyst, authz.RolePartner, authz.RolePatient} {
		if a.policy.Allows(role, "DocumentReference", authz.ActAnalyze) {
			t.Fatalf("role %s may analyze: the test needs a role that may not", role)
		}
		tok := a.token(t, role, "p1")
		_, r := analyze(t, a, tok, "doc1", nil)
		if got := codes(r); len(got) != 1 || got[0] != "FORBIDDEN" {
			t.Errorf("%s: DocumentReferenceAnalyze codes %v", role, got)
		}
		r = a.postAs(tok, "", `{ analyzeText(text: "chest pain") { version } }`)
		if got := codes(r); len(got) != 1 || got[0] != "FORBIDDEN" {
			t.Errorf("%s: analyzeText codes %v", role, got)
		}
		refused++
	}
	// Introspection (GraphiQL) documents the fields to those who may use them only.
	intro := `{ q: __type(name: "Query") { fields { name description } } m: __type(name: "Mutation") { fields { name description } } }`
	for role, want := range map[string]bool{authz.RoleClinician: true, authz.RoleAnalyst: false} {
		r := a.postAs(a.token(t, role, ""), "", intro)
		got := string(r.mustData(t, "q")) + string(r.mustData(t, "m"))
		if has(got, `"name":"analyzeText"`) != want || has(got, `"name":"DocumentReferenceAnalyze"`) != want || (want && !has(got, "writes nothing")) {
			t.Errorf("%s: introspection shows the NLP fields: %v, want %v", role, has(got, "analyzeText"), want)
		}
	}
	if n := countType(t, a.store, "Condition"); n != 0 || refused != 3 {
		t.Fatalf("refused roles wrote %d Conditions (%d roles checked)", n, refused)
	}

	// A clinician bound to p1: p1's note, not p2's (which answers as if absent).
	bound := a.token(t, "clinician", "p1")
	out, r := analyze(t, a, bound, "doc1", nil)
	if len(r.Errors) > 0 || len(out.Written) < 3 {
		t.Fatalf("bound clinician, own patient: %+v %+v", out.Written, r.Errors)
	}
	again, r := analyze(t, a, bound, "doc1", nil) // a re-run updates what the first wrote
	if len(r.Errors) > 0 || strings.Join(again.Written, ",") != strings.Join(out.Written, ",") {
		t.Fatalf("bound clinician, re-run: %+v %+v", again.Written, r.Errors)
	}
	_, r = analyze(t, a, bound, "doc2", nil)
	if got := codes(r); len(got) != 1 || got[0] != "NOT_FOUND" {
		t.Errorf("bound clinician, other patient: codes %v", got)
	}
	if ids := listIDs(t, a, a.token(t, "admin", ""), "Condition", `subject: "Patient/p2"`); len(ids) != 0 {
		t.Errorf("p2 has Conditions: %v", ids)
	}
	// The enrichment is in p1's compartment: p1's own token reads it, p2's does not.
	if ids := listIDs(t, a, a.token(t, "patient", "p1"), "Condition", `code: "http://hl7.org/fhir/sid/icd-10-cm|E11.9"`); len(ids) != 1 {
		t.Errorf("p1 reads its Conditions: %v", ids)
	}
	if ids := listIDs(t, a, a.token(t, "patient", "p1"), "Provenance", ``); len(ids) != 1 {
		t.Errorf("p1 reads the Provenance: %v", ids)
	}
	if ids := listIDs(t, a, a.token(t, "patient", "p2"), "Condition", ``); len(ids) != 0 {
		t.Errorf("p2 reads p1's Conditions: %v", ids)
	}
	// SMART scopes: analyse needs read, create and update of DocumentReference.
	r = a.postAs(a.token(t, "clinician", "", "user/DocumentReference.rs"), "", `{ analyzeText(text: "chest pain") { version } }`)
	if got := codes(r); len(got) != 1 || got[0] != "FORBIDDEN" {
		t.Errorf("read-only scope: codes %v", got)
	}
}

// TestDocumentReferenceAnalyzeBadInput: what cannot be analysed is a clear error with an
// OperationOutcome, and nothing is written.
func TestDocumentReferenceAnalyzeBadInput(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{}, func(c *api.Config) { c.NLP.MaxChars = 200 })
	tok := a.token(t, "clinician", "")
	seedPatient(a, "p1")
	a.put(`{"resourceType":"Binary","id":"empty","contentType":"text/plain"}`)
	cases := []struct {
		name, doc, code string
	}{
		{"no content", `{"resourceType":"DocumentReference","id":"x","status":"current","subject":{"reference":"Patient/p1"},"content":[{"attachment":{"title":"nothing"}}]}`, "BAD_USER_INPUT"},
		{"empty data", note("x", "p1", textAttachment("text/plain", "   ")), "BAD_USER_INPUT"},
		{"non-text", note("x", "p1", textAttachment("application/pdf", "%PDF-1.4 chest pain")), "BAD_USER_INPUT"},
		{"binary data", note("x", "p1", `{"contentType":"text/plain","data":"AAECAwQFBgc="}`), "BAD_USER_INPUT"},
		{"not UTF-8", note("x", "p1", `{"contentType":"text/plain; charset=utf-8","data":"`+base64.StdEncoding.EncodeToString([]byte("chest pain \xff\xfe"))+`"}`), "BAD_USER_INPUT"},
		{"missing Binary", note("x", "p1", `{"contentType":"text/plain","url":"Binary/nope"}`), "BAD_USER_INPUT"},
		{"Binary without data", note("x", "p1", `{"contentType":"text/plain","url":"Binary/empty"}`), "BAD_USER_INPUT"},
		{"url not a Binary", note("x", "p1", `{"contentType":"text/plain","url":"https://example.org/note.txt"}`), "BAD_USER_INPUT"},
		{"over the limit", note("x", "p1", textAttachment("text/plain", strings.Repeat("Denies chest pain. ", 20))), "BAD_USER_INPUT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a.put(c.doc)
			before, _ := a.store.Read(context.Background(), "DocumentReference", "x")
			_, r := analyze(t, a, tok, "x", nil)
			if got := codes(r); len(got) != 1 || got[0] != c.code {
				t.Fatalf("codes %v, want %s: %+v", got, c.code, r.Errors)
			}
			if issue := outcomeIssue(t, r.Errors[0]); issue != "invalid" {
				t.Errorf("issue %q", issue)
			}
			t.Logf("%s: %s", c.name, r.Errors[0].Message)
			after, _ := a.store.Read(context.Background(), "DocumentReference", "x")
			if after.VersionID != before.VersionID {
				t.Errorf("document rewritten: version %d -> %d", before.VersionID, after.VersionID)
			}
		})
	}
	_, r := analyze(t, a, tok, "no-such-doc", nil)
	if got := codes(r); len(got) != 1 || got[0] != "NOT_FOUND" || outcomeIssue(t, r.Errors[0]) != "not-found" {
		t.Errorf("missing document: %v %+v", got, r.Errors)
	}
	for _, typ := range []string{"Condition", "MedicationStatement", "Observation", "Provenance"} {
		if n := countType(t, a.store, typ); n != 0 {
			t.Errorf("%s: %d written by refused analyses", typ, n)
		}
	}
}

// failingStore refuses the enrichment's commit as a crash at the commit point would: the
// storage engine receives it with its last write (the Provenance) made to fail, so the
// commit is refused by storage itself after the others were planned.
type failingStore struct {
	resolvers.Store
	fail atomic.Bool
}

func (s *failingStore) Commit(ctx context.Context, writes []storage.Write) ([]*storage.Record, error) {
	if s.fail.Load() && len(writes) > 1 {
		w := writes[len(writes)-1]
		w.Op, w.ID = storage.OpCreate, "taken" // a Provenance of this id exists: ErrExists
		writes = append(writes[:len(writes)-1:len(writes)-1], w)
	}
	return s.Store.Commit(ctx, writes)
}

// TestDocumentReferenceAnalyzeAtomic: a commit that fails after the analysis writes nothing
// of the enrichment, and the next run succeeds from the same state.
func TestDocumentReferenceAnalyzeAtomic(t *testing.T) {
	var fs *failingStore
	a := newAuthEnv(t, authz.VerifierConfig{}, func(c *api.Config) {
		fs = &failingStore{Store: c.Store}
		c.Store = fs
	})
	tok := a.token(t, "clinician", "")
	seedPatient(a, "p1")
	a.put(note("doc1", "p1", textAttachment("text/plain", noteText)),
		`{"resourceType":"Provenance","id":"taken","recorded":"2024-01-01T00:00:00Z","target":[{"reference":"Patient/p1"}],"agent":[{"who":{"display":"x"}}]}`)
	fs.fail.Store(true)
	_, r := analyze(t, a, tok, "doc1", nil)
	if len(r.Errors) != 1 {
		t.Fatalf("failed commit: errors %+v", r.Errors)
	}
	rec, _ := a.store.Read(context.Background(), "DocumentReference", "doc1")
	if rec.VersionID != 1 || strings.Contains(string(rec.JSON), enrich.ExtEntity) {
		t.Errorf("document changed by a failed commit: version %d", rec.VersionID)
	}
	for _, typ := range []string{"Condition", "MedicationStatement", "Observation"} {
		if n := countType(t, a.store, typ); n != 0 {
			t.Errorf("%s: %d written by a failed commit", typ, n)
		}
	}
	if n := countType(t, a.store, "Provenance"); n != 1 {
		t.Errorf("Provenance: %d, want only the fixture's", n)
	}
	fs.fail.Store(false)
	out, r := analyze(t, a, tok, "doc1", nil)
	if len(r.Errors) > 0 || len(out.Written) < 3 {
		t.Errorf("after the failure: %+v %+v", out.Written, r.Errors)
	}
}

// TestNLPAuto: with --nlp-auto a DocumentReference created or updated carries its enrichment in the same commit; without it nothing is analysed.
func TestNLPAuto(t *testing.T) {
	for _, auto := range []bool{false, true} {
		t.Run(fmt.Sprint("auto=", auto), func(t *testing.T) {
			a := newAuthEnv(t, authz.VerifierConfig{}, func(c *api.Config) { c.NLP.Auto = auto })
			tok := a.token(t, "clinician", "")
			seedPatient(a, "p1")
			r := a.postAsVars(tok, "", `mutation($r: DocumentReferenceInput!) { DocumentReferenceCreate(res: $r) { id extension { url } } }`,
				map[string]any{"r": json.RawMessage(note("ignored", "p1", textAttachment("text/plain", noteText)))})
			var created struct {
				ID        string
				Extension []struct{ URL string }
			}
			json.Unmarshal(r.mustData(t, "DocumentReferenceCreate"), &created)
			conds := listIDs(t, a, tok, "Condition", `code: "http://hl7.org/fhir/sid/icd-10-cm|E11.9"`)
			provs := countType(t, a.store, "Provenance")
			if !auto {
				if len(conds) != 0 || provs != 0 || len(created.Extension) != 0 {
					t.Errorf("without --nlp-auto: %d Conditions, %d Provenances, %d extensions", len(conds), provs, len(created.Extension))
				}
				return
			}
			if len(conds) != 1 || provs != 1 || len(created.Extension) == 0 {
				t.Fatalf("created: %d Conditions, %d Provenances, %d extensions", len(conds), provs, len(created.Extension))
			}
			// An update through /fhir re-analyses and replaces.
			total := countType(t, a.store, "Condition") + countType(t, a.store, "MedicationStatement") + countType(t, a.store, "Observation")
			doc := note(created.ID, "p1", textAttachment("text/plain", "Denies chest pain. Has hypertension."))
			r = a.postAsVars(tok, "", `mutation($id: ID!, $r: DocumentReferenceInput!) { DocumentReferenceUpdate(id: $id, res: $r) { id } }`,
				map[string]any{"id": created.ID, "r": json.RawMessage(doc)})
			r.mustData(t, "DocumentReferenceUpdate")
			after := countType(t, a.store, "Condition") + countType(t, a.store, "MedicationStatement") + countType(t, a.store, "Observation")
			if got := listIDs(t, a, tok, "Condition", `code: "http://hl7.org/fhir/sid/icd-10-cm|E11.9"`); len(got) != 0 || after >= total || countType(t, a.store, "Provenance") != 1 {
				t.Errorf("after the update: E11.9 %v, %d generated (was %d)", got, after, total)
			}
			if got := listIDs(t, a, tok, "Condition", `code: "http://hl7.org/fhir/sid/icd-10-cm|I10"`); len(got) != 1 {
				t.Errorf("after the update: I10 %v", got)
			}
			// A writer who may not analyse stores the note as sent.
			r = a.postAsVars(a.token(t, "clinician", "", "user/DocumentReference.c", "user/DocumentReference.r"), "", `mutation($r: DocumentReferenceInput!) { DocumentReferenceCreate(res: $r) { id extension { url } } }`,
				map[string]any{"r": json.RawMessage(note("ignored", "p1", textAttachment("text/plain", noteText)))})
			json.Unmarshal(r.mustData(t, "DocumentReferenceCreate"), &created)
			if len(created.Extension) != 0 {
				t.Errorf("a writer without analyze got enrichment")
			}
		})
	}
}

// BenchmarkDocumentReferenceAnalyze measures the mutation end to end over HTTP: read,
// analysis of a 5 KB note, and the commit replacing the previous enrichment.
func BenchmarkDocumentReferenceAnalyze(b *testing.B) {
	a := newAuthEnv(b, authz.VerifierConfig{})
	tok := a.token(b, "clinician", "")
	var text strings.Builder
	for text.Len() < 5000 {
		text.WriteString(noteText + "\n")
	}
	a.put(`{"resourceType":"Patient","id":"p1"}`, note("doc1", "p1", textAttachment("text/plain", text.String())))
	body := map[string]any{"id": "doc1"}
	b.ResetTimer()
	for b.Loop() {
		r := a.postAsVars(tok, "", `mutation($id: ID!) { DocumentReferenceAnalyze(id: $id) { written } }`, body)
		if len(r.Errors) > 0 {
			b.Fatal(r.Errors)
		}
	}
}

// BenchmarkAnalyzeText40Aliases measures one request of 40 aliased analyzeText fields on
// short sentences, over HTTP.
func BenchmarkAnalyzeText40Aliases(b *testing.B) {
	a := newAuthEnv(b, authz.VerifierConfig{})
	tok := a.token(b, "clinician", "")
	var q strings.Builder
	q.WriteString("{")
	for i := range 40 {
		fmt.Fprintf(&q, " s%d: analyzeText(text: %q) { entities { text category beginOffset endOffset traits { name } concepts { code } } }", i, fmt.Sprintf("Patient %d denies chest pain but has hypertension and takes lisinopril 10 mg daily.", i))
	}
	q.WriteString(" }")
	for b.Loop() {
		if r := a.postAs(tok, "", q.String()); len(r.Errors) > 0 || len(r.Data) != 40 {
			b.Fatal(r.Errors)
		}
	}
}
