package search

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fhirgate/fhirgate/storage"
)

// countingStore counts the Count calls that reach the store.
type countingStore struct {
	Store
	counts atomic.Int64
}

func (s *countingStore) Count(ctx context.Context, typ string, q storage.Query) (int64, error) {
	s.counts.Add(1)
	return s.Store.Count(ctx, typ, q)
}

// TestConnectionOffsetConcurrently: gqlgen resolves a connection's fields concurrently, and a
// query may ask for offset under several aliases. Every caller gets the same offset from one
// count, without a data race (run with -race).
func TestConnectionOffsetConcurrently(t *testing.T) {
	s := newStore(t)
	var docs []string
	for i := range 30 {
		docs = append(docs, fmt.Sprintf(`{"resourceType":"Patient","id":"p%02d","gender":"female"}`, i))
	}
	put(t, s, docs...)
	cs := &countingStore{Store: s}
	r := &Runner{Store: cs, ListLimit: 1000, PageSize: 10}
	first, err := Parse("Patient", map[string]any{"gender": "female"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.Connection(context.Background(), first)
	if err != nil {
		t.Fatal(err)
	}
	// The last page's offset is unknown until asked for.
	q, err := Parse("Patient", map[string]any{"gender": "female", ArgCursor: *c.Last})
	if err != nil {
		t.Fatal(err)
	}
	if c, err = r.Connection(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	before := cs.counts.Load()
	const callers = 8
	got := make([]int, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			off, err := c.Offset(context.Background())
			if err != nil || off == nil {
				t.Errorf("Offset: %v, %v", off, err)
				return
			}
			got[i] = *off
		})
	}
	wg.Wait()
	for i, off := range got {
		if off != 20 {
			t.Errorf("caller %d: offset %d, want 20 (the last page of 30 by 10)", i, off)
		}
	}
	if n := cs.counts.Load() - before; n != 1 {
		t.Errorf("%d callers counted %d times, want once", callers, n)
	}
}
