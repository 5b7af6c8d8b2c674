package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/fhirgate/fhirgate/api"
)

// wsClient is a raw websocket client of /$graphql, for protocol tests: it reads and writes
// the protocol's JSON messages itself.
type wsClient struct {
	t testing.TB
	c *websocket.Conn
}

// dialWS opens a websocket to e's /$graphql with subprotocol proto and header.
func dialWS(t testing.TB, e *env, proto string, header http.Header) *wsClient {
	t.Helper()
	return dialWSWith(t, e, proto, header, nil)
}

// dialWSWith is dialWS through client.
func dialWSWith(t testing.TB, e *env, proto string, header http.Header, client *http.Client) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/$graphql", &websocket.DialOptions{Subprotocols: []string{proto}, HTTPHeader: header, HTTPClient: client})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial: status %d: %v", status, err)
	}
	c.SetReadLimit(8 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return &wsClient{t: t, c: c}
}

func (w *wsClient) send(v any) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := wsjson.Write(ctx, w.c, v); err != nil {
		w.t.Fatalf("send: %v", err)
	}
}

func (w *wsClient) sendRaw(s string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		w.t.Fatalf("send: %v", err)
	}
}

// wsMessage is a protocol message as the tests read it.
type wsMessage struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Payload json.RawMessage `json:"payload"`
}

// read returns the next message other than a ping (answered) or a keep-alive, or the error
// that ended the connection.
func (w *wsClient) read(timeout time.Duration) (wsMessage, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		var m wsMessage
		if err := wsjson.Read(ctx, w.c, &m); err != nil {
			return m, err
		}
		switch m.Type {
		case "ping":
			_ = wsjson.Write(ctx, w.c, map[string]any{"type": "pong"})
			continue
		case "ka":
			continue
		}
		return m, nil
	}
}

func (w *wsClient) mustRead() wsMessage {
	w.t.Helper()
	m, err := w.read(10 * time.Second)
	if err != nil {
		w.t.Fatalf("read: %v", err)
	}
	return m
}

// closed waits for the server to close the connection and returns the close code and reason.
func (w *wsClient) closed() (websocket.StatusCode, string) {
	w.t.Helper()
	for {
		_, err := w.read(10 * time.Second)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			w.t.Fatalf("connection ended without a close frame: %v", err)
		}
		return ce.Code, ce.Reason
	}
}

// init sends connection_init with payload and expects connection_ack.
func (w *wsClient) init(payload any) {
	w.t.Helper()
	w.send(map[string]any{"type": "connection_init", "payload": payload})
	if m := w.mustRead(); m.Type != "connection_ack" {
		w.t.Fatalf("after connection_init: %s %s", m.Type, m.Payload)
	}
}

// subscribe starts operation id.
func (w *wsClient) subscribe(id, query string, vars map[string]any) {
	w.t.Helper()
	w.send(map[string]any{"type": "subscribe", "id": id, "payload": map[string]any{"query": query, "variables": vars}})
}

// change is a ResourceChange as the tests select it.
type change struct {
	Operation string `json:"operation"`
	Leaving   bool   `json:"leaving"`
	Token     string `json:"token"`
	Type      string `json:"type"`
	ID        string `json:"id"`
	VersionID string `json:"versionId"`
	Resource  *struct {
		Status  string `json:"status"`
		Subject *struct {
			Reference string `json:"reference"`
		} `json:"subject"`
	} `json:"resource"`
}

func (c change) String() string {
	s := fmt.Sprintf("%s %s/%s", c.Operation, c.ID, c.VersionID)
	if c.Leaving {
		s += " leaving"
	}
	return s
}

// nextResult is one next message's payload.
type nextResult struct {
	Data struct {
		Changed *change `json:"changed"`
	} `json:"data"`
	Errors []gqlError `json:"errors"`
}

// changes reads n next messages of operation id and returns their changes, failing on errors.
func (w *wsClient) changes(id string, n int) []change {
	w.t.Helper()
	var out []change
	for len(out) < n {
		m := w.mustRead()
		if m.ID != id || m.Type != "next" && m.Type != "data" { // data: the legacy protocol
			w.t.Fatalf("waiting for %d changes of %s, got %d, then %s %s: %s", n, id, len(out), m.Type, m.ID, m.Payload)
		}
		var r nextResult
		if err := json.Unmarshal(m.Payload, &r); err != nil || len(r.Errors) > 0 || r.Data.Changed == nil {
			w.t.Fatalf("next: %s (%v)", m.Payload, err)
		}
		out = append(out, *r.Data.Changed)
	}
	return out
}

