package storage

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// stPending is the state of a sequence number that is neither committed nor aborted
// yet: its commit is running, or may still be.
const stPending = "p"

// Recover finishes or undoes the commits that stopped between their first and last
// step: committed ones are applied, the others are aborted and their claims removed.
// Datastore runs it when it opens a store. On MongoDB, where other processes keep
// committing, a commit is only given up on once it has been pending longer than a
// timeout (a minute); there, running Recover periodically repairs the effects of
// processes that died.
//
// Recover reads only the _pending collection, which holds one document per commit in
// flight, so its cost does not grow with the journal.
func (s *Store) Recover(ctx context.Context) error {
	cur, err := s.pending.Find(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("storage: recover %s: %w", s.name, err)
	}

	var docs []pendingDoc
	if err := cur.All(ctx, &docs); err != nil {
		return fmt.Errorf("storage: recover %s: %w", s.name, err)
	}

	for i := range docs {
		seq, err := strconv.ParseInt(docs[i].Key, 10, 64)
		if err != nil {
			return fmt.Errorf("storage: recover %s: pending %q: %w", s.name, docs[i].Key, err)
		}

		if s.isDone(seq) {
			continue
		}

		st, err := s.settle(ctx, seq, &docs[i])
		if err != nil {
			return fmt.Errorf("storage: recover %s: %w", s.name, err)
		}

		if st != stPending {
			s.c.log.InfoContext(ctx, "storage: recovered commit", slog.String("datastore", s.name), slog.Int64("seq", seq), slog.String("state", st))
		}
	}

	return nil
}

// settle resolves seq if its commit is dead (fencing it as aborted unless it reached
// its commit point) and, when its pending record p is known or found, rolls it
// forward or back and removes the record. It returns the resulting state.
func (s *Store) settle(ctx context.Context, seq int64, p *pendingDoc) (string, error) {
	st, err := s.seqState(ctx, seq)
	if err != nil || st == stPending {
		return st, err
	}

	if p == nil {
		var d pendingDoc

		found, err := findByID(ctx, s.pending, seqKey(seq), &d)
		if err != nil || !found {
			return st, err
		}

		p = &d
	}

	return st, s.finish(ctx, seq, st, p)
}

// finish applies (committed) or removes (aborted) the claims of the resolved commit
// seq, then removes its pending record. It takes the resources' locks.
func (s *Store) finish(ctx context.Context, seq int64, st string, p *pendingDoc) error {
	return s.finishLocked(ctx, seq, st, p, true)
}

// finishLocked is finish, taking the resources' locks only if lock is set. Only on
// MongoDB, where every step is a conditional write, may a caller that already holds
// some of those locks call it with lock unset.
func (s *Store) finishLocked(ctx context.Context, seq int64, st string, p *pendingDoc, lock bool) error {
	tcs := make([]*typeColls, len(p.Ops))
	keys := make([]string, len(p.Ops))

	for i, op := range p.Ops {
		tc, err := s.colls(ctx, op.T)
		if err != nil {
			return fmt.Errorf("finish seq %d: %w", seq, err)
		}

		tcs[i], keys[i] = tc, op.T+"/"+op.ID
	}

	if lock {
		unlock := s.locks.lock(keys)
		defer unlock()
	}

	for i, op := range p.Ops {
		key := historyKey(op.ID, op.V)

		if st == stAborted {
			if err := s.deleteClaim(ctx, tcs[i], key, seq); err != nil {
				return fmt.Errorf("roll back seq %d: %w", seq, err)
			}

			continue
		}

		var h versionDoc

		found, err := findByID(ctx, tcs[i].hist, key, &h)
		if err != nil {
			return fmt.Errorf("roll forward seq %d: %w", seq, err)
		}

		if !found || h.Seq != seq {
			// Claims precede the commit point and committed versions are never removed.
			return fmt.Errorf("roll forward seq %d: %s %s: committed version missing", seq, op.T, key)
		}

		if err := s.applyOne(ctx, tcs[i], &h, nil, false); err != nil {
			return fmt.Errorf("roll forward seq %d: %w", seq, err)
		}
	}

	if _, err := s.pending.DeleteOne(ctx, bson.D{{Key: "_id", Value: seqKey(seq)}}); err != nil {
		return fmt.Errorf("finish seq %d: remove pending: %w", seq, err)
	}

	return nil
}

// seqState returns whether seq is committed, aborted or pending. A sequence number
// whose commit is dead is fenced first: on the embedded engine that is any number not
// in flight in this process; on MongoDB, one unresolved for longer than gapTimeout.
func (s *Store) seqState(ctx context.Context, seq int64) (string, error) {
	var j journalDoc

	found, err := findByID(ctx, s.journal, seqKey(seq), &j)
	if err != nil {
		return "", err
	}

	if found {
		return j.St, nil
	}

	if s.inFlight(seq) {
		return stPending, nil
	}

	if running, err := s.c.be.mayStillRun(ctx, s, seq, nil); err != nil || running {
		return stPending, err
	}

	return s.fence(ctx, seq)
}

// stale reports whether the unresolved seq has waited longer than gapTimeout, judged
// by its pending record or, before that exists, by when this process first saw it.
func (s *Store) stale(ctx context.Context, seq int64) (bool, error) {
	var p pendingDoc

	found, err := findByID(ctx, s.pending, seqKey(seq), &p)
	if err != nil {
		return false, err
	}

	if found {
		return s.staleSince(seq, p.TS), nil
	}

	return s.staleSince(seq, time.Time{}), nil
}

// staleSince reports whether seq, pending since t (or, if t is zero, since this
// process first saw it unresolved), has waited longer than gapTimeout.
func (s *Store) staleSince(seq int64, t time.Time) bool {
	if t.IsZero() {
		s.flightMu.Lock()
		if s.gapSeen[seq].IsZero() {
			s.gapSeen[seq] = s.c.clock()
		}
		t = s.gapSeen[seq]
		s.flightMu.Unlock()
	}

	return s.c.clock().Sub(t) > s.c.gapTimeout
}

// fence resolves seq as aborted unless it is resolved already, and returns its state.
// The journal's unique _id makes this and the commit point mutually exclusive.
func (s *Store) fence(ctx context.Context, seq int64) (string, error) {
	_, err := s.journal.InsertOne(ctx, journalDoc{Key: seqKey(seq), Seq: seq, TS: s.c.clock().UTC().Truncate(time.Millisecond), St: stAborted})
	if err != nil && !isDup(err) {
		return "", fmt.Errorf("fence seq %d: %w", seq, err)
	}

	s.flightMu.Lock()
	delete(s.gapSeen, seq)
	s.flightMu.Unlock()

	if err == nil {
		return stAborted, nil
	}

	var j journalDoc

	found, err := findByID(ctx, s.journal, seqKey(seq), &j)
	if err != nil {
		return "", fmt.Errorf("fence seq %d: %w", seq, err)
	}

	if !found {
		return "", fmt.Errorf("fence seq %d: journal entry vanished", seq)
	}

	return j.St, nil
}
