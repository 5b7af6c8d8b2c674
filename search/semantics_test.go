package search

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// fixtures are small resources whose search values exercise one rule each.
var fixtures = []string{
	`{"resourceType":"Patient","id":"p1","active":true,"gender":"female","birthDate":"1970-05-03","name":[{"family":"Chalmérs","given":["Peter","James"]}],"identifier":[{"system":"urn:mrn","value":"123","type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MR"}]}}],"telecom":[{"system":"phone","value":"555-1234"}],"address":[{"city":"Springfield","postalCode":"12345"}],"meta":{"tag":[{"system":"urn:tags","code":"vip"}],"profile":["http://example.org/fhir/StructureDefinition/my-patient"]}}`,
	`{"resourceType":"Patient","id":"p2","active":false,"gender":"male","birthDate":"1970","name":[{"family":"Chalmers","given":["Anne"]}],"identifier":[{"system":"urn:other","value":"123"}]}`,
	`{"resourceType":"Patient","id":"p3","gender":"male","birthDate":"1981-12-31","name":[{"family":"Smith","given":["Bob"]}],"deceasedBoolean":true}`,
	`{"resourceType":"Patient","id":"p4","birthDate":"1969-12-31","name":[{"text":"Zoë Ångström"}],"generalPractitioner":[{"reference":"Practitioner/dr1"}],"managingOrganization":{"reference":"Organization/o1"}}`,
	`{"resourceType":"Practitioner","id":"dr1","name":[{"family":"Who"}]}`,
	`{"resourceType":"Organization","id":"o1","name":"Acme Health","type":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/organization-type","code":"prov"}],"text":"Healthcare Provider"}]}`,
	`{"resourceType":"Observation","id":"o-bp","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"85354-9","display":"Blood pressure panel"}]},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2020-01-15T10:30:00Z","component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":120,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}},{"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":80,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]}`,
	`{"resourceType":"Observation","id":"o-wt","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"29463-7","display":"Body weight"}],"text":"Weight"},"subject":{"reference":"Patient/p1"},"effectivePeriod":{"start":"2020-02-01","end":"2020-02-10"},"valueQuantity":{"value":72.50,"unit":"kg","system":"http://unitsofmeasure.org","code":"kg"}}`,
	`{"resourceType":"Observation","id":"o-wt2","status":"amended","code":{"coding":[{"system":"http://loinc.org","code":"29463-7"}]},"subject":{"reference":"Patient/p2"},"effectiveDateTime":"2021-06","valueQuantity":{"value":100,"unit":"kg","system":"http://unitsofmeasure.org","code":"kg"}}`,
	`{"resourceType":"Observation","id":"o-hr","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/p3"},"valueQuantity":{"value":1e2,"unit":"beats/min"}}`,
	`{"resourceType":"Condition","id":"c1","subject":{"reference":"Patient/p1"},"code":{"coding":[{"system":"http://snomed.info/sct","code":"44054006"}],"text":"Diabetes mellitus type 2"},"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},"onsetDateTime":"2010"}`,
	`{"resourceType":"Condition","id":"c2","subject":{"reference":"Patient/p3"},"code":{"coding":[{"system":"http://snomed.info/sct","code":"38341003"}]},"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"resolved"}]}}`,
	`{"resourceType":"Location","id":"l1","name":"Clinic","position":{"latitude":42.25,"longitude":-83.7}}`,
	`{"resourceType":"ValueSet","id":"vs1","url":"http://example.org/fhir/ValueSet/a/b","status":"active"}`,
}

