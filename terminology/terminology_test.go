package terminology

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const (
	genderVS = "http://hl7.org/fhir/ValueSet/administrative-gender"
	genderCS = "http://hl7.org/fhir/administrative-gender"
)

func codesOf(t *testing.T, r *Registry, url string) []string {
	t.Helper()
	cs, err := r.Codes(url)
	if err != nil {
		t.Fatalf("Codes(%s): %v", url, err)
	}
	var out []string
	for _, c := range cs {
		out = append(out, c.Code)
	}
	return out
}

func TestExpandAdministrativeGender(t *testing.T) {
	got := strings.Join(codesOf(t, Spec(), genderVS+"|4.0.1"), ",")
	if got != "male,female,other,unknown" {
		t.Errorf("administrative-gender = %s, want male,female,other,unknown", got)
	}
	vs, err := Spec().Expand(genderVS, ExpandOptions{Filter: "MALE", Offset: 1, Count: 5})
	if err != nil {
		t.Fatal(err)
	}
	if *vs.Expansion.Total != 2 || len(vs.Expansion.Contains) != 1 || vs.Expansion.Contains[0].Code != "female" || vs.Expansion.Contains[0].Display != "Female" {
		t.Errorf("filter MALE offset 1: total %d, contains %+v; want total 2, [female]", *vs.Expansion.Total, vs.Expansion.Contains)
	}
}

func TestMember(t *testing.T) {
	r := Spec()
	cases := []struct {
		vs, system, code string
		want             Membership
		err              error
	}{
		{genderVS + "|4.0.1", genderCS, "female", In, nil},
		{genderVS, "", "female", In, nil},
		{genderVS, "", "blah", NotIn, nil},
		{genderVS, "http://other", "female", NotIn, nil},
		// v3 ActEncounterCode is an is-a filter over v3 ActCode.
		{"http://terminology.hl7.org/ValueSet/v3-ActEncounterCode", "http://terminology.hl7.org/CodeSystem/v3-ActCode", "AMB", In, nil},
		{"http://terminology.hl7.org/ValueSet/v3-ActEncounterCode", "http://terminology.hl7.org/CodeSystem/v3-ActCode", "CASH", NotIn, nil},
		// Every SNOMED CT code: the server holds none of SNOMED CT.
		{"http://hl7.org/fhir/ValueSet/clinical-findings", "http://snomed.info/sct", "404684003", CannotTell, ErrUnsupported},
		// ... but a code of another system is definitely not in it.
		{"http://hl7.org/fhir/ValueSet/clinical-findings", "http://loinc.org", "1234-5", NotIn, nil},
		{"http://example.org/no-such-valueset", "", "x", CannotTell, ErrNotFound},
	}
	for _, c := range cases {
		got, err := r.Member(c.vs, c.system, c.code)
		if got != c.want || (c.err == nil) != (err == nil) || (c.err != nil && !errors.Is(err, c.err)) {
			t.Errorf("Member(%s, %s, %s) = %v, %v; want %v, %v", c.vs, c.system, c.code, got, err, c.want, c.err)
		}
	}
}

func TestSNOMEDIntensionalUnsupported(t *testing.T) {
	_, err := Spec().Expand("http://hl7.org/fhir/ValueSet/clinical-findings", ExpandOptions{})
	if !errors.Is(err, ErrUnsupported) {
		t.Errorf("expand clinical-findings: %v, want ErrUnsupported", err)
	}
	_, err = Spec().Expand("http://example.org/nothing", ExpandOptions{})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("expand unknown: %v, want ErrNotFound", err)
	}
}

// TestEveryValueSet enumerates the specification's value sets: each one either expands or
// says it cannot (never an empty expansion when it draws on terminology the server lacks),
// and an expansion agrees with Member on each of its codes.
func TestEveryValueSet(t *testing.T) {
	r := Spec()
	var expandable, unsupported, empty int
	for url := range r.valueSets {
		codes, err := r.Codes(url)
		if err != nil {
			if !errors.Is(err, ErrUnsupported) {
				t.Errorf("%s: %v, want ErrUnsupported", url, err)
			}
			unsupported++
			continue
		}
		expandable++
		if len(codes) == 0 {
			empty++
			t.Logf("%s expands to no codes", url)
		}
		for _, c := range codes {
			if m, err := r.Member(url, c.System, c.Code); m != In {
				t.Errorf("%s: expansion has %s|%s but Member says %v (%v)", url, c.System, c.Code, m, err)
				break
			}
		}
	}
	t.Logf("%d value sets: %d expand, %d cannot be expanded from the specification, %d expand to nothing", len(r.valueSets), expandable, unsupported, empty)
	if expandable < 1000 {
		t.Errorf("only %d value sets expand", expandable)
	}
}

