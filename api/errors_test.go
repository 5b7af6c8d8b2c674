package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/resolvers"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/validate"
)

// faultStore is the real datastore with a fault injected into searches: fail, when set, runs
// before every search of a Patient and fails it (or panics, or delays it) the way a deeper
// layer would.
type faultStore struct {
	*storage.Store
	fail func(context.Context) error
}

func (f faultStore) Search(ctx context.Context, typ string, q storage.Query) ([]*storage.Record, error) {
	if typ == "Patient" && f.fail != nil {
		if err := f.fail(ctx); err != nil {
			return nil, err
		}
	}
	return f.Store.Search(ctx, typ, q)
}

// leakMarkers are what no client message may contain: storage's and the driver's words,
// the injected secret id, file positions and stack traces.
var leakMarkers = []string{"storage:", "storage.", "mongo", "connection pool", "maxPoolSize", "pat-secret", "localhost:27017", "deadline exceeded", ".go:", "goroutine", "sjson"}

// driverChain is a chain of the kind storage returns: its own words, an id the caller may
// not see and the driver's message, wrapping target.
func driverChain(target error) error {
	return fmt.Errorf("storage: search Patient {\"_id\": \"pat-secret-0042\"}: connection(localhost:27017[-3]) incomplete read: mongo: timed out while checking out a connection from connection pool: maxPoolSize: 100: %w", target)
}

// assertPlain checks that an error tells its caller nothing of the server's internals.
func assertPlain(t *testing.T, what string, e gqlError) {
	t.Helper()
	diag := ""
	if res, ok := e.Extensions["resource"].(map[string]any); ok {
		if issues, ok := res["issue"].([]any); ok && len(issues) > 0 {
			diag, _ = issues[0].(map[string]any)["diagnostics"].(string)
		}
	}
	// A refused write's outcome lists each problem; the message names them.
	if diag != e.Message && !(strings.HasPrefix(e.Message, validate.ErrInvalid.Error()) && strings.Contains(e.Message, diag)) {
		t.Errorf("%s: diagnostics %q differ from the message %q", what, diag, e.Message)
	}
	if s := stutter(e.Message); s != "" {
		t.Errorf("%s: message %q stutters: %q", what, e.Message, s)
	}
	for _, m := range leakMarkers {
		if strings.Contains(strings.ToLower(e.Message), strings.ToLower(m)) {
			t.Errorf("%s: message %q contains %q", what, e.Message, m)
		}
	}
}

// stutter returns the first repetition in a message's chain of "context: detail" parts: a part
// said twice, or two adjacent parts that open with the same word ("invalid search: invalid
// FHIR resource: ..."); "" when there is none.
func stutter(msg string) string {
	parts := strings.Split(strings.ToLower(msg), ": ")
	seen := map[string]bool{}
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if seen[p] {
			return p
		}
		seen[p] = true
		if i > 0 {
			prev, cur := strings.Fields(parts[i-1]), strings.Fields(p)
			if len(prev) > 0 && len(cur) > 0 && prev[0] == cur[0] {
				return parts[i-1] + ": " + p
			}
		}
	}
	return ""
}

