package fhirpath

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// mapSchema is a Schema written out by hand for a few R4 types.
type mapSchema map[string]map[string]string

func (m mapSchema) Elements(typ string) (map[string]string, bool) {
	e, ok := m[typ]
	return e, ok
}

var miniSchema = mapSchema{
	"Patient": {"birthDate": "date", "deceasedBoolean": "boolean", "deceasedDateTime": "dateTime",
		"name": "HumanName", "address": "Address", "generalPractitioner": "Reference"},
	"HumanName": {"use": "code", "family": "string", "given": "string"},
	"Address":   {"city": "string", "state": "string"},
	"Reference": {"reference": "string", "display": "string"},
}

func readsOf(t *testing.T, expr string) string {
	t.Helper()
	rs, _, err := MustCompile(expr).Reads("Patient", miniSchema)
	if err != nil {
		return "error: " + err.Error()
	}
	var out []string
	for _, r := range rs {
		s := r.Owner + "." + r.Name
		if r.Whole {
			s = "whole " + r.Type
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return strings.Join(slices.Compact(out), " ")
}

// TestReads: what an expression reads is resolved by type, not by its text.
func TestReads(t *testing.T) {
	cases := []struct{ expr, want string }{
		{"Patient.birthDate", "Patient.birthDate"},
		{"deceased.exists()", "Patient.deceasedBoolean Patient.deceasedDateTime"},
		{"deceased.ofType(boolean) = true", "Patient.deceasedBoolean"},
		{"(Patient.deceased as dateTime)", "Patient.deceasedDateTime"},
		{"deceased is dateTime", "Patient.deceasedBoolean Patient.deceasedDateTime"},
		{"name.where(use = 'official').family", "HumanName.family HumanName.use Patient.name"},
		{"address.where($this.city = 'Lynn').exists()", "Address.city Patient.address"},
		{"%resource.name.exists(given.exists())", "HumanName.given Patient.name"},
		{"address = address", "Patient.address whole Address"},
		// union dedups by equality, so its count reveals whether two values are equal
		{"(name | name).count()", "Patient.name whole HumanName"},
		{"name.union(name).count()", "Patient.name whole HumanName"},
		{"name.combine(name).count()", "Patient.name"},
		{"name | address", "Patient.address Patient.name"}, // at the top it only gathers the result
		{"children().exists()", "whole Patient"},
		{"generalPractitioner.resolve().name", ".name Patient.generalPractitioner Reference.reference"}, // the stub comes from reference
		// resolve()'s type comes from the reference text, a contained one from contained.
		{"generalPractitioner.where(resolve() is Practitioner).exists()", "Patient.generalPractitioner Reference.reference"},
		{"birth.exists()", `error: fhirpath: Patient has no element "birth" (in "birth.exists()")`},
		{"name.postal", `error: fhirpath: HumanName has no element "postal" (in "name.postal")`},
		{"Observation.value", ""},
	}
	for _, c := range cases {
		if got := readsOf(t, c.expr); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.expr, got, c.want)
		}
	}
}

// TestOnlyChoiceElementsExpand: the engine widens a name into name + type only for a real
// choice element, so "birth" does not read birthDate.
func TestOnlyChoiceElementsExpand(t *testing.T) {
	res := map[string]any{"resourceType": "Patient", "birthDate": "1970-01-01", "deceasedDateTime": "2020-01-01",
		"address": []any{map[string]any{"postalCode": "01901"}}}
	for expr, want := range map[string]string{
		"Patient.birth":          "[]",
		"Patient.address.postal": "[]",
		"Patient.deceased":       "[2020-01-01]",
		"Patient.birthDate":      "[1970-01-01]",
	} {
		vals, err := MustCompile(expr).Eval(res)
		var got []any
		for _, v := range vals {
			got = append(got, v.Data)
		}
		if err != nil || fmt.Sprint(got) != want {
			t.Errorf("%s = %v (%v), want %s", expr, got, err, want)
		}
	}
}