func TestSearchSemantics(t *testing.T) {
	s := newStore(t)
	put(t, s, fixtures...)
	// The ap prefix approximates from now: the cases that use it assume the start of 2026.
	now := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

	cases := []struct {
		name string
		typ  string
		args map[string]any
		want string
	}{
		// string
		{"string starts-with, accent/case-insensitive", "Patient", map[string]any{"family": "chalmers"}, "p1,p2"},
		{"string prefix", "Patient", map[string]any{"name": "CHAL"}, "p1,p2"},
		{"string not infix by default", "Patient", map[string]any{"family": "halmers"}, ""},
		{"string :contains", "Patient", map[string]any{"family": map[string]any{"contains": "ALMER"}}, "p1,p2"},
		{"string :exact", "Patient", map[string]any{"family": map[string]any{"exact": "Chalmérs"}}, "p1"},
		{"string :exact is case-sensitive", "Patient", map[string]any{"family": map[string]any{"exact": "chalmérs"}}, ""},
		{"regex characters are literal", "Patient", map[string]any{"family": ".*"}, ""},
		{"anchors are literal", "Patient", map[string]any{"family": map[string]any{"contains": "^C"}}, ""},
		{"operator-like value is a value", "Patient", map[string]any{"gender": `{"$ne": ""}`}, ""},
		{"reference :identifier", "Observation", map[string]any{"subject": map[string]any{"identifier": "urn:none|1"}}, ""},
		{"_lastUpdated today", "Patient", map[string]any{"_lastUpdated": "gt2020"}, "p1,p2,p3,p4"},
		{"HumanName text, accents folded", "Patient", map[string]any{"name": "zoe"}, "p4"},
		{"given", "Patient", map[string]any{"given": "james"}, "p1"},
		{"address city", "Patient", map[string]any{"address_city": "spring"}, "p1"},
		{"list ORs", "Patient", map[string]any{"family": []any{"smith", "who"}}, "p3"},
		{"and ANDs", "Patient", map[string]any{"given": map[string]any{"and": []any{"peter", "james"}}}, "p1"},
		{"and ANDs, unmatched", "Patient", map[string]any{"given": map[string]any{"and": []any{"peter", "anne"}}}, ""},
		// token
		{"token code", "Patient", map[string]any{"gender": "male"}, "p2,p3"},
		{"token boolean", "Patient", map[string]any{"active": "true"}, "p1"},
		{"token boolean literal", "Patient", map[string]any{"active": false}, "p2"},
		{"token :not includes missing", "Patient", map[string]any{"gender": map[string]any{"not": "male"}}, "p1,p4"},
		{"identifier system|value", "Patient", map[string]any{"identifier": "urn:mrn|123"}, "p1"},
		{"identifier value", "Patient", map[string]any{"identifier": "123"}, "p1,p2"},
		{"identifier system|", "Patient", map[string]any{"identifier": "urn:other|"}, "p2"},
		{"identifier :of_type", "Patient", map[string]any{"identifier": map[string]any{"of_type": "http://terminology.hl7.org/CodeSystem/v2-0203|MR|123"}}, "p1"},
		{"telecom", "Patient", map[string]any{"phone": "555-1234"}, "p1"},
		{"coding system|code", "Observation", map[string]any{"code": "http://loinc.org|29463-7"}, "o-wt,o-wt2"},
		{"coding wrong system", "Observation", map[string]any{"code": "http://snomed.info/sct|29463-7"}, ""},
		{"coding |code (no system)", "Observation", map[string]any{"code": "|29463-7"}, ""},
		{"token :text", "Observation", map[string]any{"code": map[string]any{"text": "weight"}}, "o-wt"},
		{"token :text on CodeableConcept.text", "Condition", map[string]any{"code": map[string]any{"text": "diabetes"}}, "c1"},
		{"_tag", "Patient", map[string]any{"_tag": "urn:tags|vip"}, "p1"},
		{"_profile", "Patient", map[string]any{"_profile": "http://example.org/fhir/StructureDefinition/my-patient"}, "p1"},
		{"_id", "Patient", map[string]any{"_id": []any{"p2", "p3", "nope"}}, "p2,p3"},
		{"deceased", "Patient", map[string]any{"deceased": "true"}, "p3"},
		// missing
		{":missing true", "Patient", map[string]any{"gender": map[string]any{"missing": true}}, "p4"},
		{":missing false", "Patient", map[string]any{"birthdate": map[string]any{"missing": false}}, "p1,p2,p3,p4"},
		// date
		{"date year contains day", "Patient", map[string]any{"birthdate": "1970"}, "p1,p2"},
		{"date day not in year-precision value", "Patient", map[string]any{"birthdate": "1970-05-03"}, "p1"},
		{"date ge", "Patient", map[string]any{"birthdate": "ge1970"}, "p1,p2,p3"},
		{"date gt year", "Patient", map[string]any{"birthdate": "gt1970"}, "p3"},
		{"date lt", "Patient", map[string]any{"birthdate": "lt1970"}, "p4"},
		{"date le: 1970 reaches below May 3", "Patient", map[string]any{"birthdate": "le1970-05-03"}, "p1,p2,p4"},
		{"date typed range", "Patient", map[string]any{"birthdate": map[string]any{"ge": "1970", "lt": "1980"}}, "p1,p2"},
		{"date ne", "Patient", map[string]any{"birthdate": "ne1970"}, "p3,p4"},
		{"date sa", "Patient", map[string]any{"birthdate": "sa1970"}, "p3"},
		{"date eb", "Patient", map[string]any{"birthdate": "eb1970-01-01"}, "p4"},
		{"date ap", "Patient", map[string]any{"birthdate": "ap1970-01-10"}, "p1,p2,p4"},
		{"period inside day", "Observation", map[string]any{"date": "2020-02"}, "o-wt"},
		{"period lt start", "Observation", map[string]any{"date": "lt2020-02-05"}, "o-bp,o-wt"},
		{"period gt end", "Observation", map[string]any{"date": "gt2020-02-05"}, "o-wt,o-wt2"},
		{"dateTime with zone", "Observation", map[string]any{"date": "2020-01-15T11:30:00+01:00"}, "o-bp"},
		{"month value vs day search", "Observation", map[string]any{"date": "2021-06-15"}, ""},
		{"month value in year", "Observation", map[string]any{"date": "2021"}, "o-wt2"},
		// number and quantity
		{"quantity value", "Observation", map[string]any{"value_quantity": "72.5"}, "o-wt"},
		{"quantity precision", "Observation", map[string]any{"value_quantity": "72"}, ""},
		{"quantity precision coarse", "Observation", map[string]any{"value_quantity": "7e1"}, "o-wt"},
		{"quantity gt with unit", "Observation", map[string]any{"value_quantity": "gt70|http://unitsofmeasure.org|kg"}, "o-wt,o-wt2"},
		{"quantity ||unit", "Observation", map[string]any{"value_quantity": "100||beats/min"}, "o-hr"},
		{"quantity unit mismatch", "Observation", map[string]any{"value_quantity": "100|http://unitsofmeasure.org|g"}, ""},
		{"quantity le typed", "Observation", map[string]any{"value_quantity": map[string]any{"le": "100"}}, "o-hr,o-wt,o-wt2"},
		{"quantity ap", "Observation", map[string]any{"value_quantity": "ap95"}, "o-hr,o-wt2"},
		{"component quantity", "Observation", map[string]any{"component_value_quantity": "gt100"}, "o-bp"},
		// composite
		{"composite code$quantity", "Observation", map[string]any{"component_code_value_quantity": "http://loinc.org|8480-6$gt100"}, "o-bp"},
		{"composite pairs within one component", "Observation", map[string]any{"component_code_value_quantity": "http://loinc.org|8462-4$gt100"}, ""},
		{"composite code$quantity top level", "Observation", map[string]any{"code_value_quantity": "http://loinc.org|29463-7$ge100"}, "o-wt2"},
		// reference
		{"reference Type/id", "Observation", map[string]any{"subject": "Patient/p1"}, "o-bp,o-wt"},
		{"reference id", "Observation", map[string]any{"patient": "p1"}, "o-bp,o-wt"},
		{"reference :Type", "Observation", map[string]any{"subject": map[string]any{"Patient": "p2"}}, "o-wt2"},
		{"reference chain", "Observation", map[string]any{"subject": map[string]any{"Patient": map[string]any{"family": "chalmers"}}}, "o-bp,o-wt,o-wt2"},
		{"reference chain two levels", "Observation", map[string]any{"patient": map[string]any{"Patient": map[string]any{"organization": map[string]any{"Organization": map[string]any{"name": "acme"}}}}}, ""},
		{"reference chain on org", "Patient", map[string]any{"organization": map[string]any{"Organization": map[string]any{"name": "acme"}}}, "p4"},
		{"_has", "Patient", map[string]any{"_has": map[string]any{"Observation": map[string]any{"patient": map[string]any{"code": "http://loinc.org|29463-7"}}}}, "p1,p2"},
		{"_has by _id", "Patient", map[string]any{"_has": map[string]any{"Observation": map[string]any{"patient": map[string]any{"_id": "o-wt2"}}}}, "p2"},
		{"_has with condition status", "Patient", map[string]any{"_has": map[string]any{"Condition": map[string]any{"subject": map[string]any{"clinical_status": "active"}}}}, "p1"},
		{"general-practitioner", "Patient", map[string]any{"general_practitioner": "Practitioner/dr1"}, "p4"},
		// uri
		{"uri exact", "ValueSet", map[string]any{"url": "http://example.org/fhir/ValueSet/a/b"}, "vs1"},
		{"uri below", "ValueSet", map[string]any{"url": map[string]any{"below": "http://example.org/fhir"}}, "vs1"},
		{"uri above", "ValueSet", map[string]any{"url": map[string]any{"above": "http://example.org/fhir/ValueSet/a/b/c/d"}}, "vs1"},
		{"uri above misses", "ValueSet", map[string]any{"url": map[string]any{"above": "http://example.org/fhir/ValueSet/a"}}, ""},
		// special
		{"near", "Location", map[string]any{"near": "42.26|-83.71|5|km"}, "l1"},
		{"near far", "Location", map[string]any{"near": "40|-80|5"}, ""},
		{"_content", "Organization", map[string]any{"_content": "healthcare provider"}, "o1"},
		// combinations
		{"AND across params", "Observation", map[string]any{"code": "29463-7", "status": "final"}, "o-wt"},
		{"OR inside a param", "Observation", map[string]any{"status": []any{"amended", "preliminary"}}, "o-wt2"},
		{"condition clinical status", "Condition", map[string]any{"clinical_status": "active", "patient": "Patient/p1"}, "c1"},
		{"token :in ValueSet", "Condition", map[string]any{"clinical_status": map[string]any{"in": "http://hl7.org/fhir/ValueSet/condition-clinical"}}, "c1,c2"},
		{"token :below hierarchy", "Condition", map[string]any{"clinical_status": map[string]any{"below": "http://terminology.hl7.org/CodeSystem/condition-clinical|inactive"}}, "c2"},
		{"token :above hierarchy", "Condition", map[string]any{"clinical_status": map[string]any{"above": "http://terminology.hl7.org/CodeSystem/condition-clinical|relapse"}}, "c1"},
		{"token :in on a code element", "Patient", map[string]any{"gender": map[string]any{"in": "http://hl7.org/fhir/ValueSet/administrative-gender"}}, "p1,p2,p3"},
		{"token :not_in", "Observation", map[string]any{"status": map[string]any{"not_in": "http://hl7.org/fhir/ValueSet/observation-status|4.0.1"}}, ""},
		{"onset-date year", "Condition", map[string]any{"onset_date": "2010-06"}, ""},
		{"onset-date contains", "Condition", map[string]any{"onset_date": "ge2010"}, "c1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := idsAt(t, s, now, c.typ, c.args)
			if err != nil {
				t.Fatalf("%s %v: %v", c.typ, c.args, err)
			}
			if join(got) != c.want {
				t.Errorf("%s %v = [%s], want [%s]", c.typ, c.args, join(got), c.want)
			}
		})
	}
}

