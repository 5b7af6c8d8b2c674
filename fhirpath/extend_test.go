package fhirpath

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// A function registered the way an application registers its own: the type argument is
// handed over, and what the function declares it reads is what Reads reports.
func init() {
	Register("testTag", Function{TypeArg: true, Reads: []string{"reference"}, Result: "string",
		Eval: func(in []Value, typ string) ([]Value, error) {
			out := make([]Value, len(in))
			for i := range in {
				out[i] = Value{Data: fmt.Sprintf("%s:%d", typ, i), Type: "string"}
			}
			return out, nil
		}})
}

func TestRegister(t *testing.T) {
	res := map[string]any{"resourceType": "Patient", "generalPractitioner": []any{
		map[string]any{"reference": "Practitioner/1"}, map[string]any{"reference": "Organization/2"}}}
	for expr, want := range map[string]string{
		"generalPractitioner.testTag(Practitioner)":      "[Practitioner:0 Practitioner:1]",
		"generalPractitioner.testTag('Organization')":    "[Organization:0 Organization:1]",
		"generalPractitioner.testTag()":                  "[:0 :1]",
		"generalPractitioner.testTag(FHIR.Organization)": "[Organization:0 Organization:1]",
	} {
		vals, err := MustCompile(expr).Eval(res)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		var got []any
		for _, v := range vals {
			got = append(got, v.Data)
		}
		if fmt.Sprint(got) != want {
			t.Errorf("%s = %v, want %s", expr, got, want)
		}
	}
	for _, bad := range []string{"testTag(1)", "testTag(Patient, Patient)", "where('x').testTag(%x)"} {
		if _, err := Compile(bad); err == nil {
			t.Errorf("%s compiled", bad)
		}
	}
	// A string literal names a type only for functions that take one.
	if _, err := Compile("ofType('Patient')"); err == nil {
		t.Error("ofType('Patient') compiled")
	}
	reads, results, err := MustCompile("generalPractitioner.testTag(Practitioner)").Reads("Patient", fhirSchema{})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(reads); got != "[{Patient generalPractitioner Reference false} {Reference reference string false}]" {
		t.Errorf("reads %s", got)
	}
	if len(results) != 1 || results[0].Type != "string" {
		t.Errorf("results %v, want one string", results)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("registering where() again did not panic")
			}
		}()
		Register("where", Function{Eval: func([]Value, string) ([]Value, error) { return nil, nil }})
	}()
}

func TestVariables(t *testing.T) {
	for expr, want := range map[string]string{
		"name.where(use = %use).family | %use":     "[use]",
		"%a + %b.c + %resource.id + %ucum + %vs-x": "[a b]",
		"iif(%flag, %rowIndex, 0)":                 "[flag rowIndex]",
		"name.family":                              "[]",
	} {
		if got := fmt.Sprint(MustCompile(expr).Variables()); got != want {
			t.Errorf("%s: variables %s, want %s", expr, got, want)
		}
	}
}

func TestResultTypes(t *testing.T) {
	cases := []struct{ resource, focus, expr, want string }{
		{"Patient", "Patient", "birthDate", "[date]"},
		{"Patient", "Patient", "name", "[HumanName]"},
		{"Patient", "HumanName", "given", "[string]"},
		{"Patient", "Patient", "deceased", "[boolean dateTime]"},
		{"Patient", "Patient", "name.exists()", "[boolean]"},
		{"Patient", "Patient", "%x", "[]"},
		{"Observation", "Observation", "value.ofType(Quantity).value", "[decimal]"},
		{"Patient", "PatientContact", "name.family", "[string]"},
	}
	for _, c := range cases {
		got, err := MustCompile(c.expr).ResultTypes(c.resource, c.focus)
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		slices.Sort(got)
		got = slices.DeleteFunc(got, func(s string) bool { return s == "" })
		if fmt.Sprint(got) != c.want {
			t.Errorf("%s on %s: %v, want %s", c.expr, c.focus, got, c.want)
		}
	}
	if _, err := MustCompile("nmae").ResultTypes("Patient", "Patient"); err == nil || !strings.Contains(err.Error(), `no element "nmae"`) {
		t.Errorf("unknown element: %v", err)
	}
}

// TestReadsReturned: a returned result is read whole unless it is a primitive or computed; a
// caller's variable is the caller's, not the resource's.
func TestReadsReturned(t *testing.T) {
	cases := map[string]string{
		"name":            "[{Patient name HumanName false} {Patient name HumanName true}]",
		"gender":          "[{Patient gender code false}]",
		"name.exists()":   "[{Patient name HumanName false}]",
		"%x":              "[]",
		"contact.first()": "[{Patient contact PatientContact false} {Patient contact PatientContact true}]",
		// A name read inside a variable is of unknown type: conservatively read whole.
		"name.given | %x.given": "[{Patient name HumanName false} {HumanName given string false} { given  false} {   true}]",
	}
	for expr, want := range cases {
		reads, _, err := MustCompile(expr).ReadsReturned("Patient", "Patient", fhirSchema{})
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if got := fmt.Sprint(reads); got != want {
			t.Errorf("%s: reads %s, want %s", expr, got, want)
		}
	}
	if !Specialises("code", "string") || !Specialises("Patient", "Resource") || Specialises("string", "code") {
		t.Error("Specialises")
	}
}
