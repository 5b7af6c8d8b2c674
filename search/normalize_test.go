package search

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// TestNormalize: Normalize folds case, accents and white space, and gives what the plain
// composition of those steps gives (its fast paths skip steps that change nothing) on
// written cases and on random strings of letters, accents, marks and spaces.
func TestNormalize(t *testing.T) {
	plain := func(s string) string {
		folded, _, err := transform.String(transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC), s)
		if err != nil {
			folded = s
		}
		return strings.Join(strings.Fields(strings.ToLower(folded)), " ")
	}
	for in, want := range map[string]string{
		"Chalmérs  ":                       "chalmers",
		"  Peter   James\tChalmers\n":      "peter james chalmers",
		"ÅNGSTRÖM":                         "angstrom",
		"":                                 "",
		"a b":                              "a b",
		" ":                                "",
		"Ünïcödé\u00a0space":               "unicode space",
		"日本 語":                             "日本 語",
		"Cafe\u0301 Noe\u0308l":            "cafe noel",
		"already lower, with: punctuation": "already lower, with: punctuation",
	} {
		if got := Normalize(in); got != want || got != plain(in) {
			t.Errorf("Normalize(%q) = %q, want %q (plainly %q)", in, got, want, plain(in))
		}
	}

	alphabet := []rune("aZé É\u0301\t\n\u00a0ßİıx日-")
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]rune, r.IntN(12))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		if in := string(b); Normalize(in) != plain(in) {
			t.Fatalf("Normalize(%q) = %q, plainly %q", in, Normalize(in), plain(in))
		}
	}
}