// TestErrorClassesTellNoInternals drives every class of the error table (and an error of no
// class) through a real request, from a failure deep in a search whose chain holds storage's
// words, the driver's message and an id, and checks that the caller gets the class's code and
// a message without any of them, while the log keeps them.
func TestErrorClassesTellNoInternals(t *testing.T) {
	var logs logBuffer
	var inject error
	e := newEnv(t, withLog(&logs), func(c *api.Config) {
		c.Store = faultStore{Store: c.Store.(*storage.Store), fail: func(context.Context) error { return inject }}
	})
	rows := api.ErrorClasses()
	classes := append(rows, api.ErrorClass{Target: errors.New("socket closed"), Code: "INTERNAL"})
	// Each layer's sentinels, as their producers return them, are told as their kind's row.
	code := func(kind error) string {
		for _, c := range rows {
			if c.Target == kind {
				return c.Code
			}
		}
		return "none"
	}
	for _, s := range []struct{ err, kind error }{
		{model.ErrInvalid, fault.Invalid}, {resolvers.ErrBadRequest, fault.Invalid}, {storage.ErrInvalid, fault.Invalid}, {search.ErrInvalid, fault.Invalid},
		{storage.ErrNotFound, fault.NotFound}, {resolvers.ErrUnresolvable, fault.NotFound}, {storage.ErrDeleted, fault.Deleted},
		{storage.ErrConflict, fault.Conflict}, {storage.ErrExists, fault.Exists},
		{storage.ErrTooMany, fault.TooMany}, {search.ErrTooMany, fault.TooMany}, {resolvers.ErrTooMany, fault.TooMany},
		{search.ErrUnsupported, fault.Unsupported}, {storage.ErrForbidden, fault.Forbidden},
	} {
		classes = append(classes, api.ErrorClass{Target: s.err, Code: code(s.kind)})
	}
	// One row per kind of failure, and none for anything else but timeouts and panics.
	kinds := map[error]int{}
	for _, c := range rows {
		kinds[c.Target]++
	}
	for _, k := range fault.Kinds() {
		if kinds[k] != 1 {
			t.Errorf("kind %q has %d rows in the error table, want 1", k, kinds[k])
		}
	}
	if len(rows) != len(fault.Kinds())+2 {
		t.Errorf("%d rows in the error table, want one per each of %d kinds, timeouts and panics", len(rows), len(fault.Kinds()))
	}
	for _, c := range classes {
		inject = driverChain(c.Target)
		before := len(logs.String())
		r := e.post("", `{ PatientList { id } }`, nil)
		what := fmt.Sprintf("%s (%v)", c.Code, c.Target)
		if len(r.Errors) != 1 {
			t.Errorf("%s: %d errors, want 1: %+v", what, len(r.Errors), r.Errors)
			continue
		}
		if got := r.Errors[0].Extensions["code"]; got != c.Code {
			t.Errorf("%s: code %v, want %s (message %q)", what, got, c.Code, r.Errors[0].Message)
		}
		assertPlain(t, what, r.Errors[0])
		if logged := logs.String()[before:]; !strings.Contains(logged, "pat-secret-0042") {
			t.Errorf("%s: the log lost the detail: %q", what, logged)
		}
	}
	t.Logf("%d error classes and sentinels driven", len(classes))
}

// TestErrorsOfRealFailures provokes each kind of failure for real (no injection) and checks
// the code and that the message is plain: missing, deleted and unresolvable resources,
// conflicts, writes outside the compartment, denied fields, timeouts, over-large lists,
// bad searches and resources, unsupported searches, over-complex queries.
func TestErrorsOfRealFailures(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{}, func(c *api.Config) {
		c.ListLimit = 2
		c.Limits.MaxDepth = 6
	})
	a.put(`{"resourceType":"Patient","id":"alice","gender":"female"}`,
		`{"resourceType":"Patient","id":"bob","gender":"male"}`,
		`{"resourceType":"Patient","id":"carol","gender":"female"}`,
		`{"resourceType":"Patient","id":"pat-secret-gone","gender":"male"}`,
		`{"resourceType":"Observation","id":"ob1","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/pat-secret-missing"}}`)
	admin := a.token(t, "admin", "")
	if r := a.postAs(admin, "", `mutation { PatientDelete(id: "pat-secret-gone") { id } }`); len(r.Errors) > 0 {
		t.Fatalf("delete: %+v", r.Errors)
	}
	cases := []struct {
		name, token, query, code string
	}{
		{"missing resource", admin, `{ Patient(id: "pat-secret-nobody") { id } }`, "NOT_FOUND"},
		{"deleted resource", admin, `{ Patient(id: "pat-secret-gone") { id } }`, "GONE"},
		{"dangling reference", admin, `{ Observation(id: "ob1") { subject { resource { id } } } }`, "NOT_FOUND"},
		{"stale version", admin, `mutation { PatientUpdate(id: "alice", ifMatch: "W/\"9\"", res: {resourceType: "Patient", id: "alice"}) { id } }`, "CONFLICT"},
		{"write outside the compartment", a.token(t, "clinician", "bob"), `mutation { ObservationCreate(res: {resourceType: "Observation", status: "final", code: {text: "x"}, subject: {reference: "Patient/alice"}}) { id } }`, "FORBIDDEN"},
		{"another patient's resource", a.token(t, "patient", "bob"), `{ Patient(id: "alice") { id } }`, "NOT_FOUND"},
		{"hidden field", a.token(t, "analyst", ""), `{ Patient(id: "alice") { birthDate } }`, "FORBIDDEN"},
		{"list over the limit", admin, `{ PatientList { id } }`, "TOO_MANY_RESULTS"},
		{"bad search value", admin, `{ PatientList(birthdate: "last tuesday") { id } }`, "BAD_USER_INPUT"},
		{"bad resource", admin, `mutation { PatientCreate(res: {resourceType: "Patient", birthDate: "1970-02-30x"}) { id } }`, "BAD_USER_INPUT"},
		{"unsupported search", admin, `{ ObservationList(code: {in: "http://loinc.org/vs"}) { id } }`, "NOT_SUPPORTED"},
		{"too deep", admin, `{ Patient(id: "alice") { meta { tag { extension { valueCoding { extension { valueString } } } } } } }`, "QUERY_TOO_COMPLEX"},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		r := a.postAs(c.token, "", c.query)
		if len(r.Errors) == 0 {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if got := r.Errors[0].Extensions["code"]; got != c.code {
			t.Errorf("%s: code %v, want %s (%q)", c.name, got, c.code, r.Errors[0].Message)
		}
		for _, e := range r.Errors {
			assertPlain(t, c.name, e)
		}
		seen[c.code] = true
		t.Logf("%s: %s: %q", c.name, r.Errors[0].Extensions["code"], r.Errors[0].Message)
	}

	// A timeout: the request's deadline passes while storage is still being asked.
	slow := newEnv(t, func(c *api.Config) {
		c.Timeout = time.Millisecond
		c.Store = faultStore{Store: c.Store.(*storage.Store), fail: func(ctx context.Context) error {
			<-ctx.Done() // past the deadline (its timer may fire late on a busy machine)
			return nil   // the real search then fails
		}}
	})
	slow.put(`{"resourceType":"Patient","id":"p1"}`)
	r := slow.post("", `{ PatientList { id } Patient(id: "p1") { id } }`, nil)
	if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "TIMEOUT" {
		t.Errorf("timeout: %+v", r.Errors)
	}
	for _, e := range r.Errors {
		assertPlain(t, "timeout", e)
		seen[fmt.Sprint(e.Extensions["code"])] = true
	}
	for _, c := range api.ErrorClasses() {
		if !seen[c.Code] && c.Code != "INTERNAL" { // INTERNAL: TestPanicLogsOneBoundedLine
			seen[c.Code] = true
			t.Errorf("no real failure of code %s was provoked", c.Code)
		}
	}
}

