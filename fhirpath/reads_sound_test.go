package fhirpath

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
)

// soundPatient holds a value for every element of miniSchema.
const soundPatient = `{"resourceType":"Patient","birthDate":"1974-12-25","deceasedBoolean":false,
 "name":[{"use":"official","family":"Chalmers","given":["Peter","James"]},{"use":"usual","given":["Jim"]}],
 "address":[{"city":"Lynn","state":"MA"},{"city":"Salem"}],
 "generalPractitioner":[{"reference":"Practitioner/1","display":"Dr B"}]}`

// ancestors lists, for each type of miniSchema, the types whose whole read covers it.
var ancestors = map[string][]string{
	"Patient": {"Patient"}, "HumanName": {"HumanName", "Patient"},
	"Address": {"Address", "Patient"}, "Reference": {"Reference", "Patient"},
}

// soundExprs exercise every kind of node and function the analysis handles.
var soundExprs = []string{
	"name.given", "name.where(use = 'usual').given", "name.select(family)", "name.repeat(given)",
	"name.given.first() | address.city.last()", "name.given.tail().skip(1).take(1)",
	"name.family.single()", "name.exists(family = 'Chalmers')", "name.all(given.exists())",
	"name.given.count()", "name.distinct().count()", "address.isDistinct()",
	"name.given.intersect('Jim' | 'Peter')", "name.given.exclude('Jim')",
	"name.given.union(address.city)", "name.given.combine(address.state)",
	"name.given.subsetOf('Jim' | 'Peter')", "address.city.supersetOf('Lynn')",
	"iif(deceased.exists(), address.city, name.family)", "name.first().iif(family.exists(), use, given)",
	"birthDate.toDate() < @2000-01-01", "birthDate.substring(0, 4).toInteger() + 1",
	"name.family.upper() & address.state.lower()", "name.given.where($this.length() > 3)",
	"name.given.where($index = 1)", "name.given[address.count()]", "name.given.indexOf('e')",
	"name.given.aggregate($total & $this, '')", "address.aggregate($total.combine($this.city))",
	"name.children()", "address.descendants()", "children().count()", "descendants().count()",
	"name[0] = name[1]", "address ~ address", "name.first() != name.last()",
	"'Jim' in name.given", "name.given contains 'James'", "address.city.matches('^S')",
	"name.given.replace('e', 'E')", "deceased as boolean", "deceased.ofType(dateTime)",
	"deceased is boolean", "name.trace('n', given).family", "generalPractitioner.resolve()",
	"generalPractitioner.display.toChars().count()", "(name.given.count() * 2) div 3",
	"-(name.given.count())", "name.given.first().toString().length()",
	"address.state.empty() implies address.city.exists()", "deceased.not() xor true",
	"name.given.toChars().distinct().count()", "name.select(given.first()).allTrue()",
}

// TestReadsSound: for every expression and every element of the resource, when deleting the
// element changes the expression's result, the analysis reported a read that covers it. This
// is the property the authorisation guard relies on.
func TestReadsSound(t *testing.T) {
	var elems [][2]string
	for _, owner := range []string{"Patient", "HumanName", "Address", "Reference"} {
		for name := range miniSchema[owner] {
			elems = append(elems, [2]string{owner, name})
		}
	}
	slices.SortFunc(elems, func(a, b [2]string) int { return compareStrings(a[0]+"."+a[1], b[0]+"."+b[1]) })
	checked, mattered := 0, 0
	for _, expr := range soundExprs {
		e, err := Compile(expr)
		if err != nil {
			t.Fatalf("Compile(%q): %v", expr, err)
		}
		reads, _, err := e.Reads("Patient", miniSchema)
		if err != nil {
			t.Fatalf("Reads(%q): %v", expr, err)
		}
		base := outcome(e, decodeString(t, soundPatient))
		for _, el := range elems {
			checked++
			res := decodeString(t, soundPatient)
			deleteElement(res, "Patient", el[0], el[1])
			if outcome(e, res) == base {
				continue
			}
			mattered++
			if !covers(reads, el[0], el[1]) {
				t.Errorf("%s: the result depends on %s.%s, which the analysis does not report (reads %v)", expr, el[0], el[1], reads)
			}
		}
	}
	t.Logf("%d expressions x %d elements: %d pairs checked, %d where the element mattered", len(soundExprs), len(elems), checked, mattered)
	if mattered < len(soundExprs) {
		t.Fatalf("only %d (expression, element) pairs mattered; the resource does not exercise the expressions", mattered)
	}
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func decodeString(t testing.TB, s string) map[string]any { return decode(t, []byte(s)) }

func outcome(e *Expr, res map[string]any) string {
	got, err := e.Eval(res)
	if err != nil {
		return "error: " + err.Error()
	}
	b, _ := json.Marshal(render(got))
	return string(b)
}

// deleteElement removes element name from every value of type owner below v (of type typ).
func deleteElement(v any, typ, owner, name string) {
	switch d := v.(type) {
	case []any:
		for _, x := range d {
			deleteElement(x, typ, owner, name)
		}
	case map[string]any:
		if typ == owner {
			delete(d, name)
		}
		for k, x := range d {
			if t, ok := miniSchema[typ][k]; ok {
				deleteElement(x, t, owner, name)
			}
		}
	}
}

func covers(reads []Read, owner, name string) bool {
	for _, r := range reads {
		switch {
		case r.Owner == owner && r.Name == name:
			return true
		case r.Owner == "" && !r.Whole && r.Name == name:
			return true
		case r.Whole && (r.Type == "" || slices.Contains(ancestors[owner], r.Type)):
			return true
		}
	}
	return false
}

// TestReadsOfNewConstructs pins what the analysis reports for the constructs the guard
// must refuse or allow precisely.
func TestReadsOfNewConstructs(t *testing.T) {
	cases := []struct{ expr, want string }{
		{"descendants().exists()", "whole Patient"},
		{"children().exists()", "whole Patient"},
		{"name.select(family)", "HumanName.family Patient.name"},
		{"name.repeat(given)", "HumanName.given Patient.name"},
		{"name.distinct()", "Patient.name whole HumanName"},
		{"address.city.upper() = 'X'", "Address.city Patient.address"},
		{"name.given[birthDate.length()]", "HumanName.given Patient.birthDate Patient.name"},
		{"iif(deceased.exists(), address.city)", "Address.city Patient.address Patient.deceasedBoolean Patient.deceasedDateTime"},
		{"%x.family", ".family"},
		{"generalPractitioner.resolve().descendants()", "Patient.generalPractitioner Reference.reference whole "},
		{"name.aggregate($total.combine($this.family))", "HumanName.family Patient.name"},
		{"name.aggregate($total.family)", ".family Patient.name"},
		{"birthDate + 1 year > @2000-01-01", "Patient.birthDate"},
		{"name.first().toString()", "Patient.name whole HumanName"},
	}
	for _, c := range cases {
		if got := readsOf(t, c.expr); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.expr, got, c.want)
		}
	}
	_ = fmt.Sprint
}
