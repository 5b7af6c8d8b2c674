package notify_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/notify"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/storage/embedded"
)

// The tests share one storage engine (the embedded one, or MONGODB_URI when set); each gets
// its own datastore.
var (
	client *storage.Client
	dsSeq  atomic.Int64
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "notify-test")
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	client, err = storage.Open(ctx, storage.Config{URI: os.Getenv("MONGODB_URI"), Engine: embedded.New(dir), Indexer: search.Indexer{}})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "open storage:", err)
		os.Exit(1)
	}
	code := m.Run()
	client.Close(context.Background())
	os.RemoveAll(dir)
	os.Exit(code)
}

func newStore(t testing.TB) *storage.Store {
	t.Helper()
	s, err := client.Datastore(context.Background(), fmt.Sprintf("n%d_%d", time.Now().UnixNano()%1e9, dsSeq.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// obs returns an Observation about patient with status.
func obs(id, patient, status string) model.Resource {
	r, err := model.Unmarshal([]byte(fmt.Sprintf(`{"resourceType":"Observation","id":%q,"status":%q,"code":{"text":"x"},"subject":{"reference":"Patient/%s"}}`, id, status, patient)))
	if err != nil {
		panic(err)
	}
	return r
}

func put(t testing.TB, s *storage.Store, rs ...model.Resource) int64 {
	t.Helper()
	var ws []storage.Write
	for _, r := range rs {
		ws = append(ws, storage.Write{Op: storage.OpPut, Type: r.TypeName(), ID: *idOf(r), Resource: r})
	}
	recs, err := s.Commit(context.Background(), ws)
	if err != nil {
		t.Fatal(err)
	}
	return recs[0].Seq
}

func idOf(r model.Resource) *string {
	o := r.(*model.Observation)
	s := string(*o.ID)
	return &s
}

func del(t testing.TB, s *storage.Store, typ, id string) int64 {
	t.Helper()
	recs, err := s.Commit(context.Background(), []storage.Write{{Op: storage.OpDelete, Type: typ, ID: id}})
	if err != nil {
		t.Fatal(err)
	}
	return recs[0].Seq
}

// got is an event as a test compares it: "OP id/version", with " leaving" when leaving.
func got(ev *notify.Event) string {
	s := fmt.Sprintf("%s %s/%d", ev.Op, ev.ID, ev.Version)
	if ev.Leaving {
		s += " leaving"
	}
	return s
}

// collect reads n events from sub, failing after a timeout (generous: the race detector
// slows everything down).
func collect(t testing.TB, sub *notify.Subscription, n int) []*notify.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out []*notify.Event
	for len(out) < n {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("after %d of %d events: %v", len(out), n, err)
		}
		out = append(out, ev)
	}
	return out
}

// quiet checks that sub delivers nothing more within a short while.
func quiet(t testing.TB, sub *notify.Subscription) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	if ev, err := sub.Next(ctx); err == nil {
		t.Fatalf("unexpected event %s", got(ev))
	}
}

func strs(evs []*notify.Event) string {
	var out []string
	for _, ev := range evs {
		out = append(out, got(ev))
	}
	return strings.Join(out, "; ")
}

