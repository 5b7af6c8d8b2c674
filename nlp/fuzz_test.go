package nlp

import (
	"testing"
	"unicode/utf8"
)

// FuzzAnalyze checks that the pipeline never panics and that every offset maps back onto the
// text, on arbitrary input and small chunk sizes (so chunk borders fall everywhere).
func FuzzAnalyze(f *testing.F) {
	for _, s := range []string{
		"Patient denies chest pain. HTN, DM2 on metformin 500 mg PO BID x 5 days.",
		"Family History:\r\nMother: breast cancer.\r\n",
		"Zoë 92 year-old, 😀 hypertension ＤＭ２ café",
		"# Medications\n- 1 ml epoetin alfa 4000 unt/ml injection [epogen]\n",
		"Dr. A. Smith 555-123-4567 03/04/2021 MRN: 12345 HbA1c 7.2%",
	} {
		f.Add(s, 64)
	}
	f.Fuzz(func(t *testing.T, text string, chunk int) {
		if !utf8.ValidString(text) {
			if _, err := Analyze(text); err == nil {
				t.Fatal("invalid UTF-8 accepted")
			}
			return
		}
		o := Options{MaxChars: 100_000, ChunkChars: 16 + abs(chunk)%2000}
		r, err := o.Analyze(text)
		if err != nil {
			if utf8.RuneCountInString(text) <= o.MaxChars {
				t.Fatalf("Analyze: %v", err)
			}
			return
		}
		checkOffsets(t, text, r)
		for i, e := range r.Entities {
			if e.ID != i || e.Traits == nil || e.Attributes == nil || e.Concepts == nil {
				t.Fatalf("entity %d malformed: %+v", i, e)
			}
			if len(e.Concepts) > maxConcepts {
				t.Fatalf("%d concepts", len(e.Concepts))
			}
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
