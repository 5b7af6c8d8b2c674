package fhirpath

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/internal/datasets"
)

func loadExample(t testing.TB, name string) map[string]any {
	t.Helper()
	return decode(t, datasets.ReadFile(t, datasets.FHIRExamples, name))
}

func decode(t testing.TB, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return m
}

// render shows a value compactly: primitives as themselves, objects as JSON,
// each prefixed with its type when known ("Quantity:{...}").
func render(vs []Value) []string {
	out := []string{}
	for _, v := range vs {
		var s string
		switch d := v.Data.(type) {
		case string:
			s = d
		default:
			b, _ := json.Marshal(d)
			s = string(b)
		}
		if v.Type != "" {
			s = v.Type + ":" + s
		}
		out = append(out, s)
	}
	return out
}

func TestEval(t *testing.T) {
	tests := []struct {
		file, expr string
		want       []string
	}{
		// Path navigation, leading type name and flattening.
		{"Patient-example.json", "Patient.name.family", []string{"string:Chalmers", "string:Windsor"}},
		{"Patient-example.json", "name.family", []string{"string:Chalmers", "string:Windsor"}},
		{"Patient-example.json", "Patient.name.given", []string{"string:Peter", "string:James", "string:Jim", "string:Peter", "string:James"}},
		{"Patient-example.json", "Patient.gender", []string{"code:male"}},
		{"Patient-example.json", "Observation.code", []string{}},
		{"Patient-example.json", "Patient.name[1].given", []string{"string:Jim"}},
		{"Patient-example.json", "Patient.name[7]", []string{}},
		{"Patient-example.json", "Patient.name.first().use", []string{"code:official"}},
		{"Patient-example.json", "Patient", []string{`Patient:` + "" /* checked below */}},
		// Choice types set Type from the key suffix.
		{"Observation-example.json", "Observation.value", []string{`Quantity:{"code":"[lb_av]","system":"http://unitsofmeasure.org","unit":"lbs","value":185}`}},
		{"Observation-example.json", "Observation.value as Quantity", []string{`Quantity:{"code":"[lb_av]","system":"http://unitsofmeasure.org","unit":"lbs","value":185}`}},
		{"Observation-example.json", "(Observation.value as Quantity).value", []string{"decimal:185"}},
		{"Observation-example.json", "Observation.value.ofType(Quantity).unit", []string{"string:lbs"}},
		{"Observation-example.json", "Observation.value.ofType(CodeableConcept)", []string{}},
		{"Observation-example.json", "Observation.value as string", []string{}},
		{"Observation-example.json", "Observation.value is Quantity", []string{"boolean:true"}},
		{"Observation-example.json", "Observation.value.is(FHIR.Quantity)", []string{"boolean:true"}},
		{"Observation-example.json", "Observation.effective.ofType(dateTime)", []string{"dateTime:2016-03-28"}},
		{"Patient-pat3.json", "Patient.deceased", []string{"dateTime:2015-02-14T13:42:00+10:00"}},
		// where(resolve() is T).
		{"Observation-example.json", "Observation.subject.where(resolve() is Patient)", []string{`Reference:{"reference":"Patient/example"}`}},
		{"Observation-example.json", "Observation.subject.where(resolve() is Group)", []string{}},
		{"Observation-herd1.json", "Observation.subject.where(resolve() is Patient)", []string{}},
		{"Observation-herd1.json", "Observation.subject.where(resolve() is Group).reference", []string{"string:Group/herd1"}},
		{"Observation-example.json", "Observation.subject.resolve()", []string{`Patient:{"id":"example","resourceType":"Patient"}`}},
		// A "#id" reference resolves to the contained resource.
		{"Observation-10minute-apgar-score.json", "Observation.subject.resolve().id", []string{"id:newborn"}},
		{"Observation-10minute-apgar-score.json", "Observation.subject.where(resolve() is Patient).reference", []string{"string:#newborn"}},
		{"Observation-10minute-apgar-score.json", "Observation.performer.where(resolve() is Practitioner).reference", []string{"string:Practitioner/example"}},
		// Booleans, and/or, comparison.
		{"Patient-example.json", "Patient.deceased.exists() and Patient.deceased != false", []string{"boolean:false"}},
		{"Patient-pat3.json", "Patient.deceased.exists() and Patient.deceased != false", []string{"boolean:true"}},
		{"Patient-f001.json", "Patient.deceased.exists() and Patient.deceased != false", []string{"boolean:false"}},
		{"Patient-example.json", "Patient.active = true", []string{"boolean:true"}},
		{"Patient-example.json", "Patient.active != true or Patient.gender = 'male'", []string{"boolean:true"}},
		{"Patient-example.json", "Patient.gender = 'female'", []string{"boolean:false"}},
		{"Patient-example.json", "Patient.nothing = 'x'", []string{}},
		{"Patient-example.json", "Patient.name.where(use = 'maiden').family", []string{"string:Windsor"}},
		{"Patient-example.json", "Patient.name.where($this.use = 'usual').given", []string{"string:Jim"}},
		{"Patient-example.json", "Patient.telecom.where(system='phone' and use='work').value", []string{"string:(03) 5555 6473"}},
		{"Patient-example.json", "Patient.name.exists(use = 'nickname')", []string{"boolean:false"}},
		{"Patient-example.json", "Patient.name.empty()", []string{"boolean:false"}},
		{"Patient-example.json", "Patient.photo.empty()", []string{"boolean:true"}},
		{"Patient-example.json", "Patient.active.not()", []string{"boolean:false"}},
		{"Patient-example.json", "Patient.photo.not()", []string{}},
		// Union deduplicates and keeps order.
		{"Patient-example.json", "Patient.gender | Patient.birthDate | Patient.gender", []string{"code:male", "date:1974-12-25"}},
		{"Patient-example.json", "Patient.telecom.where(system='email') | Person.telecom.where(system='email')", []string{}},
		{"Condition-example.json", "AllergyIntolerance.patient | Condition.subject.where(resolve() is Patient) | Consent.patient", []string{`Reference:{"reference":"Patient/example"}`}},
		{"Condition-example.json", "Condition.code.coding.code", []string{"code:39065001"}},
		{"Observation-blood-pressure.json", "Observation.component.code.coding.code", []string{"code:8480-6", "code:271649006", "code:bp-s", "code:8462-4"}},
		{"Observation-blood-pressure.json", "Observation.component.code.coding.where(system = 'http://loinc.org').code", []string{"code:8480-6", "code:8462-4"}},
		{"Observation-blood-pressure.json", "Observation.component.value.ofType(Quantity).value", []string{"decimal:107", "decimal:60"}},
		// extension('url').
		{"Patient-animal.json", "Patient.extension('http://hl7.org/fhir/StructureDefinition/patient-animal').extension('species').value.coding.display", []string{"string:Dog"}},
		{"Patient-animal.json", "Patient.extension('http://example.org/none')", []string{}},
		// Bundle indexer and resources inside it.
		{"Bundle-bundle-example.json", "Bundle.entry[0].resource.id", []string{"id:3123"}},
		{"Bundle-bundle-example.json", "Bundle.entry[0].resource is MedicationRequest", []string{"boolean:true"}},
		{"Bundle-bundle-example.json", "Bundle.entry.resource.ofType(Medication).id", []string{"id:example"}},
		// Literals and escapes.
		{"Patient-example.json", `'it\'s' | 'a\u0042'`, []string{"string:it's", "string:aB"}},
		{"Patient-example.json", "{}", []string{}},
		{"Patient-example.json", "%resource.id", []string{"id:example"}},
	}
	for _, tc := range tests {
		t.Run(tc.file+"/"+tc.expr, func(t *testing.T) {
			res := loadExample(t, tc.file)
			e, err := Compile(tc.expr)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			got, err := e.Eval(res)
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if tc.expr == "Patient" {
				if len(got) != 1 || got[0].Type != "Patient" || !reflect.DeepEqual(got[0].Data, res) {
					t.Errorf("Eval = %v, want the root resource with Type Patient", render(got))
				}
				return
			}
			if r := render(got); !reflect.DeepEqual(r, tc.want) {
				t.Errorf("Eval =\n  %q\nwant\n  %q", r, tc.want)
			}
		})
	}
}

