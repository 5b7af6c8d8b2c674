package fhirpath

import (
	"slices"
	"strings"
	"testing"
)

// gapPatient has a contained Questionnaire with a canonical, a primitive with a value and
// extensions, and one with extensions only.
var gapPatient = map[string]any{
	"resourceType": "Patient", "id": "g", "birthDate": "1970-01-01",
	"_birthDate": map[string]any{"extension": []any{map[string]any{"url": "http://e/birthTime", "valueDateTime": "1970-01-01T10:00:00Z"}}},
	"_gender":    map[string]any{"extension": []any{map[string]any{"url": "http://e/absent", "valueCode": "unknown"}}},
	"contained": []any{map[string]any{
		"resourceType": "Questionnaire", "id": "q", "status": "draft",
		"derivedFrom": []any{"http://example.org/Questionnaire/base"},
	}},
	"managingOrganization": map[string]any{"reference": "#q"},
}

// TestTreeWalkIsTyped: children() and descendants() type their items as member navigation
// does, so ofType/is/as work on them (R4's dom-3 casts descendants to canonical), and they
// include primitives that have only their _name companion, and primitives' extensions.
func TestTreeWalkIsTyped(t *testing.T) {
	cases := []struct{ expr, want string }{
		{"descendants().ofType(canonical)", "http://example.org/Questionnaire/base"},
		{"descendants().where($this is Reference).reference", "#q"},
		{"descendants().where(($this as canonical) = 'http://example.org/Questionnaire/base').count()", "1"},
		{"contained.children().ofType(code)", "draft"},
		{"children().ofType(date)", "1970-01-01"},
		{"children().ofType(code).count()", "1"}, // gender: extensions only
		{"children().where(hasValue().not()).extension.url", "http://e/absent"},
		{"children().ofType(Reference).count()", "1"},
		{"birthDate.children().ofType(Extension).url", "http://e/birthTime"},
		{"descendants().ofType(Extension).url.count()", "2"},
		{"birthDate.extension.url", "http://e/birthTime"},
		{"gender.extension.value", "unknown"},
		{"contained.select($this is DomainResource)", "true"},
	}
	for _, c := range cases {
		got, err := MustCompile(c.expr).Eval(gapPatient)
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		if s := joinData(got); s != c.want {
			t.Errorf("%s = %q, want %q", c.expr, s, c.want)
		}
	}
	binary := map[string]any{"resourceType": "Binary", "id": "b"}
	for expr, want := range map[string]string{"$this is Resource": "true", "$this is DomainResource": "false"} {
		got, err := MustCompile(expr).Eval(binary)
		if err != nil || joinData(got) != want {
			t.Errorf("%s on Binary = %v (%v), want %s", expr, renderData(got), err, want)
		}
	}
}

// joinData renders the values' data, without their types, space-separated.
func joinData(vs []Value) string { return strings.Join(renderData(vs), " ") }

// TestReadsOfPrimitiveExtensions: navigating into a primitive's id or extensions reads its
// _name companion, which the authorisation guard governs with the primitive itself.
func TestReadsOfPrimitiveExtensions(t *testing.T) {
	for _, expr := range []string{"birthDate.extension.url", "birthDate.extension('http://e/birthTime').value", "birthDate.id"} {
		reads, _, err := MustCompile(expr).Reads("Patient", fhirSchema{})
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		want := Read{Owner: "Patient", Name: "_birthDate", Type: "Element", Whole: true}
		if !slices.Contains(reads, want) {
			t.Errorf("%s reads %+v, want it to include %+v", expr, reads, want)
		}
	}
}
