package search

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
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

// BenchmarkSelectiveSearch: the first page (20) of code AND date, its _total, and the
// first page sorted by -date, on 10,000 and 100,000 Observations (SEARCH_BENCH_SIZES,
// comma-separated, overrides); one code in 50, about one year in ten. On the embedded
// engine it logs SQLite's plan for the index query.
func BenchmarkSelectiveSearch(b *testing.B) {
	sizes := []int{10000, 100000}
	if env := os.Getenv("SEARCH_BENCH_SIZES"); env != "" {
		sizes = nil
		for _, f := range strings.Split(env, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				b.Fatal(err)
			}
			sizes = append(sizes, n)
		}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) { benchSelective(b, n) })
	}
}

// stores holds the seeded stores by size, for every run of the benchmark.
var stores = map[int]*storage.Store{}

func benchSelective(b *testing.B, n int) {
	s := stores[n]
	if s == nil {
		s = newStore(b)
		start := time.Now()
		seed(b, s, n)
		b.Logf("seeded %d Observations in %v", n, time.Since(start).Round(time.Second))
		stores[n] = s
	}
	ctx := context.Background()
	args := map[string]any{"code": "http://loinc.org|code-7", "date": map[string]any{"ge": "2023-06"}, "_count": 20}
	q, err := Parse("Observation", args)
	if err != nil {
		b.Fatal(err)
	}
	r := &Runner{Store: s, ListLimit: 1000, PageSize: 20}
	b.Run("page", func(b *testing.B) {
		for b.Loop() {
			c, err := r.Connection(ctx, q)
			if err != nil {
				b.Fatal(err)
			}
			if len(c.Edges) != 20 {
				b.Fatalf("page of %d", len(c.Edges))
			}
		}
	})
	b.Run("total", func(b *testing.B) {
		for b.Loop() {
			c, err := r.Connection(ctx, q)
			if err != nil {
				b.Fatal(err)
			}
			if n, err := c.Count(ctx); err != nil || *n == 0 {
				b.Fatal(n, err)
			}
		}
	})
	sorted := map[string]any{"code": "http://loinc.org|code-7", "_sort": "-date", "_count": 20}
	qs, err := Parse("Observation", sorted)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("sorted", func(b *testing.B) {
		for b.Loop() {
			c, err := r.Connection(ctx, qs)
			if err != nil {
				b.Fatal(err)
			}
			if len(c.Edges) != 20 {
				b.Fatalf("page of %d", len(c.Edges))
			}
		}
	})
	f, _ := q.Filter(ctx, StoreFinder{Store: s})
	if !testClient.Embedded() {
		plan, err := s.Explain(ctx, "Observation", f)
		b.Logf("MongoDB plan: %v (err %v)", plan["winningPlan"], err)
		return
	}
	plan, exact, err := s.ExplainIndex(ctx, "Observation", f, q.order(false))
	b.Logf("SQLite plan (exact %v, err %v):\n%s", exact, err, plan)
}
