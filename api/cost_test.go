package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/resolvers"
	"github.com/fhirgate/fhirgate/storage"
)

// countingStore passes every call through to the datastore and records how many are in
// flight at once and how many resources they return.
type countingStore struct {
	resolvers.Store
	inFlight, peak, calls, rows atomic.Int64
}

func (c *countingStore) enter() func() {
	c.calls.Add(1)
	n := c.inFlight.Add(1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			break
		}
	}
	return func() { c.inFlight.Add(-1) }
}

func (c *countingStore) reset() {
	c.peak.Store(0)
	c.calls.Store(0)
	c.rows.Store(0)
}

func (c *countingStore) Read(ctx context.Context, typ, id string) (*storage.Record, error) {
	defer c.enter()()
	rec, err := c.Store.Read(ctx, typ, id)
	if rec != nil {
		c.rows.Add(1)
	}
	return rec, err
}

func (c *countingStore) ReadMany(ctx context.Context, typ string, ids []string) (map[string]*storage.Record, error) {
	defer c.enter()()
	recs, err := c.Store.ReadMany(ctx, typ, ids)
	c.rows.Add(int64(len(recs)))
	return recs, err
}

func (c *countingStore) Search(ctx context.Context, typ string, q storage.Query) ([]*storage.Record, error) {
	defer c.enter()()
	recs, err := c.Store.Search(ctx, typ, q)
	c.rows.Add(int64(len(recs)))
	return recs, err
}

func (c *countingStore) Count(ctx context.Context, typ string, q storage.Query) (int64, error) {
	defer c.enter()()
	return c.Store.Count(ctx, typ, q)
}

func (c *countingStore) Select(ctx context.Context, typ string, sel storage.Selection) ([]*storage.Record, error) {
	defer c.enter()()
	recs, err := c.Store.Select(ctx, typ, sel)
	c.rows.Add(int64(len(recs)))
	return recs, err
}

// newCountingEnv is newEnv with a countingStore between the server and its datastore.
func newCountingEnv(t testing.TB, mutate ...func(*api.Config)) (*env, *countingStore) {
	cs := &countingStore{}
	e := newEnv(t, append([]func(*api.Config){func(c *api.Config) { cs.Store = c.Store; c.Store = cs }}, mutate...)...)
	return e, cs
}

// seedConditions writes n Conditions, condition i referring to patient i%patients.
func seedConditions(e *env, n, patients int) {
	var batch []string
	for i := 0; i < n; i++ {
		batch = append(batch, fmt.Sprintf(`{"resourceType":"Condition","id":"c%d","subject":{"reference":"Patient/p%d"},"code":{"text":"condition %d"}}`, i, i%patients, i))
		if len(batch) == 300 || i == n-1 {
			e.put(batch...)
			batch = batch[:0]
		}
	}
}

// heavyQuery reads, for each of n observations, its patient's conditions: a reverse
// reference under a reference under a connection, which the cost estimate accepts
// (about 30 per observation) and the server resolves one search per patient, each
// a scan of every Condition on the embedded engine.
const heavyQuery = `query($n: Int) { ObservationConnection(_count: $n) { edges { resource { id
  subject { resource { ... on Patient { id ConditionList(_reference: patient) { id } } } } } } } }`

var costRE = regexp.MustCompile(`query cost (\d+) exceeds`)

