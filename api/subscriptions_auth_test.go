package api_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/graph"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/notify"
	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/validate"
)

// shortToken signs a token for role that expires after ttl; a negative ttl makes a token that
// expired that long ago.
func (a *authEnv) shortToken(t testing.TB, role, patient string, ttl time.Duration) string {
	t.Helper()
	issued := time.Now()
	if ttl < 0 {
		issued, ttl = issued.Add(ttl-time.Hour), time.Hour
	}
	tok, err := a.key.Sign(authz.TokenRequest{Subject: role + "-user", Roles: []string{role}, Patient: patient, TTL: ttl}, issued)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestSubscriptionAuthentication: a websocket connection authenticates by the upgrade's
// Authorization header or by connection_init's payload; without a valid token it is closed
// with 4403 (an invalid header is refused with 401 before the upgrade); a token that expires
// closes the connection with 4403, and ends an event stream with UNAUTHENTICATED.
func TestSubscriptionAuthentication(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{})
	tok := a.token(t, "clinician", "")
	for _, c := range []struct {
		name    string
		header  http.Header
		payload any
	}{
		{"header", http.Header{"Authorization": {"Bearer " + tok}}, nil},
		{"payload Authorization", nil, map[string]any{"Authorization": "Bearer " + tok}},
		{"payload token", nil, map[string]any{"token": tok}},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := dialWS(t, a.env, "graphql-transport-ws", c.header)
			w.init(c.payload)
			w.subscribe("1", changedQuery, map[string]any{"type": "Observation"})
			time.Sleep(100 * time.Millisecond)
			id := "auth-" + strings.ReplaceAll(c.name, " ", "-")
			writeObs(t, a.env, tok, id, "p1", "final")
			if got := w.changes("1", 1); got[0].ID != id || got[0].Resource == nil || got[0].Resource.Status != "final" {
				t.Errorf("got %+v", got)
			}
		})
	}
	for _, c := range []struct {
		name    string
		payload any
	}{
		{"no token", nil},
		{"empty payload", map[string]any{}},
		{"bad token", map[string]any{"token": "not.a.jwt"}},
		{"wrong scheme", map[string]any{"Authorization": "Basic " + tok}},
		{"expired token", map[string]any{"token": a.shortToken(t, "clinician", "", -time.Minute)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := dialWS(t, a.env, "graphql-transport-ws", nil)
			w.send(map[string]any{"type": "connection_init", "payload": c.payload})
			if code, reason := w.closed(); code != 4403 || !strings.HasPrefix(reason, "Forbidden") {
				t.Errorf("closed with %d %q, want 4403 Forbidden", code, reason)
			}
		})
	}
	// An invalid header is refused before the upgrade.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.srv.URL, "http")+"/$graphql", &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: http.Header{"Authorization": {"Bearer nope"}}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("upgrade with an invalid header: %v, %v", resp, err)
	}

	t.Run("expiry mid-connection", func(t *testing.T) {
		short := a.shortToken(t, "clinician", "", 2*time.Second)
		w := dialWS(t, a.env, "graphql-transport-ws", nil)
		w.init(map[string]any{"token": short})
		w.subscribe("1", changedQuery, map[string]any{"type": "Observation"})
		start := time.Now()
		code, reason := w.closed()
		if code != 4403 || !strings.Contains(reason, "expired") {
			t.Errorf("closed with %d %q, want 4403 token expired", code, reason)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("closed %v after subscribing", d)
		}
	})
	t.Run("expiry over SSE", func(t *testing.T) {
		short := a.shortToken(t, "clinician", "", 2*time.Second)
		sc, stop := openSSE(t, a.env, short, changedQuery, map[string]any{"type": "Observation"})
		defer stop()
		evs := readSSE(t, sc, 2)
		if len(evs) != 2 || evs[0].name != "next" || !strings.Contains(evs[0].data, `"UNAUTHENTICATED"`) || evs[1].name != "complete" {
			t.Errorf("events: %+v", evs)
		}
	})
}

