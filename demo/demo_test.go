package demo

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// defaultOutput caches Generate(DefaultOptions()), which most tests read.
var defaultOutput = sync.OnceValue(func() []json.RawMessage { return Generate(DefaultOptions()) })

// resource is a decoded resource with the fields the tests navigate.
type resource struct {
	raw  json.RawMessage
	m    map[string]any
	typ  string
	id   string
	ref  string // Type/id
	text string // decoded note text, DocumentReference only
}

func decode(t testing.TB, out []json.RawMessage) []*resource {
	t.Helper()
	list := make([]*resource, 0, len(out))
	for i, raw := range out {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("resource %d is not valid JSON: %v\n%s", i, err, raw)
		}
		r := &resource{raw: raw, m: m}
		r.typ, _ = m["resourceType"].(string)
		r.id, _ = m["id"].(string)
		r.ref = r.typ + "/" + r.id
		if r.typ == "DocumentReference" {
			data := str(get(m, "content", 0, "attachment", "data"))
			b, err := base64.StdEncoding.DecodeString(data)
			if err != nil {
				t.Fatalf("%s: note is not base64: %v", r.ref, err)
			}
			r.text = string(b)
		}
		list = append(list, r)
	}
	return list
}

// get walks a decoded JSON value by object keys and array indexes.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func countByType(rs []*resource) map[string]int {
	c := map[string]int{}
	for _, r := range rs {
		c[r.typ]++
	}
	return c
}

func concat(out []json.RawMessage) []byte {
	var b []byte
	for _, r := range out {
		b = append(b, r...)
		b = append(b, '\n')
	}
	return b
}

func TestGenerateIsDeterministic(t *testing.T) {
	opts := Options{Patients: 20, Seed: 42, EncountersPerPatient: 3}
	a, b := Generate(opts), Generate(opts)
	if len(a) != len(b) {
		t.Fatalf("two runs returned %d and %d resources", len(a), len(b))
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("resource %d differs between runs:\n%s\n%s", i, a[i], b[i])
		}
	}

	// Patients are generated concurrently; the result must not depend on it.
	prev := runtime.GOMAXPROCS(1)
	serial := Generate(opts)
	runtime.GOMAXPROCS(prev)
	if !bytes.Equal(concat(a), concat(serial)) {
		t.Error("output with GOMAXPROCS=1 differs from the concurrent run")
	}

	opts.Seed = 43
	c := Generate(opts)
	if bytes.Equal(concat(a), concat(c)) {
		t.Error("seeds 42 and 43 produced identical output")
	}
}

func TestGenerateSmallPopulationIsPrefixOfLarger(t *testing.T) {
	small := Generate(Options{Patients: 5, Seed: 7})
	large := Generate(Options{Patients: 12, Seed: 7})
	for i := range small {
		if !bytes.Equal(small[i], large[i]) {
			t.Fatalf("resource %d differs:\n%s\n%s", i, small[i], large[i])
		}
	}
}

func TestZeroOptionsTakeDefaults(t *testing.T) {
	got := Generate(Options{Seed: 1})
	want := defaultOutput()
	if !bytes.Equal(concat(got), concat(want)) {
		t.Error("Options{Seed: 1} differs from DefaultOptions()")
	}
}

func TestDefaultCounts(t *testing.T) {
	rs := decode(t, defaultOutput())
	got := countByType(rs)
	exact := map[string]int{
		"Organization":      4,
		"Location":          4,
		"Practitioner":      12,
		"Patient":           50,
		"Encounter":         200,
		"DocumentReference": 200,
	}
	for typ, want := range exact {
		if got[typ] != want {
			t.Errorf("%s: got %d, want %d", typ, got[typ], want)
		}
	}
	// Every visit records at least blood pressure, heart rate, temperature,
	// weight and BMI, and the first visit adds smoking status.
	if min := 5*200 + 50; got["Observation"] < min {
		t.Errorf("Observation: got %d, want at least %d", got["Observation"], min)
	}
	for _, typ := range []string{"Condition", "MedicationRequest", "AllergyIntolerance", "Immunization"} {
		if got[typ] == 0 {
			t.Errorf("%s: none generated", typ)
		}
	}
	t.Logf("default counts: %v", got)
}

