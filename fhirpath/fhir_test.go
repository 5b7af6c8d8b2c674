package fhirpath

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/internal/datasets"
)

// constraint is one invariant of the base specification.
type constraint struct{ path, key, severity, expr string }

// baseConstraints reads testdata/constraints_gen.tsv, which fhirgen writes from the pinned
// StructureDefinitions.
func baseConstraints(t testing.TB) []constraint {
	t.Helper()
	f, err := os.Open("testdata/constraints_gen.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []constraint
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		c := strings.SplitN(sc.Text(), "\t", 4)
		if len(c) != 4 {
			t.Fatalf("bad line %q", sc.Text())
		}
		out = append(out, constraint{c[0], c[1], c[2], c[3]})
	}
	return out
}

// TestBaseConstraintsCompile compiles every constraint.expression of the R4 base
// StructureDefinitions (resources and data types).
func TestBaseConstraintsCompile(t *testing.T) {
	cs := baseConstraints(t)
	distinct := map[string]bool{}
	for _, c := range cs {
		distinct[c.expr] = true
		if _, err := Compile(c.expr); err != nil {
			t.Errorf("%s %s: %v", c.path, c.key, err)
		}
	}
	t.Logf("compiled %d constraints (%d distinct expressions)", len(cs), len(distinct))
	if len(cs) < 9000 || len(distinct) < 190 {
		t.Fatalf("only %d constraints, %d distinct: the table is incomplete", len(cs), len(distinct))
	}
}

// renderData renders results without their types, where navigation yields values whose type
// is not the point of the test.
func renderData(vs []Value) []string {
	out := render(vs)
	for i, s := range out {
		if t, rest, ok := strings.Cut(s, ":"); ok && vs[i].Type == t {
			out[i] = rest
		}
	}
	return out
}

type fakeTerminology map[string]bool

func (f fakeTerminology) Contains(vs, system, code string) (bool, bool) {
	in, known := f[vs+"|"+system+"|"+code]
	return in, known
}

type fakeProfiles struct{}

func (fakeProfiles) ConformsTo(v Value, url string) (bool, bool) {
	if url == "http://example.org/unknown" {
		return false, false
	}
	m, _ := v.Data.(map[string]any)
	return url == "http://example.org/has-name" && m["name"] != nil, true
}

type fakeResolver map[string]map[string]any

func (f fakeResolver) Resolve(ref string) (map[string]any, bool) {
	r, ok := f[ref]
	return r, ok
}

