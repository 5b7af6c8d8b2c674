// Package metrics holds fhirgate's Prometheus metrics, served at /metrics. Their labels name
// operations, outcomes, storage commands and caches from fixed sets, never a resource, a
// patient or a principal, so the endpoint exposes no PHI and operators scrape it without a
// token.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are one server's metrics, on a registry of their own. The methods of a nil
// *Metrics do nothing, so that code paths need not check.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	commands *prometheus.CounterVec
}

// New returns the metrics of a server, with the Go runtime's and the process's beside them.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fhirgate_requests_total",
			Help: "GraphQL requests answered, by operation (read, search-type, create, update, delete, operation, or graphql when refused before one was known) and outcome (success, minor_failure, serious_failure, as the AuditEvent outcomes 0, 4 and 8).",
		}, []string{"operation", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "fhirgate_request_duration_seconds",
			Help:    "Time to answer a GraphQL request, by operation.",
			Buckets: prometheus.DefBuckets,
		}, []string{"operation"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fhirgate_storage_commands_total",
			Help: "Commands sent to the storage engine (round trips), by command name.",
		}, []string{"command"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.commands,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Request counts one answered request by its operation and outcome, and observes how long
// it took.
func (m *Metrics) Request(operation, outcome string, took time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(operation, outcome).Inc()
	m.latency.WithLabelValues(operation).Observe(took.Seconds())
}

// StorageCommand counts one command sent to the storage engine; it serves as
// storage.Config.OnCommand.
func (m *Metrics) StorageCommand(name string) {
	if m == nil {
		return
	}
	m.commands.WithLabelValues(name).Inc()
}

// GaugeFunc registers a gauge that f reads at each scrape. Gauges of one name differ by
// the values of their constant labels, and share help and label names.
func (m *Metrics) GaugeFunc(name, help string, labels map[string]string, f func() float64) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, f))
}

// CounterFunc registers a counter that f reads at each scrape; f must never decrease.
func (m *Metrics) CounterFunc(name, help string, f func() float64) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
}

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