// TestCostOfKnownQueries checks the cost estimate of small queries exactly, over HTTP: with a
// cost limit of 1 every query is refused with its cost in the message.
func TestCostOfKnownQueries(t *testing.T) {
	e := newEnv(t, func(c *api.Config) { c.Limits.MaxCost = 1; c.PageSize = 20 })
	cases := []struct {
		name  string
		query string
		vars  map[string]any
		want  int
	}{
		// A root read costs 10, each field 1, and a list's fields count once per element.
		{"list", `{ PatientList(_count: 5) { id } }`, nil, 10 + 5*1},
		{"list from a variable", `query($n: Int) { PatientList(_count: $n) { id } }`, map[string]any{"n": 7}, 10 + 7*1},
		{"list without _count", `{ PatientList { id } }`, nil, 10 + 10*1},
		// A connection counts like a list: its edges once per element of _count.
		{"connection", `{ PatientConnection(_count: 5) { count edges { resource { id } } } }`, nil, 10 + 1 + 1 + 5*(1+1)},
		{"connection at the page size", `{ PatientConnection { edges { resource { id } } } }`, nil, 10 + 1 + 20*(1+1)},
		{"connection from a variable", `query($n: Int) { PatientConnection(_count: $n) { edges { resource { id } } } }`, map[string]any{"n": 1000}, 10 + 1 + 1000*(1+1)},
		{"connection edges in a fragment", `fragment E on PatientConnection { edges { resource { id gender } } }
			{ PatientConnection(_count: 4) { ...E } }`, nil, 10 + 1 + 4*(1+2)},
		// A reverse connection reads storage (10) and counts its edges like a list.
		{"reverse connection", `{ Patient(id: "x") { ObservationConnection(_reference: subject, _count: 3) { edges { resource { id } } } } }`, nil, 10 + 10 + 1 + 3*(1+1)},
		{"reverse list", `{ Patient(id: "x") { ObservationList(_reference: subject, _count: 4) { id } } }`, nil, 10 + 10 + 4*1},
		// Reference.resource reads storage; on the Resource interface only the costliest
		// type's fragment counts, since one resource has one type.
		{"typed fragments on a reference", `{ ObservationList(_count: 2) { subject { resource { ... on Patient { id gender } ... on Group { id } } } } }`, nil, 10 + 2*(1+10+2)},
		{"untyped selection on a reference", `{ ObservationList(_count: 1) { subject { resource { id text { div } } } } }`, nil, 10 + 1*(1+10+1+2)},
		// Named fragments count at each spread, however they nest.
		{"fragment spread twice", `fragment F on Patient { id }
			{ PatientList(_count: 2) { ...F ...F } }`, nil, 10 + 2*2},
		{"fragments spreading fragments", `fragment A on Patient { id }
			fragment B on Patient { ...A ...A }
			fragment C on Patient { ...B ...B }
			{ PatientList(_count: 3) { ...C } }`, nil, 10 + 3*4},
	}
	for _, c := range cases {
		r := e.post("", c.query, c.vars)
		if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "QUERY_TOO_COMPLEX" {
			t.Errorf("%s: want one QUERY_TOO_COMPLEX, got %+v", c.name, r.Errors)
			continue
		}
		m := costRE.FindStringSubmatch(r.Errors[0].Message)
		if m == nil {
			t.Errorf("%s: no cost in %q", c.name, r.Errors[0].Message)
			continue
		}
		if got, _ := strconv.Atoi(m[1]); got != c.want {
			t.Errorf("%s: cost %d, want %d", c.name, got, c.want)
		}
	}
	t.Logf("%d queries costed", len(cases))
}

// TestConnectionsCountLikeLists: 72 connections of 1,000 are refused exactly where 72 lists
// of 1,000 are, at the default limits.
func TestConnectionsCountLikeLists(t *testing.T) {
	e := newEnv(t)
	many := func(field string, n int) string {
		var b strings.Builder
		b.WriteString("{")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, " a%d: %s", i, field)
		}
		return b.String() + " }"
	}
	elem := "id gender birthDate active deceasedBoolean multipleBirthBoolean name { family given prefix suffix text use }"
	list := "PatientList(_count: 1000) { " + elem + " }"
	conn := "PatientConnection(_count: 1000) { edges { resource { " + elem + " } } }"
	for _, n := range []int{72, 10} {
		l, c := e.post("", many(list, n), nil), e.post("", many(conn, n), nil)
		lRefused := slices.Contains(codes(l), "QUERY_TOO_COMPLEX")
		cRefused := slices.Contains(codes(c), "QUERY_TOO_COMPLEX")
		t.Logf("%d lists: refused %v; %d connections: refused %v", n, lRefused, n, cRefused)
		if lRefused != cRefused {
			t.Errorf("%d lists refused %v, %d connections refused %v: want the same", n, lRefused, n, cRefused)
		}
		if want := n == 72; lRefused != want {
			t.Errorf("%d lists of 1,000: refused %v, want %v", n, lRefused, want)
		}
	}
}