// changedQuery selects everything the tests compare.
const changedQuery = `subscription($type: ResourceType!, $where: SearchParams, $criteria: String, $ops: [ChangeOperation!], $since: String) {
  changed(type: $type, where: $where, criteria: $criteria, operations: $ops, since: $since) {
    operation leaving token type id versionId lastUpdated
    resource { ... on Observation { status subject { reference } } ... on Patient { id } }
  }
}`

// writeObs creates or updates an Observation through GraphQL and returns its version.
func writeObs(t testing.TB, e *env, token, id, patient, status string) {
	t.Helper()
	res := map[string]any{"resourceType": "Observation", "id": id, "status": status, "code": map[string]any{"text": "x"}, "subject": map[string]any{"reference": "Patient/" + patient}}
	r := e.postAsVars(token, "", `mutation($id: ID!, $r: ObservationInput!) { ObservationUpdate(id: $id, res: $r) { id } }`, map[string]any{"id": id, "r": res})
	if len(r.Errors) > 0 {
		t.Fatalf("write Observation/%s: %+v", id, r.Errors)
	}
}

func deleteObs(t testing.TB, e *env, token, id string) {
	t.Helper()
	if r := e.postAs(token, "", fmt.Sprintf(`mutation { ObservationDelete(id: %q) { issue { code } } }`, id)); len(r.Errors) > 0 {
		t.Fatalf("delete Observation/%s: %+v", id, r.Errors)
	}
}

func strChanges(cs []change) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.String())
	}
	return strings.Join(out, "; ")
}

// TestWebsocketSubscription: over graphql-transport-ws and the legacy graphql-ws, a
// subscription receives a create, an update and a delete in order, through its own selection.
func TestWebsocketSubscription(t *testing.T) {
	e := newEnv(t)
	for _, proto := range []string{"graphql-transport-ws", "graphql-ws"} {
		t.Run(proto, func(t *testing.T) {
			w := dialWS(t, e, proto, nil)
			w.init(nil)
			start := "subscribe"
			if proto == "graphql-ws" {
				start = "start"
			}
			w.send(map[string]any{"type": start, "id": "1", "payload": map[string]any{"query": changedQuery, "variables": map[string]any{"type": "Observation"}}})
			time.Sleep(100 * time.Millisecond) // the subscription starts after its message is read
			id := "o-" + proto
			writeObs(t, e, "", id, "p1", "preliminary")
			writeObs(t, e, "", id, "p1", "final")
			deleteObs(t, e, "", id)
			got := w.changes("1", 3)
			want := fmt.Sprintf("CREATE %s/1; UPDATE %s/2; DELETE %s/3 leaving", id, id, id)
			if strChanges(got) != want {
				t.Fatalf("got %s, want %s", strChanges(got), want)
			}
			if got[1].Resource == nil || got[1].Resource.Status != "final" || got[1].Resource.Subject.Reference != "Patient/p1" || got[2].Resource != nil {
				t.Errorf("resources: %+v %+v", got[1].Resource, got[2].Resource)
			}
			if got[0].Token >= got[1].Token && len(got[0].Token) == len(got[1].Token) {
				t.Errorf("tokens not increasing: %s %s", got[0].Token, got[1].Token)
			}
		})
	}
}