// TestDeadlineBeforeOperation checks that a query whose deadline passes before it runs is
// answered with a TIMEOUT error, over POST, GET and a websocket, rather than with the bare
// null (or, over a websocket, the complete message alone) gqlgen's executor leaves for an
// operation whose context has ended.
func TestDeadlineBeforeOperation(t *testing.T) {
	e := newEnv(t, func(c *api.Config) { c.Timeout = time.Nanosecond })
	e.put(`{"resourceType":"Patient","id":"p1"}`)
	query := `{ Patient(id: "p1") { id } }`

	w := dialWS(t, e, "graphql-transport-ws", nil)
	w.init(nil)
	w.subscribe("q", query, nil)
	var overWS gqlResponse
	if m := w.mustRead(); m.Type != "next" || json.Unmarshal(m.Payload, &overWS) != nil {
		t.Errorf("over a websocket: %s %s, want the error in a next message", m.Type, m.Payload)
	} else if m := w.mustRead(); m.Type != "complete" {
		t.Errorf("over a websocket, after the error: %s %s, want complete", m.Type, m.Payload)
	}
	overWS.body = []byte("(websocket)")

	for _, r := range []*gqlResponse{
		e.post("", query, nil),
		e.raw(http.MethodGet, "/$graphql?query="+url.QueryEscape(query), "", nil),
		&overWS,
	} {
		if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "TIMEOUT" || r.Data != nil {
			t.Errorf("status %d, body %s: want one TIMEOUT error and no data (%+v)", r.Status, r.body, r.Errors)
			continue
		}
		assertPlain(t, "deadline before the operation", r.Errors[0])
	}
}

// TestPanicLogsOneBoundedLine makes a resolver panic many times in one request, with a long
// panic value, and checks that the request logs one short line counting them, without a
// stack, and that each field fails with a plain internal error.
func TestPanicLogsOneBoundedLine(t *testing.T) {
	var logs logBuffer
	e := newEnv(t, withLog(&logs), func(c *api.Config) {
		c.Store = faultStore{Store: c.Store.(*storage.Store), fail: func(context.Context) error {
			panic("storage: " + strings.Repeat("pat-secret ", 2000))
		}}
	})
	const n = 40
	var q strings.Builder
	q.WriteString("{")
	for i := range n {
		fmt.Fprintf(&q, " p%d: PatientList { id }", i)
	}
	q.WriteString(" }")
	for round := 1; round <= 2; round++ {
		r := e.post("", q.String(), nil)
		if len(r.Errors) != n {
			t.Fatalf("%d errors, want %d", len(r.Errors), n)
		}
		for _, err := range r.Errors {
			if err.Extensions["code"] != "INTERNAL" || err.Message != "internal server error" {
				t.Fatalf("error %+v", err)
			}
		}
		lines := logs.lines()
		if len(lines) != round {
			t.Fatalf("after %d requests, %d log lines: %s", round, len(lines), truncate(logs.String(), 2000))
		}
		line := lines[round-1]
		if !strings.Contains(line, "graphql panic") || !strings.Contains(line, fmt.Sprintf("count=%d", n)) || !strings.Contains(line, "faultStore.Search") {
			t.Errorf("log line lacks the panic, its count or its site: %s", truncate(line, 600))
		}
		if len(line) > 1200 || strings.Contains(line, "goroutine") {
			t.Errorf("log line of %d bytes: %s", len(line), truncate(line, 600))
		}
		t.Logf("one line of %d bytes for %d panics: %s", len(line), n, line)
	}
}

