package authz

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
)

// TestSubjectParamsFromTables checks the subject-like parameters derived from the generated
// compartment and search-parameter tables against what the specification says of them.
func TestSubjectParamsFromTables(t *testing.T) {
	var inTable, withSubject int
	var without, otherSubjects []string
	participants := map[string]bool{}
	for _, typ := range model.ResourceTypes() {
		params := CompartmentParams(typ)
		if params == nil {
			if SubjectParams(typ) != nil {
				t.Errorf("%s is not in the compartment but has subject-like parameters %v", typ, SubjectParams(typ))
			}
			continue
		}
		inTable++
		subj := SubjectParams(typ)
		if subj == nil {
			without = append(without, typ)
		} else {
			withSubject++
		}
		for _, code := range params {
			p := param(typ, code)
			if p == nil || p.Type != "reference" || !slices.Contains(p.Targets, "Patient") {
				t.Errorf("%s: compartment parameter %s is not a reference that may name a Patient: %+v", typ, code, p)
				continue
			}
			switch isSubj := slices.Contains(subj, code); {
			case code == "subject" || code == "patient":
				if !isSubj {
					t.Errorf("%s.%s is not subject-like", typ, code)
				}
			case isSubj:
				otherSubjects = append(otherSubjects, typ+"."+code)
			default:
				participants[code] = true
			}
		}
	}
	// Besides subject and patient, the parameters that can only name the patient whose
	// record it is; everything else names someone who took part, a member or a linked record.
	if want := []string{"Coverage.beneficiary", "ResearchSubject.individual"}; !slices.Equal(otherSubjects, want) {
		t.Errorf("subject-like parameters not called subject or patient: %v, want %v", otherSubjects, want)
	}
	codes := slices.Sorted(maps.Keys(participants))
	if want := "actor asserter attester author focus link member participant payee payor performer policy-holder receiver recipient recorder requester sender source subscriber"; strings.Join(codes, " ") != want {
		t.Errorf("participant parameters: %v, want %s", codes, want)
	}
	// The Patient compartment's types whose links are all participations (and Patient,
	// whose own record is itself).
	if want := []string{"Appointment", "AppointmentResponse", "Group", "Patient", "Schedule"}; !slices.Equal(without, want) {
		t.Errorf("types without subject-like parameters: %v, want %v", without, want)
	}
	t.Logf("%d types in the compartment table, %d with subject-like parameters", inTable, withSubject)
	if inTable < 60 || withSubject != inTable-len(without) {
		t.Errorf("%d types in the table, %d with subject-like parameters", inTable, withSubject)
	}
}

func param(typ, code string) *model.SearchParam {
	for _, p := range model.SearchParams(typ) {
		if p.Code == code {
			return &p
		}
	}
	return nil
}

// TestAdmitReferenceForms: the forms a reference can take, read as search indexes them.
func TestAdmitReferenceForms(t *testing.T) {
	c := PatientCompartment{ID: "pat-a"}
	cases := []struct {
		name, json string
		admit      bool
	}{
		{"relative subject", `{"resourceType":"Observation","subject":{"reference":"Patient/pat-a"}}`, true},
		{"absolute subject", `{"resourceType":"Observation","subject":{"reference":"https://fhir.example.org/r4/Patient/pat-a"}}`, true},
		{"versioned subject", `{"resourceType":"Observation","subject":{"reference":"Patient/pat-a/_history/3"}}`, true},
		{"no subject, performer", `{"resourceType":"Observation","performer":[{"reference":"Patient/pat-a"}]}`, false},
		{"logical subject", `{"resourceType":"Observation","subject":{"type":"Patient","identifier":{"value":"123"}},"performer":[{"reference":"Patient/pat-a"}]}`, false},
		{"contained subject", `{"resourceType":"Observation","contained":[{"resourceType":"Patient","id":"p"}],"subject":{"reference":"#p"},"performer":[{"reference":"Patient/pat-a"}]}`, false},
		{"group subject", `{"resourceType":"Observation","subject":{"reference":"Group/g"},"performer":[{"reference":"Patient/pat-a"}]}`, false},
		{"issue 15: subject B, performer A", `{"resourceType":"Observation","subject":{"reference":"Patient/pat-b"},"performer":[{"reference":"Patient/pat-a"}]}`, false},
		{"subject A, focus B", `{"resourceType":"Observation","subject":{"reference":"Patient/pat-a"},"focus":[{"reference":"Patient/pat-b"}]}`, false},
		{"subject A, absolute reference to B", `{"resourceType":"Observation","subject":{"reference":"Patient/pat-a"},"hasMember":[{"reference":"http://other.example/Patient/pat-b"}]}`, false},
		{"subject A, contained resource about B", `{"resourceType":"Observation","subject":{"reference":"Patient/pat-a"},"contained":[{"resourceType":"Observation","id":"o","subject":{"reference":"Patient/pat-b"}}]}`, false},
		{"subject A, extension naming B", `{"resourceType":"Observation","subject":{"reference":"Patient/pat-a"},"extension":[{"url":"http://x","valueReference":{"reference":"Patient/pat-b"}}]}`, false},
		{"subject A, practitioner performer", `{"resourceType":"Observation","subject":{"reference":"Patient/pat-a"},"performer":[{"reference":"Practitioner/d"}]}`, true},
		{"own Patient", `{"resourceType":"Patient","id":"pat-a","generalPractitioner":[{"reference":"Practitioner/d"}]}`, true},
		{"own Patient linked to B", `{"resourceType":"Patient","id":"pat-a","link":[{"type":"seealso","other":{"reference":"Patient/pat-b"}}]}`, false},
		{"another Patient linked to A", `{"resourceType":"Patient","id":"pat-b","link":[{"type":"seealso","other":{"reference":"Patient/pat-a"}}]}`, false},
		{"group of A", `{"resourceType":"Group","member":[{"entity":{"reference":"Patient/pat-a"}}]}`, true},
		{"group of A and B", `{"resourceType":"Group","member":[{"entity":{"reference":"Patient/pat-a"}},{"entity":{"reference":"Patient/pat-b"}}]}`, false},
		{"type outside the compartment", `{"resourceType":"Practitioner","extension":[{"url":"http://x","valueReference":{"reference":"Patient/pat-a"}}]}`, false},
	}
	for _, tc := range cases {
		typ, _, _ := strings.Cut(strings.TrimPrefix(tc.json, `{"resourceType":"`), `"`)
		id := "x"
		if typ == "Patient" {
			id = strings.Split(strings.Split(tc.json, `"id":"`)[1], `"`)[0]
		}
		ix, err := search.Indexer{}.Index(typ, []byte(tc.json))
		if err != nil {
			t.Fatal(err)
		}
		err = c.Admit(storage.Version{Type: typ, ID: id, JSON: []byte(tc.json), Index: ix})
		if (err == nil) != tc.admit {
			t.Errorf("%s: Admit = %v, want admitted %v", tc.name, err, tc.admit)
		}
		if err != nil && (strings.Contains(err.Error(), "pat-b") || strings.Contains(err.Error(), "pat-a")) {
			t.Errorf("%s: the refusal quotes an id: %v", tc.name, err)
		}
	}
}
