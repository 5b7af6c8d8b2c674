package operation

import "testing"

// TestField: an operation's GraphQL field is its type and its name in camel case.
func TestField(t *testing.T) {
	cases := []struct{ path, typ, field string }{
		{"ValueSet/$expand", "ValueSet", "ValueSetExpand"},
		{"ValueSet/$validate-code", "ValueSet", "ValueSetValidateCode"},
		{"ConceptMap/$translate", "ConceptMap", "ConceptMapTranslate"},
		{"$fhirpath", "", "Fhirpath"},
	}
	for _, c := range cases {
		if typ, field := Field(c.path); typ != c.typ || field != c.field {
			t.Errorf("Field(%q) = %q, %q; want %q, %q", c.path, typ, field, c.typ, c.field)
		}
	}
	if n := len(Paths()); n != 7 {
		t.Errorf("%d operations registered, want the 6 terminology operations and $fhirpath", n)
	}
}
