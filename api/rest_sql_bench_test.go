//go:build cgo

package api_test

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/api"
)

// BenchmarkSQLQueryRun100k runs $sqlquery-run over a view of 100,000 stored Observations (100
// of each of 1,000 patients): a grouped aggregate, answered as 1,000 rows, through HTTP, the
// policy, storage, the view and DuckDB. Reports view rows per second. DuckDB's own share
// (loading the rows, running the SQL) is sqlquery's BenchmarkRun100k.
//
//	go test ./api -run XXX -bench SQLQueryRun100k -benchtime 3x -timeout 30m
func BenchmarkSQLQueryRun100k(b *testing.B) {
	patients, perPatient := 1000, 100
	if n, err := strconv.Atoi(os.Getenv("FHIRGATE_BENCH_PATIENTS")); err == nil {
		patients = n // a smaller run, to look at how the cost grows
	}
	e := newEnv(b, func(c *api.Config) {
		c.Timeout = 10 * time.Minute
	})
	seedStart := time.Now()
	var batch []string
	for p := range patients {
		batch = append(batch, fmt.Sprintf(`{"resourceType":"Patient","id":"bp%d","gender":"female"}`, p))
		for i := range perPatient {
			batch = append(batch, fmt.Sprintf(`{"resourceType":"Observation","id":"bo%d-%d","status":"final","code":{"text":"weight"},"valueQuantity":{"value":%d.%02d,"unit":"kg"},"subject":{"reference":"Patient/bp%d"}}`, p, i, 50+i%50, p%100, p))
		}
		if len(batch) >= 1000 {
			e.put(batch...)
			batch = batch[:0]
		}
	}
	e.put(batch...)
	b.Logf("seeded %d observations in %s", patients*perPatient, time.Since(seedStart).Round(time.Second))

	rows := patients * perPatient
	obs := tableParam("obs", sqlObsView)
	q := sqlParam("SELECT patient, count(*) AS n, avg(kg) AS mean, max(kg_text) AS top FROM obs GROUP BY patient ORDER BY patient")
	for b.Loop() {
		r := e.runSQL("", obs, q)
		if r.Status != http.StatusOK || strings.Count(string(r.Body), "\n") != patients {
			b.Fatalf("status %d, %d lines: %s", r.Status, strings.Count(string(r.Body), "\n"), truncate(string(r.Body), 300))
		}
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}