// TestWebsocketProtocolViolations: each violation of graphql-transport-ws closes the
// connection with the protocol's code, and the server keeps serving others.
func TestWebsocketProtocolViolations(t *testing.T) {
	e := newEnv(t, func(c *api.Config) { c.Subscriptions.InitTimeout = 300 * time.Millisecond })
	cases := []struct {
		name string
		run  func(w *wsClient)
		code websocket.StatusCode
	}{
		{"invalid JSON", func(w *wsClient) { w.sendRaw(`{"type":`) }, 4400},
		{"no type", func(w *wsClient) { w.sendRaw(`{"id":"1"}`) }, 4400},
		{"unknown type", func(w *wsClient) { w.sendRaw(`{"type":"start","id":"1"}`) }, 4400},
		{"invalid JSON after init", func(w *wsClient) { w.init(nil); w.sendRaw(`[1,2`) }, 4400},
		{"subscribe before connection_ack", func(w *wsClient) { w.subscribe("1", changedQuery, map[string]any{"type": "Observation"}) }, 4401},
		{"second connection_init", func(w *wsClient) { w.init(nil); w.send(map[string]any{"type": "connection_init"}) }, 4429},
		{"duplicate operation id", func(w *wsClient) {
			w.init(nil)
			w.subscribe("same", changedQuery, map[string]any{"type": "Observation"})
			w.subscribe("same", changedQuery, map[string]any{"type": "Patient"})
		}, 4409},
		{"subscribe without id", func(w *wsClient) {
			w.init(nil)
			w.sendRaw(`{"type":"subscribe","payload":{"query":"subscription{changed(type:Patient){id}}"}}`)
		}, 4400},
		{"no connection_init", func(w *wsClient) {}, 4408},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := dialWS(t, e, "graphql-transport-ws", nil)
			c.run(w)
			if code, reason := w.closed(); code != c.code {
				t.Errorf("closed with %d %q, want %d", code, reason, c.code)
			}
		})
	}
	// The server still serves.
	w := dialWS(t, e, "graphql-transport-ws", nil)
	w.init(nil)
	w.subscribe("ok", changedQuery, map[string]any{"type": "Observation"})
	time.Sleep(100 * time.Millisecond)
	writeObs(t, e, "", "after", "p1", "final")
	if got := w.changes("ok", 1); got[0].ID != "after" {
		t.Errorf("after the violations: %v", got)
	}
	t.Logf("%d violations checked", len(cases))
}

// subscriptionError reads the one response of operation id, expects it to carry an error of
// code, then complete.
func (w *wsClient) subscriptionError(id, code string) gqlError {
	w.t.Helper()
	m := w.mustRead()
	var r nextResult
	if m.ID != id || (m.Type != "next" && m.Type != "error") {
		w.t.Fatalf("want an error for %s, got %s %s %s", id, m.Type, m.ID, m.Payload)
	}
	var errs []gqlError
	if m.Type == "error" {
		_ = json.Unmarshal(m.Payload, &errs)
	} else {
		_ = json.Unmarshal(m.Payload, &r)
		errs = r.Errors
	}
	if len(errs) == 0 || errs[0].Extensions["code"] != code {
		w.t.Fatalf("want %s, got %s", code, m.Payload)
	}
	// gqlgen completes an operation after its error message too; the protocol needs it only
	// after next.
	if c := w.mustRead(); c.Type != "complete" || c.ID != id {
		w.t.Fatalf("after the error: %s %s", c.Type, c.ID)
	}
	return errs[0]
}

// TestSubscriptionBadInput: invalid criteria, an unknown type, a malformed or impossible
// token, and too many subscriptions each end that operation with a clear error; the
// connection and its other subscriptions go on.
func TestSubscriptionBadInput(t *testing.T) {
	e := newEnv(t, func(c *api.Config) { c.Subscriptions.PerConnection = 3 })
	w := dialWS(t, e, "graphql-transport-ws", nil)
	w.init(nil)
	w.subscribe("live", changedQuery, map[string]any{"type": "Observation"})
	bad := []struct {
		vars map[string]any
		code string
	}{
		{map[string]any{"type": "Observation", "where": map[string]any{"nope": "x"}}, "BAD_USER_INPUT"},
		{map[string]any{"type": "Observation", "where": map[string]any{"date": "notadate"}}, "BAD_USER_INPUT"},
		{map[string]any{"type": "Observation", "where": map[string]any{"status": "final"}, "criteria": "status=final"}, "BAD_USER_INPUT"},
		{map[string]any{"type": "Observation", "where": map[string]any{"_count": 2}}, "BAD_USER_INPUT"},
		{map[string]any{"type": "Nope"}, "GRAPHQL_VALIDATION_FAILED"},
		{map[string]any{"type": "Observation", "since": "abc"}, "BAD_USER_INPUT"},
		{map[string]any{"type": "Observation", "since": "99999999"}, "BAD_USER_INPUT"},
		{map[string]any{"type": "Observation", "ops": []string{"TRUNCATE"}}, "GRAPHQL_VALIDATION_FAILED"},
	}
	for i, b := range bad {
		id := fmt.Sprintf("bad%d", i)
		w.subscribe(id, changedQuery, b.vars)
		w.subscriptionError(id, b.code)
	}
	// Two more fit the bound of 3; the fourth is refused.
	w.subscribe("second", changedQuery, map[string]any{"type": "Patient"})
	w.subscribe("third", changedQuery, map[string]any{"type": "Patient"})
	time.Sleep(100 * time.Millisecond)
	w.subscribe("fourth", changedQuery, map[string]any{"type": "Patient"})
	if e := w.subscriptionError("fourth", "TOO_MANY_SUBSCRIPTIONS"); !strings.Contains(e.Message, "3 live subscriptions") {
		t.Errorf("message %q", e.Message)
	}
	// Ending one makes room.
	w.send(map[string]any{"type": "complete", "id": "third"})
	if m := w.mustRead(); m.Type != "complete" || m.ID != "third" {
		t.Fatalf("after complete: %s %s", m.Type, m.ID)
	}
	time.Sleep(100 * time.Millisecond)
	w.subscribe("fifth", changedQuery, map[string]any{"type": "Patient"})
	time.Sleep(100 * time.Millisecond)
	writeObs(t, e, "", "o1", "p1", "final")
	if got := w.changes("live", 1); got[0].ID != "o1" {
		t.Errorf("live subscription after the errors: %v", got)
	}
	t.Logf("%d bad subscriptions checked", len(bad))
}

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	name string
	data string
}