func TestCountsFollowOptions(t *testing.T) {
	for _, opts := range []Options{
		{Patients: 1, Seed: 0, EncountersPerPatient: 1},
		{Patients: 7, Seed: 3, EncountersPerPatient: 2},
		{Patients: 30, Seed: -5, EncountersPerPatient: 9},
	} {
		got := countByType(decode(t, Generate(opts)))
		want := map[string]int{
			"Organization":      4,
			"Location":          4,
			"Practitioner":      12,
			"Patient":           opts.Patients,
			"Encounter":         opts.Patients * opts.EncountersPerPatient,
			"DocumentReference": opts.Patients * opts.EncountersPerPatient,
		}
		for typ, n := range want {
			if got[typ] != n {
				t.Errorf("%+v: %s: got %d, want %d", opts, typ, got[typ], n)
			}
		}
	}
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

func TestResourcesHaveTypeAndUniqueID(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range decode(t, defaultOutput()) {
		if r.typ == "" || !idPattern.MatchString(r.id) {
			t.Fatalf("missing resourceType or bad id: %s", r.raw)
		}
		if seen[r.ref] {
			t.Errorf("duplicate %s", r.ref)
		}
		seen[r.ref] = true
	}
}

// references returns every Reference.reference value inside v.
func references(v any, out []string) []string {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && k == "reference" {
				out = append(out, s)
				continue
			}
			out = references(e, out)
		}
	case []any:
		for _, e := range x {
			out = references(e, out)
		}
	}
	return out
}

func TestReferencesPointBackwards(t *testing.T) {
	seen := map[string]bool{}
	n := 0
	rs := decode(t, defaultOutput())
	for _, r := range rs {
		for _, ref := range references(r.m, nil) {
			n++
			if !seen[ref] {
				t.Errorf("%s refers to %q, which is not generated before it", r.ref, ref)
			}
		}
		seen[r.ref] = true
	}
	if n < 3*len(rs) {
		t.Errorf("only %d references in %d resources", n, len(rs))
	}
}

// TestNoEmptyValues checks the FHIR rule that elements are never empty:
// no "", [], {} or null anywhere.
func TestNoEmptyValues(t *testing.T) {
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case nil:
			t.Errorf("%s is null", path)
		case string:
			if x == "" || strings.TrimSpace(x) != x {
				t.Errorf("%s is %q", path, x)
			}
		case map[string]any:
			if len(x) == 0 {
				t.Errorf("%s is an empty object", path)
			}
			for k, e := range x {
				walk(path+"."+k, e)
			}
		case []any:
			if len(x) == 0 {
				t.Errorf("%s is an empty array", path)
			}
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		}
	}
	for _, r := range decode(t, Generate(Options{Patients: 200, Seed: 9})) {
		walk(r.ref, r.m)
	}
}

