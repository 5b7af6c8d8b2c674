package nlp

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/fhirgate/fhirgate/fault"
)

// checkOffsets asserts that every entity and attribute maps back exactly onto text.
func checkOffsets(t testing.TB, text string, r *Result) {
	t.Helper()
	runes := []rune(text)
	in := func(b, e int) string {
		if b < 0 || e > len(runes) || b >= e {
			return fmt.Sprintf("<bad offsets %d:%d of %d>", b, e, len(runes))
		}
		return string(runes[b:e])
	}
	for _, e := range r.Entities {
		if got := in(e.BeginOffset, e.EndOffset); got != e.Text {
			t.Fatalf("entity %d %q: text[%d:%d] = %q", e.ID, e.Text, e.BeginOffset, e.EndOffset, got)
		}
		for _, a := range e.Attributes {
			if got := in(a.BeginOffset, a.EndOffset); got != a.Text {
				t.Fatalf("attribute %s %q of %q: text[%d:%d] = %q", a.Type, a.Text, e.Text, a.BeginOffset, a.EndOffset, got)
			}
		}
	}
}

func analyze(t testing.TB, text string) *Result {
	t.Helper()
	r, err := Analyze(text)
	if err != nil {
		t.Fatalf("Analyze(%q): %v", text, err)
	}
	checkOffsets(t, text, r)
	return r
}

// find returns the entity with the text, or fails.
func find(t testing.TB, r *Result, text string) Entity {
	t.Helper()
	for _, e := range r.Entities {
		if e.Text == text {
			return e
		}
	}
	var got []string
	for _, e := range r.Entities {
		got = append(got, e.Text+"/"+e.Type)
	}
	t.Fatalf("no entity %q in %v", text, got)
	return Entity{}
}

func traitNames(e Entity) []string {
	var out []string
	for _, t := range e.Traits {
		out = append(out, t.Name)
	}
	return out
}

func hasTrait(e Entity, name string) bool { return slices.Contains(traitNames(e), name) }

func TestOffsetsMultiByteAndCRLF(t *testing.T) {
	cases := []string{
		"Patiënt 92 year-old, Zoë Dvořák’s mother had breast cancer.\r\nDenies chest pain; on metformin 500 mg PO BID.\r\n",
		"😀😀 Hypertension 🩺 and type 2 diabetes. Café au lait spots. HbA1c 7.2 % — stable.",
		"ＤＭ２ and 高血压 then Diabetes mellitus, type 2\r\n\r\nPLAN:\r\nAspirin 81 mg daily\r\n",
		"Family History:\r\nFather: MI at 50. Mother — stroke.\r\n\r\nMedications:\r\n- lisinopril 10 mg oral tablet\r\n",
	}
	total := 0
	for _, text := range cases {
		r := analyze(t, text)
		if len(r.Entities) == 0 {
			t.Errorf("%q: no entities", text)
		}
		total += len(r.Entities)
	}
	r := analyze(t, cases[0])
	cancer := find(t, r, "breast cancer")
	if want := utf8.RuneCountInString(cases[0][:strings.Index(cases[0], "breast cancer")]); cancer.BeginOffset != want {
		t.Errorf("breast cancer begins at %d, want code point %d", cancer.BeginOffset, want)
	}
	if !hasTrait(cancer, TraitFamily) {
		t.Errorf("breast cancer traits %v, want %s", traitNames(cancer), TraitFamily)
	}
	if !hasTrait(find(t, r, "chest pain"), TraitNegation) {
		t.Errorf("chest pain after CRLF not negated")
	}
	t.Logf("%d entities checked against the text", total)
}