// TestUnauthenticatedFirst checks that both endpoints refuse a request without a valid token
// before reading its query (a malformed or huge query answers 401, not a syntax error), that
// such requests are limited per client address, and that a valid token from the same address
// is not.
func TestUnauthenticatedFirst(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{}, func(c *api.Config) {
		c.Auth.Limits.UnauthenticatedRate = 0.001
		c.Auth.Limits.UnauthenticatedBurst = 6
	})
	huge := "{ " + strings.Repeat("id ", 600_000) // 1.8 MB, and no closing brace
	attempts := []struct{ path, token, query string }{
		{"/Patient/p1/$graphql", "", "{ id "},
		{"/Patient/p1/$graphql", "not-a-token", "{ id "},
		{"/Patient/p1/$graphql", "", huge},
		{"/$graphql", "", huge},
		{"/$graphql", "not-a-token", "{ id "},
		{"/Patient/p1/$graphql", "", "{ id }"},
	}
	for _, at := range attempts {
		start := time.Now()
		r := a.postAs(at.token, at.path, at.query)
		if r.Status != http.StatusUnauthorized || strings.Join(codes(r), ",") != "UNAUTHENTICATED" {
			t.Errorf("%s with token %q and a %d-byte query: status %d, %+v", at.path, at.token, len(at.query), r.Status, r.Errors)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: refusing took %v", at.path, d)
		}
	}
	r := a.postAs("", "/Patient/p1/$graphql", "{ id }")
	if r.Status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || strings.Join(codes(r), ",") != "RATE_LIMITED" {
		t.Errorf("past the burst: status %d, Retry-After %q, %+v", r.Status, r.header.Get("Retry-After"), r.Errors)
	}
	if r := a.postAs(a.token(t, "admin", ""), "/$graphql", "{ fhirVersion }"); r.Status != http.StatusOK {
		t.Errorf("a valid token from the throttled address: status %d %+v", r.Status, r.Errors)
	}
	if r := a.postAs(a.token(t, "admin", ""), "/Patient/p1/$graphql", "{ id "); r.Status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(r.Errors), "syntax") {
		t.Errorf("an authenticated malformed query: status %d %+v", r.Status, r.Errors)
	}
}

// TestChainedSearchDepth checks that chained and _has searches nest up to
// search.MaxChainDepth levels and are refused, plainly, past it, however deep.
func TestChainedSearchDepth(t *testing.T) {
	e := newEnv(t)
	e.put(`{"resourceType":"Patient","id":"p1","gender":"male"}`)
	chain := func(levels int) string {
		return `{ PatientList(` + strings.Repeat(`link: {Patient: {`, levels) + `gender: "male"` + strings.Repeat(`}}`, levels) + `) { id } }`
	}
	has := func(levels int) string {
		return `{ ObservationList(` + strings.Repeat(`_has: {Observation: {has_member: {`, levels) + `status: "final"` + strings.Repeat(`}}}`, levels) + `) { id } }`
	}
	mixed := func(levels int) string { // _has, then a chain to Patient, then chains of links
		inner := `gender: "male"`
		for range levels - 2 {
			inner = `link: {Patient: {` + inner + `}}`
		}
		obs := `status: "final"`
		if levels >= 2 {
			obs = `patient: {Patient: {` + inner + `}}`
		}
		return `{ PatientList(_has: {Observation: {subject: {` + obs + `}}}) { id } }`
	}
	checked := 0
	for name, build := range map[string]func(int) string{"chain": chain, "_has": has, "mixed": mixed} {
		for _, levels := range []int{1, search.MaxChainDepth, search.MaxChainDepth + 1, 300} {
			r := e.post("", build(levels), nil)
			checked++
			if levels <= search.MaxChainDepth {
				if len(r.Errors) > 0 {
					t.Errorf("%s of %d levels: %+v", name, levels, r.Errors)
				}
				continue
			}
			if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, fmt.Sprintf("nest %d levels deep at most", search.MaxChainDepth)) {
				t.Errorf("%s of %d levels: %s", name, levels, truncate(fmt.Sprint(r.Errors), 300))
			}
		}
	}
	if checked != 12 {
		t.Errorf("%d cases checked", checked)
	}
}