// fragmentBomb is a query of levels fragments, each spreading the one before it twice: its
// text grows linearly with levels, its expansion as 2^levels.
func fragmentBomb(levels int) string {
	var b strings.Builder
	b.WriteString("fragment F0 on Patient { id gender }\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "fragment F%d on Patient { ...F%d name { ...N } ...F%d }\n", i, i-1, i-1)
	}
	fmt.Fprintf(&b, "fragment N on HumanName { family }\n{ PatientList(_count: 1) { ...F%d } }", levels)
	return b.String()
}

// aliasFlood is a query of n aliases of __typename.
func aliasFlood(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " a%d: __typename", i)
	}
	return b.String() + " }"
}

// untypedNest is a query selecting untyped fields through levels nested references: each
// level multiplies the typed fragments the server expands it into by the resource types
// that have the field.
func untypedNest(levels int) string {
	q := "text { div }"
	for i := 0; i < levels; i++ {
		q = "subject { resource { " + q + " } }"
	}
	return "{ ObservationList(_count: 1) { " + q + " } }"
}

// sameName is a query of n fields under one response name, with differing arguments: each
// pair of them conflicts.
func sameName(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " a: Patient(id: \"%d\") { id }", i)
	}
	return b.String() + " }"
}

// TestCostBombsRefusedQuickly sends the attacks at growing sizes and checks that each is
// refused with QUERY_TOO_COMPLEX, and quickly: the checks take time linear in the query, so the
// largest is answered about as fast as the smallest. Before the fix, 28 levels of fragments took
// seconds, 40 would take hours; 40,000 aliases took 4 s; two levels of untyped references took
// 6 s and three did not finish in 90 s; 1,360 fields under one name took 11 s and answered
// 924,120 errors.
func TestCostBombsRefusedQuickly(t *testing.T) {
	e := newEnv(t)
	type attack struct {
		name  string
		query string
	}
	var attacks []attack
	for _, n := range []int{20, 30, 40, 60} {
		attacks = append(attacks, attack{fmt.Sprintf("%d levels of fragments spread twice", n), fragmentBomb(n)})
	}
	for _, n := range []int{6_000, 40_000, 200_000} {
		attacks = append(attacks, attack{fmt.Sprintf("%d aliases", n), aliasFlood(n)})
	}
	for _, n := range []int{2, 3, 6} {
		attacks = append(attacks, attack{fmt.Sprintf("%d levels of untyped references", n), untypedNest(n)})
	}
	for _, n := range []int{101, 1360} {
		attacks = append(attacks, attack{fmt.Sprintf("%d fields under one name", n), sameName(n)})
	}
	const bound = 500 * time.Millisecond // generous: each is refused in a few ms
	for _, a := range attacks {
		start := time.Now()
		r := e.post("", a.query, nil)
		took := time.Since(start)
		t.Logf("%s (%d bytes): %v, %v %q", a.name, len(a.query), took.Round(time.Microsecond), codes(r), truncate(firstMessage(r), 80))
		if r.Status != http.StatusUnprocessableEntity || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "QUERY_TOO_COMPLEX" {
			t.Errorf("%s: status %d, errors %v: want 422 QUERY_TOO_COMPLEX", a.name, r.Status, codes(r))
		}
		if took > bound {
			t.Errorf("%s: refused in %v, want under %v", a.name, took, bound)
		}
	}
	// The same shapes under the limits still run.
	if r := e.post("", fragmentBomb(8), nil); len(r.Errors) > 0 {
		t.Errorf("8 levels of fragments: %+v", r.Errors)
	}
	if r := e.post("", aliasFlood(3000), nil); len(r.Errors) > 0 {
		t.Errorf("3000 aliases: %+v", r.Errors)
	}
	if r := e.post("", untypedNest(1), nil); len(r.Errors) > 0 {
		t.Errorf("an untyped selection on a reference: %+v", r.Errors)
	}
	// Fragments that spread each other are a validation error, not a loop in the checks.
	cycle := `fragment A on Patient { id ...B } fragment B on Patient { gender ...A } { Patient(id: "x") { ...A } }`
	if r := e.post("", cycle, nil); r.Status != http.StatusUnprocessableEntity || !slices.Contains(codes(r), "GRAPHQL_VALIDATION_FAILED") {
		t.Errorf("fragment cycle: status %d, %v", r.Status, codes(r))
	}
	// Under the limit, conflicting fields are a validation error, reported at most 100 times.
	if r := e.post("", sameName(100), nil); len(r.Errors) != 100 || r.Errors[0].Extensions["code"] != "GRAPHQL_VALIDATION_FAILED" {
		t.Errorf("100 conflicting fields: %d errors %v, want 100 GRAPHQL_VALIDATION_FAILED", len(r.Errors), uniq(codes(r)))
	}
}

