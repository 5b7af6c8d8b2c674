package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/fhirsub"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/notify"
	"github.com/fhirgate/fhirgate/storage"
)

// hookReceiver is a rest-hook endpoint on loopback that answers fail times with 500 (or
// while failing is set), then 200, and records every notification it acknowledged.
type hookReceiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	fail     int
	failing  bool
	attempts int
	got      []hookCall
}

type hookCall struct {
	event, resource, op, auth, contentType string
	body                                   map[string]any
}

func newHookReceiver(t testing.TB, fail int) *hookReceiver {
	h := &hookReceiver{fail: fail}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.attempts++
		if h.fail > 0 || h.failing {
			h.fail--
			http.Error(w, "not now", http.StatusInternalServerError)
			return
		}
		c := hookCall{event: r.Header.Get("X-Fhirgate-Event"), resource: r.Header.Get("X-Fhirgate-Resource"), op: r.Header.Get("X-Fhirgate-Operation"), auth: r.Header.Get("Authorization"), contentType: r.Header.Get("Content-Type")}
		if len(b) > 0 {
			_ = json.Unmarshal(b, &c.body)
		}
		h.got = append(h.got, c)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) calls() []hookCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got)
}

func (h *hookReceiver) setFailing(v bool) {
	h.mu.Lock()
	h.failing = v
	h.mu.Unlock()
}

