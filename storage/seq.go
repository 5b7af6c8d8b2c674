package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// seqBlock is how many sequence numbers the embedded engine reserves with one counter
// write. It hands them out from memory, in order, so that a commit costs no counter
// write; numbers reserved and never used by a process that died become gaps, which
// readers of the change feed resolve as aborted.
const seqBlock = 64

// pendingBatch is how many finished commits' pending records the embedded engine
// removes with one delete. Until then they are listed in doneSeqs.
const pendingBatch = 32

var errClosed = errors.New("storage: client closed")

// allocSeq allocates a sequence number and registers it as in flight.
func (s *Store) allocSeq(ctx context.Context) (int64, error) { return s.c.be.allocSeq(ctx, s) }

// allocSeq hands numbers out from a block reserved in the counter. Allocation, the head
// and the in-flight set change together under flightMu, which readers of the change feed
// take to snapshot them.
func (embeddedBackend) allocSeq(ctx context.Context, s *Store) (int64, error) {
	s.flightMu.Lock()
	defer s.flightMu.Unlock()

	if s.closed {
		return 0, errClosed
	}

	if s.head >= s.reserved {
		n, err := s.incSeq(ctx, seqBlock)
		if err != nil {
			return 0, err
		}

		s.head = max(s.head, n-seqBlock)
		s.reserved = n
	}

	s.head++
	s.inflight[s.head]++

	return s.head, nil
}

// allocSeq increments the counter once per commit: other processes share it.
func (mongoBackend) allocSeq(ctx context.Context, s *Store) (int64, error) {
	if s.serialSeq {
		// A FerretDB server by URI: its $inc is a read-modify-write without a lock.
		s.flightMu.Lock()
		defer s.flightMu.Unlock()

		seq, err := s.incSeq(ctx, 1)
		if err != nil {
			return 0, err
		}

		s.inflight[seq]++

		return seq, nil
	}

	seq, err := s.incSeq(ctx, 1)
	if err != nil {
		return 0, err
	}

	s.flightMu.Lock()
	s.inflight[seq]++
	s.flightMu.Unlock()

	return seq, nil
}

// incSeq adds n to the sequence counter and returns its new value.
func (s *Store) incSeq(ctx context.Context, n int64) (int64, error) {
	var d struct {
		N int64 `bson:"n"`
	}

	err := s.counters.FindOneAndUpdate(ctx,
		bson.D{{Key: "_id", Value: seqCounterID}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: n}}}},
		options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After),
	).Decode(&d)
	if err != nil {
		return 0, fmt.Errorf("allocate sequence number: %w", err)
	}

	return d.N, nil
}

// land marks seq as no longer in flight in this process.
func (s *Store) land(seq int64) {
	s.flightMu.Lock()
	if s.inflight[seq]--; s.inflight[seq] <= 0 {
		delete(s.inflight, seq)
	}
	s.flightMu.Unlock()

	s.signalCommit()
}

// inFlight reports whether a commit of this process holds seq.
func (s *Store) inFlight(seq int64) bool {
	s.flightMu.Lock()
	defer s.flightMu.Unlock()

	return s.inflight[seq] > 0
}

// finished removes the pending record of the completed commit seq. The embedded
// engine defers that and removes them in batches; meanwhile doneSeqs tells them apart
// from the records of dead commits. On MongoDB the record's absence is what tells
// other processes that the commit is applied, so it goes at once.
func (s *Store) finished(ctx context.Context, seq int64) error { return s.c.be.finished(ctx, s, seq) }

func (mongoBackend) finished(ctx context.Context, s *Store, seq int64) error {
	if _, err := s.pending.DeleteOne(ctx, bson.D{{Key: "_id", Value: seqKey(seq)}}); err != nil {
		return fmt.Errorf("remove pending seq %d: %w", seq, err)
	}

	return nil
}

func (embeddedBackend) finished(ctx context.Context, s *Store, seq int64) error {
	s.flightMu.Lock()
	s.doneSeqs[seq] = true
	flush := len(s.doneSeqs) >= pendingBatch && !s.flushing
	s.flushing = s.flushing || flush
	s.flightMu.Unlock()

	if !flush {
		return nil
	}

	return s.flushFinished(ctx)
}

// flushFinished removes the pending records listed in doneSeqs, straight from SQLite:
// FerretDB would scan _pending (the filter is not a plain {_id} one) and decode every
// record, each with the operations of its commit.
func (s *Store) flushFinished(ctx context.Context) error {
	s.flightMu.Lock()
	keys := make([]string, 0, len(s.doneSeqs))
	seqs := make([]int64, 0, len(s.doneSeqs))
	for seq := range s.doneSeqs {
		keys = append(keys, seqKey(seq))
		seqs = append(seqs, seq)
	}
	s.flightMu.Unlock()

	var err error
	if len(keys) > 0 {
		_, err = s.c.eng.DeleteDocs(ctx, s.db.Name(), s.pending.Name(), keys)
	}

	s.flightMu.Lock()
	if err == nil {
		for _, seq := range seqs {
			delete(s.doneSeqs, seq)
		}
	}
	s.flushing = false
	s.flightMu.Unlock()

	if err != nil {
		return fmt.Errorf("remove %d pending records: %w", len(keys), err)
	}

	return nil
}

// isDone reports whether seq is a completed commit whose pending record awaits
// removal.
func (s *Store) isDone(seq int64) bool {
	s.flightMu.Lock()
	defer s.flightMu.Unlock()

	return s.doneSeqs[seq]
}

// shutdown stops allocation and leaves the store clean for the next start.
func (s *Store) shutdown(ctx context.Context) error { return s.c.be.shutdown(ctx, s) }

// shutdown: nothing on MongoDB, where each commit removes its own pending record and
// allocates its own number.
func (mongoBackend) shutdown(context.Context, *Store) error { return nil }

// shutdown removes the pending records of finished commits and gives the unused reserved
// sequence numbers back, so that a clean restart leaves no gaps in the change feed.
func (embeddedBackend) shutdown(ctx context.Context, s *Store) error {
	s.flightMu.Lock()
	s.closed = true
	head, reserved := s.head, s.reserved
	s.flightMu.Unlock()

	var errs []error

	if err := s.flushFinished(ctx); err != nil {
		errs = append(errs, err)
	}

	if head < reserved {
		_, err := s.counters.UpdateOne(ctx, bson.D{{Key: "_id", Value: seqCounterID}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: head}}}})
		if err != nil {
			errs = append(errs, fmt.Errorf("release sequence numbers: %w", err))
		} else {
			s.c.log.DebugContext(ctx, "storage: released sequence numbers", slog.String("datastore", s.name), slog.Int64("from", head+1), slog.Int64("to", reserved))
		}
	}

	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("storage: close datastore %s: %w", s.name, err)
	}

	return nil
}
