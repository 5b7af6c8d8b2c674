package view

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/internal/datasets"
)

// benchViews are views an analyst writes over Synthea data: flat demographics, encounters
// with their patient key, and one row per condition coding.
var benchViews = map[string]string{
	"Patient": `{"resource":"Patient","select":[{"column":[{"name":"id","path":"getResourceKey()"},{"name":"gender","path":"gender"},
		{"name":"birth","path":"birthDate","tag":[{"name":"ansi/type","value":"DATE"}]},{"name":"deceased","path":"deceased.exists()"},
		{"name":"family","path":"name.where(use = 'official').family.first()"},{"name":"language","path":"communication.language.coding.code.first()"}]},
		{"forEachOrNull":"address","column":[{"name":"city","path":"city"},{"name":"state","path":"state"},{"name":"country","path":"country"}]}]}`,
	"Encounter": `{"resource":"Encounter","select":[{"column":[{"name":"id","path":"getResourceKey()"},{"name":"patient","path":"subject.getReferenceKey(Patient)"},
		{"name":"status","path":"status"},{"name":"class","path":"class.code"},{"name":"type","path":"type.coding.code.first()"},
		{"name":"start","path":"period.start","tag":[{"name":"ansi/type","value":"TIMESTAMP"}]},{"name":"end","path":"period.end","tag":[{"name":"ansi/type","value":"TIMESTAMP"}]},
		{"name":"reasons","path":"reasonCode.coding.code","collection":true}]}]}`,
	"Condition": `{"resource":"Condition","select":[{"column":[{"name":"id","path":"getResourceKey()"},{"name":"patient","path":"subject.getReferenceKey(Patient)"},
		{"name":"encounter","path":"encounter.getReferenceKey(Encounter)"},{"name":"status","path":"clinicalStatus.coding.code.first()"},
		{"name":"onset","path":"onset.ofType(dateTime)"}]},{"forEach":"code.coding","column":[{"name":"system","path":"system"},{"name":"code","path":"code"},{"name":"display","path":"display"}]}]}`,
}

// BenchmarkParquet measures rows per second from decoded Synthea resources to a Parquet
// stream, per view: evaluation and writing, not JSON decoding (the server decodes each
// resource once whatever the view).
func BenchmarkParquet(b *testing.B) {
	for _, typ := range []string{"Patient", "Encounter", "Condition"} {
		b.Run(typ, func(b *testing.B) {
			v, err := Parse([]byte(benchViews[typ]))
			if err != nil {
				b.Fatal(err)
			}
			resources := synthea(b, typ)
			// One writer for the whole run: the rate of a long export, row groups flushed as
			// they fill, not the cost of opening a file per pass.
			w, err := NewParquet(io.Discard, v.Columns)
			if err != nil {
				b.Fatal(err)
			}
			rows := 0
			count := func(r Row) error { rows++; return w.Write(r) }
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				for _, r := range resources {
					if err := v.Rows(r, count); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
			b.ReportMetric(float64(rows)/float64(b.N), "rows/op")
		})
	}
}

// synthea decodes the Synthea resources of typ.
func synthea(b testing.TB, typ string) []map[string]any {
	data := datasets.ReadFile(b, datasets.Synthea, typ+".000.ndjson")
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out = append(out, decode(b, line))
		}
	}
	if len(out) == 0 {
		b.Fatalf("no %s resources", typ)
	}
	return out
}
