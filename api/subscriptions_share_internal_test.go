package api

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/99designs/gqlgen/graphql"

	"github.com/fhirgate/fhirgate/graph"
	"github.com/fhirgate/fhirgate/storage"
)

type accessList []string

func (l *accessList) Accessed(typ, id string) { *l = append(*l, typ+"/"+id) }

// TestSharedAnswers: within a group an event executes once and every subscriber gets its
// answer and audits what it disclosed; another group or another event executes again; an
// execution abandoned (nil) is made again by the next subscriber.
func TestSharedAnswers(t *testing.T) {
	sa := newSharedAnswers()
	var runs atomic.Int32
	execute := func(data string) func(context.Context) *graphql.Response {
		return func(ctx context.Context) *graphql.Response {
			runs.Add(1)
			// What the execution reads is logged through ctx, as loaders do.
			storage.LogAccess(ctx, &storage.Record{Type: "Patient", ID: "p1"})
			return &graphql.Response{Data: []byte(data)}
		}
	}
	g1, g2 := shareGroup{text: [32]byte{'a'}}, shareGroup{text: [32]byte{'b'}}
	ctx := context.Background()
	var log1, log2, log3 accessList
	r1 := sa.answer(ctx, g1, &graph.ResourceChange{Token: "7"}, &log1, execute(`{"x":1}`))
	r2 := sa.answer(ctx, g1, &graph.ResourceChange{Token: "7"}, &log2, execute(`{"x":2}`))
	if runs.Load() != 1 || string(r2.Data) != `{"x":1}` || string(r1.Data) != string(r2.Data) {
		t.Fatalf("same group and event: %d executions, answers %s and %s; want 1 and the first answer twice", runs.Load(), r1.Data, r2.Data)
	}
	if len(log1) != 1 || len(log2) != 1 || log2[0] != "Patient/p1" {
		t.Errorf("audits %v and %v; want Patient/p1 in each", log1, log2)
	}
	if r := sa.answer(ctx, g2, &graph.ResourceChange{Token: "7"}, &log3, execute(`{"x":3}`)); string(r.Data) != `{"x":3}` || runs.Load() != 2 {
		t.Errorf("another group got %s after %d executions; want its own answer", r.Data, runs.Load())
	}
	if r := sa.answer(ctx, g1, &graph.ResourceChange{Token: "8"}, nil, execute(`{"x":4}`)); string(r.Data) != `{"x":4}` || runs.Load() != 3 {
		t.Errorf("another event got %s after %d executions; want its own answer", r.Data, runs.Load())
	}
	abandon := func(context.Context) *graphql.Response { runs.Add(1); return nil }
	if r := sa.answer(ctx, g1, &graph.ResourceChange{Token: "9"}, nil, abandon); r != nil {
		t.Fatal("an abandoned execution answered")
	}
	if r := sa.answer(ctx, g1, &graph.ResourceChange{Token: "9"}, nil, execute(`{"x":5}`)); r == nil || string(r.Data) != `{"x":5}` || runs.Load() != 5 {
		t.Errorf("after an abandoned execution: %v after %d executions; want the event executed again", r, runs.Load())
	}
	// The bound: the oldest answers go.
	for i := range maxSharedAnswers + 10 {
		sa.answer(ctx, g2, &graph.ResourceChange{Token: strconv.Itoa(1000 + i)}, nil, execute(`{}`))
	}
	if n := len(sa.byKey); n > maxSharedAnswers {
		t.Errorf("%d answers kept; the bound is %d", n, maxSharedAnswers)
	}
}
