package view

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/internal/datasets"
)

// Small resources written for these tests: two patients, one with names, addresses, contacts
// and references of every kind, one with almost nothing, and an observation of the first.
const (
	pt1 = `{"resourceType":"Patient","id":"pt1","active":true,"gender":"female","birthDate":"1980-05-01",
		"name":[{"use":"official","family":"Lind","given":["Ada","Maria"]},{"family":"Berg","given":["Ada"]}],
		"address":[{"city":"Oslo","postalCode":"0150"},{"city":"Bergen"}],
		"contact":[{"telecom":[{"system":"phone","value":"1"},{"system":"email","value":"a@b"}]},{"telecom":[{"system":"phone","value":"2"}]}],
		"managingOrganization":{"reference":"Organization/o1"},
		"generalPractitioner":[{"reference":"Practitioner/d1"},{"reference":"http://other.example/fhir/Practitioner/d2"},{"reference":"#c1"}]}`
	pt2  = `{"resourceType":"Patient","id":"pt2","gender":"male","name":[{"family":"Noor"}]}`
	obs1 = `{"resourceType":"Observation","id":"obs1","status":"final","subject":{"reference":"Patient/pt1/_history/3"},
		"code":{"coding":[{"system":"http://loinc.org","code":"15074-8"}]},
		"valueQuantity":{"value":7.25,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"}}`
)

// decode reads JSON as the evaluator expects it (numbers as json.Number).
func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return m
}

// example returns an official FHIR R4 example resource.
func example(t testing.TB, name string) map[string]any {
	t.Helper()
	return decode(t, string(datasets.ReadFile(t, datasets.FHIRExamples, name)))
}

// run compiles view and evaluates it over resources, returning the rows as JSON objects in one
// JSON array (keys sorted), for comparison with a hand-written expectation.
func run(t *testing.T, view string, resources ...map[string]any) (*View, string, error) {
	t.Helper()
	v, err := Parse([]byte(view))
	if err != nil {
		return nil, "", err
	}
	rows := []map[string]any{}
	for _, r := range resources {
		err := v.Rows(r, func(row Row) error {
			if len(row) != len(v.Columns) {
				t.Fatalf("row of %d values for %d columns", len(row), len(v.Columns))
			}
			m := map[string]any{}
			for i, c := range v.Columns {
				m[c.Name] = row[i]
			}
			rows = append(rows, m)
			return nil
		})
		if err != nil {
			return v, "", err
		}
	}
	return v, canonical(t, rows), nil
}

