package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/storage/embedded"
)

// The tests write to a real datastore (the embedded engine, or MONGODB_URI when set) through
// faulty, which injects failures in front of it.
var (
	client *storage.Client
	dsSeq  atomic.Int64
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fhirgate-audit-test")
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	client, err = storage.Open(ctx, storage.Config{URI: os.Getenv("MONGODB_URI"), Engine: embedded.New(dir)})
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

func newStore(t *testing.T) *storage.Store {
	t.Helper()
	s, err := client.Datastore(context.Background(), fmt.Sprintf("audit%d_%d", os.Getpid()%10000, dsSeq.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// faulty passes commits on to a real store, after failing some of them as told by fail,
// which sees the attempt's number (from 1) and context.
type faulty struct {
	store    *storage.Store
	attempts atomic.Int64
	fail     func(ctx context.Context, attempt int64, writes []storage.Write) error
}

func (f *faulty) Commit(ctx context.Context, writes []storage.Write) ([]*storage.Record, error) {
	n := f.attempts.Add(1)
	if f.fail != nil {
		if err := f.fail(ctx, n, writes); err != nil {
			return nil, err
		}
	}
	return f.store.Commit(ctx, writes)
}

// hang blocks until the attempt's context ends, as a storage engine that stopped answering.
func hang(ctx context.Context, _ int64, _ []storage.Write) error {
	<-ctx.Done()
	return ctx.Err()
}

var fastRetry = retry{timeout: time.Second, backoff: time.Millisecond, maxBackoff: 10 * time.Millisecond}

func event(i int) Event {
	return Event{Time: time.Now(), Subject: fmt.Sprint("s", i), Action: Read, Interaction: "read", Outcome: Success}
}

func stored(t *testing.T, s *storage.Store) int64 {
	t.Helper()
	n, err := s.Count(context.Background(), "AuditEvent", storage.Query{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRetriesUntilStored: failed commits are retried until storage takes the events, each
// stored once.
func TestRetriesUntilStored(t *testing.T) {
	s := newStore(t)
	f := &faulty{store: s, fail: func(_ context.Context, n int64, _ []storage.Write) error {
		if n <= 3 {
			return errors.New("injected failure")
		}
		return nil
	}}
	w := newWriter(f, 16, nil, fastRetry)
	w.Record(event(1))
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, got := f.attempts.Load(), stored(t, s); n != 4 || got != 1 || w.Lost() != 0 {
		t.Errorf("%d attempts, %d stored, %d lost; want 4, 1, 0", n, got, w.Lost())
	}
}

// TestEachAttemptHasADeadline: an attempt on storage that does not answer ends at the attempt
// deadline, and the next attempt stores the events.
func TestEachAttemptHasADeadline(t *testing.T) {
	s := newStore(t)
	var deadlines []time.Duration
	var mu sync.Mutex
	f := &faulty{store: s, fail: func(ctx context.Context, n int64, w []storage.Write) error {
		d, ok := ctx.Deadline()
		if !ok {
			return errors.New("attempt without a deadline")
		}
		mu.Lock()
		deadlines = append(deadlines, time.Until(d))
		mu.Unlock()
		if n == 1 {
			return hang(ctx, n, w)
		}
		return nil
	}}
	w := newWriter(f, 16, nil, retry{timeout: 200 * time.Millisecond, backoff: time.Millisecond, maxBackoff: time.Millisecond})
	start := time.Now()
	w.Record(event(1))
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 200*time.Millisecond || took > 30*time.Second {
		t.Errorf("took %v; the first attempt should end at its 200 ms deadline", took)
	}
	if got := stored(t, s); got != 1 || len(deadlines) != 2 || deadlines[0] > 200*time.Millisecond {
		t.Errorf("%d stored after attempts with deadlines in %v; want 1 after 2 attempts of at most 200 ms", got, deadlines)
	}
}

// TestTimedOutCommitThatLandedIsNotRepeated: an attempt whose commit went through but whose
// answer was lost (it reports its deadline) is not written twice: the retry finds the events.
func TestTimedOutCommitThatLandedIsNotRepeated(t *testing.T) {
	s := newStore(t)
	f := &faulty{store: s, fail: func(ctx context.Context, n int64, w []storage.Write) error {
		if n == 1 {
			if _, err := s.Commit(ctx, w); err != nil {
				return err
			}
			return context.DeadlineExceeded
		}
		return nil
	}}
	w := newWriter(f, 16, nil, fastRetry)
	for i := range 5 {
		w.Record(event(i))
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, s); got != 5 || w.Lost() != 0 {
		t.Errorf("%d stored, %d lost after %d attempts; want 5, 0", got, w.Lost(), f.attempts.Load())
	}
}

// TestCloseGivesUpAtItsDeadline: with storage down, Close returns when its context ends,
// saying how many events were not written, and the writer stops retrying.
func TestCloseGivesUpAtItsDeadline(t *testing.T) {
	f := &faulty{store: newStore(t), fail: hang}
	w := newWriter(f, 16, nil, retry{timeout: time.Hour, backoff: time.Millisecond, maxBackoff: time.Millisecond})
	for i := range 3 {
		w.Record(event(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := w.Close(ctx)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Close took %v with a 100 ms deadline", took)
	}
	if err == nil || !strings.Contains(err.Error(), "3 events not written") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close: %v; want 3 events not written by the deadline", err)
	}
	select {
	case <-w.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the writer still runs after Close gave up")
	}
	if w.Lost() != 3 {
		t.Errorf("lost %d events, want the 3 recorded", w.Lost())
	}
}

// TestRecordAfterCloseReturnsAtOnce: Record after Close, and Record waiting for room in a
// full buffer when Close starts, return without waiting for storage; the events count as lost.
func TestRecordAfterCloseReturnsAtOnce(t *testing.T) {
	s := newStore(t)
	f := &faulty{store: s, fail: hang}
	w := newWriter(f, 1, nil, retry{timeout: time.Hour, backoff: time.Millisecond, maxBackoff: time.Millisecond})
	w.Record(event(0)) // taken by the writer, which hangs on it
	for f.attempts.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	w.Record(event(1)) // fills the buffer
	waiting := make(chan struct{})
	go func() {
		defer close(waiting)
		w.Record(event(2)) // waits for room
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := w.Close(ctx); err == nil {
		t.Error("Close reported every event written with storage down")
	}
	select {
	case <-waiting:
	case <-time.After(5 * time.Second):
		t.Fatal("a Record waiting for room still waits after Close")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Record(event(3))
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("Record after Close waits")
	}
	<-w.done
	if got := stored(t, s); got != 0 || w.Lost() != 4 {
		t.Errorf("%d stored, %d lost; want 0 stored and all 4 lost", got, w.Lost())
	}
}
