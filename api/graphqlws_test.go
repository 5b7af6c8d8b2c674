package api_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/authz"
)

// The interoperability test drives fhirgate's subscriptions with graphql-ws, the reference
// client of the graphql-transport-ws protocol (npm graphql-ws over ws, pinned in
// bench/graphqlws/package-lock.json), from bench/graphqlws/client.mjs. It needs Node.js and
// the packages (`npm ci --prefix bench/graphqlws`, which .ci/run does); without them it skips,
// unless FHIRGATE_REQUIRE_GRAPHQLWS=1 says they were installed.

const graphqlwsDir = "../bench/graphqlws"

// graphqlwsClient is a running client.mjs.
type graphqlwsClient struct {
	t      testing.TB
	in     io.WriteCloser
	events chan map[string]any
}

func startGraphQLWS(t testing.TB) *graphqlwsClient {
	t.Helper()
	missing := t.Skip
	if os.Getenv("FHIRGATE_REQUIRE_GRAPHQLWS") == "1" {
		missing = t.Fatal
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("graphql-ws interop: node is not on PATH")
	}
	if _, err := os.Stat(filepath.Join(graphqlwsDir, "node_modules", "graphql-ws")); err != nil {
		missing("graphql-ws interop: run npm ci --prefix bench/graphqlws")
	}
	cmd := exec.Command(node, "client.mjs")
	cmd.Dir = graphqlwsDir
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	outPipe, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &graphqlwsClient{t: t, in: in, events: make(chan map[string]any, 100)}
	go func() {
		sc := bufio.NewScanner(outPipe)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				c.events <- ev
			}
		}
		close(c.events)
	}()
	t.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
		}
	})
	return c
}

func (c *graphqlwsClient) send(cmd map[string]any) {
	c.t.Helper()
	b, _ := json.Marshal(cmd)
	if _, err := c.in.Write(append(b, '\n')); err != nil {
		c.t.Fatal(err)
	}
}

// next returns the client's next event, failing after a timeout.
func (c *graphqlwsClient) next() map[string]any {
	c.t.Helper()
	select {
	case ev, ok := <-c.events:
		if !ok {
			c.t.Fatal("graphql-ws client exited")
		}
		return ev
	case <-time.After(15 * time.Second):
		c.t.Fatal("no event from the graphql-ws client in 15 s")
	}
	return nil
}

// expect returns the next event, failing unless it is of kind (and of operation id when set).
func (c *graphqlwsClient) expect(kind, id string) map[string]any {
	c.t.Helper()
	ev := c.next()
	if ev["event"] != kind || id != "" && ev["id"] != id {
		c.t.Fatalf("want %s %s, got %v", kind, id, ev)
	}
	return ev
}

// changes reads n next events of operation id.
func (c *graphqlwsClient) changes(id string, n int) []change {
	c.t.Helper()
	var out []change
	for len(out) < n {
		ev := c.expect("next", id)
		b, _ := json.Marshal(ev["payload"])
		var r nextResult
		if err := json.Unmarshal(b, &r); err != nil || len(r.Errors) > 0 || r.Data.Changed == nil {
			c.t.Fatalf("next: %s", b)
		}
		out = append(out, *r.Data.Changed)
	}
	return out
}

// quiet checks that the client reports nothing within a short while.
func (c *graphqlwsClient) quiet() {
	c.t.Helper()
	select {
	case ev := <-c.events:
		c.t.Fatalf("unexpected event %v", ev)
	case <-time.After(500 * time.Millisecond):
	}
}

