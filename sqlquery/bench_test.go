//go:build cgo

package sqlquery

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/fhirgate/fhirgate/view"
)

// BenchmarkRun100k loads a 100,000-row table of the shape of an Observation view (id, patient
// key, a DOUBLE and the decimal's text) into a query's database and runs a grouped aggregate
// over it: DuckDB's share of $sqlquery-run, without reading storage or evaluating views.
//
//	go test ./sqlquery -run XXX -bench Run100k -benchtime 5x
func BenchmarkRun100k(b *testing.B) {
	const n = 100_000
	cols := []view.Column{{Name: "id", Kind: view.KindString}, {Name: "patient", Kind: view.KindString},
		{Name: "kg", Kind: view.KindDouble}, {Name: "kg_text", Kind: view.KindString}}
	rows := make([]view.Row, n)
	for i := range rows {
		kg := json.Number(fmt.Sprintf("%d.%02d", 50+i%50, i%100))
		rows[i] = view.Row{fmt.Sprintf("o%d", i), fmt.Sprintf("Patient/p%d", i/100), kg, string(kg)}
	}
	e := New(Limits{})
	q := &Query{SQL: "SELECT patient, count(*) AS n, avg(kg) AS mean, max(kg_text) AS top FROM obs GROUP BY patient ORDER BY patient",
		Tables: []Table{table("obs", cols, rows...)}}
	for b.Loop() {
		a := &answer{}
		if err := e.Run(b.Context(), q, a); err != nil || len(a.rows) != n/100 {
			b.Fatalf("%d rows, %v", len(a.rows), err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
}
