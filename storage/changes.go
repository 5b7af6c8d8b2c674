package storage

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Change is one committed commit in the change feed.
type Change struct {
	// Seq is the commit's sequence number; resume the feed after it.
	Seq int64
	// Time is the commit instant, the lastUpdated of every version it wrote.
	Time time.Time
	// Entries are the commit's writes, in write order.
	Entries []ChangeEntry
}

// ChangeEntry is one write of a committed commit.
type ChangeEntry struct {
	Type      string
	ID        string
	VersionID int64
	Deleted   bool
}

// MaxChanges is the most changes one Changes call returns.
const MaxChanges = 1000

// Changes returns up to limit (at most MaxChanges) committed commits with sequence
// numbers above afterSeq, in ascending order. Pass 0 to read from the start and the
// last returned Seq to resume.
//
// The feed only ever moves forward over resolved sequence numbers: it stops before
// the first one whose commit is still running, so a reader can never skip a commit
// that lands later. A commit that died before its commit point is fenced as aborted
// (at once on the embedded engine, after a timeout on MongoDB) and skipped; aborted
// commits never appear. A returned change is applied: Read returns its versions or
// newer ones; a commit that died after its commit point is finished before it is
// returned.
func (s *Store) Changes(ctx context.Context, afterSeq int64, limit int) ([]Change, error) {
	if afterSeq < 0 || limit < 1 {
		return nil, fmt.Errorf("storage: changes after %d, limit %d: %w", afterSeq, limit, ErrInvalid)
	}

	limit = min(limit, MaxChanges)
	out := []Change{}
	next := afterSeq + 1

	for len(out) < limit {
		page, more, err := s.c.be.journalPage(ctx, s, next, limit-len(out))
		if err != nil {
			return nil, fmt.Errorf("storage: changes after %d: %w", afterSeq, err)
		}

		for _, j := range page {
			if j.St == stCommitted {
				out = append(out, j.change())
			}
		}

		if len(page) > 0 {
			next = page[len(page)-1].Seq + 1
		}

		if !more {
			break
		}
	}

	return out, nil
}

func (j *journalDoc) change() Change {
	c := Change{Seq: j.Seq, Time: j.TS.UTC(), Entries: make([]ChangeEntry, len(j.Ops))}
	for i, op := range j.Ops {
		c.Entries[i] = ChangeEntry{Type: op.T, ID: op.ID, VersionID: op.V, Deleted: op.Del}
	}

	return c
}

func (embeddedBackend) journalPage(ctx context.Context, s *Store, next int64, n int) ([]*journalDoc, bool, error) {
	return s.journalPageEmbedded(ctx, next, n)
}

func (mongoBackend) journalPage(ctx context.Context, s *Store, next int64, n int) ([]*journalDoc, bool, error) {
	return s.journalPageMongo(ctx, next, n)
}

// journalPageEmbedded reads the page by point lookups: a range query would scan the
// whole journal. In-process knowledge of every live commit lets it tell a running
// commit (stop) from a dead one (fence and skip).
func (s *Store) journalPageEmbedded(ctx context.Context, next int64, n int) ([]*journalDoc, bool, error) {
	// Snapshot the head and the live commits together: allocation updates both under
	// flightMu, and a commit leaves the set only once its journal document exists.
	s.flightMu.Lock()
	end := min(s.head, next+int64(n)-1)
	more := end == next+int64(n)-1

	for q := next; q <= end; q++ {
		if s.inflight[q] > 0 {
			end, more = q-1, false
			break
		}
	}
	s.flightMu.Unlock()

	if end < next {
		return nil, false, nil
	}

	keys := make([]string, 0, end-next+1)
	for q := next; q <= end; q++ {
		keys = append(keys, seqKey(q))
	}

	docs, err := lookupAll[journalDoc](ctx, s.journal, keys)
	if err != nil {
		return nil, false, err
	}

	for i, d := range docs {
		if d != nil {
			continue
		}

		// Not live at the snapshot and unresolved after it: its commit is dead.
		seq := next + int64(i)

		st, err := s.settle(ctx, seq, nil)
		if err != nil {
			return nil, false, err
		}

		if st == stPending {
			return docs[:i], false, nil
		}

		docs[i] = &journalDoc{Key: seqKey(seq), Seq: seq, St: st}
		if st == stCommitted { // it raced the fence and won: read its writes
			if _, err := findByID(ctx, s.journal, seqKey(seq), docs[i]); err != nil {
				return nil, false, err
			}
		}
	}

	return s.applied(ctx, docs, more)
}

