package api_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/validate"
)

// seedAggregateObservations writes n Observations: 20 LOINC codes, effective dates spread over
// 2020-2024, a weight in kg, and 1,000 subjects.
func seedAggregateObservations(b *testing.B, store *storage.Store, n int) {
	b.Helper()
	start := time.Now()
	var writes []storage.Write
	flush := func() {
		if _, err := store.Commit(context.Background(), writes); err != nil {
			b.Fatal(err)
		}
		writes = writes[:0]
	}
	for i := range n {
		day := time.Date(2020, 1, 1, 8, 0, 0, 0, time.UTC).AddDate(0, 0, i%1826)
		raw := fmt.Sprintf(`{"resourceType":"Observation","id":"o%d","status":"final",
			"code":{"coding":[{"system":"http://loinc.org","code":"%d-%d"}]},
			"subject":{"reference":"Patient/p%d"},"effectiveDateTime":%q,
			"valueQuantity":{"value":%d.%d,"unit":"kg","system":"http://unitsofmeasure.org","code":"kg"}}`,
			i, 1000+i%20, i%10, i%1000, day.Format(time.RFC3339), 40+i%80, i%10)
		res, err := model.Unmarshal([]byte(raw))
		if err != nil {
			b.Fatal(err)
		}
		writes = append(writes, storage.Write{Op: storage.OpPut, Type: "Observation", ID: res.ResourceID(), Resource: res})
		if len(writes) == 1000 {
			flush()
		}
	}
	if len(writes) > 0 {
		flush()
	}
	b.Logf("seeded %d Observations in %v", n, time.Since(start).Round(time.Second))
}

// peakHeap samples the heap in use while f runs and returns its highest value above the
// value before.
func peakHeap(f func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > base && m.HeapInuse-base > peak.Load() {
				peak.Store(m.HeapInuse - base)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	f()
	close(stop)
	wg.Wait()
	return peak.Load()
}

// BenchmarkAggregate100k runs grouped counts over 100,000 Observations on the engine under test
// (the embedded engine unless MONGODB_URI is set), through the GraphQL handler in-process, and
// reports the plan that ran and the peak heap above the baseline. Run:
//
//	go test ./api/ -run '^$' -bench Aggregate100k -benchtime 3x -timeout 30m
func BenchmarkAggregate100k(b *testing.B) {
	const n = 100_000
	e := newEnv(b, func(c *api.Config) { c.Validation = validate.Off; c.Timeout = 10 * time.Minute })
	seedAggregateObservations(b, e.store, n)
	cases := []struct{ name, args string }{
		{"count", `type: Observation`},
		{"by-code", `type: Observation, groupBy: [{param: "code"}]`},
		{"by-code-month", `type: Observation, groupBy: [{param: "code"}, {param: "date", bucket: MONTH}]`},
		{"by-code-where", `type: Observation, where: {code: "http://loinc.org|1003-3"}, groupBy: [{param: "date", bucket: YEAR}]`},
		{"by-code-stats", `type: Observation, groupBy: [{param: "code"}], measures: [{param: "value-quantity"}]`},
		{"by-code-percentiles", `type: Observation, groupBy: [{param: "code"}], measures: [{param: "value-quantity", percentiles: [50, 90]}]`},
		{"by-fhirpath", `type: Observation, groupBy: [{fhirpath: "subject.reference"}]`},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			query := `{ aggregate(` + c.args + `) { count groups { key count stats { unit count mean percentiles } } } }`
			var peak uint64
			b.ReportAllocs()
			for range b.N {
				peak = max(peak, peakHeap(func() { serve(b, e.handler, query, nil) }))
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		})
	}
}
