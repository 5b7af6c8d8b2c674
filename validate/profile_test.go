package validate_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/fhirpkg"
	"github.com/fhirgate/fhirgate/terminology"
	"github.com/fhirgate/fhirgate/validate"
)

// slicingProfile is a Patient profile whose slicing uses each discriminator type the US
// Core profiles do not: closed and ordered value slicing, type, exists and profile.
const slicingProfile = `{"resourceType": "StructureDefinition", "url": "http://example.org/slicing", "version": "1",
 "type": "Patient", "derivation": "constraint", "snapshot": {"element": [
  {"id": "Patient", "path": "Patient", "min": 0, "max": "*"},
  {"id": "Patient.identifier", "path": "Patient.identifier", "min": 0, "max": "*", "type": [{"code": "Identifier"}],
   "slicing": {"discriminator": [{"type": "value", "path": "system"}], "ordered": true, "rules": "closed"}},
  {"id": "Patient.identifier:mrn", "path": "Patient.identifier", "sliceName": "mrn", "min": 1, "max": "1", "type": [{"code": "Identifier"}]},
  {"id": "Patient.identifier:mrn.system", "path": "Patient.identifier.system", "min": 1, "max": "1", "type": [{"code": "uri"}], "fixedUri": "http://mrn"},
  {"id": "Patient.identifier:ssn", "path": "Patient.identifier", "sliceName": "ssn", "min": 0, "max": "1", "type": [{"code": "Identifier"}]},
  {"id": "Patient.identifier:ssn.system", "path": "Patient.identifier.system", "min": 1, "max": "1", "type": [{"code": "uri"}], "fixedUri": "http://ssn"},
  {"id": "Patient.contained", "path": "Patient.contained", "min": 0, "max": "*", "type": [{"code": "Resource"}],
   "slicing": {"discriminator": [{"type": "type", "path": "$this"}], "rules": "closed"}},
  {"id": "Patient.contained:org", "path": "Patient.contained", "sliceName": "org", "min": 0, "max": "*", "type": [{"code": "Organization"}]},
  {"id": "Patient.telecom", "path": "Patient.telecom", "min": 0, "max": "*", "type": [{"code": "ContactPoint"}],
   "slicing": {"discriminator": [{"type": "exists", "path": "period"}], "rules": "open"}},
  {"id": "Patient.telecom:dated", "path": "Patient.telecom", "sliceName": "dated", "min": 0, "max": "1", "type": [{"code": "ContactPoint"}]},
  {"id": "Patient.telecom:dated.period", "path": "Patient.telecom.period", "min": 1, "max": "1", "type": [{"code": "Period"}]},
  {"id": "Patient.extension", "path": "Patient.extension", "min": 0, "max": "*", "type": [{"code": "Extension"}],
   "slicing": {"discriminator": [{"type": "profile", "path": "$this"}], "rules": "open"}},
  {"id": "Patient.extension:race", "path": "Patient.extension", "sliceName": "race", "min": 1, "max": "1",
   "type": [{"code": "Extension", "profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"]}]}
 ]}}`

const race = `{"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race", "extension": [
 {"url": "ombCategory", "valueCoding": {"system": "urn:oid:2.16.840.1.113883.6.238", "code": "2106-3"}}, {"url": "text", "valueString": "White"}]}`

func TestSlicing(t *testing.T) {
	pkg, err := fhirpkg.Open("../testdata/packages/hl7.fhir.us.core-5.0.1-subset.tgz")
	if err != nil {
		t.Fatal(err)
	}
	set := validate.NewProfileSet()
	if _, err := fhirpkg.Install(pkg, set, terminology.NewRegistry(terminology.Default())); err != nil {
		t.Fatal(err)
	}
	p, err := validate.CompileProfile([]byte(slicingProfile))
	if err != nil {
		t.Fatal(err)
	}
	set.Add(p)
	v, err := validate.Default()
	if err != nil {
		t.Fatal(err)
	}
	const (
		mrn = `{"system": "http://mrn", "value": "1"}`
		ssn = `{"system": "http://ssn", "value": "2"}`
		org = `{"resourceType": "Organization", "id": "o", "name": "Acme"}`
	)
	patient := func(identifiers, contained, telecom, ext string) string {
		return `{"resourceType": "Patient", "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
			"identifier": [` + identifiers + `], "contained": [` + contained + `], "telecom": [` + telecom + `], "extension": [` + ext + `],
			"managingOrganization": {"reference": "#o"}}`
	}
	dated := `{"system": "phone", "value": "1", "period": {"start": "2020"}}`
	plain := `{"system": "phone", "value": "2"}`
	tests := []struct {
		name string
		res  string
		want []string // "location: text" of each error
	}{
		{"conformant", patient(mrn+","+ssn, org, dated+","+plain, race), nil},
		{"out of order", patient(ssn+","+mrn, org, plain, race),
			[]string{"Patient.identifier[1]: The slices of Patient.identifier must be in order: Patient.identifier:mrn comes after Patient.identifier:ssn"}},
		{"closed", patient(mrn+`,{"system": "http://other", "value": "3"}`, org, plain, race),
			[]string{"Patient.identifier[1]: This element does not match any known slice of Patient.identifier, and the slicing is closed"}},
		{"missing required slice", patient(ssn, org, plain, race),
			[]string{"Patient.identifier: Patient.identifier:mrn: minimum required = 1, but only found 0"}},
		{"type discriminator, closed", patient(mrn, `{"resourceType": "Practitioner", "id": "o"}`, plain, race), []string{
			"Patient.contained[0]: This element does not match any known slice of Patient.contained, and the slicing is closed",
			"Patient.managingOrganization.reference: A reference to a Practitioner is not allowed here"}},
		{"exists discriminator", patient(mrn, org, dated+","+dated, race),
			[]string{"Patient.telecom: Patient.telecom:dated: maximum allowed = 1, but found 2"}},
		{"profile discriminator", patient(mrn, org, plain, `{"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race", "valueString": "White"}`), []string{
			"Patient.extension: Patient.extension:race: minimum required = 1, but only found 0",
			"Patient.extension[0].value: Extension.value[x]: maximum allowed = 0, but found 1",
			"Patient.extension[0].extension: Extension.extension:text: minimum required = 1, but only found 0"}},
	}
	for _, tc := range tests {
		out := v.ValidateProfiles(context.Background(), []byte(tc.res), set, "http://example.org/slicing")
		var got []string
		for _, is := range out.Issues {
			if is.Severity == validate.SeverityError {
				got = append(got, is.Expression+": "+is.Diagnostics)
			}
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s: %d errors, want %d:\n%s", tc.name, len(got), len(tc.want), out)
			continue
		}
		for _, w := range tc.want {
			found := false
			for _, g := range got {
				found = found || strings.HasPrefix(g, w)
			}
			if !found {
				t.Errorf("%s: no error %q:\n%s", tc.name, w, out)
			}
		}
	}
	// The same profile named by meta.profile and unknown: a warning only.
	var res map[string]any
	json.Unmarshal([]byte(patient(mrn, org, plain, race)), &res)
	res["meta"] = map[string]any{"profile": []any{"http://example.org/unknown"}}
	b, _ := json.Marshal(res)
	out := v.ValidateProfiles(context.Background(), b, set)
	notFound := 0
	for _, is := range out.Issues {
		if is.Code == "not-found" && is.Severity == validate.SeverityWarning && is.Expression == "Patient.meta.profile" {
			notFound++
		}
	}
	if out.HasErrors() || notFound != 1 {
		t.Errorf("unknown meta.profile: want one not-found warning and no error:\n%s", out)
	}
}
