//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestServeChild is the server process of TestKillNineMidStream: the test binary runs itself
// with FHIRGATE_TEST_CHILD set, and this test serves until it is killed.
func TestServeChild(t *testing.T) {
	if os.Getenv("FHIRGATE_TEST_CHILD") == "" {
		t.Skip("the server process of TestKillNineMidStream")
	}
	if err := run(context.Background(), []string{"fhirgate"}, os.Getenv, os.Stdout, os.Stderr); err != nil {
		t.Fatal(err)
	}
}

// child is a server process.
type child struct {
	cmd  *exec.Cmd
	base string
}

// startChild runs the server on data dir with authentication off and waits until it serves.
func startChild(t *testing.T, dir string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeChild$")
	cmd.Env = append(os.Environ(), "FHIRGATE_TEST_CHILD=1", "FHIRGATE_DATA="+dir, "FHIRGATE_ADDR=127.0.0.1:0", "FHIRGATE_AUTH=off", "FHIRGATE_LOG_LEVEL=info")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var l struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "fhirgate serving" {
				addr <- l.Addr
			}
		}
	}()
	c := &child{cmd: cmd}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	select {
	case a := <-addr:
		c.base = "http://" + a
	case <-time.After(2 * time.Minute):
		t.Fatal("the server did not start")
	}
	return c
}

// kill9 kills the server with SIGKILL: no shutdown, no flush.
func (c *child) kill9(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = c.cmd.Wait()
}

// write puts Observation id; it reports whether the server acknowledged the write.
func (c *child) write(id string) bool {
	body, _ := json.Marshal(map[string]any{
		"query":     `mutation($id: ID!, $r: ObservationInput!) { ObservationUpdate(id: $id, res: $r) { id } }`,
		"variables": map[string]any{"id": id, "r": map[string]any{"resourceType": "Observation", "id": id, "status": "final", "code": map[string]any{"text": "k"}}},
	})
	resp, err := http.Post(c.base+"/$graphql", "application/json", bytes.NewReader(body))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var out struct {
		Errors []any `json:"errors"`
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == http.StatusOK && json.Unmarshal(b, &out) == nil && len(out.Errors) == 0
}

// streamed is one event of a subscription.
type streamed struct {
	id, token string
	seq       int64
	entry     int
}

// subscribe opens an event stream of Observation changes after since ("" for live) and sends
// each event to out until the stream ends; it returns once the stream is open, with a function
// that closes it.
func (c *child) subscribe(t *testing.T, since string, out chan<- streamed) func() {
	t.Helper()
	vars := map[string]any{}
	if since != "" {
		vars["since"] = since
	}
	body, _ := json.Marshal(map[string]any{"query": `subscription($since: String) { changed(type: Observation, since: $since) { id token } }`, "variables": vars})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/$graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("subscribe: %v %v", resp, err)
	}
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var r struct {
				Data struct {
					Changed struct{ ID, Token string } `json:"changed"`
				} `json:"data"`
			}
			if json.Unmarshal([]byte(data), &r) != nil || r.Data.Changed.Token == "" {
				continue
			}
			s := streamed{id: r.Data.Changed.ID, token: r.Data.Changed.Token, entry: -1}
			seq, entry, _ := strings.Cut(s.token, ".")
			s.seq, _ = strconv.ParseInt(seq, 10, 64)
			if entry != "" {
				s.entry, _ = strconv.Atoi(entry)
			}
			out <- s
		}
	}()
	return cancel
}

// TestKillNineMidStream: a subscriber receives changes while writes go on, then goes away;
// writes continue, and the real server is killed with SIGKILL in the middle of them; it is
// restarted on the same data and the subscriber resumes from the last token it received. Every
// acknowledged write arrives exactly once, in commit order: nothing lost, nothing duplicated
// (a write in flight at the kill may have committed or not: once at most).
func TestKillNineMidStream(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the server twice")
	}
	dir := t.TempDir()
	srv := startChild(t, dir)
	events := make(chan streamed, 10_000)
	closeStream := srv.subscribe(t, "", events)
	time.Sleep(200 * time.Millisecond)

	var mu sync.Mutex
	acked := map[string]bool{}
	attempted := map[string]bool{}
	write := func(s *child, id string) bool {
		mu.Lock()
		attempted[id] = true
		mu.Unlock()
		ok := s.write(id)
		if ok {
			mu.Lock()
			acked[id] = true
			mu.Unlock()
		}
		return ok
	}
	ackedCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := 0; write(srv, fmt.Sprintf("k%d", i)); i++ {
		}
	}()
	var before []streamed
	for len(before) < 20 {
		select {
		case ev := <-events:
			before = append(before, ev)
		case <-time.After(20 * time.Second):
			t.Fatalf("only %d events before the subscriber left", len(before))
		}
	}
	closeStream() // the subscriber goes away; writes go on
	last := before[len(before)-1].token
	for deadline := time.Now().Add(20 * time.Second); ackedCount() < len(before)+30; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the writes stalled")
		}
	}
	srv.kill9(t) // mid-write
	<-writerDone
	missed := ackedCount() - len(before)

	srv = startChild(t, dir)
	after := make(chan streamed, 10_000)
	srv.subscribe(t, last, after)
	for i := range 10 {
		if !write(srv, fmt.Sprintf("after%d", i)) {
			t.Fatalf("write after the restart failed")
		}
	}
	var resumed []streamed
	for quiet := false; !quiet; {
		select {
		case ev := <-after:
			resumed = append(resumed, ev)
		case <-time.After(2 * time.Second):
			quiet = true
		}
	}

	all := append(before, resumed...)
	seen := map[string]int{}
	for i, ev := range all {
		seen[ev.id]++
		if i > 0 && (ev.seq < all[i-1].seq || ev.seq == all[i-1].seq && (all[i-1].entry < 0 || ev.entry >= 0 && ev.entry <= all[i-1].entry)) {
			t.Errorf("event %d (%s, token %s) after token %s: out of order", i, ev.id, ev.token, all[i-1].token)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for id, n := range seen {
		if n > 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
		if !attempted[id] {
			t.Errorf("%s delivered but never written", id)
		}
	}
	lost := 0
	for id := range acked {
		if seen[id] == 0 {
			lost++
			t.Errorf("acknowledged write %s never delivered", id)
		}
	}
	unacked := 0
	for id := range attempted {
		if !acked[id] && seen[id] > 0 {
			unacked++
		}
	}
	t.Logf("%d writes acknowledged; %d events before the subscriber left, %d missed while it was away (the server killed with SIGKILL among them), %d after the resume from token %s, %d of them the write in flight at the kill; %d lost, %d duplicated",
		len(acked), len(before), missed, len(resumed), last, unacked, lost, len(all)-len(seen))
	if len(resumed) < missed+10 {
		t.Errorf("%d events after the resume, want at least %d", len(resumed), missed+10)
	}
}