// waitCalls waits until the receiver acknowledged n notifications.
func (h *hookReceiver) waitCalls(t testing.TB, n int) []hookCall {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := h.calls()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d notifications after 20 s (%d attempts)", len(got), n, h.attempts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fhirSubEnv is a server with authentication on and FHIR Subscription delivery.
type fhirSubEnv struct {
	*authEnv
	hook *hookReceiver
	hub  *notify.Hub
	cfg  api.Config
}

func newFHIRSubEnv(t testing.TB, hook *hookReceiver, allow string) *fhirSubEnv {
	t.Helper()
	f := &fhirSubEnv{hook: hook}
	f.authEnv = newAuthEnv(t, authz.VerifierConfig{}, func(c *api.Config) {
		eps, err := fhirsub.ParseEndpoints(allow)
		if err != nil {
			t.Fatal(err)
		}
		c.Subscriptions.Endpoints = eps
		f.hub = notify.NewHub(c.Store.(*storage.Store), notify.Options{})
		c.Subscriptions.Changes = f.hub
		f.cfg = *c
	})
	return f
}

// run starts a delivery manager named holder until the returned function stops it.
func (f *fhirSubEnv) run(t testing.TB, holder string) func() {
	t.Helper()
	return f.runWith(t, holder, nil)
}

// runWith is run with an HTTP client of its own (nil: the default).
func (f *fhirSubEnv) runWith(t testing.TB, holder string, client *http.Client) func() {
	t.Helper()
	authorize, redact := api.FHIRSubscriptionAccess(f.cfg)
	m := fhirsub.New(f.store, f.hub, fhirsub.Options{Endpoints: f.cfg.Subscriptions.Endpoints, Authorize: authorize, Redact: redact, Client: client,
		Holder: holder, LeaseTTL: 600 * time.Millisecond, Backoff: 10 * time.Millisecond, MaxBackoff: 80 * time.Millisecond, MaxAttempts: 3})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = m.Run(ctx)
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

// createSub creates a Subscription through GraphQL as token and returns its id and status.
func (f *fhirSubEnv) createSub(t testing.TB, token string, sub map[string]any) (string, *gqlResponse) {
	t.Helper()
	sub["resourceType"] = "Subscription"
	if sub["reason"] == nil {
		sub["reason"] = "test"
	}
	r := f.postAsVars(token, "", `mutation($r: SubscriptionInput!) { SubscriptionCreate(res: $r) { id status error } }`, map[string]any{"r": sub})
	var out struct{ ID, Status string }
	if len(r.Errors) == 0 {
		_ = json.Unmarshal(r.Data["SubscriptionCreate"], &out)
	}
	return out.ID, r
}

// subStatus reads a Subscription's status and error from storage.
func (f *fhirSubEnv) subStatus(t testing.TB, id string) (string, string) {
	t.Helper()
	rec, err := f.store.Read(context.Background(), "Subscription", id)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := model.UnmarshalAs[*model.Subscription](rec.JSON)
	if err != nil {
		t.Fatal(err)
	}
	status, why := "", ""
	if sub.Status != nil {
		status = string(*sub.Status)
	}
	if sub.Error != nil {
		why = *sub.Error
	}
	return status, why
}

// waitStatus waits until Subscription id has status.
func (f *fhirSubEnv) waitStatus(t testing.TB, id, status string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, why := f.subStatus(t, id)
		if s == status {
			return why
		}
		if time.Now().After(deadline) {
			t.Fatalf("Subscription/%s is %s (%q), want %s", id, s, why, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func restHook(endpoint, criteria string, payload bool) map[string]any {
	ch := map[string]any{"type": "rest-hook", "endpoint": endpoint, "header": []string{"Authorization: Bearer hook-secret"}}
	if payload {
		ch["payload"] = "application/fhir+json"
	}
	return map[string]any{"status": "requested", "criteria": criteria, "channel": ch}
}

// checkOnce fails unless calls hold each of want once, in order.
func checkOnce(t testing.TB, calls []hookCall, want []string) {
	t.Helper()
	var got []string
	seen := map[string]bool{}
	for _, c := range calls {
		if seen[c.event] {
			t.Errorf("event %s (%s) delivered twice", c.event, c.resource)
		}
		seen[c.event] = true
		got = append(got, c.op+" "+c.resource)
	}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("notifications\n got %s\nwant %s", strings.Join(got, "; "), strings.Join(want, "; "))
	}
}

// TestRestHookFailsThenRecovers: a rest-hook endpoint that fails is retried with backoff; after
// MaxAttempts failures the Subscription's status is error with Subscription.error, and back to
// active once it recovers; every change arrives once, in order, with the channel's headers and
// the payload; after a restart of the deliverer (changes written meanwhile), delivery resumes
// from the last acknowledged change: nothing lost, nothing repeated.
func TestRestHookFailsThenRecovers(t *testing.T) {
	hook := newHookReceiver(t, 0)
	f := newFHIRSubEnv(t, hook, hook.srv.URL)
	partner := f.token(t, "partner", "")
	admin := f.token(t, "admin", "")
	stop := f.run(t, "first")

	id, r := f.createSub(t, partner, restHook(hook.srv.URL+"/hook", "Observation?status=final", true))
	if len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	f.waitStatus(t, id, "active")

	hook.setFailing(true)
	writeObs(t, f.env, admin, "h1", "p1", "final")
	writeObs(t, f.env, admin, "h2", "p1", "preliminary") // not selected
	why := f.waitStatus(t, id, "error")
	if !strings.Contains(why, "failed 3 times") || !strings.Contains(why, "500") {
		t.Errorf("Subscription.error %q", why)
	}
	hook.setFailing(false)
	calls := hook.waitCalls(t, 1)
	f.waitStatus(t, id, "active")
	writeObs(t, f.env, admin, "h2", "p1", "final")
	deleteObs(t, f.env, admin, "h1")
	calls = hook.waitCalls(t, 3)
	checkOnce(t, calls, []string{"create Observation/h1/_history/1", "update Observation/h2/_history/2", "delete Observation/h1/_history/2"})
	if c := calls[0]; c.auth != "Bearer hook-secret" || c.contentType != "application/fhir+json" || c.body["id"] != "h1" || c.body["status"] != "final" {
		t.Errorf("first notification: %+v", c)
	}
	if c := calls[2]; c.body != nil {
		t.Errorf("a delete carries no resource: %+v", c.body)
	}

	// Restart: changes written while no deliverer runs arrive after it comes back, once.
	stop()
	writeObs(t, f.env, admin, "h3", "p1", "final")
	writeObs(t, f.env, admin, "h4", "p1", "final")
	f.run(t, "second")
	calls = hook.waitCalls(t, 5)
	time.Sleep(300 * time.Millisecond)
	checkOnce(t, hook.calls(), []string{"create Observation/h1/_history/1", "update Observation/h2/_history/2", "delete Observation/h1/_history/2", "create Observation/h3/_history/1", "create Observation/h4/_history/1"})
	_ = calls
}

// TestRestHookOncePerChangeAcrossProcesses: two deliverers on one datastore (two processes'
// worth) deliver each change once between them.
func TestRestHookOncePerChangeAcrossProcesses(t *testing.T) {
	hook := newHookReceiver(t, 0)
	f := newFHIRSubEnv(t, hook, hook.srv.URL)
	partner, admin := f.token(t, "partner", ""), f.token(t, "admin", "")
	f.run(t, "a")
	f.run(t, "b")
	id, r := f.createSub(t, partner, restHook(hook.srv.URL, "Observation", false))
	if len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	f.waitStatus(t, id, "active")
	var want []string
	for i := range 20 {
		writeObs(t, f.env, admin, fmt.Sprintf("x%d", i), "p1", "final")
		want = append(want, fmt.Sprintf("create Observation/x%d/_history/1", i))
	}
	hook.waitCalls(t, 20)
	time.Sleep(500 * time.Millisecond)
	checkOnce(t, hook.calls(), want)
	if c := hook.calls()[0]; c.body != nil || c.contentType != "" {
		t.Errorf("a notification without payload has a body: %+v", c)
	}
}

// TestFHIRSubscriptionWrites: the server refuses Subscriptions it cannot serve or that the
// writer may not make, sets the status itself, and marks a rest-hook whose endpoint is not
// allowed as error at once.
func TestFHIRSubscriptionWrites(t *testing.T) {
	hook := newHookReceiver(t, 0)
	f := newFHIRSubEnv(t, hook, hook.srv.URL+"/allowed")
	partner := f.token(t, "partner", "")
	for _, c := range []struct {
		name string
		sub  map[string]any
		code string
	}{
		{"invalid criteria", restHook(hook.srv.URL+"/allowed", "Observation?nope=1", false), "BAD_USER_INPUT"},
		{"criteria without a type", restHook(hook.srv.URL+"/allowed", "status=final", false), "BAD_USER_INPUT"},
		{"a type the partner may not subscribe to", restHook(hook.srv.URL+"/allowed", "Practitioner", false), "FORBIDDEN"},
		{"email channel", map[string]any{"status": "requested", "criteria": "Observation", "channel": map[string]any{"type": "email", "endpoint": "mailto:x@example.com"}}, "BAD_USER_INPUT"},
		{"rest-hook without endpoint", map[string]any{"status": "requested", "criteria": "Observation", "channel": map[string]any{"type": "rest-hook"}}, "BAD_USER_INPUT"},
		{"xml payload", map[string]any{"status": "requested", "criteria": "Observation", "channel": map[string]any{"type": "rest-hook", "endpoint": hook.srv.URL + "/allowed", "payload": "application/fhir+xml"}}, "BAD_USER_INPUT"},
	} {
		if _, r := f.createSub(t, partner, c.sub); len(codes(r)) == 0 || codes(r)[0] != c.code {
			t.Errorf("%s: %v, want %s", c.name, r.Errors, c.code)
		}
	}
	for _, endpoint := range []string{hook.srv.URL + "/other", hook.srv.URL + "/allowedx", "http://169.254.169.254/allowed", "file:///etc/passwd"} {
		id, r := f.createSub(t, partner, restHook(endpoint, "Observation", false))
		if len(r.Errors) > 0 {
			t.Fatalf("%s: %v", endpoint, r.Errors)
		}
		if status, why := f.subStatus(t, id); status != "error" || !strings.Contains(why, "--subscription-endpoints") {
			t.Errorf("endpoint %s: status %s %q", endpoint, status, why)
		}
	}
	// A client cannot make itself active: the server decides.
	sub := restHook(hook.srv.URL+"/allowed/x", "Observation", false)
	sub["status"] = "active"
	id, r := f.createSub(t, partner, sub)
	if len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	if status, _ := f.subStatus(t, id); status != "requested" {
		t.Errorf("status %s, want requested", status)
	}
}

// TestFHIRWebsocketChannel: a client binds to a websocket-channel Subscription and receives
// "ping <id>" for each change its criteria select.
func TestFHIRWebsocketChannel(t *testing.T) {
	f := newFHIRSubEnv(t, newHookReceiver(t, 0), "")
	partner, admin := f.token(t, "partner", ""), f.token(t, "admin", "")
	f.run(t, "ws")
	id, r := f.createSub(t, partner, map[string]any{"status": "requested", "criteria": "Observation?status=final", "channel": map[string]any{"type": "websocket"}})
	if len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	f.waitStatus(t, id, "active")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/fhir/websocket"
	if _, resp, err := websocket.Dial(ctx, url, nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without a token: %v %v", resp, err)
	}
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + partner}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	read := func() string {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	c.Write(ctx, websocket.MessageText, []byte("bind nope"))
	if m := read(); !strings.HasPrefix(m, "error nope") {
		t.Errorf("bind to a missing Subscription: %q", m)
	}
	c.Write(ctx, websocket.MessageText, []byte("bind "+id))
	if m := read(); m != "bound "+id {
		t.Fatalf("bind: %q", m)
	}
	writeObs(t, f.env, admin, "w1", "p1", "preliminary") // not selected
	writeObs(t, f.env, admin, "w1", "p1", "final")
	writeObs(t, f.env, admin, "w2", "p1", "final")
	for i := range 2 {
		if m := read(); m != "ping "+id {
			t.Fatalf("notification %d: %q", i, m)
		}
	}
}

// TestRestHookPayloadFollowsOwnerPolicy: a payload carries what the Subscription's owner may
// read: a partner's notification of an Observation leaves out the contained Practitioner that
// partners may not read, and is labelled REDACTED.
func TestRestHookPayloadFollowsOwnerPolicy(t *testing.T) {
	hook := newHookReceiver(t, 0)
	f := newFHIRSubEnv(t, hook, hook.srv.URL)
	partner, admin := f.token(t, "partner", ""), f.token(t, "admin", "")
	f.run(t, "p")
	id, r := f.createSub(t, partner, restHook(hook.srv.URL, "Observation", true))
	if len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	f.waitStatus(t, id, "active")
	obs := `{"resourceType":"Observation","id":"red","status":"final","code":{"text":"x"},"contained":[{"resourceType":"Practitioner","id":"pr","name":[{"family":"Secret"}]}],"performer":[{"reference":"#pr"}]}`
	if r := f.postAsVars(admin, "", `mutation($r: ObservationInput!) { ObservationUpdate(id: "red", res: $r) { id } }`, map[string]any{"r": json.RawMessage(obs)}); len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	c := hook.waitCalls(t, 1)[0]
	raw, _ := json.Marshal(c.body)
	if strings.Contains(string(raw), "Secret") || !strings.Contains(string(raw), "REDACTED") || c.body["status"] != "final" {
		t.Errorf("payload: %s", raw)
	}
}

// TestRestHookEndpointHangs: an endpoint that does not answer in time counts as a failure: the
// Subscription turns error after the retries, and the server and its other subscribers go on.
func TestRestHookEndpointHangs(t *testing.T) {
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)
	f := newFHIRSubEnv(t, newHookReceiver(t, 0), hang.URL)
	partner, admin := f.token(t, "partner", ""), f.token(t, "admin", "")
	f.runWith(t, "h", &http.Client{Timeout: 200 * time.Millisecond})
	id, r := f.createSub(t, partner, restHook(hang.URL, "Observation", false))
	if len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	f.waitStatus(t, id, "active")
	w := dialWS(t, f.env, "graphql-transport-ws", nil)
	w.init(map[string]any{"token": partner})
	w.subscribe("g", changedQuery, map[string]any{"type": "Observation"})
	time.Sleep(100 * time.Millisecond)
	writeObs(t, f.env, admin, "hang1", "p1", "final")
	if why := f.waitStatus(t, id, "error"); !strings.Contains(why, "failed 3 times") {
		t.Errorf("Subscription.error %q", why)
	}
	if got := w.changes("g", 1); got[0].ID != "hang1" {
		t.Errorf("a GraphQL subscriber beside it: %v", got)
	}
}

// TestRestHookCreatedOverREST: a Subscription created at POST /fhir/Subscription is taken in
// hand the same way (status, owner) and delivers; invalid criteria are a 400 there.
func TestRestHookCreatedOverREST(t *testing.T) {
	hook := newHookReceiver(t, 0)
	f := newFHIRSubEnv(t, hook, hook.srv.URL)
	partner, admin := f.token(t, "partner", ""), f.token(t, "admin", "")
	f.run(t, "rest")
	sub := restHook(hook.srv.URL, "Observation?status=final", false)
	sub["resourceType"], sub["reason"] = "Subscription", "rest"
	r := f.fhir(http.MethodPost, "/fhir/Subscription", partner, sub)
	if r.Status != http.StatusCreated || r.Body["status"] != "requested" {
		t.Fatalf("create: %d %s", r.Status, truncate(string(r.Raw), 300))
	}
	id, _ := r.Body["id"].(string)
	f.waitStatus(t, id, "active")
	writeObs(t, f.env, admin, "r1", "p1", "final")
	checkOnce(t, hook.waitCalls(t, 1), []string{"create Observation/r1/_history/1"})
	bad := restHook(hook.srv.URL, "Observation?nope=x", false)
	bad["resourceType"], bad["reason"] = "Subscription", "rest"
	if r := f.fhir(http.MethodPost, "/fhir/Subscription", partner, bad); r.Status != http.StatusBadRequest {
		t.Errorf("invalid criteria over REST: %d %s", r.Status, truncate(string(r.Raw), 300))
	}
}

// fleetCatalog is a catalog of test datastores whose listing the test changes, as
// datastoreCreate and datastoreDelete change a deployment's.
type fleetCatalog struct {
	mu     sync.Mutex
	listed map[string]*fhirSubEnv
}

func (c *fleetCatalog) set(f *fhirSubEnv, listed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if listed {
		c.listed[f.name] = f
	} else {
		delete(c.listed, f.name)
	}
}

func (c *fleetCatalog) Datastores(context.Context) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(maps.Keys(c.listed)), nil
}

func (c *fleetCatalog) Open(_ context.Context, name string) (fhirsub.Store, fhirsub.Changes, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.listed[name]
	if f == nil {
		return nil, nil, false, nil
	}
	return f.store, f.hub, true, nil
}

// TestRestHooksOfEveryDatastore: one Fleet delivers the FHIR Subscriptions of every datastore:
// those that exist when it starts, one created later (from the moment it is announced, not
// at a rescan), and none of one deleted.
func TestRestHooksOfEveryDatastore(t *testing.T) {
	hook := newHookReceiver(t, 0)
	one, two := newFHIRSubEnv(t, hook, hook.srv.URL), newFHIRSubEnv(t, hook, hook.srv.URL)
	cat := &fleetCatalog{listed: map[string]*fhirSubEnv{}}
	cat.set(one, true)
	authorize, redact := api.FHIRSubscriptionAccess(one.cfg)
	fleet := fhirsub.NewFleet(cat, fhirsub.Options{Endpoints: one.cfg.Subscriptions.Endpoints, Authorize: authorize, Redact: redact,
		LeaseTTL: 600 * time.Millisecond, Backoff: 10 * time.Millisecond, MaxBackoff: 80 * time.Millisecond}, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = fleet.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })

	subs := map[*fhirSubEnv]string{}
	for _, f := range []*fhirSubEnv{one, two} {
		id, r := f.createSub(t, f.token(t, "partner", ""), restHook(hook.srv.URL, "Observation", false))
		if len(r.Errors) > 0 {
			t.Fatal(r.Errors)
		}
		subs[f] = id
	}
	one.waitStatus(t, subs[one], "active")
	time.Sleep(300 * time.Millisecond)
	if s, _ := two.subStatus(t, subs[two]); s != "requested" {
		t.Fatalf("the Subscription of a datastore the fleet does not know yet is %s", s)
	}
	cat.set(two, true)
	fleet.Created(two.name)
	two.waitStatus(t, subs[two], "active")
	if got := fleet.Running(); len(got) != 2 {
		t.Fatalf("the fleet runs %v; want both datastores", got)
	}

	writeObs(t, one.env, one.token(t, "admin", ""), "in-one", "p1", "final")
	writeObs(t, two.env, two.token(t, "admin", ""), "in-two", "p1", "final")
	hook.waitCalls(t, 2)
	time.Sleep(300 * time.Millisecond)
	checkSet := func(want ...string) {
		t.Helper()
		var got []string
		for _, c := range hook.calls() {
			got = append(got, c.resource)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("notifications %v; want %v", got, want)
		}
	}
	checkSet("Observation/in-one/_history/1", "Observation/in-two/_history/1")

	// Deleted: its Manager stops before the datastore is dropped, and nothing more is posted.
	cat.set(two, false)
	fleet.Deleting(two.name)
	if got := fleet.Running(); !slices.Equal(got, []string{one.name}) {
		t.Fatalf("after the delete the fleet runs %v; want %s only", got, one.name)
	}
	writeObs(t, two.env, two.token(t, "admin", ""), "after-delete", "p1", "final")
	writeObs(t, one.env, one.token(t, "admin", ""), "still-one", "p1", "final")
	hook.waitCalls(t, 3)
	time.Sleep(500 * time.Millisecond)
	checkSet("Observation/in-one/_history/1", "Observation/in-two/_history/1", "Observation/still-one/_history/1")
}

// TestSubscriptionsOwnerOnly: a Subscription carries its endpoint's credentials in
// channel.header, so only the principal that created it, and admins, read, search or write
// it: another partner finds nothing, through every read path of REST and GraphQL, and cannot
// take it over by updating it.
func TestSubscriptionsOwnerOnly(t *testing.T) {
	hook := newHookReceiver(t, 0)
	f := newFHIRSubEnv(t, hook, hook.srv.URL)
	owner, admin := f.token(t, "partner", ""), f.token(t, "admin", "")
	other, err := f.key.Sign(authz.TokenRequest{Subject: "another-partner", Roles: []string{"partner"}, TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	id, r := f.createSub(t, owner, restHook(hook.srv.URL, "Observation", false))
	if len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	// What each path shows a caller: how many Subscriptions, and whether the secret.
	type seen struct {
		n      int
		secret bool
	}
	paths := map[string]func(token string) seen{
		"REST read": func(tok string) seen {
			r := f.fhir(http.MethodGet, "/fhir/Subscription/"+id, tok, nil)
			return seen{btoi(r.Status == http.StatusOK), strings.Contains(string(r.Raw), "hook-secret")}
		},
		"REST vread": func(tok string) seen {
			r := f.fhir(http.MethodGet, "/fhir/Subscription/"+id+"/_history/1", tok, nil)
			return seen{btoi(r.Status == http.StatusOK), strings.Contains(string(r.Raw), "hook-secret")}
		},
		"REST history": func(tok string) seen {
			r := f.fhir(http.MethodGet, "/fhir/Subscription/"+id+"/_history", tok, nil)
			n, _ := r.Body["total"].(float64)
			return seen{int(n), strings.Contains(string(r.Raw), "hook-secret")}
		},
		"REST search": func(tok string) seen {
			r := f.fhir(http.MethodGet, "/fhir/Subscription?status=active,requested", tok, nil)
			es, _ := r.Body["entry"].([]any)
			return seen{len(es), strings.Contains(string(r.Raw), "hook-secret")}
		},
		"GraphQL read": func(tok string) seen {
			r := f.postAs(tok, "", fmt.Sprintf(`{ Subscription(id: %q) { id channel { header } } }`, id))
			return seen{btoi(string(r.Data["Subscription"]) != "null" && len(r.Data["Subscription"]) > 0), strings.Contains(string(r.body), "hook-secret")}
		},
		"GraphQL list": func(tok string) seen {
			r := f.postAs(tok, "", `{ SubscriptionList { id channel { header } } }`)
			var l []any
			_ = json.Unmarshal(r.Data["SubscriptionList"], &l)
			return seen{len(l), strings.Contains(string(r.body), "hook-secret")}
		},
	}
	for name, path := range paths {
		for _, c := range []struct {
			who, token string
			want       seen
		}{{"owner", owner, seen{1, true}}, {"admin", admin, seen{1, true}}, {"another partner", other, seen{0, false}}} {
			if got := path(c.token); got != c.want {
				t.Errorf("%s by the %s: %d Subscriptions, secret shown %v; want %d, %v", name, c.who, got.n, got.secret, c.want.n, c.want.secret)
			}
		}
	}
	t.Logf("%d read paths checked for 3 callers", len(paths))

	// Others can neither take it over nor delete it.
	taken := restHook("http://attacker.example/", "Observation", false)
	taken["resourceType"], taken["id"] = "Subscription", id
	if r := f.fhir(http.MethodPut, "/fhir/Subscription/"+id, other, taken); r.Status != http.StatusNotFound {
		t.Errorf("update by another partner: %d %s; want 404", r.Status, r.Raw)
	}
	// Partners may not delete Subscriptions at all; a clinician may, its own only.
	if r := f.fhir(http.MethodDelete, "/fhir/Subscription/"+id, f.token(t, "clinician", ""), nil); r.Status != http.StatusNotFound {
		t.Errorf("delete by a clinician: %d %s; want 404", r.Status, r.Raw)
	}
	r2 := f.fhir(http.MethodGet, "/fhir/Subscription/"+id, owner, nil)
	if r2.Status != http.StatusOK || strings.Contains(string(r2.Raw), "attacker") {
		t.Errorf("after another partner's attempts the owner reads %d %s", r2.Status, r2.Raw)
	}
	if p := f.fhir(http.MethodGet, "/fhir/Subscription/"+id, other, nil); p.Status != http.StatusNotFound {
		t.Errorf("after its attempts another partner reads it: %d", p.Status)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestMetadataAdvertisesSubscriptions: /fhir/metadata gives the websocket binding's URL (R4's
// capabilitystatement-websocket extension on rest), which accepts a client, and lists on the
// Subscription resource the channel types served: rest-hook only when endpoints are allowed.
func TestMetadataAdvertisesSubscriptions(t *testing.T) {
	hook := newHookReceiver(t, 0)
	for _, c := range []struct {
		allow string
		want  []string
	}{{hook.srv.URL, []string{"rest-hook", "websocket"}}, {"", []string{"websocket"}}} {
		f := newFHIRSubEnv(t, hook, c.allow)
		r := f.fhir(http.MethodGet, "/fhir/metadata", "", nil)
		rest := r.Body["rest"].([]any)[0].(map[string]any)
		var wsURL string
		for _, e := range rest["extension"].([]any) {
			if e := e.(map[string]any); e["url"] == "http://hl7.org/fhir/StructureDefinition/capabilitystatement-websocket" {
				wsURL, _ = e["valueUri"].(string)
			}
		}
		if want := "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/fhir/websocket"; wsURL != want {
			t.Errorf("websocket URL %q; want %q", wsURL, want)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		conn, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + f.token(t, "partner", "")}}})
		if err != nil {
			t.Errorf("dial the advertised websocket: %v", err)
		} else {
			conn.Write(ctx, websocket.MessageText, []byte("bind nope"))
			if _, m, err := conn.Read(ctx); err != nil || !strings.HasPrefix(string(m), "error nope") {
				t.Errorf("the advertised websocket answers bind with %q (%v)", m, err)
			}
			conn.CloseNow()
		}
		cancel()
		var got []string
		for _, res := range rest["resource"].([]any) {
			m := res.(map[string]any)
			exts, _ := m["extension"].([]any)
			if m["type"] != "Subscription" {
				if len(exts) > 0 {
					t.Errorf("%s carries channel types", m["type"])
				}
				continue
			}
			for _, e := range exts {
				v := e.(map[string]any)["valueCoding"].(map[string]any)
				if v["system"] != "http://terminology.hl7.org/CodeSystem/subscription-channel-type" {
					t.Errorf("channel type system %v", v["system"])
				}
				got = append(got, v["code"].(string))
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("allowed endpoints %q: channel types %v; want %v", c.allow, got, c.want)
		}
	}
}
