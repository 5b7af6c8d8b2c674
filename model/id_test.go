package model

import (
	"strings"
	"testing"
)

// TestValidID checks the one id check against the id primitive's generated grammar (reID)
// over valid and invalid forms, including every ASCII byte as a one-character id.
func TestValidID(t *testing.T) {
	cases := []string{
		"", "a", "A", "0", "-", ".", "pat-1", "1.2.840", "Patient", strings.Repeat("x", 64), strings.Repeat("x", 65),
		"a b", "a/b", "a_b", "a:b", "a#b", "é", "a\n", "ü1",
	}
	for c := 0; c < 128; c++ {
		cases = append(cases, string(rune(c)))
	}
	valid := 0
	for _, s := range cases {
		want := reID.MatchString(s)
		if got := ValidID(s); got != want {
			t.Errorf("ValidID(%q) = %v, the id grammar says %v", s, got, want)
		}
		if want {
			valid++
		}
	}
	t.Logf("%d ids checked, %d valid", len(cases), valid)
	if valid < 60 || valid == len(cases) {
		t.Errorf("%d of %d cases valid: the table no longer covers both sides", valid, len(cases))
	}
}

// TestParseReference is the table of literal references the project accepts, and of those
// it does not.
func TestParseReference(t *testing.T) {
	cases := []struct {
		ref  string
		want LiteralRef
		ok   bool
	}{
		{"Patient/123", LiteralRef{Type: "Patient", ID: "123"}, true},
		{"Patient/a-b.c", LiteralRef{Type: "Patient", ID: "a-b.c"}, true},
		{"Observation/" + strings.Repeat("9", 64), LiteralRef{Type: "Observation", ID: strings.Repeat("9", 64)}, true},
		{"Patient/123/_history/2", LiteralRef{Type: "Patient", ID: "123", Version: "2"}, true},
		{"Patient/123/_history/v.2-a", LiteralRef{Type: "Patient", ID: "123", Version: "v.2-a"}, true},
		{"http://example.org/fhir/Patient/123", LiteralRef{Base: "http://example.org/fhir/", Type: "Patient", ID: "123"}, true},
		{"https://example.org/Patient/123/_history/7", LiteralRef{Base: "https://example.org/", Type: "Patient", ID: "123", Version: "7"}, true},
		{"/Patient/123", LiteralRef{Base: "/", Type: "Patient", ID: "123"}, true},
		{"Patient/_history", LiteralRef{}, false}, // an id, not a version: "_" is no id character
		{"Patient/_history/2", LiteralRef{}, false},
		{"", LiteralRef{}, false},
		{"Patient", LiteralRef{}, false},
		{"123", LiteralRef{}, false},
		{"Patient/", LiteralRef{}, false},
		{"/123", LiteralRef{}, false},
		{"patient/123", LiteralRef{}, false},
		{"Resource/123", LiteralRef{}, false},
		{"Unknown/123", LiteralRef{}, false},
		{"Patient/12 3", LiteralRef{}, false},
		{"Patient/123_4", LiteralRef{}, false},
		{"Patient/" + strings.Repeat("9", 65), LiteralRef{}, false},
		{"Patient/123/_history/", LiteralRef{}, false},
		{"Patient/123/_history/a b", LiteralRef{}, false},
		{"Patient/123/_history", LiteralRef{}, false},
		{"Patient/123/extra", LiteralRef{}, false},
		{"#contained", LiteralRef{}, false},
		{"Patient?identifier=x", LiteralRef{}, false},
		{"urn:uuid:0b7a3c3e-0000-0000-0000-000000000000", LiteralRef{}, false},
		{"Patient/123/", LiteralRef{}, false},
	}
	valid := 0
	for _, c := range cases {
		got, ok := ParseReference(c.ref)
		if ok != c.ok || got != c.want {
			t.Errorf("ParseReference(%q) = %+v, %v; want %+v, %v", c.ref, got, ok, c.want, c.ok)
		}
		if ok {
			valid++
			if rel := got.Relative(); rel != got.Type+"/"+got.ID || got.IsRelative() != (got.Base == "") {
				t.Errorf("ParseReference(%q): Relative %q, IsRelative %v", c.ref, rel, got.IsRelative())
			}
		}
	}
	t.Logf("%d references checked, %d valid", len(cases), valid)
}

// BenchmarkValidID compares the id check with the id primitive's regexp it replaces on the
// read paths (storage checks every id it reads).
func BenchmarkValidID(b *testing.B) {
	id := "f001-3c2b.9e7a-4d1f-8a6b-2f1e0c9d7b5a"
	b.Run("ValidID", func(b *testing.B) {
		for b.Loop() {
			if !ValidID(id) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("regexp", func(b *testing.B) {
		for b.Loop() {
			if !reID.MatchString(id) {
				b.Fatal("invalid")
			}
		}
	})
}

// BenchmarkParseReference measures the one reference parser on the forms search indexes.
func BenchmarkParseReference(b *testing.B) {
	for _, ref := range []string{"Patient/f001", "http://example.org/fhir/Patient/f001/_history/3"} {
		b.Run(ref, func(b *testing.B) {
			for b.Loop() {
				if _, ok := ParseReference(ref); !ok {
					b.Fatal("not parsed")
				}
			}
		})
	}
}