// readSSE reads events from an event stream until it ends or n events arrived.
func readSSE(t testing.TB, sc *bufio.Scanner, n int) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	for len(out) < n && sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.name != "" {
				out = append(out, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data = strings.TrimPrefix(line, "data: ")
		}
	}
	return out
}

// openSSE posts a subscription with Accept: text/event-stream and returns the stream.
func openSSE(t testing.TB, e *env, token, query string, vars map[string]any) (*bufio.Scanner, func()) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+"/$graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	return sc, func() { cancel(); resp.Body.Close() }
}

func sseChanges(t testing.TB, evs []sseEvent) []change {
	t.Helper()
	var out []change
	for _, ev := range evs {
		if ev.name != "next" {
			t.Fatalf("event %s: %s", ev.name, ev.data)
		}
		var r nextResult
		if err := json.Unmarshal([]byte(ev.data), &r); err != nil || len(r.Errors) > 0 || r.Data.Changed == nil {
			t.Fatalf("next: %s (%v)", ev.data, err)
		}
		out = append(out, *r.Data.Changed)
	}
	return out
}

// TestSSESubscription: the same subscription over Server-Sent Events with a plain HTTP
// client: create, update and delete in order; then a disconnect, writes while away, and a
// resume with since that receives exactly what was missed.
func TestSSESubscription(t *testing.T) {
	e := newEnv(t)
	sc, stop := openSSE(t, e, "", changedQuery, map[string]any{"type": "Observation"})
	time.Sleep(100 * time.Millisecond)
	writeObs(t, e, "", "s1", "p1", "preliminary")
	writeObs(t, e, "", "s1", "p1", "final")
	deleteObs(t, e, "", "s1")
	got := sseChanges(t, readSSE(t, sc, 3))
	if want := "CREATE s1/1; UPDATE s1/2; DELETE s1/3 leaving"; strChanges(got) != want {
		t.Fatalf("got %s, want %s", strChanges(got), want)
	}
	stop()
	writeObs(t, e, "", "s2", "p1", "final")
	writeObs(t, e, "", "s2", "p1", "amended")
	sc, stop = openSSE(t, e, "", changedQuery, map[string]any{"type": "Observation", "since": got[2].Token})
	defer stop()
	missed := sseChanges(t, readSSE(t, sc, 2))
	if want := "CREATE s2/1; UPDATE s2/2"; strChanges(missed) != want {
		t.Fatalf("resumed: got %s, want %s", strChanges(missed), want)
	}
	writeObs(t, e, "", "s3", "p1", "final")
	if live := sseChanges(t, readSSE(t, sc, 1)); live[0].ID != "s3" {
		t.Fatalf("live after the replay: %v", live)
	}
}