func TestSections(t *testing.T) {
	text := "# Chief Complaint\n- Cough\n\nPAST MEDICAL HISTORY: asthma.\n\n## Family History\nDiabetes.\n\nAssessment and Plan:\nPneumonia."
	d := newDocument(text)
	var got []string
	for _, s := range d.sections {
		got = append(got, s.category+"="+text[s.headBegin:s.headEnd])
	}
	want := []string{"chief_complaint=Chief Complaint", "past_medical_history=PAST MEDICAL HISTORY:",
		"family_history=Family History", "observation_and_plan=Assessment and Plan:"}
	if !slices.Equal(got, want) {
		t.Fatalf("sections %q, want %q", got, want)
	}
	r := analyze(t, text)
	for text, want := range map[string][]string{
		"Cough":     {TraitSymptom},
		"asthma":    {TraitDiagnosis, TraitHistory},
		"Diabetes":  {TraitDiagnosis, TraitFamily},
		"Pneumonia": {TraitDiagnosis},
	} {
		if got := traitNames(find(t, r, text)); !slices.Equal(got, want) {
			t.Errorf("%s: traits %v, want %v", text, got, want)
		}
	}
}

func TestSentencesAndTokens(t *testing.T) {
	text := "Dr. Smith saw pt. on 3/4. BP 120/80 mmHg.\nNo fever\n  but cough persists? Yes! Take 2.5 mg; then stop"
	d := newDocument(text)
	var got []string
	for _, s := range d.sentences {
		got = append(got, text[s.begin:s.end])
	}
	want := []string{"Dr. Smith saw pt. on 3/4.", "BP 120/80 mmHg.", "No fever\n  but cough persists?", "Yes!", "Take 2.5 mg;", "then stop"}
	if !slices.Equal(got, want) {
		t.Fatalf("sentences %q, want %q", got, want)
	}
	toks := tokenize("Crohn's x-ray KIDNEYS 7.2 Zoë’s", 0, len("Crohn's x-ray KIDNEYS 7.2 Zoë’s"))
	var norms []string
	for _, tk := range toks {
		norms = append(norms, tk.norm)
	}
	if want := []string{"crohn", "x", "ray", "kidney", "7.2", "zoë"}; !slices.Equal(norms, want) {
		t.Errorf("tokens %q, want %q", norms, want)
	}
	if !toks[3].upper || toks[0].upper {
		t.Errorf("upper flags wrong: %+v", toks)
	}
}

func TestDictionaryMatching(t *testing.T) {
	cases := []struct{ text, entity, typ, code string }{
		{"Hx of HTN.", "HTN", "DX_NAME", "I10"},
		{"Known DM2.", "DM2", "DX_NAME", "E11.9"},
		{"COPD exacerbation.", "COPD", "DX_NAME", "J44.9"},
		{"He has CHF.", "CHF", "DX_NAME", "I50.9"},
		{"Complains of SOB.", "SOB", "DX_NAME", "R06.02"},
		{"Old MI.", "MI", "DX_NAME", "I21.9"},
		{"Diabetes mellitus, type 2.", "Diabetes mellitus, type 2", "DX_NAME", "E11.9"},
		{"Type 2 Diabetes Mellitus.", "Type 2 Diabetes Mellitus", "DX_NAME", "E11.9"},
		{"Recurrent urinary tract infections.", "urinary tract infections", "DX_NAME", "N39.0"},
		{"Acute bronchitis.", "Acute bronchitis", "DX_NAME", "J20.9"},
		{"Essential hypertension.", "Essential hypertension", "DX_NAME", "I10"},
		{"A fracture of the femur.", "", "", ""},
		{"Chest X-ray was clear.", "Chest X-ray", "TEST_NAME", ""},
		{"Chest x ray was clear.", "Chest x ray", "TEST_NAME", ""},
		{"Pain in both knees.", "knees", "SYSTEM_ORGAN_SITE", ""},
		{"Started lisinopril.", "lisinopril", "GENERIC_NAME", "314076"},
		{"Takes Tylenol.", "Tylenol", "BRAND_NAME", ""},
		{"Alzheimer's disease.", "Alzheimer's disease", "DX_NAME", "G30.9"},
		{"Femur fracture.", "Femur fracture", "DX_NAME", ""},
	}
	for _, c := range cases {
		r := analyze(t, c.text)
		if c.entity == "" {
			continue
		}
		e := find(t, r, c.entity)
		if e.Type != c.typ {
			t.Errorf("%q: %q is %s, want %s", c.text, c.entity, e.Type, c.typ)
		}
		if c.code != "" && (len(e.Concepts) == 0 || e.Concepts[0].Code != c.code) {
			t.Errorf("%q: concepts %v, want %s first", c.text, e.Concepts, c.code)
		}
		if len(e.Concepts) > maxConcepts {
			t.Errorf("%q: %d concepts", c.text, len(e.Concepts))
		}
	}
	// Lower-case "mi" and "pe" are words, not abbreviations.
	r := analyze(t, "walked 2 mi with pe teacher")
	for _, e := range r.Entities {
		if e.Category == MedicalCondition {
			t.Errorf("lower-case abbreviation matched: %+v", e)
		}
	}
}