// TestGraphQLWSInterop: with graphql-ws as the client, a subscription receives a create, an
// update and a delete in order; after the client disconnects and changes are written, a new
// connection resumed with since receives exactly what was missed, then live changes; bad
// input ends an operation with an error the client reports; an expired token closes the
// connection with 4403.
func TestGraphQLWSInterop(t *testing.T) {
	c := startGraphQLWS(t)
	a := newAuthEnv(t, authz.VerifierConfig{})
	url := "ws" + strings.TrimPrefix(a.srv.URL, "http") + "/$graphql"
	partner, admin := a.token(t, "partner", ""), a.token(t, "admin", "")

	c.send(map[string]any{"cmd": "connect", "url": url, "token": partner})
	c.expect("connected", "")
	c.send(map[string]any{"cmd": "subscribe", "id": "s1", "query": changedQuery, "variables": map[string]any{"type": "Observation"}})
	time.Sleep(200 * time.Millisecond)
	writeObs(t, a.env, admin, "g1", "p1", "preliminary")
	writeObs(t, a.env, admin, "g1", "p1", "final")
	deleteObs(t, a.env, admin, "g1")
	got := c.changes("s1", 3)
	if want := "CREATE g1/1; UPDATE g1/2; DELETE g1/3 leaving"; strChanges(got) != want {
		t.Fatalf("got %s, want %s", strChanges(got), want)
	}
	if got[1].Resource == nil || got[1].Resource.Status != "final" {
		t.Errorf("resource: %+v", got[1].Resource)
	}

	// Disconnect, miss two changes, resume.
	c.send(map[string]any{"cmd": "dispose"})
	for seen := map[string]bool{}; !seen["closed"] || !seen["complete"]; { // in either order
		ev := c.next()
		kind, _ := ev["event"].(string)
		if kind != "closed" && kind != "complete" {
			t.Fatalf("after dispose: %v", ev)
		}
		seen[kind] = true
	}
	writeObs(t, a.env, admin, "g2", "p1", "final")
	writeObs(t, a.env, admin, "g2", "p1", "amended")
	c.send(map[string]any{"cmd": "connect", "url": url, "token": partner})
	c.expect("connected", "")
	c.send(map[string]any{"cmd": "subscribe", "id": "s2", "query": changedQuery, "variables": map[string]any{"type": "Observation", "since": got[2].Token}})
	missed := c.changes("s2", 2)
	if want := "CREATE g2/1; UPDATE g2/2"; strChanges(missed) != want {
		t.Fatalf("resumed: got %s, want %s", strChanges(missed), want)
	}
	c.quiet()
	writeObs(t, a.env, admin, "g3", "p1", "final")
	if live := c.changes("s2", 1); live[0].ID != "g3" {
		t.Fatalf("live after the replay: %v", live)
	}

	// Bad input: the operation ends with an error, the connection goes on.
	for i, vars := range []map[string]any{
		{"type": "Observation", "where": map[string]any{"nope": "x"}},
		{"type": "Observation", "since": "not-a-token"},
		{"type": "Practitioner"}, // partners may not subscribe to it
	} {
		id := fmt.Sprintf("bad%d", i)
		c.send(map[string]any{"cmd": "subscribe", "id": id, "query": changedQuery, "variables": vars})
		ev := c.next()
		if ev["id"] != id || ev["event"] != "next" && ev["event"] != "error" {
			t.Fatalf("%s: %v", id, ev)
		}
		b, _ := json.Marshal(ev)
		if !strings.Contains(string(b), "BAD_USER_INPUT") && !strings.Contains(string(b), "FORBIDDEN") {
			t.Errorf("%s: %s", id, b)
		}
		if ev["event"] == "next" {
			c.expect("complete", id)
		}
	}
	writeObs(t, a.env, admin, "g4", "p1", "final")
	if live := c.changes("s2", 1); live[0].ID != "g4" {
		t.Fatalf("after the bad input: %v", live)
	}
	c.send(map[string]any{"cmd": "dispose"})

	// A token that expires closes the connection with 4403.
	short := a.shortToken(t, "partner", "", 2*time.Second)
	c2 := startGraphQLWS(t)
	c2.send(map[string]any{"cmd": "connect", "url": url, "token": short})
	c2.expect("connected", "")
	c2.send(map[string]any{"cmd": "subscribe", "id": "x", "query": changedQuery, "variables": map[string]any{"type": "Observation"}})
	for {
		ev := c2.next()
		if ev["event"] == "closed" {
			if code, _ := ev["code"].(float64); code != 4403 {
				t.Errorf("closed with %v %v, want 4403", ev["code"], ev["reason"])
			}
			break
		}
	}
}
