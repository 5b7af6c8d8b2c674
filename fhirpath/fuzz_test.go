package fhirpath

import (
	"errors"
	"testing"
)

// FuzzCompileEval compiles arbitrary text and evaluates what compiles on a small patient,
// and runs the reads analysis on it: nothing may panic, and every failure is an *Error.
func FuzzCompileEval(f *testing.F) {
	for _, s := range soundExprs {
		f.Add(s)
	}
	for _, s := range []string{"1 + 2 * 3", "@2014-01-25T14:30:14.559+01:00 + 1 month", "(1 | 2).aggregate($this + $total, 0)",
		"'a' ~ 'A'", "5.5 mod 0.7", "%'x'", "/* c */ 1 // d", "`div`.exists()", "4 'mg' = 4.0 'mg'", "@T10:00 < @T11",
		"(1).repeat(iif($this < 5, $this + 1, {}))", "'abc'.replaceMatches('b', '$0$0')", "name[0].descendants()",
		"%vs-x-y.z", "birthDate.extension(%ext-a).hasValue()", "1000 'mg' = 1 'g'", "name.type().name", "text.`div`.htmlChecks()"} {
		f.Add(s)
	}
	res := map[string]any{}
	for k, v := range decodeString(f, soundPatient) {
		res[k] = v
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Compile(src)
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) || fe.Pos < 0 || fe.Pos > len(src) {
				t.Fatalf("Compile(%q) = %v, want *Error with a position inside the text", src, err)
			}
			return
		}
		if _, err := e.Eval(res); err != nil {
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("Eval(%q) = %v, want *Error", src, err)
			}
		}
		e.Reads("Patient", miniSchema)
		e.Paths()
		e.Names()
	})
}
