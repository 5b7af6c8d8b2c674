package search

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/storage"
)

// observation returns synthetic Observation i: one of 50 LOINC codes, effective on
// one of 3,650 days from 2015, a quantity value.
func observation(i int) string {
	day := time.Date(2015, 1, 1, 8, 0, 0, 0, time.UTC).AddDate(0, 0, i%3650)
	return fmt.Sprintf(`{"resourceType":"Observation","id":"o%d","status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],"code":{"coding":[{"system":"http://loinc.org","code":"code-%d","display":"Test %d"}]},"subject":{"reference":"Patient/p%d"},"effectiveDateTime":"%s","valueQuantity":{"value":%d.5,"unit":"kg","system":"http://unitsofmeasure.org","code":"kg"}}`,
		i, i%50, i%50, i%1000, day.Format(time.RFC3339), 40+i%60)
}

// seed commits n observations in batches.
func seed(b testing.TB, s *storage.Store, n int) {
	const batch = 500
	var docs []string
	for i := 0; i < n; i++ {
		docs = append(docs, observation(i))
		if len(docs) == batch {
			put(b, s, docs...)
			docs = docs[:0]
		}
	}
	if len(docs) > 0 {
		put(b, s, docs...)
	}
}

// BenchmarkIndexedCommit: committing Observations with their search fields, per resource.
func BenchmarkIndexedCommit(b *testing.B) {
	s := newStore(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		put(b, s, observation(i))
	}
}

// BenchmarkExtract: search-field extraction alone, per Observation.
func BenchmarkExtract(b *testing.B) {
	raw := []byte(observation(7))
	for i := 0; i < b.N; i++ {
		if _, err := Extract("Observation", raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSelectiveSearch100k: the first page (20) of code AND date on 100,000
// Observations; one code in 50, about one year in ten.
// big is the 100,000-Observation store, seeded once for every run of the benchmark.
var big *storage.Store

func BenchmarkSelectiveSearch100k(b *testing.B) {
	if big == nil {
		big = newStore(b)
		start := time.Now()
		seed(b, big, 100000)
		b.Logf("seeded 100,000 Observations in %v", time.Since(start).Round(time.Second))
	}
	s := big
	q, err := Parse("Observation", map[string]any{"code": "http://loinc.org|code-7", "date": map[string]any{"ge": "2023-06"}, "_count": 20})
	if err != nil {
		b.Fatal(err)
	}
	r := &Runner{Store: s, ListLimit: 1000, PageSize: 20}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := r.Connection(context.Background(), q)
		if err != nil {
			b.Fatal(err)
		}
		if len(c.Edges) != 20 {
			b.Fatalf("page of %d", len(c.Edges))
		}
	}
	b.StopTimer()
	if !testClient.Embedded() {
		f, _ := q.Filter(context.Background(), StoreFinder{Store: s})
		plan, err := s.Explain(context.Background(), "Observation", f)
		b.Logf("MongoDB plan: %v (err %v)", plan["winningPlan"], err)
	}
}