func TestFHIRAdditions(t *testing.T) {
	pat := decode(t, []byte(`{"resourceType":"Patient","id":"p1",
	 "text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>Peter</p></div>"},
	 "birthDate":"1974-12-25",
	 "_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"1974-12-25T14:35:45-05:00"}]},
	 "gender":"male",
	 "name":[{"given":["Peter",null,"Jim"],"_given":[null,{"extension":[{"url":"http://example.org/nick","valueString":"P"}]},null]}],
	 "maritalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-MaritalStatus","code":"M"}]},
	 "contained":[{"resourceType":"Organization","id":"o1","name":"Acme"}],
	 "managingOrganization":{"reference":"#o1"},
	 "generalPractitioner":[{"reference":"Practitioner/pr1"},{"reference":"Practitioner/missing"}],
	 "extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthPlace","valueAddress":{"city":"Lynn"}}]}`))
	opts := &Options{
		Terminology: fakeTerminology{
			"http://hl7.org/fhir/ValueSet/administrative-gender||male":                                             true,
			"http://hl7.org/fhir/ValueSet/marital-status|http://terminology.hl7.org/CodeSystem/v3-MaritalStatus|M": true,
			"http://hl7.org/fhir/ValueSet/administrative-gender||female":                                           false,
		},
		Profiles: fakeProfiles{},
		Resolver: fakeResolver{"Practitioner/pr1": {"resourceType": "Practitioner", "id": "pr1", "active": true}},
	}
	tests := []struct{ expr, want string }{
		{"Patient.birthDate.hasValue()", "true"},
		{"Patient.name.given.hasValue()", "false"},
		{"Patient.name.given[1].hasValue()", "false"},
		{"Patient.name.given.count()", "3"},
		{"Patient.name.given[1].extension('http://example.org/nick').value", "P"},
		{"Patient.name.given[0].getValue()", "Peter"},
		{"Patient.name.given[1].getValue().count()", "0"},
		{"Patient.name.hasValue()", "false"},
		{"Patient.birthDate.extension('http://hl7.org/fhir/StructureDefinition/patient-birthTime').value", "1974-12-25T14:35:45-05:00"},
		{"Patient.birthDate.extension(%`ext-patient-birthTime`).exists()", "true"},
		{"Patient.extension(%ext-patient-birthPlace).value.city", "Lynn"},
		{"Patient.extension('http://hl7.org/fhir/StructureDefinition/patient-' + 'birthPlace').exists()", "true"},
		{"Patient.birthDate.children().count()", "1"},
		{"%vs-administrative-gender", "http://hl7.org/fhir/ValueSet/administrative-gender"},
		{"%ext-11179-permitted-value-conceptmap", "http://hl7.org/fhir/StructureDefinition/11179-permitted-value-conceptmap"},
		{"%ucum", "http://unitsofmeasure.org"},
		{"Patient.gender.memberOf(%vs-administrative-gender)", "true"},
		{"'female'.memberOf(%vs-administrative-gender)", "false"},
		{"'other'.memberOf(%vs-administrative-gender)", ""},
		{"Patient.maritalStatus.memberOf('http://hl7.org/fhir/ValueSet/marital-status')", "true"},
		{"Patient.conformsTo('http://example.org/has-name')", "true"},
		{"Patient.conformsTo('http://example.org/other')", "false"},
		{"Patient.conformsTo('http://example.org/unknown')", ""},
		{"Patient.text.div.htmlChecks()", "true"},
		{"Patient.managingOrganization.resolve().name", "Acme"},
		{"Patient.generalPractitioner.resolve().active", "true"},
		{"Patient.generalPractitioner.resolve().count()", "1"},
		{"Patient.type().namespace", "FHIR"},
		{"Patient.type().name", "Patient"},
		{"1.type().namespace | 1.type().name", "System Integer"},
		{"'a'.type().name", "String"},
		{"Patient.birthDate.type().namespace", "FHIR"},
		{"%context.id", "p1"},
		{"%rootResource.id", "p1"},
	}
	for _, tc := range tests {
		e, err := Compile(tc.expr)
		if err != nil {
			t.Errorf("Compile(%q): %v", tc.expr, err)
			continue
		}
		got, err := e.EvalOptions(pat, opts)
		s := strings.Join(renderData(got), " ")
		if err != nil {
			s = "evaluation error"
		}
		if s != tc.want {
			t.Errorf("%s = %q, want %q (%v)", tc.expr, s, tc.want, err)
		}
	}
	// Without hooks, memberOf and conformsTo cannot tell, and resolve() gives stubs.
	for expr, want := range map[string]string{
		"Patient.gender.memberOf(%vs-administrative-gender)":               "",
		"Patient.conformsTo('http://example.org/has-name')":                "",
		"Patient.generalPractitioner.resolve().id":                         "pr1 missing",
		"Patient.generalPractitioner.resolve().active":                     "",
		"Patient.managingOrganization.resolve().ofType(Organization).name": "Acme",
	} {
		got, err := MustCompile(expr).Eval(pat)
		if s := strings.Join(renderData(got), " "); err != nil || s != want {
			t.Errorf("without hooks %s = %q, %v; want %q", expr, s, err, want)
		}
	}
}

