package metrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// scrape serves the metrics once and parses the text exposition format.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, rec.Body.String())
	}
	return fams
}

// value returns the value of the sample of family name whose labels include want, or -1.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}

func TestMetricsCountWhatTheyAreTold(t *testing.T) {
	m := New()
	for range 3 {
		m.Request("read", "success", 2*time.Millisecond)
	}
	m.Request("create", "minor_failure", time.Second)
	for _, c := range []string{"find", "find", "insert"} {
		m.StorageCommand(c)
	}
	size := 7.0
	m.GaugeFunc("fhirgate_cache_entries", "Entries.", map[string]string{"cache": "a"}, func() float64 { return size })
	m.GaugeFunc("fhirgate_cache_entries", "Entries.", map[string]string{"cache": "b"}, func() float64 { return 2 })
	m.CounterFunc("fhirgate_lost_total", "Lost.", func() float64 { return 5 })
	size = 9

	fams := scrape(t, m.Handler())
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"fhirgate_requests_total", map[string]string{"operation": "read", "outcome": "success"}, 3},
		{"fhirgate_requests_total", map[string]string{"operation": "create", "outcome": "minor_failure"}, 1},
		{"fhirgate_requests_total", map[string]string{"operation": "read", "outcome": "serious_failure"}, -1},
		{"fhirgate_request_duration_seconds", map[string]string{"operation": "read"}, 3},
		{"fhirgate_request_duration_seconds", map[string]string{"operation": "create"}, 1},
		{"fhirgate_storage_commands_total", map[string]string{"command": "find"}, 2},
		{"fhirgate_storage_commands_total", map[string]string{"command": "insert"}, 1},
		{"fhirgate_cache_entries", map[string]string{"cache": "a"}, 9},
		{"fhirgate_cache_entries", map[string]string{"cache": "b"}, 2},
		{"fhirgate_lost_total", nil, 5},
	} {
		if got := value(fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if fams["go_goroutines"] == nil || fams["process_cpu_seconds_total"] == nil {
		t.Error("the Go runtime's and the process's metrics are missing")
	}
	// The three reads of 2 ms are in the 5 ms bucket.
	h := fams["fhirgate_request_duration_seconds"]
	for _, s := range h.GetMetric() {
		for _, b := range s.GetHistogram().GetBucket() {
			if b.GetUpperBound() == 0.005 && s.GetLabel()[0].GetValue() == "read" && b.GetCumulativeCount() != 3 {
				t.Errorf("reads under 5 ms: %d, want 3", b.GetCumulativeCount())
			}
		}
	}
}

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *Metrics
	m.Request("read", "success", time.Millisecond)
	m.StorageCommand("find")
	m.GaugeFunc("x", "x", nil, func() float64 { return 1 })
	m.CounterFunc("y", "y", func() float64 { return 1 })
}
