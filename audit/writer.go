package audit

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/fhirgate/fhirgate/storage"
)

// Committer is the storage the writer appends events to.
type Committer interface {
	Commit(ctx context.Context, writes []storage.Write) ([]*storage.Record, error)
}

// Writer appends events to the datastore in the background, in batches. Record hands an
// event to a buffer of bounded size and returns; when the buffer is full it waits for
// room, so a request is never slowed by more than the buffer and never loses its event.
// Close writes everything still buffered.
type Writer struct {
	store  Committer
	logger *slog.Logger
	ch     chan Event

	closeOnce sync.Once
	stop      chan struct{}
	done      chan struct{}
}

// maxBatch is the most events one commit writes.
const maxBatch = 256

// NewWriter starts a writer with room for buffer events.
func NewWriter(store Committer, buffer int, logger *slog.Logger) *Writer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	w := &Writer{store: store, logger: logger, ch: make(chan Event, max(buffer, 1)), stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// Record queues e. After Close it writes e synchronously, so late requests are not lost.
func (w *Writer) Record(e Event) {
	select {
	case <-w.stop:
		w.write(context.Background(), []Event{e})
		return
	default:
	}
	select {
	case w.ch <- e:
	case <-w.stop:
		w.write(context.Background(), []Event{e})
	}
}

// Close stops accepting events into the buffer, writes those buffered and returns when they
// are stored or ctx ends (the error then says how many were not written).
func (w *Writer) Close(ctx context.Context) error {
	w.closeOnce.Do(func() { close(w.stop) })
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return errors.New("audit: events still buffered at shutdown deadline")
	}
}

func (w *Writer) run() {
	defer close(w.done)
	for {
		select {
		case e := <-w.ch:
			w.write(context.Background(), w.batch(e))
		case <-w.stop:
			for {
				select {
				case e := <-w.ch:
					w.write(context.Background(), w.batch(e))
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
// trail with holes is worse than a late one. Errors are logged without event contents.
func (w *Writer) write(ctx context.Context, events []Event) {
	writes := make([]storage.Write, 0, len(events))
	for i := range events {
		res, id, err := events[i].Resource()
		if err != nil {
			w.logger.Error("audit event not built", "error", err)
			continue
		}
		writes = append(writes, storage.Write{Op: storage.OpCreate, Type: "AuditEvent", ID: id, Resource: res})
	}
	for attempt, wait := 1, 50*time.Millisecond; len(writes) > 0; attempt++ {
		_, err := w.store.Commit(ctx, writes)
		if err == nil {
			return
		}
		w.logger.Error("audit events not written; retrying", "events", len(writes), "attempt", attempt, "error", err)
		time.Sleep(wait)
		wait = min(2*wait, 5*time.Second)
	}
}