func firstMessage(r *gqlResponse) string {
	if len(r.Errors) == 0 {
		return ""
	}
	return r.Errors[0].Message
}

// TestReadBudget: a request that would read more resources (or bytes) than its budget fails
// with TOO_MANY_RESULTS, and storage is never asked for more than the budget allows, plus one
// row per call.
func TestReadBudget(t *testing.T) {
	e, cs := newCountingEnv(t, func(c *api.Config) { c.Reads.MaxRows = 50 })
	seedObservations(e, 60)
	cases := []struct {
		name, query string
		ok          bool
	}{
		{"a list within the budget", `{ PatientList(_count: 50) { id } }`, true},
		{"a list over the budget", `{ PatientList(_count: 60) { id } }`, false},
		{"a connection over the budget", `{ ObservationConnection(_count: 60) { edges { resource { id } } } }`, false},
		{"references over the budget", `{ ObservationList(_count: 30) { subject { resource { id } } } }`, false},
		{"reverse references over the budget", `{ PatientList(_count: 30) { ObservationList(_reference: subject) { id } } }`, false},
		{"ids over the budget", `{ PatientList(_id: [` + ids("p", 60) + `]) { id } }`, false},
		{"a chained search over the budget", `{ ObservationList(subject: {Patient: {gender: "female"}}) { id } }`, false},
	}
	for _, c := range cases {
		cs.reset()
		r := e.post("", c.query, nil)
		rows, calls := cs.rows.Load(), cs.calls.Load()
		t.Logf("%s: %d resources read in %d calls, errors %v", c.name, rows, calls, codes(r))
		// Each call may read one row more than it keeps: the one that tells there are more.
		if rows > 50+calls {
			t.Errorf("%s: storage returned %d resources in %d calls, more than the budget of 50 and one per call", c.name, rows, calls)
		}
		if c.ok {
			if len(r.Errors) > 0 {
				t.Errorf("%s: %+v", c.name, r.Errors)
			}
			continue
		}
		if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "TOO_MANY_RESULTS" || !strings.Contains(r.Errors[0].Message, "more than 50 resources") {
			t.Errorf("%s: want TOO_MANY_RESULTS for more than 50 resources, got %+v", c.name, r.Errors)
		}
	}

	small := newEnv(t, func(c *api.Config) { c.Reads.MaxBytes = 4 << 10 })
	seedObservations(small, 60)
	r := small.post("", `{ ObservationList(_count: 60) { id } }`, nil)
	if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "TOO_MANY_RESULTS" || !strings.Contains(r.Errors[0].Message, "more than 4096 bytes of resources") {
		t.Errorf("over the byte budget: want TOO_MANY_RESULTS, got %+v", r.Errors)
	}
}