var (
	datePattern     = regexp.MustCompile(`^\d{4}(-\d{2}(-\d{2})?)?$`)
	dateTimePattern = regexp.MustCompile(`^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2}))?)?)?$`)
	instantPattern  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$`)
)

// TestDateFormats checks every date, dateTime and instant element.
func TestDateFormats(t *testing.T) {
	kinds := map[string]*regexp.Regexp{
		"birthDate": datePattern, "expirationDate": datePattern,
		"issued": instantPattern, "date": instantPattern, // DocumentReference.date is an instant
		"start": dateTimePattern, "end": dateTimePattern, "authoredOn": dateTimePattern,
		"recordedDate": dateTimePattern, "recorded": dateTimePattern, "creation": dateTimePattern,
		"onsetDateTime": dateTimePattern, "abatementDateTime": dateTimePattern,
		"effectiveDateTime": dateTimePattern, "occurrenceDateTime": dateTimePattern, "valueDateTime": dateTimePattern,
	}
	checked := 0
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if re, ok := kinds[k]; ok {
					if s, ok := e.(string); ok {
						checked++
						if !re.MatchString(s) {
							t.Errorf("%s.%s = %q has the wrong format", path, k, s)
						}
					}
				}
				walk(path+"."+k, e)
			}
		case []any:
			for _, e := range x {
				walk(path, e)
			}
		}
	}
	rs := decode(t, defaultOutput())
	for _, r := range rs {
		walk(r.ref, r.m)
	}
	if checked < 2*len(rs) {
		t.Errorf("only %d dates checked in %d resources", checked, len(rs))
	}
}

// TestDecimalsKeepText checks that decimal values are written with their
// precision, e.g. a body weight of 72.50 keeps its trailing zero.
func TestDecimalsKeepText(t *testing.T) {
	trailingZero := regexp.MustCompile(`"valueQuantity":\{"value":\d+\.\d0,"unit":"kg"`)
	weights, zeros := 0, 0
	for _, r := range decode(t, defaultOutput()) {
		if r.typ != "Observation" || str(get(r.m, "code", "coding", 0, "code")) != "29463-7" {
			continue
		}
		weights++
		v := get(r.m, "valueQuantity", "value").(json.Number)
		if !regexp.MustCompile(`^\d+\.\d\d$`).MatchString(v.String()) {
			t.Errorf("%s: body weight %s does not have two decimals", r.ref, v)
		}
		if trailingZero.Match(r.raw) {
			zeros++
		}
	}
	if weights != 200 {
		t.Errorf("got %d body weights, want 200", weights)
	}
	if zeros == 0 {
		t.Error("no body weight with a trailing zero such as 72.50 in the raw JSON")
	}
}

// population indexes a decoded population for the content tests.
type population struct {
	all       []*resource
	byRef     map[string]*resource
	notes     map[string]*resource   // note by encounter reference
	byPatient map[string][]*resource // resources by subject or patient reference
}

func index(rs []*resource) *population {
	p := &population{all: rs, byRef: map[string]*resource{}, notes: map[string]*resource{}, byPatient: map[string][]*resource{}}
	for _, r := range rs {
		p.byRef[r.ref] = r
		if r.typ == "DocumentReference" {
			p.notes[str(get(r.m, "context", "encounter", 0, "reference"))] = r
		}
		subject := str(get(r.m, "subject", "reference"))
		if subject == "" {
			subject = str(get(r.m, "patient", "reference"))
		}
		if subject != "" {
			p.byPatient[subject] = append(p.byPatient[subject], r)
		}
	}
	return p
}

// laterNotes returns the notes of the patient's visits from the one at enc on.
func (p *population) laterNotes(patient, enc string) []*resource {
	var out []*resource
	from := false
	for _, r := range p.byPatient[patient] {
		if r.ref == enc {
			from = true
		}
		if from && r.typ == "DocumentReference" {
			out = append(out, r)
		}
	}
	return out
}

func contains(text, want string) bool {
	return strings.Contains(strings.ToLower(text), strings.ToLower(want))
}

func TestNotesAttachmentsAreConsistent(t *testing.T) {
	for _, r := range decode(t, defaultOutput()) {
		if r.typ != "DocumentReference" {
			continue
		}
		att := get(r.m, "content", 0, "attachment")
		if ct := str(get(att, "contentType")); ct != "text/plain" {
			t.Errorf("%s: contentType %q", r.ref, ct)
		}
		if size := get(att, "size").(json.Number).String(); size != fmt.Sprint(len(r.text)) {
			t.Errorf("%s: size %s, text has %d bytes", r.ref, size, len(r.text))
		}
		sum := sha1.Sum([]byte(r.text))
		if h := str(get(att, "hash")); h != base64.StdEncoding.EncodeToString(sum[:]) {
			t.Errorf("%s: hash does not match the text", r.ref)
		}
		code := str(get(r.m, "type", "coding", 0, "code"))
		if code != "11506-3" && code != "18842-5" {
			t.Errorf("%s: type %s is neither progress note nor discharge summary", r.ref, code)
		}
		if str(get(r.m, "status")) != "current" {
			t.Errorf("%s: status is not current", r.ref)
		}
	}
}

// noteSections are the sections every note must have, in any of the
// heading styles the generator uses.
var noteSections = map[string]*regexp.Regexp{
	"chief complaint":             regexp.MustCompile(`(?m)^(CHIEF COMPLAINT|Chief Complaint|CC):$`),
	"history of present illness":  regexp.MustCompile(`(?m)^(HISTORY OF PRESENT ILLNESS|History of Present Illness|HPI):$`),
	"past medical history":        regexp.MustCompile(`(?m)^(PAST MEDICAL HISTORY|Past Medical History|PMH):$`),
	"medications":                 regexp.MustCompile(`(?m)^((CURRENT |DISCHARGE |)MEDICATIONS|Current Medications|MEDICATIONS PRIOR TO ADMISSION):$`),
	"allergies":                   regexp.MustCompile(`(?m)^(ALLERGIES|Allergies):$`),
	"family history":              regexp.MustCompile(`(?m)^(FAMILY HISTORY|Family History):$`),
	"assessment and plan":         regexp.MustCompile(`(?m)^(ASSESSMENT AND PLAN|Assessment and Plan|ASSESSMENT/PLAN):$`),
	"negated finding":             regexp.MustCompile(`(?i)\b(denies|negative for|no) [a-z]`),
	"hypothetical return warning": regexp.MustCompile(`(?i)\b(return|call|should (he|she)|if)\b[^.]*\b(if|develops?|for|occurs|experiences?|arise)\b`),
	"family member":               regexp.MustCompile(`(?m)^.*\b(Mother|Father|Brother|Sister|grandmother|grandfather|aunt|Adopted|family history)\b`),
}

func TestNotesHaveSectionsAndContext(t *testing.T) {
	styles := map[string]bool{}
	for _, r := range decode(t, defaultOutput()) {
		if r.typ != "DocumentReference" {
			continue
		}
		for name, re := range noteSections {
			if !re.MatchString(r.text) {
				t.Errorf("%s: no %s in note:\n%s", r.ref, name, r.text)
			}
		}
		styles[strings.SplitN(strings.SplitN(r.text, "\n\n", 3)[1], "\n", 2)[0]] = true
	}
	if len(styles) < 3 {
		t.Errorf("notes use %d chief-complaint heading styles, want 3: %v", len(styles), styles)
	}
}

func TestNotesMentionConditionsAndMedications(t *testing.T) {
	pop := index(decode(t, defaultOutput()))
	drugName := map[string]string{}
	for _, d := range drugs {
		drugName[d.rxnorm] = d.name
	}
	conds, meds := 0, 0
	for _, r := range pop.all {
		switch r.typ {
		case "Condition":
			conds++
			name := str(get(r.m, "code", "text"))
			enc := str(get(r.m, "encounter", "reference"))
			notes := []*resource{pop.notes[enc]}
			if str(get(r.m, "category", 0, "coding", 0, "code")) == "problem-list-item" {
				notes = pop.laterNotes(str(get(r.m, "subject", "reference")), enc)
			}
			for _, n := range notes {
				if !contains(n.text, name) {
					t.Errorf("%s does not mention %s (%s):\n%s", n.ref, name, r.ref, n.text)
				}
			}
		case "MedicationRequest":
			meds++
			name := drugName[str(get(r.m, "medicationCodeableConcept", "coding", 0, "code"))]
			if name == "" {
				t.Fatalf("%s: RxNorm code not in the drug table", r.ref)
			}
			enc := str(get(r.m, "encounter", "reference"))
			notes := []*resource{pop.notes[enc]}
			if get(r.m, "dosageInstruction", 0, "timing", "repeat", "boundsDuration") == nil {
				notes = pop.laterNotes(str(get(r.m, "subject", "reference")), enc)
			}
			for _, n := range notes {
				if !contains(n.text, name) {
					t.Errorf("%s does not mention %s (%s):\n%s", n.ref, name, r.ref, n.text)
				}
			}
		}
	}
	if conds == 0 || meds == 0 {
		t.Fatalf("checked %d conditions and %d medication requests", conds, meds)
	}
}

// TestNotesWriteSigs checks that medications appear with dose, route and
// frequency, e.g. "metformin 500 mg PO BID".
func TestNotesWriteSigs(t *testing.T) {
	sig := regexp.MustCompile(`(?i)\b[a-z]+ \d+(\.\d+)? ?(mg|mcg|units) (PO|SC|SL|by mouth|subcutaneously|under the tongue) (daily|BID|TID|QID|QHS|Q6H|q5min|once daily|twice daily|three times daily|four times daily|at bedtime|every)`)
	found := 0
	for _, r := range decode(t, defaultOutput()) {
		if r.typ == "DocumentReference" && sig.MatchString(r.text) {
			found++
		}
	}
	if found < 50 {
		t.Errorf("only %d notes contain a medication with dose, route and frequency", found)
	}
}

func TestNotesAgreeWithVitals(t *testing.T) {
	pop := index(decode(t, defaultOutput()))
	for _, r := range pop.all {
		if r.typ != "Observation" {
			continue
		}
		n := pop.notes[str(get(r.m, "encounter", "reference"))]
		switch str(get(r.m, "code", "coding", 0, "code")) {
		case "29463-7":
			want := "Wt " + get(r.m, "valueQuantity", "value").(json.Number).String() + " kg"
			if !strings.Contains(n.text, want) {
				t.Errorf("%s does not contain %q", n.ref, want)
			}
		case "85354-9":
			want := fmt.Sprintf("BP %s/%s", get(r.m, "component", 0, "valueQuantity", "value"), get(r.m, "component", 1, "valueQuantity", "value"))
			if !strings.Contains(n.text, want) {
				t.Errorf("%s does not contain %q", n.ref, want)
			}
		}
	}
}

// TestNoPenicillinForAllergicPatients checks that prescribing honours the
// allergy list.
func TestNoPenicillinForAllergicPatients(t *testing.T) {
	pop := index(decode(t, Generate(Options{Patients: 300, Seed: 11})))
	penicillins := map[string]bool{}
	for _, d := range drugs {
		if d.penicil {
			penicillins[d.rxnorm] = true
		}
	}
	allergic := 0
	for patient, rs := range pop.byPatient {
		isAllergic := false
		for _, r := range rs {
			if r.typ == "AllergyIntolerance" && (str(get(r.m, "code", "text")) == "penicillin" || str(get(r.m, "code", "text")) == "amoxicillin") {
				isAllergic = true
			}
		}
		if !isAllergic {
			continue
		}
		allergic++
		for _, r := range rs {
			if r.typ == "MedicationRequest" && penicillins[str(get(r.m, "medicationCodeableConcept", "coding", 0, "code"))] {
				t.Errorf("%s is allergic to penicillin but %s prescribes one", patient, r.ref)
			}
		}
	}
	if allergic == 0 {
		t.Error("no penicillin-allergic patient in 300")
	}
}

// TestPatientShapes checks the Patient features the demo is meant to show.
func TestPatientShapes(t *testing.T) {
	features := map[string]int{}
	for _, r := range decode(t, defaultOutput()) {
		if r.typ != "Patient" {
			continue
		}
		if str(get(r.m, "identifier", 0, "system")) != sysMRN || str(get(r.m, "identifier", 0, "type", "coding", 0, "code")) != "MR" {
			t.Errorf("%s: no MRN identifier", r.ref)
		}
		if str(get(r.m, "name", 0, "use")) != "official" {
			t.Errorf("%s: first name is not official", r.ref)
		}
		for _, n := range get(r.m, "name").([]any) {
			if str(get(n, "use")) == "nickname" {
				features["nickname"]++
			}
		}
		if url := str(get(r.m, "_birthDate", "extension", 0, "url")); url != "" {
			if url != urlBirthTime || !strings.HasPrefix(str(get(r.m, "_birthDate", "extension", 0, "valueDateTime")), str(r.m["birthDate"])) {
				t.Errorf("%s: bad birth time %v", r.ref, r.m["_birthDate"])
			}
			features["birthTime"]++
		}
		for _, e := range get(r.m, "extension").([]any) {
			if str(get(e, "url")) == urlRace {
				if str(get(e, "extension", 0, "url")) != "ombCategory" || str(get(e, "extension", 0, "valueCoding", "system")) != sysOMB {
					t.Errorf("%s: malformed race extension", r.ref)
				}
				features["race"]++
			}
		}
		if !strings.HasPrefix(str(get(r.m, "managingOrganization", "reference")), "Organization/") ||
			!strings.HasPrefix(str(get(r.m, "generalPractitioner", 0, "reference")), "Practitioner/") {
			t.Errorf("%s: missing managing organization or general practitioner", r.ref)
		}
		for _, k := range []string{"gender", "birthDate", "address", "telecom"} {
			if r.m[k] == nil {
				t.Errorf("%s: no %s", r.ref, k)
			}
		}
	}
	for _, f := range []string{"nickname", "birthTime", "race"} {
		if features[f] == 0 || features[f] == 50 && f != "race" {
			t.Errorf("%d of 50 patients have a %s; want some but not all", features[f], f)
		}
	}
}

// TestCodes checks codings against the systems and value sets they belong to.
func TestCodes(t *testing.T) {
	icd := regexp.MustCompile(`^[A-Z]\d{2}(\.[0-9A-Z]{1,4})?$`)
	loinc := regexp.MustCompile(`^\d{1,6}-\d$`)
	for _, r := range decode(t, defaultOutput()) {
		switch r.typ {
		case "Encounter":
			if str(get(r.m, "class", "system")) != sysActCode || !strings.Contains(" AMB EMER IMP ", " "+str(get(r.m, "class", "code"))+" ") {
				t.Errorf("%s: class %v", r.ref, r.m["class"])
			}
			if get(r.m, "participant", 0, "individual", "reference") == nil || get(r.m, "serviceProvider", "reference") == nil {
				t.Errorf("%s: no participant or service provider", r.ref)
			}
		case "Condition":
			if str(get(r.m, "code", "coding", 0, "system")) != sysSNOMED || str(get(r.m, "code", "coding", 1, "system")) != sysICD10CM ||
				!icd.MatchString(str(get(r.m, "code", "coding", 1, "code"))) {
				t.Errorf("%s: code %v", r.ref, r.m["code"])
			}
			status := str(get(r.m, "clinicalStatus", "coding", 0, "code"))
			if (r.m["abatementDateTime"] != nil) != (status == "resolved") {
				t.Errorf("%s: clinical status %s with abatement %v", r.ref, status, r.m["abatementDateTime"])
			}
		case "Observation":
			if str(get(r.m, "code", "coding", 0, "system")) != sysLOINC || !loinc.MatchString(str(get(r.m, "code", "coding", 0, "code"))) {
				t.Errorf("%s: code %v", r.ref, r.m["code"])
			}
			if r.m["valueQuantity"] != nil && str(get(r.m, "valueQuantity", "system")) != sysUCUM {
				t.Errorf("%s: quantity without UCUM", r.ref)
			}
			if r.m["valueQuantity"] == nil && r.m["component"] == nil && r.m["valueCodeableConcept"] == nil {
				t.Errorf("%s: no value", r.ref)
			}
		case "MedicationRequest":
			if str(get(r.m, "medicationCodeableConcept", "coding", 0, "system")) != sysRxNorm ||
				get(r.m, "dosageInstruction", 0, "doseAndRate", 0, "doseQuantity", "value") == nil ||
				get(r.m, "dosageInstruction", 0, "route", "coding", 0, "code") == nil ||
				get(r.m, "dosageInstruction", 0, "timing", "repeat", "frequency") == nil {
				t.Errorf("%s: incomplete medication or dosage", r.ref)
			}
		case "Immunization":
			if str(get(r.m, "vaccineCode", "coding", 0, "system")) != sysCVX || r.m["lotNumber"] == nil {
				t.Errorf("%s: vaccine %v lot %v", r.ref, r.m["vaccineCode"], r.m["lotNumber"])
			}
		case "AllergyIntolerance":
			if get(r.m, "reaction", 0, "manifestation", 0, "coding", 0, "code") == nil || r.m["criticality"] == nil {
				t.Errorf("%s: no reaction or criticality", r.ref)
			}
		}
	}
}

// TestTables checks the curated tables for internal consistency.
func TestTables(t *testing.T) {
	icd := regexp.MustCompile(`^[A-Z]\d{2}(\.[0-9A-Z]{1,4})?$`)
	for _, c := range conditions {
		if c.snomed.system != sysSNOMED || c.icd10.system != sysICD10CM || !icd.MatchString(c.icd10.code) {
			t.Errorf("%s: bad codes", c.key)
		}
		if len(c.hpi) == 0 {
			t.Errorf("%s: no history text", c.key)
		}
		if !c.chronic && (len(c.setting) == 0 || len(c.complaint) == 0 || len(c.assess) == 0 || len(c.symptoms) == 0 || len(c.returnIf) == 0) {
			t.Errorf("%s: acute condition without setting, complaint, assessment, symptoms or return precautions", c.key)
		}
		if k := unknownKey(c); k != "" {
			t.Errorf("%s: unknown %s", c.key, k)
		}
	}
	for _, d := range drugs {
		if _, ok := routes[d.route]; !ok {
			t.Errorf("%s: unknown route %q", d.key, d.route)
		}
		if _, ok := frequencies[d.freq]; !ok {
			t.Errorf("%s: unknown frequency %q", d.key, d.freq)
		}
		stem := strings.ToLower(d.name[:5]) // "alendronate" is "alendronic acid" in RxNorm
		if !strings.Contains(strings.ToLower(d.display), stem) && d.key != "insulin7030" {
			t.Errorf("%s: name %q does not match RxNorm name %q", d.key, d.name, d.display)
		}
	}
	for _, a := range allergens {
		for _, k := range a.reactions {
			if _, ok := reactions[k]; !ok {
				t.Errorf("%s: unknown reaction %q", a.key, k)
			}
		}
	}
}

// unknownKey returns the first drug or lab key of c that is not in the
// tables, or "".
func unknownKey(c *condition) string {
	for _, list := range [][]string{c.drugs, c.altDrugs, c.adjuncts} {
		for _, k := range list {
			if drugByKey[k] == nil {
				return "drug " + k
			}
		}
	}
	for _, k := range c.labs {
		if labs[k] == nil {
			return "lab " + k
		}
	}
	return ""
}

func TestNPICheckDigit(t *testing.T) {
	// 1234567893 is the example NPI in the CMS check-digit specification.
	if got := npi(123456789); got != "1234567893" {
		t.Errorf("npi(123456789) = %s, want 1234567893", got)
	}
}

func BenchmarkGenerate1000Patients(b *testing.B) {
	opts := Options{Patients: 1000, Seed: 1}
	var n, size int
	for b.Loop() {
		out := Generate(opts)
		n, size = len(out), 0
		for _, r := range out {
			size += len(r)
		}
	}
	b.ReportMetric(float64(n), "resources/op")
	b.ReportMetric(float64(size)/1e6, "MB/op")
}
