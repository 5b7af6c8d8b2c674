package storage

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// This file holds what readers of the change feed need beside [Store.Changes]: a signal of
// this process's commits, where the feed ends, and matching versions against filters in
// memory, so that a reader can tell which of its subscribers a change concerns without a
// query per change and subscriber.

// Committed returns a channel that is closed when a commit of this process next lands
// (succeeds or fails): a reader of the change feed waits on it instead of polling for its
// own process's commits. Each call after a landing returns a new channel. Commits of other
// processes sharing the database send no signal; readers poll for those.
func (s *Store) Committed() <-chan struct{} {
	s.sigMu.Lock()
	defer s.sigMu.Unlock()
	if s.sig == nil {
		s.sig = make(chan struct{})
	}
	return s.sig
}

// signalCommit wakes the waiters of Committed.
func (s *Store) signalCommit() {
	s.sigMu.Lock()
	if s.sig != nil {
		close(s.sig)
		s.sig = nil
	}
	s.sigMu.Unlock()
}

// FeedHead returns a sequence number at which a reader of the change feed may start to
// receive the commits that follow: every commit of this process that has not landed yet is
// above it. On the embedded engine it is exact: every sequence number up to it is resolved.
// On MongoDB it is the last allocated number: a commit of another process that allocated its
// number earlier and commits later lies below it. No committed change is ever above it and
// absent from the feed later.
func (s *Store) FeedHead(ctx context.Context) (int64, error) {
	return s.c.be.feedHead(ctx, s)
}

func (embeddedBackend) feedHead(_ context.Context, s *Store) (int64, error) {
	s.flightMu.Lock()
	defer s.flightMu.Unlock()
	h := s.head
	for q := range s.inflight {
		h = min(h, q-1)
	}
	return h, nil
}

func (mongoBackend) feedHead(ctx context.Context, s *Store) (int64, error) {
	var counter struct {
		N int64 `bson:"n"`
	}
	found, err := findByID(ctx, s.counters, seqCounterID, &counter)
	if err != nil {
		return 0, fmt.Errorf("storage: feed head: %w", err)
	}
	if !found {
		return 0, nil
	}
	s.flightMu.Lock()
	defer s.flightMu.Unlock()
	h := counter.N
	for q := range s.inflight {
		h = min(h, q-1)
	}
	return h, nil
}

// Matchable is one version of a resource prepared for matching filters in memory.
type Matchable struct {
	raw bson.Raw
}

// NewMatchable prepares v, with its search fields, for [Filter.Matches]. The filters a
// search builds read the id, the JSON text and the search fields; v holds all three.
func NewMatchable(v Version) (*Matchable, error) {
	raw, err := bson.Marshal(struct {
		ID          string `bson:"_id"`
		JSON        string `bson:"json,omitempty"`
		IndexFields `bson:",inline"`
	}{v.ID, string(v.JSON), v.Index})
	if err != nil {
		return nil, fmt.Errorf("storage: prepare %s/%s for matching: %w", v.Type, v.ID, err)
	}
	return &Matchable{raw: raw}, nil
}

// Filter is a filter over current documents and their search fields, as [Query] takes it,
// evaluated in memory with the semantics Search gives it. It is safe for concurrent use.
type Filter struct {
	f bson.D
	m matcher // caches the filter's regular expressions, so its memory is bounded by f
}

// NewFilter returns f for matching in memory; an empty f matches every version.
func NewFilter(f bson.D) *Filter { return &Filter{f: f} }

// Matches reports whether version v meets the filter. Its error wraps ErrInvalid for an
// operator storage does not evaluate or a malformed regular expression.
func (f *Filter) Matches(v *Matchable) (bool, error) {
	if f == nil || len(f.f) == 0 {
		return true, nil
	}
	return f.m.match(v.raw, f.f)
}

// ScopeFilter returns the filter of ctx's scope (see [Scope]) over resources of typ: nil
// when ctx carries no scope, and ok false when no resource of typ is in scope. A reader that
// hands versions to a scoped caller checks each with it, as storage's own reads do.
func ScopeFilter(ctx context.Context, typ string) (f *Filter, ok bool) {
	sf, ok := scopeFilter(ctx, typ)
	if !ok || sf == nil {
		return nil, ok
	}
	return NewFilter(sf), true
}

// LogAccess reports recs to ctx's access log, if any (see [WithAccessLog]), as storage's own
// reads do: for readers that hand a caller versions they read on its behalf.
func LogAccess(ctx context.Context, recs ...*Record) { logAccess(ctx, recs...) }