// ids returns n quoted ids prefix0 … prefix(n-1), comma-separated.
func ids(prefix string, n int) string {
	out := make([]string, n)
	for i := range out {
		out[i] = strconv.Quote(prefix + strconv.Itoa(i))
	}
	return strings.Join(out, ", ")
}

// TestHeavyRequestWithinLimits runs one heavy request (a thousand reverse-reference searches, each
// a scan of every Condition on the embedded engine) against the server's real limits: it holds at
// most Reads.Concurrency storage calls at once, another user's reads keep their latency while it
// runs, it ends at its time limit, and when its client goes away its storage work stops.
func TestHeavyRequestWithinLimits(t *testing.T) {
	const timeout = 4 * time.Second
	e, cs := newCountingEnv(t, func(c *api.Config) { c.Timeout = timeout })
	start := time.Now()
	seedObservations(e, 1000)
	seedConditions(e, 3000, 1000)
	t.Logf("seeded 9,000 resources in %v", time.Since(start).Round(time.Millisecond))
	concurrency := api.DefaultConfig().Reads.Concurrency

	light := func() time.Duration {
		t.Helper()
		start := time.Now()
		r := e.post("", `{ Patient(id: "p7") { id gender } }`, nil)
		took := time.Since(start)
		if len(r.Errors) > 0 || !strings.Contains(string(r.Data["Patient"]), `"p7"`) {
			t.Fatalf("light read: %+v", r.Errors)
		}
		return took
	}

	t.Run("others keep their latency", func(t *testing.T) {
		var base []time.Duration
		for i := 0; i < 40; i++ {
			base = append(base, light())
		}
		cs.reset()
		heavyDone := make(chan struct{})
		var heavy *gqlResponse
		var heavyTook time.Duration
		go func() {
			defer close(heavyDone)
			start := time.Now()
			heavy = e.post("", heavyQuery, map[string]any{"n": 1000})
			heavyTook = time.Since(start)
		}()
		var mem runtime.MemStats
		runtime.ReadMemStats(&mem)
		heapBefore, heapPeak := mem.HeapInuse, mem.HeapInuse
		var loaded []time.Duration
		for {
			select {
			case <-heavyDone:
			default:
				loaded = append(loaded, light())
				runtime.ReadMemStats(&mem)
				heapPeak = max(heapPeak, mem.HeapInuse)
				continue
			}
			break
		}
		b50, l50, l90, lmax := percentile(base, 50), percentile(loaded, 50), percentile(loaded, 90), percentile(loaded, 100)
		t.Logf("light reads: baseline p50 %v; during the heavy request (%d reads) p50 %v, p90 %v, max %v", b50, len(loaded), l50, l90, lmax)
		t.Logf("heap in use: %d MB before, at most %d MB during", heapBefore>>20, heapPeak>>20)
		t.Logf("heavy request: %v, errors %v, %d storage calls, at most %d at once, %d resources", heavyTook.Round(time.Millisecond), uniq(codes(heavy)), cs.calls.Load(), cs.peak.Load(), cs.rows.Load())
		if len(loaded) < 10 {
			t.Fatalf("only %d light reads while the heavy request ran", len(loaded))
		}
		// Generous bounds: the machine is shared. Before the limits, the heavy request ran
		// 400-600 storage calls at once, took 0.5-0.7 GB and light reads up to its time limit.
		if limit := 5*b50 + 50*time.Millisecond; l50 > limit {
			t.Errorf("light reads' p50 rose from %v to %v during the heavy request, want under %v", b50, l50, limit)
		}
		if lmax > timeout/2 {
			t.Errorf("a light read took %v during the heavy request", lmax)
		}
		if grew := int64(heapPeak) - int64(heapBefore); grew > 200<<20 {
			t.Errorf("heap grew by %d MB during the heavy request", grew>>20)
		}
		if heavyTook > timeout+2*time.Second {
			t.Errorf("the heavy request took %v, beyond its time limit of %v", heavyTook, timeout)
		}
		// It finishes within its limit (search on the embedded engine's index is fast enough
		// for that now) or is stopped there; it fails for no other reason.
		if cs := uniq(codes(heavy)); len(cs) > 0 && !slices.Equal(cs, []string{"TIMEOUT"}) {
			t.Errorf("the heavy request ended with %v, want success or TIMEOUT", cs)
		}
		// The heavy request's calls, and one light read's.
		if p := cs.peak.Load(); p > int64(concurrency)+1 {
			t.Errorf("%d storage calls at once, want at most %d for the heavy request and one for a light read", p, concurrency)
		}
	})

	t.Run("a client that goes away stops the storage work", func(t *testing.T) {
		var finished, callsAtCancel, cmdsAtCancel atomic.Int64
		callsAtCancel.Store(-1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// When the server learns that the client left: the request's context ends.
			stop := context.AfterFunc(r.Context(), func() {
				cmdsAtCancel.Store(commands.Load())
				callsAtCancel.CompareAndSwap(-1, cs.calls.Load())
			})
			defer stop()
			e.handler.ServeHTTP(w, r)
			finished.Store(time.Now().UnixNano())
		}))
		defer srv.Close()
		cs.reset()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		body, _ := json.Marshal(map[string]any{"query": heavyQuery, "variables": map[string]any{"n": 1000}})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/$graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		go func() {
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		waitFor(t, func() bool { return cs.calls.Load() > 20 }, 10*time.Second, "the heavy request to reach storage")
		cancel()
		left := time.Now()
		callsAtLeave, cmdsAtLeave := cs.calls.Load(), commands.Load()
		waitFor(t, func() bool { return finished.Load() != 0 }, timeout, "the server to finish the request")
		stopped := time.Unix(0, finished.Load()).Sub(left)
		callsAfter, cmdsAfter := cs.calls.Load()-callsAtLeave, commands.Load()-cmdsAtLeave
		time.Sleep(300 * time.Millisecond)
		late := commands.Load() - cmdsAtLeave - cmdsAfter
		atCancel := callsAtCancel.Load()
		if atCancel < 0 {
			t.Fatal("the request's context did not end when its client left")
		}
		afterCancel := cs.calls.Load() - atCancel
		cmdsAfterCancel := cmdsAtLeave + cmdsAfter - cmdsAtCancel.Load()
		t.Logf("client left after %d storage calls; the server finished %v later; %d storage calls and %d commands started after the client left (%d calls and %d commands after the server saw it leave), %d commands after the server finished",
			callsAtLeave, stopped.Round(time.Millisecond), callsAfter, cmdsAfter, afterCancel, cmdsAfterCancel, late)
		if stopped > time.Second {
			t.Errorf("the server went on for %v after the client left", stopped)
		}
		// Counted from when the server's request context ended, not from when the client left:
		// until the server notices the closed connection (milliseconds on a busy machine), calls
		// of a millisecond each go on starting, and that is no failure to stop.
		if afterCancel > int64(concurrency) {
			t.Errorf("%d storage calls started after the request's context ended, want at most the %d that may have been entering", afterCancel, concurrency)
		}
		// Calls in flight when the context ended may finish: on the embedded engine's index path
		// one call reads its candidates in batches, so it may send a few dozen commands more.
		if cmdsAfterCancel > int64(concurrency)*32 {
			t.Errorf("%d storage commands started after the request's context ended", cmdsAfterCancel)
		}
		if late > 0 {
			t.Errorf("%d storage commands sent after the server finished the request", late)
		}
	})
}

func waitFor(t *testing.T, cond func() bool, within time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func percentile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)*p/100, len(s)-1)] // p=100: the largest
}

func uniq(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}