func TestSearchErrors(t *testing.T) {
	s := newStore(t)
	cases := []struct {
		name string
		typ  string
		args map[string]any
		want error
		msg  string
	}{
		{"unknown parameter", "Patient", map[string]any{"shoe_size": "9"}, ErrInvalid, `no search parameter "shoe_size"`},
		{"bad date", "Patient", map[string]any{"birthdate": "1970-13"}, ErrInvalid, "not a date"},
		{"bad prefix value", "Patient", map[string]any{"birthdate": "zz1970"}, ErrInvalid, "not a date"},
		{"prefix on token", "Patient", map[string]any{"gender": map[string]any{"gt": "a"}}, ErrInvalid, "prefix gt applies to number, date and quantity"},
		{"modifier for another type", "Patient", map[string]any{"birthdate": map[string]any{"exact": "1970"}}, ErrInvalid, "unknown modifier"},
		{"bad number", "Observation", map[string]any{"value_quantity": "12abc"}, ErrInvalid, "not a number"},
		{"bad quantity shape", "Observation", map[string]any{"value_quantity": "12|kg"}, ErrInvalid, "a quantity is"},
		{"composite parts", "Observation", map[string]any{"code_value_quantity": "a$b$c"}, ErrInvalid, "2 parts"},
		{"chain to wrong type", "Observation", map[string]any{"subject": map[string]any{"Medication": map[string]any{"code": "x"}}}, ErrInvalid, "cannot refer to Medication"},
		{"chain unknown param", "Observation", map[string]any{"subject": map[string]any{"Patient": map[string]any{"nope": "x"}}}, ErrInvalid, `no search parameter "nope"`},
		{"_has not a reference", "Patient", map[string]any{"_has": map[string]any{"Observation": map[string]any{"code": map[string]any{}}}}, ErrInvalid, "not a reference parameter"},
		{"token :in, ValueSet not in the spec", "Observation", map[string]any{"code": map[string]any{"in": "http://x"}}, ErrUnsupported, "cannot be expanded"},
		{"token :below, no hierarchy", "Observation", map[string]any{"code": map[string]any{"below": "http://loinc.org|1234"}}, ErrUnsupported, "no hierarchy"},
		{"_query unsupported", "Patient", map[string]any{"_query": "x"}, ErrUnsupported, "_query"},
		{"sort by unknown", "Patient", map[string]any{"_sort": "shoe"}, ErrInvalid, "cannot sort"},
		{"negative count", "Patient", map[string]any{"_count": -1}, ErrInvalid, "negative"},
		{"missing takes booleans", "Patient", map[string]any{"gender": map[string]any{"missing": "maybe"}}, ErrInvalid, "true or false"},
		{"empty list", "Patient", map[string]any{"gender": []any{}}, ErrInvalid, "empty list"},
		{"injection is a value", "Patient", map[string]any{"family": map[string]any{"$where": "1"}}, ErrInvalid, "unknown modifier"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ids(t, s, c.typ, c.args)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("err = %q, want it to mention %q", err, c.msg)
			}
		})
	}
}
