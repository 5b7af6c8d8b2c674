package nlp

import "testing"

func BenchmarkLoadLexicons(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := loadLexicons(); err != nil {
			b.Fatal(err)
		}
	}
}