// TestRequiredBindings counts how many of the base specification's required bindings can be
// checked from the specification alone; each must at least be known.
func TestRequiredBindings(t *testing.T) {
	r := Spec()
	bindings := RequiredBindings()
	var checkable, unknown int
	for _, b := range bindings {
		if r.ValueSet(b.ValueSet) == nil {
			// The definitions add a few R4B/R5 elements (SubscriptionStatus.type) whose
			// value sets R4 does not have.
			t.Logf("%s: value set %s is not in the specification", b.Path, b.ValueSet)
			unknown++
			continue
		}
		if _, err := r.Codes(b.ValueSet); err == nil {
			checkable++
		} else {
			t.Logf("%s: %s cannot be checked: %v", b.Path, b.ValueSet, err)
		}
	}
	t.Logf("%d of %d required bindings can be checked from the specification (%d name a value set R4 lacks)", checkable, len(bindings), unknown)
	if len(bindings) < 300 || checkable < len(bindings)*9/10 || unknown > 5 {
		t.Errorf("%d of %d required bindings checkable", checkable, len(bindings))
	}
}

func TestSubsumesAndLookupHierarchy(t *testing.T) {
	const actCode = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	cases := []struct {
		a, b string
		want Subsumption
	}{
		{"_ActEncounterCode", "AMB", Subsumes},
		{"AMB", "_ActEncounterCode", SubsumedBy},
		{"AMB", "AMB", Equivalent},
		{"AMB", "CASH", NotSubsumed},
	}
	for _, c := range cases {
		got, err := Spec().Subsumes(actCode, c.a, c.b)
		if err != nil || got != c.want {
			t.Errorf("Subsumes(%s, %s) = %s, %v; want %s", c.a, c.b, got, err, c.want)
		}
	}
	if _, err := Spec().Subsumes(actCode, "AMB", "NOPE"); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown code: %v, want ErrInvalid", err)
	}
	if _, err := Spec().Subsumes("http://snomed.info/sct", "1", "2"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("SNOMED: %v, want ErrUnsupported", err)
	}
}

func TestRegistryLayer(t *testing.T) {
	r := NewRegistry(Spec())
	err := r.AddResource([]byte(`{"resourceType":"CodeSystem","url":"http://example.org/cs","content":"complete",
		"concept":[{"code":"a","display":"A","concept":[{"code":"a1","display":"A one"}]},{"code":"b","display":"B"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	err = r.AddResource([]byte(`{"resourceType":"ValueSet","url":"http://example.org/vs","compose":{"include":[
		{"system":"http://example.org/cs","filter":[{"property":"concept","op":"is-a","value":"a"}]},
		{"valueSet":["` + genderVS + `"]}],"exclude":[{"system":"` + genderCS + `","concept":[{"code":"unknown"}]}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(codesOf(t, r, "http://example.org/vs"), ","); got != "a,a1,male,female,other" {
		t.Errorf("layered expansion = %s", got)
	}
	if Spec().ValueSet("http://example.org/vs") != nil {
		t.Error("a layer's value set leaked into its parent")
	}
	if err := r.AddResource([]byte(`{"resourceType":"Patient"}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("a Patient: %v, want ErrInvalid", err)
	}
}

// TestConcurrentUse: expansions are cached per registry while another goroutine adds to a
// layer over it (run with -race).
func TestConcurrentUse(t *testing.T) {
	base := NewRegistry(Spec())
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if i%2 == 0 {
				base.AddResource([]byte(`{"resourceType":"ValueSet","url":"http://example.org/vs` + strconv.Itoa(i) + `","compose":{"include":[{"valueSet":["` + genderVS + `"]}]}}`))
			}
			if codes, err := base.Codes(genderVS); len(codes) != 4 {
				t.Errorf("gender has %d codes (%v)", len(codes), err)
			}
			if m, _ := base.Member("http://terminology.hl7.org/ValueSet/v3-ActEncounterCode", "", "AMB"); m != In {
				t.Errorf("AMB: %v", m)
			}
		}(i)
	}
	wg.Wait()
	if got := len(codesOf(t, base, "http://example.org/vs4")); got != 4 {
		t.Errorf("vs4 has %d codes", got)
	}
}
