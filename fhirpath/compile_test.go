package fhirpath

import (
	"fmt"
	"strings"
	"testing"
)

// TestCacheIsBounded: expressions sent by clients fill the cache up to its bound and no
// further; the most recently used stay, and one that does not compile is not kept.
func TestCacheIsBounded(t *testing.T) {
	compiled.Purge()
	const sent = 3 * compiledCacheSize
	for i := range sent {
		if _, err := Cached(fmt.Sprintf("value = %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := CachedExpressions(); n != compiledCacheSize {
		t.Errorf("%d distinct expressions left %d compiled in the cache, want the bound %d", sent, n, compiledCacheSize)
	}
	if !compiled.Contains(cacheKey{"", fmt.Sprintf("value = %d", sent-1)}) || compiled.Contains(cacheKey{"", "value = 0"}) {
		t.Error("the cache does not keep the most recent expressions")
	}
	if _, err := Cached("value = ("); err == nil || compiled.Contains(cacheKey{"", "value = ("}) {
		t.Errorf("an expression that does not compile: error %v", err)
	}
	a, _ := CompileFor("Patient", "name.given")
	b, _ := CompileFor("Patient", "name.given")
	if a != b || a == nil {
		t.Error("CompileFor does not reuse the compiled expression")
	}
}

func TestCompileForErrors(t *testing.T) {
	for _, tc := range []struct{ context, expr, msg string }{
		{"Patient", "name.givn", `HumanName has no element "givn"`},
		{"Patient", "birth", `Patient has no element "birth"`},
		{"Patient", "birthDate.value", ""},           // a primitive has no elements: empty, not an error
		{"Patient", "deceased.ofType(Citation)", ""}, // an R4B type, named by R4's own dom-r4b
		{"Patient.contact", "name.family | relationship.coding.code", ""},
		{"Patient.contact", "gender.exists() and telecomm.exists()", `PatientContact has no element "telecomm"`},
		{"Observation", "value.ofType(Quantity).value > 0", ""},
		{"Observation", "valueQuantity.unit", ""},
		{"Observation", "component.value.exists()", ""},
		{"Observation", "component.valu.exists()", `ObservationComponent has no element "valu"`},
		{"Observation.value[x]", "foo", ""}, // a choice context has no single type
		{"Patient.nothing", "id", "unknown context"},
		{"Nothing", "id", "unknown context"},
		{"Bundle", "entry.resource.ofType(Patient).name.given", ""},
		{"Bundle", "entry.resource.ofType(Patient).nam", `Patient has no element "nam"`},
	} {
		_, err := CompileFor(tc.context, tc.expr)
		switch {
		case tc.msg == "" && err != nil:
			t.Errorf("CompileFor(%s, %s): %v", tc.context, tc.expr, err)
		case tc.msg != "" && (err == nil || !strings.Contains(err.Error(), tc.msg)):
			t.Errorf("CompileFor(%s, %s) = %v, want an error with %q", tc.context, tc.expr, err, tc.msg)
		}
	}
}

// TestBaseConstraintsCompileTyped compiles every invariant of the base specification for the
// element it is declared on.
func TestBaseConstraintsCompileTyped(t *testing.T) {
	// cid-0 (a warning) tests ChargeItemDefinition.name, an element R4's ChargeItemDefinition
	// does not have: the one invariant of the specification whose path cannot exist.
	const bad = "ChargeItemDefinition cid-0"
	n, rejected := 0, 0
	for _, c := range baseConstraints(t) {
		_, err := CompileFor(c.path, c.expr)
		if c.path+" "+c.key == bad {
			if err == nil || !strings.Contains(err.Error(), `ChargeItemDefinition has no element "name"`) {
				t.Errorf("%s compiled: %v", bad, err)
			}
			rejected++
			continue
		}
		if err != nil {
			t.Errorf("%s %s: %v", c.path, c.key, err)
			continue
		}
		n++
	}
	t.Logf("compiled %d invariants for their element's type, rejected %d", n, rejected)
	if n < 9000 || rejected != 1 {
		t.Fatalf("only %d invariants", n)
	}
}

func TestTypedEvaluation(t *testing.T) {
	pat := loadExample(t, "Patient-example.json")
	obs := loadExample(t, "Observation-blood-pressure.json")
	for _, tc := range []struct {
		res        map[string]any
		expr, want string
	}{
		{pat, "Patient.birthDate.ofType(date)", "date:1974-12-25"},
		{pat, "Patient.birthDate is date", "boolean:true"},
		{pat, "Patient.birthDate is string", "boolean:false"},
		{pat, "Patient.gender is code", "boolean:true"},
		{pat, "Patient.gender is string", "boolean:true"},
		{pat, "Patient.gender.type().name", "Patient.gender"},
		{pat, "Patient is DomainResource", "boolean:true"},
		{pat, "Patient is Resource", "boolean:true"},
		{pat, "Patient.contact.first() is BackboneElement", "boolean:true"},
		{pat, "Patient.name.first() is Element", "boolean:true"},
		{pat, "Patient.name.given.first() is HumanName", "boolean:false"},
		{pat, "Patient.active.ofType(boolean)", "boolean:true"},
		{pat, "Patient.deceased.ofType(boolean)", "boolean:false"},
		{pat, "Patient.multipleBirth.exists()", "boolean:false"},
		{obs, "Observation.effective.ofType(dateTime)", "dateTime:2012-09-17"},
		{obs, "Observation.component.value.ofType(Quantity).value", "decimal:107 decimal:60"},
		{obs, "Observation.valueQuantity.exists() or Observation.component.value is Quantity", "evaluation error"},
		{obs, "Observation.component.first().value is Quantity", "boolean:true"},
		{obs, "Observation.component.first().valueQuantity.value is decimal", "boolean:true"},
		{obs, "Observation.subject.reference.type().name", "string"},
	} {
		got, err := MustCompile(tc.expr).Eval(tc.res)
		s := strings.Join(render(got), " ")
		if err != nil {
			s = "evaluation error"
		}
		if tc.want == "Patient.gender" {
			tc.want = "code"
			s = strings.Join(renderData(got), " ")
		}
		if tc.want == "string" {
			s = strings.Join(renderData(got), " ")
		}
		if s != tc.want {
			t.Errorf("%s = %q, want %q (%v)", tc.expr, s, tc.want, err)
		}
	}
}