func parse(t testing.TB, typ string, args map[string]any) *search.Query {
	t.Helper()
	q, err := search.Parse(typ, args)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// TestCriteriaEnterAndLeave: criteria are evaluated on the new and the previous version, so a
// resource that starts matching is delivered and one that stops is delivered as leaving; a
// delete of a matching resource leaves too; changes that never match are not delivered.
func TestCriteriaEnterAndLeave(t *testing.T) {
	s := newStore(t)
	hub := notify.NewHub(s, notify.Options{})
	sub, err := hub.Subscribe(context.Background(), notify.Request{Type: "Observation", Query: parse(t, "Observation", map[string]any{"status": "final"})})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	put(t, s, obs("a", "p1", "final"))       // CREATE a/1
	put(t, s, obs("b", "p1", "preliminary")) // not matching
	put(t, s, obs("b", "p1", "final"))       // UPDATE b/2 enters
	put(t, s, obs("a", "p1", "amended"))     // UPDATE a/2 leaves
	put(t, s, obs("a", "p1", "cancelled"))   // neither version matches
	del(t, s, "Observation", "b")            // DELETE b/3 leaves
	put(t, s, obs("b", "p1", "final"))       // CREATE b/4 after the delete

	want := "CREATE a/1; UPDATE b/2; UPDATE a/2 leaving; DELETE b/3 leaving; CREATE b/4"
	if evs := collect(t, sub, 5); strs(evs) != want {
		t.Errorf("events\n got %s\nwant %s", strs(evs), want)
	}
	quiet(t, sub)
}

// TestOperationsFilter: operations limits the kinds of change delivered.
func TestOperationsFilter(t *testing.T) {
	s := newStore(t)
	hub := notify.NewHub(s, notify.Options{})
	sub, err := hub.Subscribe(context.Background(), notify.Request{Type: "Observation", Ops: []notify.Op{notify.Delete, notify.Create}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	put(t, s, obs("a", "p1", "final"))
	put(t, s, obs("a", "p1", "amended"))
	del(t, s, "Observation", "a")
	want := "CREATE a/1; DELETE a/3 leaving"
	if evs := collect(t, sub, 2); strs(evs) != want {
		t.Errorf("events\n got %s\nwant %s", strs(evs), want)
	}
}

// TestResumeFromEveryToken: resuming from each event's token replays exactly the events after
// it, including inside a commit that wrote several matching resources, and continues live.
func TestResumeFromEveryToken(t *testing.T) {
	s := newStore(t)
	hub := notify.NewHub(s, notify.Options{})
	ctx := context.Background()
	sub, err := hub.Subscribe(ctx, notify.Request{Type: "Observation"})
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, obs("a", "p1", "final"))
	put(t, s, obs("b", "p1", "final"), obs("c", "p1", "final"), obs("d", "p1", "final")) // one commit
	put(t, s, obs("a", "p1", "amended"))
	all := collect(t, sub, 5)
	sub.Close()
	if all[1].Token.Entry != 0 || all[2].Token.Entry != 1 || all[3].Token.Entry != -1 || all[1].Token.Seq != all[3].Token.Seq {
		t.Fatalf("tokens inside the transaction: %s %s %s", all[1].Token, all[2].Token, all[3].Token)
	}
	for i, ev := range all {
		tok, err := notify.ParseToken(ev.Token.String())
		if err != nil || tok != ev.Token {
			t.Fatalf("token %q does not round-trip: %v %v", ev.Token, tok, err)
		}
		r, err := hub.Subscribe(ctx, notify.Request{Type: "Observation", Since: &tok})
		if err != nil {
			t.Fatal(err)
		}
		rest := collect(t, r, len(all)-i-1)
		if strs(rest) != strs(all[i+1:]) {
			t.Errorf("resumed after %s: got %s, want %s", tok, strs(rest), strs(all[i+1:]))
		}
		// Live after the replay.
		put(t, s, obs("e", "p1", "final"))
		if live := collect(t, r, 1); got(live[0])[:7] != "CREATE " && got(live[0])[:7] != "UPDATE " {
			t.Errorf("after the replay: %s", got(live[0]))
		}
		r.Close()
	}
}

// TestResumeSeamUnderLoad: writes keep committing while a subscription replays a long backlog;
// it receives every change once, in commit order, across the seam between replay and live.
func TestResumeSeamUnderLoad(t *testing.T) {
	s := newStore(t)
	hub := notify.NewHub(s, notify.Options{})
	ctx := context.Background()
	// A live subscription keeps the Hub running throughout.
	live, err := hub.Subscribe(ctx, notify.Request{Type: "Observation"})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	first := put(t, s, obs("o0", "p1", "final"))
	for i := 1; i < 250; i++ {
		put(t, s, obs(fmt.Sprintf("o%d", i), "p1", "final"))
	}
	since := notify.Token{Seq: first, Entry: -1}
	sub, err := hub.Subscribe(ctx, notify.Request{Type: "Observation", Since: &since})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	done := make(chan error, 1)
	go func() {
		for i := 250; i < 500; i++ {
			r := obs(fmt.Sprintf("o%d", i), "p1", "final")
			if _, err := s.Commit(context.Background(), []storage.Write{{Op: storage.OpPut, Type: "Observation", ID: *idOf(r), Resource: r}}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	evs := collect(t, sub, 499)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i, ev := range evs {
		if want := fmt.Sprintf("o%d", i+1); ev.ID != want {
			t.Fatalf("event %d is %s, want %s", i, got(ev), want)
		}
		if i > 0 && ev.Token.Seq <= evs[i-1].Token.Seq {
			t.Fatalf("event %d token %s after %s", i, ev.Token, evs[i-1].Token)
		}
	}
	quiet(t, sub)
	if n := len(collect(t, live, 500)); n != 500 {
		t.Fatalf("live subscription got %d events", n)
	}
}

// TestOverflow: a subscriber that stops reading gets the events that fit its buffer, then an
// Overflow error whose token resumes without a gap; other subscriptions are unaffected.
func TestOverflow(t *testing.T) {
	s := newStore(t)
	hub := notify.NewHub(s, notify.Options{Buffer: 5})
	ctx := context.Background()
	slow, err := hub.Subscribe(ctx, notify.Request{Type: "Observation"})
	if err != nil {
		t.Fatal(err)
	}
	fast, err := hub.Subscribe(ctx, notify.Request{Type: "Observation"})
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	fastGot := make(chan []*notify.Event)
	go func() { fastGot <- collect(t, fast, 20) }()
	for i := range 20 {
		put(t, s, obs(fmt.Sprintf("o%d", i), "p1", "final"))
	}
	if evs := <-fastGot; len(evs) != 20 || evs[19].ID != "o19" {
		t.Fatalf("fast subscriber: %s", strs(evs))
	}
	head := collect(t, slow, 5)
	_, err = slow.Next(ctx)
	var ov *notify.Overflow
	if !errors.As(err, &ov) || !errors.Is(err, fault.TooMany) {
		t.Fatalf("after the buffer: %v, want an Overflow", err)
	}
	if ov.Resume != head[4].Token {
		t.Fatalf("resume token %s, want the last delivered %s", ov.Resume, head[4].Token)
	}
	if hub.Live() != 1 {
		t.Errorf("%d live subscriptions after the overflow, want 1", hub.Live())
	}
	again, err := hub.Subscribe(ctx, notify.Request{Type: "Observation", Since: &ov.Resume})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	rest := collect(t, again, 15)
	if rest[0].ID != "o5" || rest[14].ID != "o19" {
		t.Fatalf("resumed: %s", strs(rest))
	}
}

// TestBadTokens: malformed tokens, tokens ahead of the feed and tokens older than the
// retention are invalid input.
func TestBadTokens(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	seq := put(t, s, obs("a", "p1", "final"))
	put(t, s, obs("a", "p1", "amended"))
	for _, text := range []string{"", "x", "-1", "1.", "1.x", "01", "1.-2", "0.1", "1e3", " 1"} {
		if _, err := notify.ParseToken(text); !errors.Is(err, fault.Invalid) {
			t.Errorf("ParseToken(%q): %v, want invalid", text, err)
		}
	}
	hub := notify.NewHub(s, notify.Options{})
	ahead := notify.Token{Seq: seq + 1000, Entry: -1}
	if _, err := hub.Subscribe(ctx, notify.Request{Type: "Observation", Since: &ahead}); !errors.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "ahead") {
		t.Errorf("token ahead of the feed: %v", err)
	}
	old := notify.NewHub(s, notify.Options{Retention: time.Hour, Now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	since := notify.Token{Seq: seq, Entry: -1}
	if _, err := old.Subscribe(ctx, notify.Request{Type: "Observation", Since: &since}); !errors.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "older") {
		t.Errorf("token older than the retention: %v", err)
	}
	// The same token within the retention is fine.
	sub, err := hub.Subscribe(ctx, notify.Request{Type: "Observation", Since: &since})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if evs := collect(t, sub, 1); got(evs[0]) != "UPDATE a/2" {
		t.Errorf("replay: %s", got(evs[0]))
	}
	if _, err := hub.Subscribe(ctx, notify.Request{Type: "Nope"}); !errors.Is(err, fault.Invalid) {
		t.Errorf("unknown type: %v", err)
	}
	if _, err := hub.Subscribe(ctx, notify.Request{Type: "Observation", Query: parse(t, "Observation", map[string]any{"_count": 3})}); !errors.Is(err, fault.Invalid) {
		t.Errorf("criteria with _count: %v", err)
	}
}

// TestScopeConfinesEvents: a subscriber confined to a patient's compartment receives only
// versions inside it: an Observation that moves to another patient is not delivered, not even
// as leaving, and its later changes are not either.
func TestScopeConfinesEvents(t *testing.T) {
	s := newStore(t)
	hub := notify.NewHub(s, notify.Options{})
	ctx := storage.WithScope(context.Background(), authz.PatientCompartment{ID: "p1"}.Scope())
	sub, err := hub.Subscribe(ctx, notify.Request{Type: "Observation"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	put(t, s, obs("mine", "p1", "final"))
	put(t, s, obs("theirs", "p2", "final"))
	put(t, s, obs("mine", "p2", "final")) // moves out of p1's compartment
	put(t, s, obs("theirs", "p1", "final"))
	del(t, s, "Observation", "theirs") // deleted while in p1's compartment
	want := "CREATE mine/1; UPDATE theirs/2; DELETE theirs/3 leaving"
	if evs := collect(t, sub, 3); strs(evs) != want {
		t.Errorf("events\n got %s\nwant %s", strs(evs), want)
	}
	quiet(t, sub)
}

// TestExpiry: a subscription made with credentials that expire ends with ErrExpired then.
func TestExpiry(t *testing.T) {
	s := newStore(t)
	hub := notify.NewHub(s, notify.Options{})
	sub, err := hub.Subscribe(context.Background(), notify.Request{Type: "Observation", Until: time.Now().Add(100 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := sub.Next(context.Background()); !errors.Is(err, notify.ErrExpired) {
		t.Fatalf("Next: %v, want ErrExpired", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("expired after %v", d)
	}
	if hub.Live() != 0 {
		t.Errorf("%d live subscriptions after expiry", hub.Live())
	}
}

// pushed collects a pushed subscription's events and its end.
type pushed struct {
	evs  chan *notify.Event
	end  chan error
	hold chan struct{} // while open, delivery waits
}

func newPushed() *pushed {
	return &pushed{evs: make(chan *notify.Event, 1000), end: make(chan error, 1), hold: make(chan struct{})}
}

func (p *pushed) deliver(ev *notify.Event) bool {
	<-p.hold
	p.evs <- ev
	return true
}

func (p *pushed) collect(t *testing.T, n int) []*notify.Event {
	t.Helper()
	var out []*notify.Event
	for len(out) < n {
		select {
		case ev := <-p.evs:
			out = append(out, ev)
		case <-time.After(2 * time.Minute):
			t.Fatalf("%d of %d events", len(out), n)
		}
	}
	return out
}

// TestPushedSubscription: SubscribeFunc delivers the same events as Next, in order, replays
// from since, ends an overflowing subscriber with its resume token after what it queued, and
// holds no goroutine while idle.
func TestPushedSubscription(t *testing.T) {
	s := newStore(t)
	hub := notify.NewHub(s, notify.Options{Buffer: 3})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	live := newPushed()
	close(live.hold)
	if _, err := hub.SubscribeFunc(ctx, notify.Request{Type: "Observation"}, live.deliver, func(err error) { live.end <- err }); err != nil {
		t.Fatal(err)
	}
	first := put(t, s, obs("a", "p1", "final"))
	put(t, s, obs("a", "p1", "amended"))
	if got := strs(live.collect(t, 2)); got != "CREATE a/1; UPDATE a/2" {
		t.Fatalf("live: %s", got)
	}
	// Replay from the first change, then live.
	since := notify.Token{Seq: first, Entry: -1}
	replayed := newPushed()
	close(replayed.hold)
	if _, err := hub.SubscribeFunc(ctx, notify.Request{Type: "Observation", Since: &since}, replayed.deliver, func(err error) { replayed.end <- err }); err != nil {
		t.Fatal(err)
	}
	if got := strs(replayed.collect(t, 1)); got != "UPDATE a/2" {
		t.Fatalf("replayed: %s", got)
	}
	// A subscriber that does not take its events overflows past the buffer.
	slow := newPushed()
	if _, err := hub.SubscribeFunc(ctx, notify.Request{Type: "Observation"}, slow.deliver, func(err error) { slow.end <- err }); err != nil {
		t.Fatal(err)
	}
	// The Hub reads the feed on its own time: the slow subscriber is let go only once the
	// Hub has ended it (it leaves the live fan-out), or a fast machine's commits could reach
	// it after it had caught up.
	waitLive(t, hub, 3) // live, replayed (live once its replay ended) and slow
	for i := range 6 {
		put(t, s, obs(fmt.Sprintf("o%d", i), "p1", "final"))
	}
	waitLive(t, hub, 2)
	close(slow.hold)
	got := slow.collect(t, 4) // the one being delivered, and the 3 queued
	var ov *notify.Overflow
	select {
	case err := <-slow.end:
		if !errors.As(err, &ov) || ov.Resume != got[3].Token {
			t.Fatalf("end %v, want an overflow resuming after %s", err, got[3].Token)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no end")
	}
	if n := len(live.collect(t, 6)); n != 6 {
		t.Fatalf("the live subscriber got %d", n)
	}
	// Ending the context ends the subscriptions with ErrClosed.
	cancel()
	for _, p := range []*pushed{live, replayed} {
		select {
		case err := <-p.end:
			if !errors.Is(err, notify.ErrClosed) {
				t.Errorf("end %v, want ErrClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no end after the context ended")
		}
	}
	if hub.Live() != 0 {
		t.Errorf("%d live subscriptions", hub.Live())
	}
}

// waitLive waits until hub has n live subscriptions.
func waitLive(t *testing.T, hub *notify.Hub, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); hub.Live() != n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d live subscriptions, want %d", hub.Live(), n)
		}
	}
}

// otherProcess is a store whose commits the Hub is not told of, as a commit of another
// process sharing the database is not; it counts the Hub's reads of the feed.
type otherProcess struct {
	*storage.Store
	reads atomic.Int64
}

func (o *otherProcess) Committed() <-chan struct{} { return nil }

func (o *otherProcess) Changes(ctx context.Context, after int64, limit int) ([]storage.Change, error) {
	o.reads.Add(1)
	return o.Store.Changes(ctx, after, limit)
}

// TestQuietFeedIsPolledLess: a Hub whose feed stays quiet reads it less and less often (down
// to once every 10 polls), and still delivers another process's commit after the quiet spell.
func TestQuietFeedIsPolledLess(t *testing.T) {
	s := newStore(t)
	src := &otherProcess{Store: s}
	const poll = 5 * time.Millisecond
	hub := notify.NewHub(src, notify.Options{Poll: poll})
	sub, err := hub.Subscribe(context.Background(), notify.Request{Type: "Observation"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	const quiet = time.Second
	before := src.reads.Load()
	time.Sleep(quiet)
	reads := src.reads.Load() - before
	// At a fixed Poll that is 200 reads; backing off to 10×Poll, about 25. A loaded machine
	// only lowers the count.
	t.Logf("%d reads of a quiet feed in %v at Poll %v", reads, quiet, poll)
	if reads > 60 {
		t.Errorf("%d reads of a quiet feed in %v: it is polled at the full rate", reads, quiet)
	}

	put(t, s, obs("a", "p1", "final"))
	if evs := collect(t, sub, 1); strs(evs) != "CREATE a/1" {
		t.Errorf("after the quiet spell: %s", strs(evs))
	}
}