func TestCuratedCodesExist(t *testing.T) {
	l := lexicons()
	n := 0
	for _, e := range l.terms.entries {
		if e.code == "" {
			continue
		}
		n++
		id, ok := l.icd.byCode[e.code]
		if !ok {
			t.Errorf("curated code %s (%v) is not in ICD-10-CM FY2019", e.code, e.key)
		} else if !l.icd.codes[id].billable {
			t.Errorf("curated code %s is not billable", e.code)
		}
	}
	if n < 100 {
		t.Fatalf("only %d curated phrases with codes checked", n)
	}
	t.Logf("%d curated phrases' codes checked", n)
}

func TestConceptsRanked(t *testing.T) {
	r := analyze(t, "Viral sinusitis and hypertension.")
	for _, e := range r.Entities {
		if len(e.Concepts) == 0 {
			t.Errorf("%q: no concepts", e.Text)
		}
		for i := 1; i < len(e.Concepts); i++ {
			if e.Concepts[i].Score > e.Concepts[i-1].Score {
				t.Errorf("%q: concepts not ranked: %v", e.Text, e.Concepts)
			}
		}
		for _, c := range e.Concepts {
			if len(c.Code) > 3 && c.Code[3] != '.' {
				t.Errorf("%q: code %s without its dot", e.Text, c.Code)
			}
		}
	}
	if c := find(t, r, "Viral sinusitis").Concepts; !strings.HasPrefix(c[0].Code, "J01") && !strings.HasPrefix(c[0].Code, "J32") {
		t.Errorf("viral sinusitis concepts %v", c)
	}
}

func TestMedicationAttributes(t *testing.T) {
	note := "Medications:\n" +
		"- Metformin 500 mg PO BID for 90 days.\n" +
		"- 1 ml epoetin alfa 4000 unt/ml injection [epogen]\n" +
		"- Albuterol 2 puffs inhaled every 4 hours as needed.\n" +
		"- Heparin drip at 18 units/hr IV.\n" +
		"Continue lisinopril 10 mg oral tablet once daily and aspirin 81 mg daily."
	r := analyze(t, note)
	want := map[string][]string{
		"Metformin":    {"STRENGTH=500 mg", "ROUTE_OR_MODE=PO", "FREQUENCY=BID", "DURATION=for 90 days"},
		"epoetin alfa": {"DOSAGE=1 ml", "STRENGTH=4000 unt/ml", "FORM=injection"},
		"Albuterol":    {"DOSAGE=2 puffs", "ROUTE_OR_MODE=inhaled", "FREQUENCY=every 4 hours", "FREQUENCY=as needed"},
		"Heparin":      {"RATE=18 units/hr", "ROUTE_OR_MODE=IV"},
		"lisinopril":   {"STRENGTH=10 mg", "ROUTE_OR_MODE=oral", "FORM=tablet", "FREQUENCY=once daily"},
		"aspirin":      {"STRENGTH=81 mg", "FREQUENCY=daily"},
	}
	n := 0
	for drug, attrs := range want {
		e := find(t, r, drug)
		var got []string
		for _, a := range e.Attributes {
			got = append(got, a.Type+"="+a.Text)
			if a.RelationshipType == "" {
				t.Errorf("%s: attribute %s has no relationship", drug, a.Type)
			}
		}
		if !slices.Equal(got, attrs) {
			t.Errorf("%s: attributes %q, want %q", drug, got, attrs)
		}
		n += len(attrs)
	}
	// RxNorm codes: the strength written picks the clinical drug.
	if c := find(t, r, "lisinopril").Concepts; len(c) == 0 || c[0].Code != "314076" {
		t.Errorf("lisinopril 10 mg concepts %v, want 314076 first", c)
	}
	if c := find(t, r, "epoetin alfa").Concepts; len(c) == 0 || c[0].Code != "205923" {
		t.Errorf("epoetin concepts %v, want 205923", c)
	}
	t.Logf("%d attributes checked", n)
}

