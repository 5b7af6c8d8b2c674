package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/fhirgate/fhirgate/authz"
)

// startServer runs the server on the embedded engine in a fresh data directory with the
// given flags, and returns its base URL and data directory; it shuts down when the test ends.
func startServer(t *testing.T, flags ...string) (base, data string) {
	t.Helper()
	return startServerLogging(t, &syncBuffer{}, flags...)
}

// startServerLogging is startServer with the server's log written to stderr.
func startServerLogging(t *testing.T, stderr *syncBuffer, flags ...string) (base, data string) {
	t.Helper()
	data = t.TempDir()
	cfg, err := parseConfig(append([]string{"fhirgate", "--addr", "127.0.0.1:0", "--data", data}, flags...), func(string) string { return "" }, stderr)
	if err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	cfg.onListen = func(a string) { addr <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, io.Discard, stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("shutdown: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("server did not shut down")
		}
	})
	select {
	case a := <-addr:
		return "http://" + a, data
	case err := <-done:
		t.Fatalf("server stopped before listening: %v\n%s", err, stderr.String())
	case <-time.After(2 * time.Minute):
		t.Fatal("server did not start")
	}
	return "", ""
}

// scrapeMetrics reads /metrics without a token and parses it.
func scrapeMetrics(t *testing.T, base string) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: status %d: %s", resp.StatusCode, b)
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams, string(b)
}

// sample returns the value of family name's sample with exactly the given labels: a counter's
// or gauge's value, a histogram's sample count; 0 when there is no such sample.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	for _, m := range fams[name].GetMetric() {
		var got []string
		for _, l := range m.GetLabel() {
			got = append(got, l.GetName(), l.GetValue())
		}
		if strings.Join(got, "\x00") != strings.Join(labels, "\x00") {
			continue
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
	return 0
}

// sum adds up every sample of family name.
func sum(fams map[string]*dto.MetricFamily, name string) float64 {
	n := 0.0
	for _, m := range fams[name].GetMetric() {
		n += m.GetCounter().GetValue()
	}
	return n
}