func TestEvalErrors(t *testing.T) {
	res := loadExample(t, "Patient-example.json")
	for _, expr := range []string{
		"Patient.name.given and true", // 5 items in a boolean operator
		"Patient.name is HumanName",   // is on 3 items
		"Patient.name.where(given)",   // criteria yields several items
		"Patient.name.not()",
	} {
		e, err := Compile(expr)
		if err != nil {
			t.Fatalf("Compile(%q): %v", expr, err)
		}
		_, err = e.Eval(res)
		var fe *Error
		if !errors.As(err, &fe) || fe.Pos != -1 || fe.Expr != expr {
			t.Errorf("Eval(%q) error = %v, want *Error with Pos -1 naming the expression", expr, err)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		expr    string
		pos     int
		msgPart string
	}{
		{"Patient.name.", 13, "expected a name after '.', found end of expression"},
		{"Patient.name.where(use = 'x'", 28, `expected "," or ")" in the arguments of where(), found end of expression`},
		{"(Patient.name", 13, `expected ")"`},
		{"Patient.name.where(use = 'x)", 25, "unterminated"},
		{"Patient..name", 8, "expected a name after '.'"},
		{"Patient.name family", 13, "expected an operator or end of expression"},
		{"Patient.name.frobnicate()", 13, `unsupported function "frobnicate"`},
		{"foo()", 0, `unsupported function "foo"`},
		{"Patient.birthDate > @2000-13", 20, "invalid date/time literal @2000-13"},
		{"@2020-02-30", 0, "invalid date/time literal"},
		{"@T25:00", 0, "invalid date/time literal"},
		{"@2020-01-01T10:00+15:00", 0, "invalid date/time literal"},
		{"@x", 0, "expected a date, dateTime or time after '@'"},
		{"$foo", 0, "unknown variable $foo"},
		{"Patient /* open", 8, "unterminated /* comment"},
		{"1 'mg", 2, "unterminated"},
		{"Patient.name.substring()", 23, "substring() needs 1 argument(s), found 0"},
		{"iif(true)", 8, "iif() needs 2 argument(s), found 1"},
		{"Patient.name.take(1, 2)", 21, "take() takes at most one argument"},
		{"Patient.name[]", 13, "expected an index expression"},
		{"Patient.a - ", 12, "expected an expression, found end of expression"},
		{"99999999999999999999", 0, "integer literal 99999999999999999999 out of range"},
		{strings.Repeat("(", 300) + "1" + strings.Repeat(")", 300), 200, "nested more than 200 deep"},
		{strings.Repeat("-", 300) + "1", 199, "nested more than 200 deep"},
		{"Patient.value.ofType('Quantity')", 21, "expected a type name"},
		{"Patient.value.ofType()", 21, "ofType() needs 1 argument(s), found 0"},
		{"Patient.empty(1)", 14, "empty() takes no arguments"},
		{"Patient.where(a, b)", 17, "where() takes at most one argument"},
		{"Patient.name[", 13, "expected an expression, found end of expression"},
		{"Patient.value is Foo.Bar", 17, `unknown type namespace "Foo"`},
		{"Patient.a = 'x\\q'", 14, `unknown escape sequence \q`},
		{"Patient # x", 8, "unexpected character '#'"},
		{"", 0, "expected an expression, found end of expression"},
		{"Patient and", 11, "expected an expression, found end of expression"},
		{"and", 0, `expected an expression, found operator "and"`},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			_, err := Compile(tc.expr)
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("Compile(%q) error = %v, want *Error", tc.expr, err)
			}
			if fe.Pos != tc.pos || !strings.Contains(fe.Msg, tc.msgPart) {
				t.Errorf("Compile(%q) = offset %d %q, want offset %d containing %q", tc.expr, fe.Pos, fe.Msg, tc.pos, tc.msgPart)
			}
			if !strings.Contains(err.Error(), "offset") || fe.Expr != tc.expr {
				t.Errorf("Error() = %q, want the offset and the expression", err.Error())
			}
		})
	}
}