func TestTestValues(t *testing.T) {
	r := analyze(t, "HbA1c 7.2%. Blood pressure was 142/91 mmHg. Creatinine of 1.3 mg/dL. Urinalysis negative. Glucose: 180.")
	want := map[string][]string{
		"HbA1c":          {"TEST_VALUE=7.2", "TEST_UNIT=%"},
		"Blood pressure": {"TEST_VALUE=142/91", "TEST_UNIT=mmHg"},
		"Creatinine":     {"TEST_VALUE=1.3", "TEST_UNIT=mg/dL"},
		"Urinalysis":     {"TEST_VALUE=negative"},
		"Glucose":        {"TEST_VALUE=180"},
	}
	for test, attrs := range want {
		var got []string
		for _, a := range find(t, r, test).Attributes {
			got = append(got, a.Type+"="+a.Text)
		}
		if !slices.Equal(got, attrs) {
			t.Errorf("%s: %q, want %q", test, got, attrs)
		}
	}
}

func TestPHI(t *testing.T) {
	text := "Seen by Dr. Maria Lopez on 03/14/2021 and January 5, 2020. MRN: A123456. Call (555) 123-4567 or " +
		"jo@example.org. Lives at 12 Oak Street, Boston, MA 02118. A 94 year-old woman; her husband is 85 years old. Sumiko254 Larue605 is here."
	r := analyze(t, text)
	want := map[string]string{"Maria Lopez": "NAME", "03/14/2021": "DATE", "January 5, 2020": "DATE", "A123456": "ID",
		"(555) 123-4567": "PHONE_OR_FAX", "jo@example.org": "EMAIL", "12 Oak Street, Boston, MA 02118": "ADDRESS",
		"94": "AGE", "Sumiko254 Larue605": "NAME"}
	for text, typ := range want {
		if e := find(t, r, text); e.Category != PHI || e.Type != typ {
			t.Errorf("%q: %s/%s, want PHI %s", text, e.Category, e.Type, typ)
		}
	}
	for _, e := range r.Entities {
		if e.Text == "85" {
			t.Errorf("age 85 marked as PHI")
		}
	}
}

func TestChunkingLosesNothing(t *testing.T) {
	// One long sentence with no full stop: cut into many overlapping chunks.
	var b strings.Builder
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&b, "patient has hypertension and chronic obstructive pulmonary disease with metformin 500 mg ")
	}
	text := b.String()
	whole, err := Options{MaxChars: 100_000, ChunkChars: 1 << 30}.Analyze(text)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{500, 997, 2048} {
		r, err := Options{MaxChars: 100_000, ChunkChars: size}.Analyze(text)
		if err != nil {
			t.Fatal(err)
		}
		checkOffsets(t, text, r)
		if len(r.Entities) != len(whole.Entities) || len(whole.Entities) != 900 {
			t.Fatalf("chunk %d: %d entities, unchunked %d, want 900", size, len(r.Entities), len(whole.Entities))
		}
		for i := range r.Entities {
			a, w := r.Entities[i], whole.Entities[i]
			if a.BeginOffset != w.BeginOffset || a.EndOffset != w.EndOffset || a.Type != w.Type || len(a.Attributes) != len(w.Attributes) {
				t.Fatalf("chunk %d: entity %d = %q@%d, unchunked %q@%d", size, i, a.Text, a.BeginOffset, w.Text, w.BeginOffset)
			}
		}
	}
}