// TestSubscriptionLimitsPerPrincipal: a principal's live subscriptions are bounded across its
// connections.
func TestSubscriptionLimitsPerPrincipal(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{}, func(c *api.Config) { c.Subscriptions.PerPrincipal = 2 })
	tok := a.token(t, "partner", "")
	w1 := dialWS(t, a.env, "graphql-transport-ws", nil)
	w1.init(map[string]any{"token": tok})
	w2 := dialWS(t, a.env, "graphql-transport-ws", nil)
	w2.init(map[string]any{"token": tok})
	w1.subscribe("a", changedQuery, map[string]any{"type": "Observation"})
	w2.subscribe("b", changedQuery, map[string]any{"type": "Patient"})
	time.Sleep(100 * time.Millisecond)
	w2.subscribe("c", changedQuery, map[string]any{"type": "Patient"})
	if e := w2.subscriptionError("c", "TOO_MANY_SUBSCRIPTIONS"); !strings.Contains(e.Message, "token already has 2") {
		t.Errorf("message %q", e.Message)
	}
	// Another principal is not limited by it.
	other := dialWS(t, a.env, "graphql-transport-ws", nil)
	other.init(map[string]any{"token": a.token(t, "clinician", "")})
	other.subscribe("d", changedQuery, map[string]any{"type": "Observation"})
	time.Sleep(100 * time.Millisecond)
	writeObs(t, a.env, a.token(t, "admin", ""), "lim", "p1", "final")
	if got := other.changes("d", 1); got[0].ID != "lim" {
		t.Errorf("other principal: %v", got)
	}
}

// TestSubscriptionAudit: subscribing and unsubscribing are AuditEvents, the latter listing the
// resources the subscription delivered.
func TestSubscriptionAudit(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{})
	tok := a.token(t, "clinician", "")
	w := dialWS(t, a.env, "graphql-transport-ws", nil)
	w.init(map[string]any{"token": tok})
	w.subscribe("1", changedQuery, map[string]any{"type": "Observation"})
	time.Sleep(100 * time.Millisecond)
	writeObs(t, a.env, tok, "audited", "p1", "final")
	w.changes("1", 1)
	w.send(map[string]any{"type": "complete", "id": "1"})
	w.mustRead()
	time.Sleep(200 * time.Millisecond)
	if err := a.audit.Close(context.Background()); err != nil { // flushes the buffer
		t.Fatal(err)
	}
	recs, err := a.store.Search(context.Background(), "AuditEvent", storage.Query{})
	if err != nil {
		t.Fatal(err)
	}
	var subscribe, unsubscribe int
	for _, r := range recs {
		s := string(r.JSON)
		if !strings.Contains(s, "clinician-user") {
			continue
		}
		switch {
		case strings.Contains(s, `"unsubscribe"`):
			unsubscribe++
			if !strings.Contains(s, "Observation/audited") {
				t.Errorf("unsubscribe event lists no delivered resource: %s", truncate(s, 600))
			}
		case strings.Contains(s, `"subscribe"`):
			subscribe++
		}
	}
	if subscribe != 1 || unsubscribe != 1 {
		t.Errorf("%d subscribe and %d unsubscribe events, want 1 and 1", subscribe, unsubscribe)
	}
}

// TestSubscriptionShutdown: shutting down closes websocket connections with 1001 and ends
// event streams.
func TestSubscriptionShutdown(t *testing.T) {
	stopping := make(chan struct{})
	e := newEnv(t, func(c *api.Config) { c.Subscriptions.Stopping = stopping })
	w := dialWS(t, e, "graphql-transport-ws", nil)
	w.init(nil)
	w.subscribe("1", changedQuery, map[string]any{"type": "Observation"})
	sc, stop := openSSE(t, e, "", changedQuery, map[string]any{"type": "Observation"})
	defer stop()
	time.Sleep(100 * time.Millisecond)
	close(stopping)
	if code, reason := w.closed(); code != 1001 {
		t.Errorf("websocket closed with %d %q, want 1001", code, reason)
	}
	if evs := readSSE(t, sc, 1); len(evs) != 1 || evs[0].name != "complete" {
		t.Errorf("event stream: %+v", evs)
	}
	// New connections are closed at once.
	w2 := dialWS(t, e, "graphql-transport-ws", nil)
	if code, _ := w2.closed(); code != 1001 {
		t.Errorf("connection after shutdown closed with %d", code)
	}
}

