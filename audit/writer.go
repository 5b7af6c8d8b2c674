package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/storage"
)

// Committer is the storage the writer appends events to.
type Committer interface {
	Commit(ctx context.Context, writes []storage.Write) ([]*storage.Record, error)
}

// Writer appends events to the datastore in the background, in batches. Record hands an
// event to a buffer of bounded size and returns; when the buffer is full it waits for
// room, so a request is never slowed by more than the buffer and never loses its event
// while the writer runs. A failing commit is retried, each attempt under a deadline, until
// it succeeds or Close gives up. Close writes everything still buffered; after it, Record
// returns at once and the event is counted as lost and logged.
type Writer struct {
	store  Committer
	logger *slog.Logger
	retry  retry
	ch     chan Event

	// ctx ends when Close's deadline passes: it stops the attempt in flight and the retries.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.RWMutex // Record holds it for reading while it hands over an event
	closed    bool         // set under mu by Close: no event enters the buffer any more
	closeOnce sync.Once
	stop      chan struct{} // closed first by Close: wakes Records waiting for room
	sealed    chan struct{} // closed once closed is set: the buffer only empties from then
	done      chan struct{} // closed when the background writer has returned

	queued atomic.Int64 // events handed over and not yet written or given up
	lost   atomic.Int64 // events given up: after Close, at its deadline, or refused by storage
}

// retry says how the writer retries a failing commit: each attempt may take up to timeout,
// and the waits between attempts double from backoff up to maxBackoff.
type retry struct {
	timeout, backoff, maxBackoff time.Duration
}

var defaultRetry = retry{timeout: 10 * time.Second, backoff: 50 * time.Millisecond, maxBackoff: 5 * time.Second}

// maxBatch is the most events one commit writes.
const maxBatch = 256

// NewWriter starts a writer with room for buffer events.
func NewWriter(store Committer, buffer int, logger *slog.Logger) *Writer {
	return newWriter(store, buffer, logger, defaultRetry)
}

func newWriter(store Committer, buffer int, logger *slog.Logger, r retry) *Writer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer{
		store: store, logger: logger, retry: r, ch: make(chan Event, max(buffer, 1)),
		ctx: ctx, cancel: cancel,
		stop: make(chan struct{}), sealed: make(chan struct{}), done: make(chan struct{}),
	}
	go w.run()
	return w
}

// Record queues e, waiting for room while the buffer is full. After Close it returns at
// once without the event, which is counted as lost.
func (w *Writer) Record(e Event) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.giveUp(1, "recorded after the audit writer closed")
		return
	}
	w.queued.Add(1)
	select {
	case w.ch <- e:
		return
	default:
	}
	select {
	case w.ch <- e:
	case <-w.stop:
		w.queued.Add(-1)
		w.giveUp(1, "recorded while the audit writer closed with a full buffer")
	}
}

// Buffered returns the number of events waiting in the buffer.
func (w *Writer) Buffered() int { return len(w.ch) }

// Lost returns the number of events given up so far: recorded after Close, still
// unwritten at Close's deadline, or refused by storage as invalid.
func (w *Writer) Lost() int64 { return w.lost.Load() }

// Close stops accepting events, writes those buffered and returns when they are stored.
// When ctx ends first, it stops the writer, attempt in flight included, and returns at once
// with an error saying how many events were not written.
func (w *Writer) Close(ctx context.Context) error {
	w.closeOnce.Do(func() {
		close(w.stop) // Records waiting for room give up and release mu
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		close(w.sealed)
	})
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		unwritten := w.queued.Load() // before cancel: the stopping writer counts them as lost
		w.cancel()
		return fmt.Errorf("audit: %d events not written by the shutdown deadline: %w", unwritten, ctx.Err())
	}
}

func (w *Writer) run() {
	defer close(w.done)
	for {
		select {
		case e := <-w.ch:
			w.write(w.batch(e))
		case <-w.sealed:
			for {
				select {
				case e := <-w.ch:
					w.write(w.batch(e))
				default:
					return
				}
			}
		}
	}
}

// batch returns first and whatever else is buffered, up to maxBatch.
func (w *Writer) batch(first Event) []Event {
	out := []Event{first}
	for len(out) < maxBatch {
		select {
		case e := <-w.ch:
			out = append(out, e)
		default:
			return out
		}
	}
	return out
}

// write stores events in one commit, retrying with backoff while storage fails: an audit
// trail with holes is worse than a late one. It gives up only when Close's deadline has
// passed or storage refuses the events as invalid. Errors are logged without event contents.
func (w *Writer) write(events []Event) {
	defer w.queued.Add(-int64(len(events)))
	writes := make([]storage.Write, 0, len(events))
	for i := range events {
		res, id, err := events[i].Resource()
		if err != nil {
			w.logger.Error("audit event not built", "error", err)
			w.lost.Add(1)
			continue
		}
		writes = append(writes, storage.Write{Op: storage.OpCreate, Type: "AuditEvent", ID: id, Resource: res})
	}
	wait := w.retry.backoff
	for attempt := 1; len(writes) > 0; attempt++ {
		err := w.attempt(writes)
		switch {
		case err == nil:
			return
		case attempt > 1 && errors.Is(err, storage.ErrExists):
			// The ids are random: an earlier attempt that timed out was committed after all
			// (commits are all-or-nothing), so the events are stored.
			return
		case errors.Is(err, fault.Invalid):
			// Malformed, or refused by validation: retrying cannot help.
			w.giveUp(len(writes), "storage refused the events: "+err.Error())
			return
		}
		w.logger.Error("audit events not written; retrying", "events", len(writes), "attempt", attempt, "error", err)
		select {
		case <-time.After(wait):
		case <-w.ctx.Done():
			w.giveUp(len(writes), "the shutdown deadline passed")
			return
		}
		wait = min(2*wait, w.retry.maxBackoff)
	}
}

// attempt commits writes once, under the attempt deadline.
func (w *Writer) attempt(writes []storage.Write) error {
	ctx, cancel := context.WithTimeout(w.ctx, w.retry.timeout)
	defer cancel()
	_, err := w.store.Commit(ctx, writes)
	return err
}

// giveUp counts n events as lost and logs why, without their contents.
func (w *Writer) giveUp(n int, why string) {
	w.lost.Add(int64(n))
	w.logger.Error("audit events lost", "events", n, "reason", why)
}