func TestLimits(t *testing.T) {
	long := strings.Repeat("cough ", 20_001) // 120,006 characters
	if _, err := Analyze(long); !errors.Is(err, ErrTooLong) || !errors.Is(err, fault.Invalid) {
		t.Fatalf("over the limit: %v, want ErrTooLong of kind Invalid", err)
	}
	r, err := Analyze(long[:99_996])
	if err != nil {
		t.Fatalf("under the limit: %v", err)
	}
	if len(r.Entities) != 16_666 {
		t.Errorf("%d coughs, want 16666", len(r.Entities))
	}
	if _, err := (Options{MaxChars: 10}).Analyze("chest pain, cough"); !errors.Is(err, ErrTooLong) {
		t.Errorf("configured limit not applied: %v", err)
	}
	if _, err := Analyze("bad \xff utf8"); !errors.Is(err, fault.Invalid) {
		t.Errorf("invalid UTF-8: %v", err)
	}
	if r, err := Analyze(""); err != nil || len(r.Entities) != 0 {
		t.Errorf("empty text: %v, %v", r, err)
	}
}

func TestDecode(t *testing.T) {
	ok := []struct {
		ct   string
		data []byte
		want string
	}{
		{"text/plain", []byte("chest pain"), "chest pain"},
		{"text/plain; charset=utf-8", []byte("\xef\xbb\xbfZoë"), "Zoë"},
		{"text/plain; charset=ISO-8859-1", []byte("Zo\xeb"), "Zoë"},
		{"text/plain; charset=windows-1252", []byte("\x93fever\x94"), "“fever”"},
		{"text/plain; charset=utf-16le", []byte{0xFF, 0xFE, 'h', 0, 'i', 0}, "hi"},
		{"text/markdown", []byte("# Plan\n- aspirin"), "# Plan\n- aspirin"},
		{"text/html; charset=utf-8", []byte("<html><head><title>x</title></head><body><h1>Plan</h1><p>No chest&nbsp;pain &amp; no fever</p><script>var a=1</script><ul><li>aspirin</li></ul></body></html>"),
			"Plan\n\nNo chest pain & no fever\n\naspirin"},
		{"", []byte("cough"), "cough"},
	}
	for _, c := range ok {
		got, err := Decode(c.ct, c.data)
		if err != nil || got != c.want {
			t.Errorf("Decode(%q, %q) = %q, %v; want %q", c.ct, c.data, got, err, c.want)
		}
	}
	bad := []struct {
		ct   string
		data []byte
	}{
		{"text/plain", nil},
		{"text/plain", []byte("  \n ")},
		{"text/plain", []byte("bad \xff\xfe utf8")},
		{"application/pdf", []byte("%PDF-1.4")},
		{"image/png", []byte("\x89PNG")},
		{"text/plain; charset=klingon", []byte("qapla")},
		{"text/html", []byte("<p> </p>")},
		{"not a type", []byte("x")},
	}
	for _, c := range bad {
		if _, err := Decode(c.ct, c.data); !errors.Is(err, fault.Invalid) {
			t.Errorf("Decode(%q, %q) = %v, want an error of kind Invalid", c.ct, c.data, err)
		}
	}
}

func TestDeterministic(t *testing.T) {
	text := "Denies chest pain. HTN, DM2 on metformin 500 mg BID. Mother had breast cancer."
	a, b := analyze(t, text), analyze(t, text)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("two runs differ:\n%v\n%v", a, b)
	}
}