// TestSubscriptionOverflowOverWebsocket: a subscriber that stops reading while large changes
// keep coming gets the events that fit, then an error SUBSCRIPTION_OVERFLOW whose
// extensions.resumeToken resumes exactly where it stopped; a reader beside it gets everything.
func TestSubscriptionOverflowOverWebsocket(t *testing.T) {
	var store *storage.Store
	e := newEnv(t, func(c *api.Config) {
		store = c.Store.(*storage.Store)
		c.Subscriptions.Changes = notify.NewHub(store, notify.Options{Buffer: 3})
	})
	// The slow subscriber's socket has a small receive buffer, so that what the server cannot
	// send piles up in the server, not in the kernel.
	small := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(64 << 10)
		}
		return c, err
	}}}
	slow := dialWSWith(t, e, "graphql-transport-ws", nil, small)
	slow.init(nil)
	// The selection takes the large note into every event.
	bigQuery := strings.Replace(changedQuery, "status subject { reference }", "status subject { reference } note { text }", 1)
	slow.subscribe("s", bigQuery, map[string]any{"type": "Observation"})
	fast := dialWS(t, e, "graphql-transport-ws", nil)
	fast.init(nil)
	fast.subscribe("f", changedQuery, map[string]any{"type": "Observation"})
	time.Sleep(100 * time.Millisecond)
	const n = 40
	// Large events fill the socket's buffers; random text, in case the socket compresses.
	noise := make([]byte, 384<<10)
	_, _ = rand.Read(noise)
	note := base64.StdEncoding.EncodeToString(noise)
	fastGot := make(chan []change)
	go func() { fastGot <- fast.changes("f", n) }()
	for i := range n {
		raw := fmt.Sprintf(`{"resourceType":"Observation","id":"big%d","status":"final","code":{"text":"x"},"note":[{"text":%q}]}`, i, note)
		res, err := model.Unmarshal([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Commit(context.Background(), []storage.Write{{Op: storage.OpPut, Type: "Observation", ID: fmt.Sprintf("big%d", i), Resource: res}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(15 * time.Millisecond) // a pace the reading subscriber keeps up with
	}
	if got := <-fastGot; len(got) != n {
		t.Fatalf("fast subscriber got %d", len(got))
	}
	var got []change
	var resume string
	for resume == "" {
		m, err := slow.read(10 * time.Second)
		if err != nil {
			t.Fatalf("slow subscriber after %d events: %v", len(got), err)
		}
		var r nextResult
		if err := json.Unmarshal(m.Payload, &r); err != nil || m.Type != "next" {
			t.Fatalf("slow subscriber: %s %s", m.Type, truncate(string(m.Payload), 200))
		}
		if len(r.Errors) > 0 {
			if r.Errors[0].Extensions["code"] != "SUBSCRIPTION_OVERFLOW" {
				t.Fatalf("error %+v", r.Errors[0])
			}
			resume, _ = r.Errors[0].Extensions["resumeToken"].(string)
			continue
		}
		got = append(got, *r.Data.Changed)
	}
	if len(got) == 0 || len(got) >= n {
		t.Fatalf("slow subscriber got %d events before the overflow", len(got))
	}
	if resume != got[len(got)-1].Token {
		t.Errorf("resume token %s, last delivered %s", resume, got[len(got)-1].Token)
	}
	if m := slow.mustRead(); m.Type != "complete" || m.ID != "s" {
		t.Fatalf("after the overflow error: %s %s", m.Type, m.ID)
	}
	slow.subscribe("again", bigQuery, map[string]any{"type": "Observation", "since": resume})
	rest := slow.changes("again", n-len(got))
	if rest[0].ID != fmt.Sprintf("big%d", len(got)) || rest[len(rest)-1].ID != fmt.Sprintf("big%d", n-1) {
		t.Errorf("resumed from %s to %s after %d", rest[0].ID, rest[len(rest)-1].ID, len(got))
	}
	t.Logf("the slow subscriber overflowed after %d of %d events", len(got), n)
}

// TestSubscriptionAuthorizationMatrix: every role subscribes to every resource type with the
// selection of its official examples; the examples are written again; every event's payload
// passes the same per-field policy as a query, roles that may not subscribe to a type are
// refused, and the patient receives only its own compartment.
func TestSubscriptionAuthorizationMatrix(t *testing.T) {
	var hub *notify.Hub
	a := newAuthEnv(t, authz.VerifierConfig{}, func(c *api.Config) {
		c.Limits = api.Limits{}
		c.Auth.Limits = api.PrincipalLimits{}
		c.Validation = validate.Warn
		c.Subscriptions.PerConnection = 1000
		c.Subscriptions.PerPrincipal = 1000
		hub = notify.NewHub(c.Store.(*storage.Store), notify.Options{Buffer: 100_000})
		c.Subscriptions.Changes = hub
	})
	m := &matrix{t: t, policy: a.policy, schema: graph.NewExecutableSchema(graph.Config{}).Schema(), cells: map[string]int{}}
	byType := loadExamples(t, a.store)
	types := slices.Sorted(maps.Keys(byType))
	roles := []struct{ role, patient string }{{"admin", ""}, {"clinician", ""}, {"analyst", ""}, {"partner", ""}, {"patient", "example"}}

	mayWatch := func(role, typ string) bool {
		return m.policy.Allows(role, typ, authz.ActSearch) && m.policy.Allows(role, typ, authz.ActSubscribe)
	}
	conns := map[string]*wsClient{}
	live := 0
	refused := 0
	for _, r := range roles {
		w := dialWS(t, a.env, "graphql-transport-ws", nil)
		w.init(map[string]any{"token": a.token(t, r.role, r.patient)})
		conns[r.role] = w
		for _, typ := range types {
			sel := newSelection()
			for _, ex := range byType[typ] {
				sel.add(ex.res)
			}
			var b strings.Builder
			sel.write(&b)
			q := fmt.Sprintf(`subscription { changed(type: %s) { operation id resource { ... on %s %s } } }`, typ, typ, b.String())
			w.subscribe(typ, q, nil)
			if mayWatch(r.role, typ) {
				live++
				continue
			}
			w.subscriptionError(typ, "FORBIDDEN")
			refused++
			m.cells["subscribe refused"]++
		}
	}
	for deadline := time.Now().Add(30 * time.Second); hub.Live() < live; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d subscriptions live", hub.Live(), live)
		}
	}
	// Write every example again: an update of each.
	var writes []storage.Write
	want := map[string]int{}
	for _, typ := range types {
		for _, ex := range byType[typ] {
			res, err := model.Unmarshal([]byte(ex.raw))
			if err != nil {
				t.Fatal(err)
			}
			writes = append(writes, storage.Write{Op: storage.OpPut, Type: typ, ID: ex.id, Resource: res})
			want[typ]++
		}
	}
	for len(writes) > 0 {
		n := min(len(writes), 200)
		if _, err := a.store.Commit(context.Background(), writes[:n]); err != nil {
			t.Fatal(err)
		}
		writes = writes[n:]
	}
	examples := map[string]*example{}
	for _, typ := range types {
		for _, ex := range byType[typ] {
			examples[typ+"/"+ex.id] = ex
		}
	}
	// The examples' Subscriptions are no one's: only roles that see every Subscription get them.
	wantOf := func(role, typ string) int {
		if typ == "Subscription" && !authz.SeesAllSubscriptions(&authz.Principal{Roles: []string{role}}) {
			return 0
		}
		return want[typ]
	}
	for _, r := range roles {
		w := conns[r.role]
		got := map[string]int{}
		// Read until every event a role is owed has come (on a busy machine they may pause
		// for seconds), then until the connection is quiet: nothing more may come. The
		// patient's share is not counted ahead: its events are read once the others' have
		// come, until quiet.
		missing := 0
		for _, typ := range types {
			if r.patient == "" && mayWatch(r.role, typ) {
				missing += wantOf(r.role, typ)
			}
		}
		for deadline := time.Now().Add(2 * time.Minute); ; {
			wait := 3 * time.Second
			if missing > 0 {
				wait = time.Until(deadline)
			}
			msg, err := w.read(wait)
			if err != nil {
				break // quiet: every event has come (or the deadline passed: the counts tell)
			}
			var resp struct {
				Data   map[string]json.RawMessage `json:"data"`
				Errors []gqlError                 `json:"errors"`
			}
			if msg.Type != "next" || json.Unmarshal(msg.Payload, &resp) != nil {
				t.Fatalf("%s: %s %s", r.role, msg.Type, truncate(string(msg.Payload), 200))
			}
			ch := dig(resp.Data["changed"], "")
			id, _ := ch["id"].(string)
			ex := examples[msg.ID+"/"+id]
			if ex == nil {
				continue // a referrer Observation, or an AuditEvent
			}
			got[msg.ID]++
			if got[msg.ID] <= wantOf(r.role, msg.ID) {
				missing--
			}
			if r.patient != "" && !strings.Contains(ex.raw, `"Patient/`+r.patient+`"`) && !(msg.ID == "Patient" && id == r.patient) {
				m.failf("subscription: patient receives %s/%s outside its compartment", msg.ID, id)
				continue
			}
			res, _ := ch["resource"].(map[string]any)
			m.walk("subscription", r.role, msg.ID, ex.res, res, "changed.resource", errorPaths(&gqlResponse{Errors: resp.Errors}))
		}
		for _, typ := range types {
			allowed := mayWatch(r.role, typ)
			switch {
			case !allowed && got[typ] > 0:
				m.failf("subscription: %s received %d %s events without permission", r.role, got[typ], typ)
			case allowed && r.patient == "" && got[typ] != wantOf(r.role, typ):
				m.failf("subscription: %s received %d %s events, want %d", r.role, got[typ], typ, wantOf(r.role, typ))
			}
		}
		if r.patient != "" && got["Patient"] != 1 {
			m.failf("subscription: the patient received %d events of its own Patient", got["Patient"])
		}
	}
	t.Logf("subscription matrix: %v over %d roles, %d types; %d subscriptions live, %d refused", m.cells, len(roles), len(types), live, refused)
	if m.fails > 0 {
		t.Errorf("%d cells failed", m.fails)
	}
	if m.cells["subscription"] < 10_000 {
		t.Errorf("only %d subscription cells checked", m.cells["subscription"])
	}
}

// TestSubscriptionSharedAnswersByCompartment: subscribers with the same operation and
// variables share each event's execution only under the same credentials. An Observation in
// two patients' compartments (subject one, performer the other) reaches both patients, each
// with only its own Patient resolved; two connections of one token get the same bytes; a
// clinician resolves both.
func TestSubscriptionSharedAnswersByCompartment(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{}, func(c *api.Config) {
		c.Auth.Limits = api.PrincipalLimits{}
		c.Validation = validate.Warn
	})
	admin := a.token(t, "admin", "")
	for _, id := range []string{"pa", "pb"} {
		if r := a.env.fhir(http.MethodPut, "/fhir/Patient/"+id, admin, map[string]any{"resourceType": "Patient", "id": id}); r.Status >= 300 {
			t.Fatalf("PUT Patient/%s: %d %s", id, r.Status, r.Raw)
		}
	}
	const q = `subscription { changed(type: Observation) { token id resource { ... on Observation {
	  subject { resource { ... on Patient { id } } } performer { resource { ... on Patient { id } } } } } } }`
	subs := []struct{ name, role, patient string }{{"a1", "patient", "pa"}, {"a2", "patient", "pa"}, {"b", "patient", "pb"}, {"c", "clinician", ""}}
	conns := map[string]*wsClient{}
	for _, s := range subs {
		w := dialWS(t, a.env, "graphql-transport-ws", nil)
		w.init(map[string]any{"token": a.token(t, s.role, s.patient)})
		w.subscribe("1", q, nil)
		conns[s.name] = w
	}
	time.Sleep(200 * time.Millisecond)
	obs := map[string]any{"resourceType": "Observation", "id": "o1", "status": "final", "code": map[string]any{"text": "x"},
		"subject": map[string]any{"reference": "Patient/pa"}, "performer": []any{map[string]any{"reference": "Patient/pb"}}}
	if r := a.env.fhir(http.MethodPut, "/fhir/Observation/o1", admin, obs); r.Status >= 300 {
		t.Fatalf("PUT Observation/o1: %d %s", r.Status, r.Raw)
	}
	// resolved lists the Patients an answer resolved, subject first.
	resolved := func(name string) (string, json.RawMessage) {
		m := conns[name].mustRead()
		if m.Type != "next" {
			t.Fatalf("%s: %s %s", name, m.Type, m.Payload)
		}
		var r struct {
			Data struct {
				Changed struct {
					Resource struct {
						Subject   struct{ Resource *struct{ ID string } }
						Performer []struct{ Resource *struct{ ID string } }
					}
				}
			}
		}
		if err := json.Unmarshal(m.Payload, &r); err != nil {
			t.Fatal(err)
		}
		var got []string
		res := r.Data.Changed.Resource
		for _, p := range append([]struct{ Resource *struct{ ID string } }{res.Subject}, res.Performer...) {
			if p.Resource != nil {
				got = append(got, p.Resource.ID)
			} else {
				got = append(got, "-")
			}
		}
		return strings.Join(got, ","), m.Payload
	}
	want := map[string]string{"a1": "pa,-", "a2": "pa,-", "b": "-,pb", "c": "pa,pb"}
	payloads := map[string]json.RawMessage{}
	for _, s := range subs {
		got, raw := resolved(s.name)
		payloads[s.name] = raw
		if got != want[s.name] {
			t.Errorf("%s (%s %s) resolved %s; want %s: %s", s.name, s.role, s.patient, got, want[s.name], raw)
		}
	}
	if string(payloads["a1"]) != string(payloads["a2"]) {
		t.Errorf("one token's two connections got different answers:\n%s\n%s", payloads["a1"], payloads["a2"])
	}
	t.Logf("%d subscribers, %d distinct answers", len(subs), len(want)-1)
}