// TestSubscriptionCriteriaEnterAndLeave: criteria given as where (XList's arguments) or as a
// FHIR search string select the same changes: a resource that starts matching is delivered,
// one that stops is delivered as leaving, others are not delivered.
func TestSubscriptionCriteriaEnterAndLeave(t *testing.T) {
	e := newEnv(t)
	w := dialWS(t, e, "graphql-transport-ws", nil)
	w.init(nil)
	forms := map[string]map[string]any{
		"where":         {"type": "Observation", "where": map[string]any{"status": "final", "subject": "Patient/p1"}},
		"criteria":      {"type": "Observation", "criteria": "status=final&subject=Patient/p1"},
		"typed":         {"type": "Observation", "criteria": "Observation?status=final&subject=Patient/p1"},
		"chained":       {"type": "Observation", "criteria": "status=final&subject:Patient.gender=female"},
		"with operator": {"type": "Observation", "criteria": "status:not=preliminary&status:not=amended&subject=Patient/p1", "ops": []string{"CREATE", "UPDATE"}},
	}
	for id, vars := range forms {
		w.subscribe(id, changedQuery, vars)
	}
	time.Sleep(150 * time.Millisecond)
	if r := e.post("", `mutation { PatientUpdate(id: "p1", res: {resourceType: "Patient", id: "p1", gender: "female"}) { id } }`, nil); len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	writeObs(t, e, "", "c1", "p1", "preliminary") // matches nothing
	writeObs(t, e, "", "c1", "p1", "final")       // enters
	writeObs(t, e, "", "c2", "p2", "final")       // another patient: never matches
	writeObs(t, e, "", "c1", "p1", "amended")     // leaves
	writeObs(t, e, "", "c1", "p1", "final")       // enters again
	deleteObs(t, e, "", "c1")                     // leaves
	want := "UPDATE c1/2; UPDATE c1/3 leaving; UPDATE c1/4; DELETE c1/5 leaving"
	got := map[string][]change{}
	for n := 0; n < 4*len(forms)-1; n++ { // the ops-limited form has no DELETE
		m := w.mustRead()
		var r nextResult
		if err := json.Unmarshal(m.Payload, &r); err != nil || len(r.Errors) > 0 || r.Data.Changed == nil {
			t.Fatalf("%s: %s", m.ID, m.Payload)
		}
		got[m.ID] = append(got[m.ID], *r.Data.Changed)
	}
	for id := range forms {
		w := want
		if id == "with operator" {
			w = "UPDATE c1/2; UPDATE c1/3 leaving; UPDATE c1/4"
		}
		if strChanges(got[id]) != w {
			t.Errorf("%s: got %s, want %s", id, strChanges(got[id]), w)
		}
	}
	if got["where"][1].Resource == nil || got["where"][1].Resource.Status != "amended" {
		t.Errorf("a leaving change carries the new version: %+v", got["where"][1].Resource)
	}
	t.Logf("%d forms of criteria checked", len(forms))
}

// TestWebsocketKeepAlive: an idle connection is pinged; a client that answers stays connected,
// one that sends nothing is dropped after two intervals.
func TestWebsocketKeepAlive(t *testing.T) {
	e := newEnv(t, func(c *api.Config) { c.Subscriptions.KeepAlive = 100 * time.Millisecond })
	alive := dialWS(t, e, "graphql-transport-ws", nil)
	alive.init(nil)
	silent := dialWS(t, e, "graphql-transport-ws", nil)
	silent.init(nil)
	// The live client answers every ping (read does); the silent one reads nothing for a while.
	pings := 0
	for end := time.Now().Add(time.Second); time.Now().Before(end); {
		var m wsMessage
		if err := wsjson.Read(context.Background(), alive.c, &m); err != nil { // pings keep coming
			t.Fatal(err)
		}
		if m.Type == "ping" {
			pings++
			_ = wsjson.Write(context.Background(), alive.c, map[string]any{"type": "pong"})
		}
	}
	if pings < 5 {
		t.Errorf("%d pings in a second at a 100 ms interval", pings)
	}
	alive.subscribe("1", changedQuery, map[string]any{"type": "Observation"})
	time.Sleep(100 * time.Millisecond)
	writeObs(t, e, "", "ka", "p1", "final")
	if got := alive.changes("1", 1); got[0].ID != "ka" {
		t.Errorf("the answering client: %v", got)
	}
	if _, err := silent.read(2 * time.Second); err == nil {
		// It may read the pings queued before the drop; the connection must end.
		for err == nil {
			_, err = silent.read(2 * time.Second)
		}
	}
}