func TestEvalNeverNil(t *testing.T) {
	got, err := MustCompile("Patient.nothing").Eval(map[string]any{"resourceType": "Patient"})
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("Eval = %#v, %v; want empty non-nil slice", got, err)
	}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		ref, wantType, wantID string
	}{
		{"Patient/123", "Patient", "123"},
		{"http://example.org/fhir/Patient/123", "Patient", "123"},
		{"http://example.org/fhir/Patient/123/_history/2", "Patient", "123"},
		{"Patient/123/_history/2", "Patient", "123"},
		{"http://example.org/fhir/Questionnaire/q1|1.0", "Questionnaire", "q1"},
		{"Patient?identifier=x", "", ""},
		{"urn:uuid:0b7a3c3e-0000-0000-0000-000000000000", "", ""},
		{"#missing", "", ""},
		{"123", "", ""},
		{"patient/123", "", ""},
	}
	for _, tc := range tests {
		empty := Value{Data: map[string]any{}}
		v, ok := resolve(&env{evalState: &evalState{root: empty, rootResource: empty}}, Value{Data: map[string]any{"reference": tc.ref}})
		if !ok {
			if tc.wantType != "" {
				t.Errorf("resolve(%q) = none, want %s/%s", tc.ref, tc.wantType, tc.wantID)
			}
			continue
		}
		m := v.Data.(map[string]any)
		if v.Type != tc.wantType || m["id"] != tc.wantID || m["resourceType"] != tc.wantType {
			t.Errorf("resolve(%q) = %s %v, want %s/%s", tc.ref, v.Type, m, tc.wantType, tc.wantID)
		}
	}
}

func BenchmarkEval(b *testing.B) {
	res := loadExample(b, "Observation-blood-pressure.json")
	e := MustCompile("Observation.subject.where(resolve() is Patient) | Observation.component.value.ofType(Quantity)")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Eval(res); err != nil {
			b.Fatal(err)
		}
	}
}

func TestChoiceDeterministic(t *testing.T) {
	res := map[string]any{"resourceType": "Observation", "valueString": "b", "valueBoolean": true, "valueSet": "not a choice"}
	for range 20 {
		got, err := MustCompile("Observation.value").Eval(res)
		if err != nil || len(got) != 1 || got[0].Type != "boolean" || got[0].Data != true {
			t.Fatalf("Eval = %v, %v; want the valueBoolean key", render(got), err)
		}
	}
}