// journalPageMongo reads the page with one range query, then checks the gaps in it
// and the commits in it that are not fully applied yet.
func (s *Store) journalPageMongo(ctx context.Context, next int64, n int) ([]*journalDoc, bool, error) {
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(n)).SetBatchSize(int32(n + 1))

	cur, err := s.journal.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$gte", Value: seqKey(next)}}}}, opts)
	if err != nil {
		return nil, false, fmt.Errorf("read journal: %w", err)
	}

	var docs []*journalDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, false, fmt.Errorf("read journal: %w", err)
	}

	more := len(docs) == n

	s.forgetGaps(docs)

	for i, d := range docs {
		want := next + int64(i)
		if d.Seq == want {
			continue
		}

		// A gap: a commit still running, or dead. Once settled, read again from it.
		st, err := s.settle(ctx, want, nil)
		if err != nil {
			return nil, false, err
		}

		docs, more = docs[:i], st != stPending

		break
	}

	return s.applied(ctx, docs, more)
}

// forgetGaps drops the first-seen times of gaps that docs show resolved.
func (s *Store) forgetGaps(docs []*journalDoc) {
	s.flightMu.Lock()
	defer s.flightMu.Unlock()

	if len(s.gapSeen) == 0 {
		return
	}

	for _, d := range docs {
		delete(s.gapSeen, d.Seq)
	}
}

// applied cuts docs before the first commit that still has a pending record, that is
// one not fully applied (or, if aborted, not cleaned up), unless its process is dead:
// then it finishes the commit and goes on. more is passed through unless docs is cut.
//
// One query reads the pending records: on MongoDB by _id, on the embedded engine all
// of them, since there are only as many as commits in flight.
func (s *Store) applied(ctx context.Context, docs []*journalDoc, more bool) ([]*journalDoc, bool, error) {
	if len(docs) == 0 {
		return docs, more, nil
	}

	keys := make([]string, len(docs))
	for i, d := range docs {
		keys[i] = d.Key
	}

	cur, err := s.pending.Find(ctx, s.c.be.pendingFilter(keys), options.Find().SetBatchSize(1000))
	if err != nil {
		return nil, false, fmt.Errorf("read pending: %w", err)
	}

	var pend []pendingDoc
	if err := cur.All(ctx, &pend); err != nil {
		return nil, false, fmt.Errorf("read pending: %w", err)
	}

	byKey := make(map[string]*pendingDoc, len(pend))
	for i := range pend {
		byKey[pend[i].Key] = &pend[i]
	}

	for i, d := range docs {
		p := byKey[d.Key]
		if p == nil {
			continue
		}

		if s.inFlight(d.Seq) {
			return docs[:i], false, nil
		}

		if s.isDone(d.Seq) {
			continue
		}

		running, err := s.c.be.mayStillRun(ctx, s, d.Seq, p)
		if err != nil {
			return nil, false, err
		}
		if running {
			return docs[:i], false, nil
		}

		if err := s.finish(ctx, d.Seq, d.St, p); err != nil {
			return nil, false, err
		}
	}

	return docs, more, nil
}

// LastSeq returns a sequence number no commit so far has exceeded: reading the change feed
// back from it (Changes after LastSeq minus n) finds the newest commits. On the embedded
// engine it may lie a little above the last commit, in numbers reserved and not yet used.
func (s *Store) LastSeq(ctx context.Context) (int64, error) {
	var d struct {
		N int64 `bson:"n"`
	}
	found, err := findByID(ctx, s.counters, seqCounterID, &d)
	if err != nil {
		return 0, fmt.Errorf("storage: last sequence number: %w", err)
	}
	if !found {
		return 0, nil
	}
	return d.N, nil
}