// TestMetricsCountRequests drives the real server through requests of each kind and checks
// that /metrics, read without a token, moved by exactly what was sent: requests by operation
// and outcome, latency observations, storage round trips, cache sizes; and that it names no
// patient and no principal.
func TestMetricsCountRequests(t *testing.T) {
	base, data := startServer(t)
	key, err := authz.LoadLocalKey(data)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := key.Sign(authz.TokenRequest{Subject: "metrics-admin", Roles: []string{authz.RoleAdmin}, TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	post := func(token, query string, vars map[string]any) (int, string) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		req, _ := http.NewRequest(http.MethodPost, base+"/$graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	before, _ := scrapeMetrics(t, base)
	if n := sum(before, "fhirgate_requests_total"); n != 0 {
		t.Fatalf("%v requests counted before any was sent", n)
	}
	if sample(before, "fhirgate_storage_commands_total", "command", "find") == 0 {
		t.Error("opening the store sent no find, by the metrics")
	}
	// The embedded engine reads by id in SQL (storage/sqlread.go), MongoDB with find.
	reads := func(m map[string]*dto.MetricFamily) float64 {
		return sample(m, "fhirgate_storage_commands_total", "command", "find") + sample(m, "fhirgate_storage_commands_total", "command", "sql")
	}
	readsBefore := reads(before)

	const patient = `{"resourceType":"Patient","id":"metrics-p1","name":[{"use":"official","family":"Zyxwvutson"}]}`
	var res map[string]any
	json.Unmarshal([]byte(patient), &res)
	type sent struct {
		token, query string
		vars         map[string]any
		status       int
	}
	requests := []sent{
		{"", `{ PatientList { id } }`, nil, http.StatusUnauthorized},
		{tok, `mutation($r: PatientInput!) { PatientUpdate(id: "metrics-p1", res: $r) { id } }`, map[string]any{"r": res}, http.StatusOK},
		{tok, `{ Patient(id: "metrics-p1") { id } }`, nil, http.StatusOK},
		{tok, `{ Patient(id: "metrics-p1") { name { family } } }`, nil, http.StatusOK},
		{tok, `{ Patient(id: "metrics-p1") { name(fhirpath: "use = 'official'") { family } } }`, nil, http.StatusOK},
		{tok, `{ PatientList(family: "zyx") { id } }`, nil, http.StatusOK},
		{tok, `{ PatientList(birthdate: "last tuesday") { id } }`, nil, http.StatusOK},
		{tok, `{ __schema { queryType { name } } }`, nil, http.StatusOK},
	}
	for _, r := range requests {
		if status, body := post(r.token, r.query, r.vars); status != r.status {
			t.Fatalf("%s: status %d, want %d: %s", r.query, status, r.status, body)
		}
	}
	want := map[[2]string]float64{
		{"graphql", "minor_failure"}:     1, // no token
		{"update", "success"}:            1,
		{"read", "success"}:              3,
		{"search-type", "success"}:       2, // the search and the introspection
		{"search-type", "minor_failure"}: 1, // a date that is not one
	}

	// A request is counted once its handler returns, which may be just after its answer.
	var after map[string]*dto.MetricFamily
	var text string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		after, text = scrapeMetrics(t, base)
		if sum(after, "fhirgate_requests_total") >= float64(len(requests)) || time.Now().After(deadline) {
			break
		}
	}
	if n := sum(after, "fhirgate_requests_total"); n != float64(len(requests)) {
		t.Errorf("%v requests counted, want the %d sent", n, len(requests))
	}
	byOperation := map[string]float64{}
	for k, n := range want {
		if got := sample(after, "fhirgate_requests_total", "operation", k[0], "outcome", k[1]); got != n {
			t.Errorf("requests{operation=%q,outcome=%q} = %v, want %v", k[0], k[1], got, n)
		}
		byOperation[k[0]] += n
	}
	for op, n := range byOperation {
		if got := sample(after, "fhirgate_request_duration_seconds", "operation", op); got != n {
			t.Errorf("latency observations of %s: %v, want %v", op, got, n)
		}
	}
	if n := reads(after) - readsBefore; n < 3 {
		t.Errorf("%v finds and SQL reads counted for 3 reads by id and 2 searches", n)
	}
	if got := sample(after, "fhirgate_cache_entries", "cache", "fhirpath") - sample(before, "fhirgate_cache_entries", "cache", "fhirpath"); got != 1 {
		t.Errorf("fhirpath cache grew by %v for one expression", got)
	}
	if got := sample(after, "fhirgate_cache_entries", "cache", "introspection"); got != 1 {
		t.Errorf("introspection cache holds %v answers after one introspection", got)
	}
	if after["fhirgate_audit_buffered_events"] == nil || after["fhirgate_audit_lost_events_total"] == nil {
		t.Error("the audit writer's metrics are missing")
	}
	for _, phi := range []string{"metrics-p1", "Zyxwvutson", "zyx", "metrics-admin", "Patient/"} {
		if strings.Contains(text, phi) {
			t.Errorf("/metrics mentions %q", phi)
		}
	}

	// The audit writer catches up: its buffer empties and every request's event is stored.
	for deadline := time.Now().Add(10 * time.Second); sample(after, "fhirgate_audit_buffered_events") != 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		after, _ = scrapeMetrics(t, base)
	}
	if n := sample(after, "fhirgate_audit_buffered_events"); n != 0 {
		t.Errorf("%v AuditEvents still buffered", n)
	}
}

// TestVersionCommand: `fhirgate version` prints the module version from the build information,
// the VCS revision when there is one, and the Go version.
func TestVersionCommand(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"fhirgate", "version"}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("the test binary carries no build information")
	}
	line := regexp.MustCompile(`^fhirgate (\S+)( [0-9a-f]{12}(\+modified)?)? (go\S+) ` + runtime.GOOS + "/" + runtime.GOARCH + "\n$")
	m := line.FindStringSubmatch(out.String())
	if m == nil || m[1] != bi.Main.Version || m[4] != runtime.Version() {
		t.Errorf("version printed %q; want module version %q and %s", out.String(), bi.Main.Version, runtime.Version())
	}

	for _, c := range []struct {
		bi   *debug.BuildInfo
		want string
	}{
		{&debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "v1.4.0"}}, "fhirgate v1.4.0 go1.99.1"},
		{&debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"},
		}}, "fhirgate (devel) 0123456789ab+modified go1.99.1"},
		{nil, "fhirgate (unknown) " + runtime.Version()},
	} {
		out.Reset()
		if err := version(&out, func() (*debug.BuildInfo, bool) { return c.bi, c.bi != nil }); err != nil {
			t.Fatal(err)
		}
		if want := c.want + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"; out.String() != want {
			t.Errorf("version printed %q, want %q", out.String(), want)
		}
	}
}
