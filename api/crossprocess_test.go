package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/fhirsub"
	"github.com/fhirgate/fhirgate/notify"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/storage/embedded"
)

// TestCrossProcessDelivery runs two servers, each with its own storage client, change-feed
// reader and FHIR Subscription deliverer, on one standalone MongoDB-compatible engine
// (FerretDB started by the test, reached by URI as a MongoDB server is): a write through A
// reaches a GraphQL subscriber on B, in order, and each change is posted to a rest-hook once
// between the two deliverers.
func TestCrossProcessDelivery(t *testing.T) {
	ctx := context.Background()
	eng := embedded.New(t.TempDir())
	uri, err := eng.Start(ctx, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Stop() }) // last: after the clients and deliverers that use it
	open := func() *storage.Store {
		c, err := storage.Open(ctx, storage.Config{URI: uri, Indexer: search.Indexer{}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		s, err := c.Datastore(ctx, "xproc")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hook := newHookReceiver(t, 0)
	eps, _ := fhirsub.ParseEndpoints(hook.srv.URL)
	server := func(s *storage.Store, holder string) *env {
		hub := notify.NewHub(s, notify.Options{})
		e := newEnvOver(t, "xproc", s, func(c *api.Config) {
			c.Subscriptions.Changes = hub
			c.Subscriptions.Endpoints = eps
		})
		authorize, redact := api.FHIRSubscriptionAccess(api.Config{Auth: api.Auth{Off: true}})
		m := fhirsub.New(s, hub, fhirsub.Options{Endpoints: eps, Authorize: authorize, Redact: redact, Holder: holder, LeaseTTL: time.Second})
		mctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); m.Run(mctx) }()
		t.Cleanup(func() { cancel(); <-done })
		return e
	}
	a, b := server(open(), "A"), server(open(), "B")

	w := dialWS(t, b, "graphql-transport-ws", nil)
	w.init(nil)
	w.subscribe("1", changedQuery, map[string]any{"type": "Observation"})
	r := a.post("", `mutation($r: SubscriptionInput!) { SubscriptionCreate(res: $r) { id } }`, map[string]any{"r": map[string]any{
		"resourceType": "Subscription", "status": "requested", "reason": "x", "criteria": "Observation",
		"channel": map[string]any{"type": "rest-hook", "endpoint": hook.srv.URL}}})
	if len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	time.Sleep(300 * time.Millisecond)
	const n = 20
	var want []string
	var wantHooks []string
	start := time.Now()
	for i := range n {
		id := fmt.Sprintf("x%d", i)
		writeObs(t, a, "", id, "p1", "final")
		want = append(want, fmt.Sprintf("CREATE %s/1", id))
		wantHooks = append(wantHooks, fmt.Sprintf("create Observation/%s/_history/1", id))
	}
	deleteObs(t, a, "", "x0")
	want = append(want, "DELETE x0/2 leaving")
	wantHooks = append(wantHooks, "delete Observation/x0/_history/2")
	got := w.changes("1", n+1)
	if strChanges(got) != fmt.Sprint(joinStrings(want)) {
		t.Errorf("B's subscriber\n got %s\nwant %s", strChanges(got), joinStrings(want))
	}
	t.Logf("%d changes written through A reached B's subscriber in %v", n+1, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	hook.waitCalls(t, n+1)
	t.Logf("rest-hooks after %v", time.Since(start).Round(time.Millisecond))
	time.Sleep(time.Second)
	checkOnce(t, hook.calls(), wantHooks)
}

func joinStrings(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += "; "
		}
		out += x
	}
	return out
}