// TestOptionsContext evaluates an invariant the way a validator does: on an element, with
// %resource the resource and %context the element.
func TestOptionsContext(t *testing.T) {
	enc := decode(t, []byte(`{"resourceType":"Encounter","id":"e","period":{"start":"2020-01-02","end":"2020-01-01"}}`))
	period := Value{Data: enc["period"], Type: "Period", fhir: true}
	got, err := MustCompile("start.hasValue().not() or end.hasValue().not() or (start <= end)").EvalOptions(enc, &Options{Context: &period})
	if err != nil || strings.Join(render(got), " ") != "boolean:false" {
		t.Fatalf("per-1 on a reversed period = %v, %v; want false", render(got), err)
	}
	got, err = MustCompile("%resource.id & %context.start").EvalOptions(enc, &Options{Context: &period})
	if err != nil || strings.Join(renderData(got), " ") != "e2020-01-02" {
		t.Fatalf("%%resource/%%context = %v, %v", render(got), err)
	}
}

func TestResolveBundleEntries(t *testing.T) {
	b := decode(t, []byte(`{"resourceType":"Bundle","type":"collection","entry":[
	 {"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient","id":"a","name":[{"family":"One"}]}},
	 {"fullUrl":"http://x.org/fhir/Observation/o","resource":{"resourceType":"Observation","id":"o","subject":{"reference":"urn:uuid:1"},"performer":[{"reference":"Patient/a"}]}}]}`))
	got, err := MustCompile("Bundle.entry.resource.ofType(Observation).subject.resolve().name.family | Bundle.entry.resource.ofType(Observation).performer.resolve().id").Eval(b)
	if err != nil || strings.Join(renderData(got), " ") != "One a" {
		t.Fatalf("got %v, %v", render(got), err)
	}
}

func TestHTMLChecks(t *testing.T) {
	const ns = ` xmlns="http://www.w3.org/1999/xhtml"`
	for div, ok := range map[string]bool{
		`<div` + ns + `><p>ok</p></div>`:                                            true,
		`<div` + ns + `><table border="1"><tr><td>x&nbsp;y</td></tr></table></div>`: true,
		`<div` + ns + ` xml:lang="en"><a href="http://x.org">x</a></div>`:           true,
		`<div` + ns + `><img src="data:image/png;base64,AA" alt="x"/></div>`:        true,
		`<div` + ns + `><script>alert(1)</script>x</div>`:                           false,
		`<div` + ns + `><p onclick="alert(1)">x</p></div>`:                          false,
		`<div` + ns + `><a href="javascript:alert(1)">x</a></div>`:                  false,
		`<div` + ns + `><a href=" JaVa&#x09;script:alert(1)">x</a></div>`:           false,
		`<div` + ns + `><iframe src="http://x.org"/>x</div>`:                        false,
		`<div` + ns + `><p style="background:url(javascript:x)">x</p></div>`:        false,
		`<div` + ns + `><a href="data:text/html,x">x</a></div>`:                     false,
		`<div` + ns + `>   </div>`:                                                  true,
		`<div` + ns + `><object data="x"/></div>`:                                   false,
		`<p` + ns + `>x</p>`:               false,
		`<div>x</div>`:                     false,
		`<div` + ns + `><p>unclosed</div>`: false,
	} {
		if got := SafeXHTML(div) == nil; got != ok {
			t.Errorf("SafeXHTML(%s) ok = %v, want %v", div, got, ok)
		}
	}
}

// TestHTMLChecksExamples: every official example's narrative passes htmlChecks(), so the
// narrative invariant gives the validator no false positive.
func TestHTMLChecksExamples(t *testing.T) {
	e := MustCompile("descendants().where(status.exists() and `div`.exists()).`div`")
	divs := 0
	for _, f := range datasets.Files(t, datasets.FHIRExamples, "*.json") {
		res := decode(t, f.Data)
		vs, err := e.Eval(res)
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		for _, v := range vs {
			divs++
			if err := SafeXHTML(v.Data.(string)); err != nil {
				t.Errorf("%s: %v", f.Name, err)
			}
		}
	}
	t.Logf("checked %d narratives", divs)
	if divs < 500 {
		t.Fatalf("only %d narratives checked", divs)
	}
}
