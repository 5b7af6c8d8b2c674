package fhirpath

import (
	"fmt"
	"slices"
	"testing"
)

func TestPathsAndNames(t *testing.T) {
	cases := []struct{ expr, paths, members, funcs string }{
		{"Patient.name.family", "[[{Patient } {name } {family }]]", "[Patient name family]", "[]"},
		{"Patient.telecom.where(system='phone') | Person.telecom", "[[{Patient } {telecom }] [{Person } {telecom }]]", "[Patient telecom system Person telecom]", "[where]"},
		{"(Observation.value as Quantity) | Observation.value.as(SampledData)", "[[{Observation } {value Quantity}] [{Observation } {value SampledData}]]", "[Observation value Observation value]", "[as]"},
		{"Account.subject.where(resolve() is Patient)", "[[{Account } {subject }]]", "[Account subject]", "[where resolve]"},
		{"Patient.extension('http://x').value", "[[{Patient } {extension } {value }]]", "[Patient value]", "[extension]"},
		{"Bundle.entry[0].resource", "[[{Bundle } {entry } {resource }]]", "[Bundle entry resource]", "[]"},
		{"name.exists() and gender = 'x'", "[[{name }] [{gender }]]", "[name gender]", "[exists]"},
	}
	for _, c := range cases {
		e, err := Compile(c.expr)
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		m, f := e.Names()
		if got := fmt.Sprint(e.Paths()); got != c.paths {
			t.Errorf("%s: paths %s, want %s", c.expr, got, c.paths)
		}
		if fmt.Sprint(m) != c.members || fmt.Sprint(slices.Compact(f)) != c.funcs {
			t.Errorf("%s: names %v %v, want %s %s", c.expr, m, f, c.members, c.funcs)
		}
	}
}