// canonical re-encodes JSON text or a value with sorted keys and no spaces.
func canonical(t *testing.T, v any) string {
	t.Helper()
	if s, ok := v.(string); ok {
		var x any
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		if err := dec.Decode(&x); err != nil {
			t.Fatalf("bad expectation %s: %v", s, err)
		}
		v = x
	}
	if v == nil {
		v = []any{}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(b.String())
}

type rowCase struct {
	name      string
	view      string
	resources []string // inline JSON
	want      string   // the rows, a JSON array of objects
}

// check runs cases whose expected rows were derived by hand from the resources above.
func check(t *testing.T, cases []rowCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var res []map[string]any
			for _, r := range c.resources {
				res = append(res, decode(t, r))
			}
			_, got, err := run(t, c.view, res...)
			if err != nil {
				t.Fatal(err)
			}
			if want := canonical(t, c.want); got != want {
				t.Errorf("rows\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestColumns(t *testing.T) {
	check(t, []rowCase{
		{"paths of the resource, null when absent",
			`{"resource":"Patient","select":[{"column":[{"name":"id","path":"id"},{"name":"gender","path":"gender"},{"name":"birth","path":"birthDate"},{"name":"active","path":"active"}]}]}`,
			[]string{pt1, pt2},
			`[{"id":"pt1","gender":"female","birth":"1980-05-01","active":true},{"id":"pt2","gender":"male","birth":null,"active":null}]`},
		{"resources of another type give no rows",
			`{"resourceType":"ViewDefinition","resource":"Patient","status":"active","select":[{"column":[{"name":"id","path":"id"}]}]}`,
			[]string{obs1, pt2, obs1},
			`[{"id":"pt2"}]`},
		{"literals, functions and a number",
			`{"resource":"Observation","select":[{"column":[{"name":"k","path":"'x'"},{"name":"n","path":"value.ofType(Quantity).value"},{"name":"has_code","path":"code.coding.exists(system = 'http://loinc.org')"},{"name":"codes","path":"code.coding.code.join(',')"}]}]}`,
			[]string{obs1},
			`[{"k":"x","n":7.25,"has_code":true,"codes":"15074-8"}]`},
		{"a complex value",
			`{"resource":"Patient","select":[{"column":[{"name":"org","path":"managingOrganization"}]}]}`,
			[]string{pt1},
			`[{"org":{"reference":"Organization/o1"}}]`},
		{"a collection column is a list, empty when nothing",
			`{"resource":"Patient","select":[{"column":[{"name":"id","path":"id"},{"name":"given","path":"name.given","collection":true}]}]}`,
			[]string{pt1, pt2},
			`[{"id":"pt1","given":["Ada","Maria","Ada"]},{"id":"pt2","given":[]}]`},
		{"a collection of one is a list",
			`{"resource":"Patient","select":[{"column":[{"name":"fam","path":"name.where(use='official').family","collection":true}]}]}`,
			[]string{pt1},
			`[{"fam":["Lind"]}]`},
	})
}

func TestForEach(t *testing.T) {
	check(t, []rowCase{
		{"forEach unnests, the parent's columns repeat",
			`{"resource":"Patient","select":[{"column":[{"name":"id","path":"id"}]},{"forEach":"name","column":[{"name":"family","path":"family"}]}]}`,
			[]string{pt1, pt2},
			`[{"id":"pt1","family":"Lind"},{"id":"pt1","family":"Berg"},{"id":"pt2","family":"Noor"}]`},
		{"forEach gives no row when the path yields nothing",
			`{"resource":"Patient","select":[{"column":[{"name":"id","path":"id"}]},{"forEach":"address","column":[{"name":"city","path":"city"}]}]}`,
			[]string{pt1, pt2},
			`[{"id":"pt1","city":"Oslo"},{"id":"pt1","city":"Bergen"}]`},
		{"forEach applies to the nested selects too",
			`{"resource":"Patient","select":[{"forEach":"address","select":[{"column":[{"name":"zip","path":"postalCode"}]}]}]}`,
			[]string{pt1},
			`[{"zip":"0150"},{"zip":null}]`},
		{"forEachOrNull gives a row of nulls",
			`{"resource":"Patient","select":[{"column":[{"name":"id","path":"id"}]},{"forEachOrNull":"address","column":[{"name":"city","path":"city"},{"name":"zip","path":"postalCode"}]}]}`,
			[]string{pt1, pt2},
			`[{"id":"pt1","city":"Oslo","zip":"0150"},{"id":"pt1","city":"Bergen","zip":null},{"id":"pt2","city":null,"zip":null}]`},
		{"forEachOrNull nulls its nested selects' columns too",
			`{"resource":"Patient","select":[{"column":[{"name":"id","path":"id"}]},{"forEachOrNull":"contact","column":[{"name":"n","path":"telecom.count()"}],"select":[{"forEach":"telecom","column":[{"name":"sys","path":"system"}]}]}]}`,
			[]string{pt2},
			`[{"id":"pt2","n":null,"sys":null}]`},
		{"nested forEach",
			`{"resource":"Patient","select":[{"column":[{"name":"id","path":"id"}]},{"forEach":"contact","select":[{"forEach":"telecom","column":[{"name":"sys","path":"system"},{"name":"val","path":"value"}]}]}]}`,
			[]string{pt1, pt2},
			`[{"id":"pt1","sys":"phone","val":"1"},{"id":"pt1","sys":"email","val":"a@b"},{"id":"pt1","sys":"phone","val":"2"}]`},
		{"sibling selects are a cross product; an empty one empties it",
			`{"resource":"Patient","select":[{"column":[{"name":"id","path":"id"}]},{"forEach":"name","column":[{"name":"family","path":"family"}]},{"forEach":"address","column":[{"name":"city","path":"city"}]}]}`,
			[]string{pt1, pt2},
			`[{"id":"pt1","family":"Lind","city":"Oslo"},{"id":"pt1","family":"Lind","city":"Bergen"},{"id":"pt1","family":"Berg","city":"Oslo"},{"id":"pt1","family":"Berg","city":"Bergen"}]`},
		{"columns relative to the forEach node",
			`{"resource":"Patient","select":[{"forEach":"name","column":[{"name":"family","path":"family"},{"name":"given","path":"given","collection":true},{"name":"id","path":"%resource.id"}]}]}`,
			[]string{pt1},
			`[{"family":"Lind","given":["Ada","Maria"],"id":"pt1"},{"family":"Berg","given":["Ada"],"id":"pt1"}]`},
	})
}

func TestUnionAll(t *testing.T) {
	check(t, []rowCase{
		{"branches one after the other, crossed with the parent's columns",
			`{"resource":"Patient","select":[{"column":[{"name":"id","path":"id"}],"unionAll":[
				{"forEach":"address","column":[{"name":"kind","path":"'address'"},{"name":"text","path":"city"}]},
				{"forEach":"name","column":[{"name":"kind","path":"'name'"},{"name":"text","path":"family"}]}]}]}`,
			[]string{pt1, pt2},
			`[{"id":"pt1","kind":"address","text":"Oslo"},{"id":"pt1","kind":"address","text":"Bergen"},{"id":"pt1","kind":"name","text":"Lind"},{"id":"pt1","kind":"name","text":"Berg"},{"id":"pt2","kind":"name","text":"Noor"}]`},
		{"branches without forEach, and nested unions",
			`{"resource":"Patient","select":[{"unionAll":[{"column":[{"name":"v","path":"gender"}]},{"select":[{"unionAll":[{"column":[{"name":"v","path":"id"}]},{"forEach":"name.given","column":[{"name":"v","path":"$this"}]}]}]}]}]}`,
			[]string{pt1},
			`[{"v":"female"},{"v":"pt1"},{"v":"Ada"},{"v":"Maria"},{"v":"Ada"}]`},
		{"duplicate rows are kept",
			`{"resource":"Patient","select":[{"unionAll":[{"column":[{"name":"g","path":"gender"}]},{"column":[{"name":"g","path":"gender"}]}]}]}`,
			[]string{pt2},
			`[{"g":"male"},{"g":"male"}]`},
	})
}

func TestWhere(t *testing.T) {
	check(t, []rowCase{
		{"a true clause keeps the resource",
			`{"resource":"Patient","where":[{"path":"gender = 'female'"}],"select":[{"column":[{"name":"id","path":"id"}]}]}`,
			[]string{pt1, pt2},
			`[{"id":"pt1"}]`},
		{"every clause must hold",
			`{"resource":"Patient","where":[{"path":"name.exists()"},{"path":"address.exists()","description":"with an address"}],"select":[{"column":[{"name":"id","path":"id"}]}]}`,
			[]string{pt1, pt2},
			`[{"id":"pt1"}]`},
		{"an empty result excludes",
			`{"resource":"Patient","where":[{"path":"active"}],"select":[{"column":[{"name":"id","path":"id"}]}]}`,
			[]string{pt1, pt2},
			`[{"id":"pt1"}]`},
		{"a clause that excludes everything",
			`{"resource":"Patient","where":[{"path":"name.where(use = 'maiden').exists()"}],"select":[{"column":[{"name":"id","path":"id"}]}]}`,
			[]string{pt1, pt2},
			`[]`},
		{"a clause on a choice element",
			`{"resource":"Observation","where":[{"path":"value.ofType(Quantity).value > 7"}],"select":[{"column":[{"name":"id","path":"id"}]}]}`,
			[]string{obs1},
			`[{"id":"obs1"}]`},
	})
}

func TestConstants(t *testing.T) {
	check(t, []rowCase{
		{"a code in a where function",
			`{"resource":"Patient","constant":[{"name":"use","valueCode":"official"}],"select":[{"column":[{"name":"id","path":"id"},{"name":"fam","path":"name.where(use = %use).family"}]}]}`,
			[]string{pt1, pt2},
			`[{"id":"pt1","fam":"Lind"},{"id":"pt2","fam":null}]`},
		{"every kind of value",
			`{"resource":"Patient","constant":[
				{"name":"i","valueInteger":41},{"name":"d","valueDecimal":0.5},{"name":"b","valueBoolean":true},
				{"name":"s","valueString":"x"},{"name":"day","valueDate":"1970-01-01"},{"name":"p","valuePositiveInt":2},
				{"name":"u","valueUnsignedInt":0},{"name":"big","valueInteger64":"9000000000"},{"name":"uri","valueUri":"urn:a"}],
			"select":[{"column":[{"name":"i","path":"%i + 1"},{"name":"d","path":"%d * 2"},{"name":"b","path":"%b and active"},
				{"name":"s","path":"%s & '-' & id"},{"name":"after","path":"birthDate > %day"},{"name":"p","path":"%p * %p"},
				{"name":"u","path":"%u"},{"name":"big","path":"%big + 1"},{"name":"uri","path":"%uri"}]}]}`,
			[]string{pt1, pt2},
			`[{"i":42,"d":1.0,"b":true,"s":"x-pt1","after":true,"p":4,"u":0,"big":9000000001,"uri":"urn:a"},
			  {"i":42,"d":1.0,"b":null,"s":"x-pt2","after":null,"p":4,"u":0,"big":9000000001,"uri":"urn:a"}]`},
		{"a constant in forEach and where",
			`{"resource":"Patient","constant":[{"name":"sys","valueString":"phone"}],"where":[{"path":"contact.telecom.where(system = %sys).exists()"}],
			"select":[{"forEach":"contact.telecom.where(system = %sys)","column":[{"name":"v","path":"value"}]}]}`,
			[]string{pt1, pt2},
			`[{"v":"1"},{"v":"2"}]`},
	})
}

func TestRowIndex(t *testing.T) {
	check(t, []rowCase{
		{"0 at the top, the position within forEach",
			`{"resource":"Patient","select":[{"column":[{"name":"id","path":"id"},{"name":"top","path":"%rowIndex"}]},{"forEach":"name","column":[{"name":"i","path":"%rowIndex"},{"name":"family","path":"family"}]}]}`,
			[]string{pt1, pt2},
			`[{"id":"pt1","top":0,"i":0,"family":"Lind"},{"id":"pt1","top":0,"i":1,"family":"Berg"},{"id":"pt2","top":0,"i":0,"family":"Noor"}]`},
		{"each nesting level has its own",
			`{"resource":"Patient","select":[{"forEach":"contact","column":[{"name":"c","path":"%rowIndex"}],"select":[{"forEach":"telecom","column":[{"name":"t","path":"%rowIndex"},{"name":"sys","path":"system"}]}]}]}`,
			[]string{pt1},
			`[{"c":0,"t":0,"sys":"phone"},{"c":0,"t":1,"sys":"email"},{"c":1,"t":0,"sys":"phone"}]`},
		{"forEachOrNull's null row has 0",
			`{"resource":"Patient","select":[{"column":[{"name":"id","path":"id"}]},{"forEachOrNull":"address","column":[{"name":"i","path":"%rowIndex"},{"name":"city","path":"city"}]}]}`,
			[]string{pt2},
			`[{"id":"pt2","i":0,"city":null}]`},
		{"a unionAll branch without iteration inherits, one with forEach counts its own",
			`{"resource":"Patient","select":[{"forEach":"name","column":[{"name":"n","path":"%rowIndex"}],"select":[{"unionAll":[
				{"forEach":"given","column":[{"name":"g","path":"%rowIndex"},{"name":"v","path":"$this"}]},
				{"column":[{"name":"g","path":"%rowIndex"},{"name":"v","path":"family"}]}]}]}]}`,
			[]string{pt1},
			`[{"n":0,"g":0,"v":"Ada"},{"n":0,"g":1,"v":"Maria"},{"n":0,"g":0,"v":"Lind"},{"n":1,"g":0,"v":"Ada"},{"n":1,"g":1,"v":"Berg"}]`},
	})
}

func TestKeys(t *testing.T) {
	check(t, []rowCase{
		{"resource and reference keys",
			`{"resource":"Patient","select":[{"column":[{"name":"key","path":"getResourceKey()"},
				{"name":"org","path":"managingOrganization.getReferenceKey(Organization)"},
				{"name":"org_quoted","path":"managingOrganization.getReferenceKey('Organization')"},
				{"name":"not_patient","path":"managingOrganization.getReferenceKey(Patient)"},
				{"name":"gps","path":"generalPractitioner.getReferenceKey()","collection":true}]}]}`,
			[]string{pt1},
			`[{"key":"Patient/pt1","org":"Organization/o1","org_quoted":"Organization/o1","not_patient":null,"gps":["Practitioner/d1"]}]`},
		{"a versioned reference keys the resource",
			`{"resource":"Observation","select":[{"column":[{"name":"id","path":"getResourceKey()"},{"name":"patient","path":"subject.getReferenceKey(Patient)"}]}]}`,
			[]string{obs1},
			`[{"id":"Observation/obs1","patient":"Patient/pt1"}]`},
	})
}

func TestRepeat(t *testing.T) {
	check(t, []rowCase{
		{"every depth, depth first",
			`{"resource":"Patient","select":[{"repeat":["contact","telecom"],"column":[{"name":"sys","path":"system"}]}]}`,
			[]string{pt1},
			// contact 1 (no system), its phone and email, contact 2, its phone.
			`[{"sys":null},{"sys":"phone"},{"sys":"email"},{"sys":null},{"sys":"phone"}]`},
		{"%rowIndex counts the nodes reached",
			`{"resource":"Patient","select":[{"repeat":["name"],"column":[{"name":"i","path":"%rowIndex"},{"name":"f","path":"family"}]}]}`,
			[]string{pt1},
			`[{"i":0,"f":"Lind"},{"i":1,"f":"Berg"}]`},
	})
}

// TestColumnOrder follows the specification's column-ordering example: a select's columns,
// then its nested selects', then its unionAll's, then the next select's.
func TestColumnOrder(t *testing.T) {
	v, got, err := run(t, `{"resource":"Patient","select":[
		{"column":[{"path":"'A'","name":"a"},{"path":"'B'","name":"b"}],
		 "select":[{"forEach":"name","column":[{"path":"'C'","name":"c"},{"path":"'D'","name":"d"}]}],
		 "unionAll":[{"column":[{"path":"'E1'","name":"e"},{"path":"'F1'","name":"f"}]},{"column":[{"path":"'E2'","name":"e"},{"path":"'F2'","name":"f"}]}]},
		{"column":[{"path":"'G'","name":"g"},{"path":"'H'","name":"h"}]}]}`, decode(t, pt2))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range v.Columns {
		names = append(names, c.Name)
	}
	if strings.Join(names, "") != "abcdefgh" {
		t.Errorf("columns %v, want a..h", names)
	}
	want := canonical(t, `[{"a":"A","b":"B","c":"C","d":"D","e":"E1","f":"F1","g":"G","h":"H"},{"a":"A","b":"B","c":"C","d":"D","e":"E2","f":"F2","g":"G","h":"H"}]`)
	if got != want {
		t.Errorf("rows\n got %s\nwant %s", got, want)
	}
}

// TestOfficialExamples runs views over the official FHIR R4 examples; the expected rows were
// read off the example files by hand.
func TestOfficialExamples(t *testing.T) {
	patient := example(t, "Patient-example.json")
	bp := example(t, "Observation-blood-pressure.json")
	qr := example(t, "QuestionnaireResponse-3141.json")
	cases := []struct {
		name, view string
		res        []map[string]any
		want       string
	}{
		{"Patient-example names",
			`{"resource":"Patient","select":[{"column":[{"name":"id","path":"getResourceKey()"}]},{"forEach":"name","column":[{"name":"use","path":"use"},{"name":"family","path":"family"},{"name":"given","path":"given","collection":true}]}]}`,
			[]map[string]any{patient},
			`[{"id":"Patient/example","use":"official","family":"Chalmers","given":["Peter","James"]},
			  {"id":"Patient/example","use":"usual","family":null,"given":["Jim"]},
			  {"id":"Patient/example","use":"maiden","family":"Windsor","given":["Peter","James"]}]`},
		{"Patient-example phones",
			`{"resource":"Patient","select":[{"forEach":"telecom.where(system = 'phone')","column":[{"name":"value","path":"value"},{"name":"use","path":"use"},{"name":"rank","path":"rank","type":"positiveInt"}]}]}`,
			[]map[string]any{patient},
			`[{"value":"(03) 5555 6473","use":"work","rank":1},{"value":"(03) 3410 5613","use":"mobile","rank":2},{"value":"(03) 5555 8834","use":"old","rank":null}]`},
		{"Patient-example demographics",
			`{"resource":"Patient","select":[{"column":[{"name":"gender","path":"gender"},{"name":"birth","path":"birthDate"},{"name":"deceased","path":"deceased.ofType(boolean)"},
				{"name":"birth_time","path":"birthDate.extension('http://hl7.org/fhir/StructureDefinition/patient-birthTime').value.ofType(dateTime)"},
				{"name":"org","path":"managingOrganization.getReferenceKey(Organization)"}]},
				{"forEachOrNull":"contact","column":[{"name":"contact_family","path":"name.family"},{"name":"contact_gender","path":"gender"}]}]}`,
			[]map[string]any{patient},
			`[{"gender":"male","birth":"1974-12-25","deceased":false,"birth_time":"1974-12-25T14:35:45-05:00","org":"Organization/1","contact_family":"du Marché","contact_gender":"female"}]`},
		{"Observation-blood-pressure components joined to the patient",
			`{"resource":"Observation","constant":[{"name":"loinc","valueUri":"http://loinc.org"}],
			  "where":[{"path":"code.coding.exists(system = %loinc and code = '85354-9')"}],
			  "select":[{"column":[{"name":"patient","path":"subject.getReferenceKey(Patient)"},{"name":"when","path":"effective.ofType(dateTime)"}]},
			    {"forEach":"component","column":[{"name":"code","path":"code.coding.where(system = %loinc).code"},{"name":"value","path":"value.ofType(Quantity).value"},{"name":"unit","path":"value.ofType(Quantity).code"}]}]}`,
			[]map[string]any{bp, patient},
			`[{"patient":"Patient/example","when":"2012-09-17","code":"8480-6","value":107,"unit":"mm[Hg]"},
			  {"patient":"Patient/example","when":"2012-09-17","code":"8462-4","value":60,"unit":"mm[Hg]"}]`},
		{"QuestionnaireResponse-3141 items at every depth",
			`{"resource":"QuestionnaireResponse","select":[{"column":[{"name":"qr","path":"id"}]},{"repeat":["item","answer.item"],"column":[{"name":"link","path":"linkId"},{"name":"answer","path":"answer.value.ofType(Coding).code"}]}]}`,
			[]map[string]any{qr},
			`[{"qr":"3141","link":"1","answer":null},{"qr":"3141","link":"1.1","answer":"1"},{"qr":"3141","link":"1.1.1","answer":null},
			  {"qr":"3141","link":"1.1.1.1","answer":"1"},{"qr":"3141","link":"1.1.1.2","answer":"1"},{"qr":"3141","link":"1.1.1.3","answer":"0"}]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, got, err := run(t, c.view, c.res...)
			if err != nil {
				t.Fatal(err)
			}
			if want := canonical(t, c.want); got != want {
				t.Errorf("rows\n got %s\nwant %s", got, want)
			}
		})
	}
}

// TestEveryExampleKeysJoin runs a Patient view and an Observation view over every official
// example: every Observation subject key that names a Patient example equals that Patient's
// resource key, and each Patient gives one row.
func TestEveryExampleKeysJoin(t *testing.T) {
	patients, err := Parse([]byte(`{"resource":"Patient","select":[{"column":[{"name":"id","path":"getResourceKey()"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	obs, err := Parse([]byte(`{"resource":"Observation","select":[{"column":[{"name":"patient","path":"subject.getReferenceKey(Patient)"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	var refs []string
	files := datasets.Files(t, datasets.FHIRExamples, "*.json")
	nPatients := 0
	for _, f := range files {
		r := decode(t, string(f.Data))
		if strings.HasPrefix(f.Name, "Patient-") {
			nPatients++
		}
		err := patients.Rows(r, func(row Row) error { keys[row[0].(string)] = true; return nil })
		if err == nil {
			err = obs.Rows(r, func(row Row) error {
				if row[0] != nil {
					refs = append(refs, row[0].(string))
				}
				return nil
			})
		}
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
	}
	if len(keys) != nPatients || nPatients == 0 {
		t.Errorf("%d patient keys for %d Patient examples", len(keys), nPatients)
	}
	joined := 0
	for _, r := range refs {
		if keys[r] {
			joined++
		}
	}
	// Patient/example is the subject of most example observations; count the joins so that a
	// key format that stopped matching fails.
	if joined < 20 {
		t.Errorf("%d of %d observation subject keys join a Patient example, want at least 20", joined, len(refs))
	}
	t.Logf("%d files, %d patients, %d observation subject keys, %d join", len(files), nPatients, len(refs), joined)
}

func TestTypes(t *testing.T) {
	v, err := Parse([]byte(`{"resource":"Patient","select":[{"column":[
		{"name":"id","path":"id"},{"name":"active","path":"active"},{"name":"n","path":"name.count()"},
		{"name":"name","path":"name.first()"},{"name":"birth","path":"birthDate"},{"name":"gender","path":"gender","type":"string"},
		{"name":"deceased","path":"deceased"},{"name":"key","path":"getResourceKey()"},
		{"name":"contact","path":"contact.first()","type":"http://hl7.org/fhir/StructureDefinition/BackboneElement"},
		{"name":"birth_date","path":"birthDate","tag":[{"name":"ansi/type","value":"DATE"}]},
		{"name":"n64","path":"name.count()","type":"integer64"},
		{"name":"when","path":"meta.lastUpdated"},{"name":"photo","path":"photo.data.first()"},
		{"name":"ratio","path":"1.5","tags":[{"name":"ansi/type","value":"double precision"}]}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		typ      string
		declared bool
		kind     Kind
	}{
		"id": {"id", false, KindString}, "active": {"boolean", false, KindBoolean}, "n": {"integer", false, KindInt},
		"name": {"HumanName", false, KindJSON}, "birth": {"date", false, KindString}, "gender": {"string", true, KindString},
		"deceased": {"", false, KindString}, "key": {"string", false, KindString},
		"contact": {"BackboneElement", true, KindJSON}, "birth_date": {"date", false, KindDate},
		"n64": {"integer64", true, KindBigInt}, "when": {"instant", false, KindTimestamp}, "photo": {"base64Binary", false, KindBinary},
		"ratio": {"decimal", false, KindDouble},
	}
	if len(v.Columns) != len(want) {
		t.Fatalf("%d columns, want %d", len(v.Columns), len(want))
	}
	for _, c := range v.Columns {
		w := want[c.Name]
		if c.Type != w.typ || c.Declared != w.declared || c.Kind != w.kind {
			t.Errorf("column %s: type %q declared %v kind %v, want %q %v %v", c.Name, c.Type, c.Declared, c.Kind, w.typ, w.declared, w.kind)
		}
	}
	ref, err := Parse([]byte(`{"resource":"Observation","select":[{"column":[{"name":"rr","path":"referenceRange.first()","type":"Observation.referenceRange"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := ref.Columns[0].Type; got != "ObservationReferenceRange" {
		t.Errorf("Observation.referenceRange column type %q", got)
	}
}

// TestInvalid lists a ViewDefinition for every error Compile reports, with a fragment of the
// message that names what is wrong.
func TestInvalid(t *testing.T) {
	const cols = `"select":[{"column":[{"name":"id","path":"id"}]}]`
	cases := []struct{ name, view, want string }{
		{"not JSON", `{"resource":`, "not a JSON object"},
		{"a list", `[]`, "not a JSON object"},
		{"two values", `{"resource":"Patient",` + cols + `} {}`, "more than one JSON value"},
		{"unknown top-level key", `{"resource":"Patient","selects":[],` + cols + `}`, `unknown key "selects"`},
		{"another resourceType", `{"resourceType":"Library","resource":"Patient",` + cols + `}`, "not ViewDefinition"},
		{"bad view name", `{"name":"1view","resource":"Patient",` + cols + `}`, "not a SQL name"},
		{"no resource", `{` + cols + `}`, "resource: missing"},
		{"unknown resource", `{"resource":"Patients",` + cols + `}`, "not an R4 resource type"},
		{"no select", `{"resource":"Patient"}`, "at least one select"},
		{"select not a list", `{"resource":"Patient","select":{"column":[{"name":"id","path":"id"}]}}`, "select: an object, not a list"},
		{"select item not an object", `{"resource":"Patient","select":["id"]}`, "select[0]: the string"},
		{"unknown select key", `{"resource":"Patient","select":[{"columns":[]}]}`, `select[0]: unknown key "columns"`},
		{"empty select", `{"resource":"Patient","select":[{}]}`, "has no column"},
		{"unknown column key", `{"resource":"Patient","select":[{"column":[{"name":"id","path":"id","alias":"x"}]}]}`, `unknown key "alias"`},
		{"column without name", `{"resource":"Patient","select":[{"column":[{"path":"id"}]}]}`, "column[0].name: missing"},
		{"column without path", `{"resource":"Patient","select":[{"column":[{"name":"id"}]}]}`, "column[0].path: missing"},
		{"empty path", `{"resource":"Patient","select":[{"column":[{"name":"id","path":" "}]}]}`, "column[0].path"},
		{"path not a string", `{"resource":"Patient","select":[{"column":[{"name":"id","path":1}]}]}`, "the number 1"},
		{"column name not SQL", `{"resource":"Patient","select":[{"column":[{"name":"my-id","path":"id"}]}]}`, `"my-id" is not a SQL name`},
		{"column name starting with _", `{"resource":"Patient","select":[{"column":[{"name":"_id","path":"id"}]}]}`, "not a SQL name"},
		{"duplicate column", `{"resource":"Patient","select":[{"column":[{"name":"id","path":"id"},{"name":"id","path":"gender"}]}]}`, `select[0].column[1].name: column "id" is already defined`},
		{"duplicate across selects", `{"resource":"Patient","select":[{"column":[{"name":"id","path":"id"}]},{"forEach":"name","column":[{"name":"id","path":"family"}]}]}`, `select[1].column[0].name: column "id" is already defined`},
		{"duplicate with a union's column", `{"resource":"Patient","select":[{"column":[{"name":"v","path":"id"}],"unionAll":[{"column":[{"name":"v","path":"id"}]}]}]}`, `column "v" is already defined`},
		{"union names differ", `{"resource":"Patient","select":[{"unionAll":[{"column":[{"name":"a","path":"id"}]},{"column":[{"name":"b","path":"id"}]}]}]}`, `unionAll[1].column[0].name: "b" where the first branch`},
		{"union order differs", `{"resource":"Patient","select":[{"unionAll":[{"column":[{"name":"a","path":"id"},{"name":"b","path":"id"}]},{"column":[{"name":"b","path":"id"},{"name":"a","path":"id"}]}]}]}`, `"b" where the first branch of the unionAll has "a"`},
		{"union branch with fewer columns", `{"resource":"Patient","select":[{"unionAll":[{"column":[{"name":"a","path":"id"},{"name":"b","path":"id"}]},{"column":[{"name":"a","path":"id"}]}]}]}`, "gives 1 columns where select[0].unionAll[0] gives 2 (a, b)"},
		{"union branch with more columns", `{"resource":"Patient","select":[{"unionAll":[{"column":[{"name":"a","path":"id"}]},{"column":[{"name":"a","path":"id"},{"name":"b","path":"id"}]}]}]}`, `column "b" is one more than the first branch`},
		{"union collection differs", `{"resource":"Patient","select":[{"unionAll":[{"column":[{"name":"a","path":"id"}]},{"column":[{"name":"a","path":"name.family","collection":true}]}]}]}`, "a collection in one branch"},
		{"union types differ", `{"resource":"Patient","select":[{"unionAll":[{"column":[{"name":"a","path":"id","type":"string"}]},{"column":[{"name":"a","path":"active","type":"boolean"}]}]}]}`, "of type boolean here and string"},
		{"empty unionAll", `{"resource":"Patient","select":[{"unionAll":[]}]}`, "an empty unionAll"},
		{"FHIRPath syntax", `{"resource":"Patient","select":[{"column":[{"name":"id","path":"name.where(use = )"}]}]}`, "select[0].column[0].path: fhirpath"},
		{"unknown function", `{"resource":"Patient","select":[{"column":[{"name":"id","path":"name.frist()"}]}]}`, `unsupported function "frist"`},
		{"unknown element", `{"resource":"Patient","select":[{"column":[{"name":"id","path":"nmae.family"}]}]}`, `Patient has no element "nmae"`},
		{"unknown element below forEach", `{"resource":"Patient","select":[{"forEach":"name","column":[{"name":"f","path":"familly"}]}]}`, `HumanName has no element "familly"`},
		{"bad forEach", `{"resource":"Patient","select":[{"forEach":"adress","column":[{"name":"c","path":"city"}]}]}`, `select[0].forEach: fhirpath`},
		{"forEach not a string", `{"resource":"Patient","select":[{"forEach":["name"],"column":[{"name":"c","path":"family"}]}]}`, "select[0].forEach: a list"},
		{"forEach and forEachOrNull", `{"resource":"Patient","select":[{"forEach":"name","forEachOrNull":"name","column":[{"name":"f","path":"family"}]}]}`, "only one of forEach, forEachOrNull and repeat"},
		{"repeat not a list", `{"resource":"Patient","select":[{"repeat":"contact","column":[{"name":"f","path":"id"}]}]}`, "not a non-empty list"},
		{"repeat empty", `{"resource":"Patient","select":[{"repeat":[],"column":[{"name":"f","path":"id"}]}]}`, "not a non-empty list"},
		{"repeat path that applies nowhere", `{"resource":"Patient","select":[{"repeat":["name","nmae"],"column":[{"name":"f","path":"family"}]}]}`, `select[0].repeat[1]`},
		{"undefined constant", `{"resource":"Patient","select":[{"column":[{"name":"id","path":"%nope"}]}]}`, "%nope is not a constant of the view"},
		{"collection not a boolean", `{"resource":"Patient","select":[{"column":[{"name":"id","path":"id","collection":"yes"}]}]}`, "collection: the string"},
		{"unknown type", `{"resource":"Patient","select":[{"column":[{"name":"id","path":"id","type":"strin"}]}]}`, `type: "strin" is not an R4 type`},
		{"unknown element type", `{"resource":"Observation","select":[{"column":[{"name":"r","path":"referenceRange","type":"Observation.range"}]}]}`, "names no backbone element"},
		{"primitive declared for a complex path", `{"resource":"Patient","select":[{"column":[{"name":"n","path":"name.first()","type":"string"}]}]}`, "declared string, but the path yields HumanName"},
		{"complex declared for a primitive path", `{"resource":"Patient","select":[{"column":[{"name":"g","path":"gender","type":"HumanName"}]}]}`, "declared HumanName, but the path yields code"},
		{"boolean declared for a string", `{"resource":"Patient","select":[{"column":[{"name":"g","path":"gender","type":"boolean"}]}]}`, "declared boolean"},
		{"integer declared for a date", `{"resource":"Patient","select":[{"column":[{"name":"b","path":"birthDate","type":"integer"}]}]}`, "declared integer, but the path yields date"},
		{"another complex type", `{"resource":"Patient","select":[{"column":[{"name":"a","path":"address.first()","type":"HumanName"}]}]}`, "declared HumanName, but the path yields Address"},
		{"unsupported ansi/type", `{"resource":"Patient","select":[{"column":[{"name":"id","path":"id","tag":[{"name":"ansi/type","value":"GEOMETRY"}]}]}]}`, `unsupported SQL type "GEOMETRY"`},
		{"tag without value", `{"resource":"Patient","select":[{"column":[{"name":"id","path":"id","tag":[{"name":"ansi/type"}]}]}]}`, "tag[0].value: missing"},
		{"where not boolean", `{"resource":"Patient","where":[{"path":"name"}],` + cols + `}`, "where[0].path: yields HumanName, not a boolean"},
		{"where without path", `{"resource":"Patient","where":[{"description":"x"}],` + cols + `}`, "where[0].path: missing"},
		{"where unknown key", `{"resource":"Patient","where":[{"path":"active","expression":"x"}],` + cols + `}`, `unknown key "expression"`},
		{"constant not a list", `{"resource":"Patient","constant":{"name":"a","valueString":"x"},` + cols + `}`, "constant: an object, not a list"},
		{"constant without name", `{"resource":"Patient","constant":[{"valueString":"x"}],` + cols + `}`, "constant[0].name: missing"},
		{"constant bad name", `{"resource":"Patient","constant":[{"name":"a b","valueString":"x"}],` + cols + `}`, "not a SQL name"},
		{"constant named rowIndex", `{"resource":"Patient","constant":[{"name":"rowIndex","valueInteger":1}],` + cols + `}`, "specification's own variable"},
		{"duplicate constant", `{"resource":"Patient","constant":[{"name":"a","valueString":"x"},{"name":"a","valueString":"y"}],` + cols + `}`, `constant "a" is already defined`},
		{"constant without value", `{"resource":"Patient","constant":[{"name":"a"}],` + cols + `}`, "constant[0]: has no value[x]"},
		{"constant with two values", `{"resource":"Patient","constant":[{"name":"a","valueString":"x","valueCode":"y"}],` + cols + `}`, "has both valueCode and valueString"},
		{"constant of an unknown type", `{"resource":"Patient","constant":[{"name":"a","valueQuantity":{"value":1}}],` + cols + `}`, `unknown key "valueQuantity"`},
		{"integer constant as a string", `{"resource":"Patient","constant":[{"name":"a","valueInteger":"1"}],` + cols + `}`, `constant[0].valueInteger: the string "1", not a integer`},
		{"decimal integer", `{"resource":"Patient","constant":[{"name":"a","valueInteger":1.5}],` + cols + `}`, "not a valid integer"},
		{"integer out of range", `{"resource":"Patient","constant":[{"name":"a","valueInteger":3000000000}],` + cols + `}`, "not a valid integer"},
		{"positiveInt zero", `{"resource":"Patient","constant":[{"name":"a","valuePositiveInt":0}],` + cols + `}`, "not a valid positiveInt"},
		{"unsignedInt negative", `{"resource":"Patient","constant":[{"name":"a","valueUnsignedInt":-1}],` + cols + `}`, "not a valid unsignedInt"},
		{"boolean as a string", `{"resource":"Patient","constant":[{"name":"a","valueBoolean":"true"}],` + cols + `}`, "not a boolean"},
		{"string as a number", `{"resource":"Patient","constant":[{"name":"a","valueString":1}],` + cols + `}`, "not a string"},
		{"bad date", `{"resource":"Patient","constant":[{"name":"a","valueDate":"2020-13-01"}],` + cols + `}`, "not a valid date"},
		{"bad dateTime", `{"resource":"Patient","constant":[{"name":"a","valueDateTime":"yesterday"}],` + cols + `}`, "not a valid dateTime"},
		{"bad instant", `{"resource":"Patient","constant":[{"name":"a","valueInstant":"2020-01-01"}],` + cols + `}`, "not a valid instant"},
		{"bad code", `{"resource":"Patient","constant":[{"name":"a","valueCode":" x"}],` + cols + `}`, "not a valid code"},
		{"bad integer64", `{"resource":"Patient","constant":[{"name":"a","valueInteger64":"x"}],` + cols + `}`, "not a valid integer64"},
		{"constant list item not an object", `{"resource":"Patient","constant":["a"],` + cols + `}`, "constant[0]: the string"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.view))
			if err == nil {
				t.Fatalf("compiled; want an error containing %q", c.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
	t.Logf("%d invalid ViewDefinitions refused", len(cases))
}

// TestEvalErrors lists views that compile but fail on a resource, with the message fragment.
func TestEvalErrors(t *testing.T) {
	cases := []struct{ name, view, want string }{
		{"several values in a column that is not a collection",
			`{"resource":"Patient","select":[{"column":[{"name":"given","path":"name.given"}]}]}`,
			`Patient/pt1: column "given": the path yields 3 values`},
		{"collection false given explicitly",
			`{"resource":"Patient","select":[{"column":[{"name":"family","path":"name.family","collection":false}]}]}`,
			`column "family": the path yields 2 values`},
		{"a where clause yielding a string",
			`{"resource":"Patient","constant":[{"name":"s","valueString":"x"}],"where":[{"path":"%s"}],"select":[{"column":[{"name":"id","path":"id"}]}]}`,
			"where[0]: the path yields a string, not a boolean"},
		{"a where clause yielding two booleans",
			`{"resource":"Patient","where":[{"path":"name.exists() | address.exists().not()"}],"select":[{"column":[{"name":"id","path":"id"}]}]}`,
			"where[0]: the path yields 2 values, not one boolean"},
		{"an expression failing",
			`{"resource":"Patient","select":[{"column":[{"name":"x","path":"name.single().family"}]}]}`,
			`column "x": fhirpath`},
		{"repeat that never ends",
			`{"resource":"Patient","select":[{"repeat":["$this"],"column":[{"name":"id","path":"id"}]}]}`,
			"deeper than 64 levels"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := run(t, c.view, decode(t, pt1))
			if err == nil {
				t.Fatalf("ran; want an error containing %q", c.want)
			}
			if !errors.Is(err, ErrEval) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q: want ErrEval containing %q", err, c.want)
			}
		})
	}
}

// TestEmitError: an error of the callback stops the evaluation and comes back unchanged.
func TestEmitError(t *testing.T) {
	v, err := Parse([]byte(`{"resource":"Patient","select":[{"forEach":"name","column":[{"name":"f","path":"family"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	stop := fmt.Errorf("stop")
	n := 0
	err = v.Rows(decode(t, pt1), func(Row) error { n++; return stop })
	if err != stop || n != 1 {
		t.Errorf("err %v after %d rows, want stop after 1", err, n)
	}
}
