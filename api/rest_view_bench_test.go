package api_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/validate"
)

// benchObsView is an analyst's view of the Observations seedAggregateObservations writes: one
// row each, five columns.
const benchObsView = `{"resource":"Observation","select":[{"column":[{"name":"id","path":"getResourceKey()"},
	{"name":"patient","path":"subject.getReferenceKey(Patient)"},{"name":"code","path":"code.coding.code.first()"},
	{"name":"effective","path":"effective.ofType(dateTime)","type":"dateTime"},{"name":"kg","path":"value.ofType(Quantity).value","type":"decimal"}]}]}`

// tailWriter counts what is written, keeping the first and last bytes.
type tailWriter struct {
	n          int64
	lines      int
	head, tail []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	w.lines += bytes.Count(p, []byte("\n"))
	if len(w.head) < 4 {
		w.head = append(w.head, p[:min(len(p), 4-len(w.head))]...)
	}
	w.tail = append(w.tail, p[max(len(p)-4, 0):]...)
	w.tail = w.tail[max(len(w.tail)-4, 0):]
	return len(p), nil
}

// BenchmarkViewRun100k runs $viewdefinition-run over 100,000 stored Observations (the engine
// under test: embedded unless MONGODB_URI is set), through HTTP, the policy, storage's
// one-pass stream and the view, to NDJSON and to Parquet, the answer read and discarded by the
// client. Reports view rows per second and the peak heap above the baseline (server and
// client share the process). Run:
//
//	go test ./api/ -run '^$' -bench ViewRun100k -benchtime 2x -timeout 30m
func BenchmarkViewRun100k(b *testing.B) {
	const n = 100_000
	e := newEnv(b, func(c *api.Config) {
		c.Validation = validate.Off
		c.Timeout = 10 * time.Minute
		c.Reads.MaxRows = n // a whole type, as 'fhirgate view' reads it
		c.Reads.MaxBytes = 0
	})
	seedAggregateObservations(b, e.store, n)
	view := strings.Join(strings.Fields(benchObsView), " ")
	for _, format := range []string{"ndjson", "parquet"} {
		b.Run(format, func(b *testing.B) {
			body := `{"resourceType":"Parameters","parameter":[` + viewParam(view) + `,` + valueParam("_format", "valueCode", `"`+format+`"`) + `]}`
			var peak uint64
			var out *tailWriter
			for b.Loop() {
				peak = max(peak, peakHeap(func() {
					resp, err := http.Post(e.srv.URL+"/fhir/$viewdefinition-run", "application/fhir+json", strings.NewReader(body))
					if err != nil {
						b.Fatal(err)
					}
					defer resp.Body.Close()
					out = &tailWriter{}
					if _, err := io.Copy(out, resp.Body); err != nil || resp.StatusCode != http.StatusOK {
						b.Fatalf("status %d after %d bytes: %v", resp.StatusCode, out.n, err)
					}
				}))
			}
			switch {
			case format == "ndjson" && out.lines != n:
				b.Fatalf("%d rows, want %d", out.lines, n)
			case format == "parquet" && (string(out.head) != "PAR1" || string(out.tail) != "PAR1"):
				b.Fatalf("parquet answer of %d bytes without its magic", out.n)
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(out.n)/(1<<20), "answer-MB")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		})
	}
}
