package viewrun

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/view"
)

// pipeStore holds more Observations than a pipeline buffers ((2·pipeDepth+3)·pipeBatch), so
// that a run over them has every stage busy at once.
func pipeStore(t *testing.T) *storage.Store {
	t.Helper()
	n := (2*pipeDepth+3)*pipeBatch + 100
	var obs []string
	for i := range n {
		obs = append(obs, fmt.Sprintf("o%04d", i))
	}
	return newStore(t, obs...)
}

// settled waits until the process runs no more goroutines than before, failing after 5 s.
func settled(t *testing.T, before int, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%s: %d goroutines, %d before the run:\n%s", what, runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPipelineKeepsOrder: a pipelined run (no limit) gives every resource's rows in the order
// storage reads them, as the sequential loop does, across many batches.
func TestPipelineKeepsOrder(t *testing.T) {
	ctx := context.Background()
	s := pipeStore(t)
	var want []string
	if err := s.Each(ctx, "Observation", nil, time.Time{}, func(rec *storage.Record) error { want = append(want, rec.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := (&Runner{Store: s}).Run(ctx, &Request{View: obsView(t)}, func(row view.Row) error { got = append(got, fmt.Sprint(row[0])); return nil })
	if err != nil || len(got) != len(want) || len(want) < (2*pipeDepth+3)*pipeBatch {
		t.Fatalf("%d rows of %d resources: %v", len(got), len(want), err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("row %d is %s, storage read %s", i, got[i], want[i])
		}
	}
	t.Logf("%d rows in storage's order", len(got))
}

// TestPipelineStops: a run whose caller goes away (its context ends) or whose rows cannot be
// written (emit fails) stops at once with that error and leaves no goroutine behind, the
// stages blocked on full channels included.
func TestPipelineStops(t *testing.T) {
	s := pipeStore(t)
	r := &Runner{Store: s}
	// Warm the engine's connection pool, whose goroutines outlive a run by design.
	if err := r.Run(context.Background(), &Request{View: obsView(t)}, func(view.Row) error { return nil }); err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()

	ctx, cancel := context.WithCancel(context.Background())
	rows := 0
	err := r.Run(ctx, &Request{View: obsView(t)}, func(view.Row) error {
		if rows++; rows == 1 {
			cancel() // the client goes away after the first row
			time.Sleep(50 * time.Millisecond)
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || rows > pipeBatch {
		t.Errorf("caller gone after row 1: %d rows, %v", rows, err)
	}
	settled(t, before, "caller gone")

	errWrite := errors.New("broken pipe")
	rows = 0
	err = r.Run(context.Background(), &Request{View: obsView(t)}, func(view.Row) error {
		if rows++; rows == 10 {
			time.Sleep(50 * time.Millisecond) // every stage fills its channel meanwhile
			return errWrite
		}
		return nil
	})
	if !errors.Is(err, errWrite) || rows != 10 {
		t.Errorf("write failing at row 10: %d rows, %v", rows, err)
	}
	settled(t, before, "write failed")
}
