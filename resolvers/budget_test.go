package resolvers

import (
	"context"
	"testing"
	"time"
)

// waiters returns how many calls wait for a shared place.
func (f *fairSlots) waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiting)
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFairSlotsServeTheRequestHoldingFewest: with every shared place taken by one request and
// more of its calls waiting, another request's call is served at the next free place, ahead of
// the calls that came before it.
func TestFairSlotsServeTheRequestHoldingFewest(t *testing.T) {
	ctx := context.Background()
	f := &fairSlots{free: 2}
	heavy, light := &readBudget{}, &readBudget{}
	for range 2 {
		if err := f.acquire(ctx, heavy); err != nil {
			t.Fatal(err)
		}
	}
	order := make(chan string, 3)
	for range 2 {
		go func() {
			if err := f.acquire(ctx, heavy); err == nil {
				order <- "heavy"
			}
		}()
	}
	waitUntil(t, func() bool { return f.waiters() == 2 })
	go func() {
		if err := f.acquire(ctx, light); err == nil {
			order <- "light"
		}
	}()
	waitUntil(t, func() bool { return f.waiters() == 3 })

	f.release(heavy)
	if got := <-order; got != "light" {
		t.Fatalf("the first freed place went to %s, want light", got)
	}
	f.release(heavy)
	f.release(light)
	for range 2 {
		if got := <-order; got != "heavy" {
			t.Fatalf("got %s, want heavy", got)
		}
	}
	if heavy.held != 2 || light.held != 0 || f.free != 0 {
		t.Errorf("held: heavy %d, light %d; free %d", heavy.held, light.held, f.free)
	}
}

// TestFairSlotsGiveUpWhenTheContextEnds: a call whose context ends while it waits takes no
// place, and the places stay accounted for.
func TestFairSlotsGiveUpWhenTheContextEnds(t *testing.T) {
	f := &fairSlots{free: 1}
	a, b := &readBudget{}, &readBudget{}
	if err := f.acquire(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.acquire(ctx, b) }()
	waitUntil(t, func() bool { return f.waiters() == 1 })
	cancel()
	if err := <-done; err == nil {
		t.Fatal("a cancelled wait took a place")
	}
	f.release(a)
	if f.free != 1 || f.waiters() != 0 || a.held != 0 || b.held != 0 {
		t.Errorf("free %d, waiting %d, held %d and %d; want 1, 0, 0, 0", f.free, f.waiters(), a.held, b.held)
	}
}

// TestReadBudgetCharges: rows and bytes add up across calls and the call that crosses a limit
// fails with ErrTooMany.
func TestReadBudgetCharges(t *testing.T) {
	b := budgetFrom(WithReadLimits(context.Background(), ReadLimits{MaxRows: 10, MaxBytes: 1000}))
	if err := b.charge(6, 100); err != nil {
		t.Fatal(err)
	}
	if got := b.remaining(); got != 4 {
		t.Errorf("remaining %d, want 4", got)
	}
	if err := b.charge(4, 100); err != nil {
		t.Fatal(err)
	}
	if err := b.charge(1, 0); err == nil {
		t.Error("an eleventh row was allowed")
	}
	c := budgetFrom(WithReadLimits(context.Background(), ReadLimits{MaxBytes: 1000}))
	if err := c.charge(1, 1001); err == nil {
		t.Error("1001 bytes were allowed")
	}
	var none *readBudget
	if none.remaining() != -1 || none.charge(1<<20, 1<<40) != nil {
		t.Error("a call outside any request is limited")
	}
}

// TestReadBudgetReserves: rows reserved before a call count against calls that start while it
// is in flight, and what a call did not read goes back to the budget.
func TestReadBudgetReserves(t *testing.T) {
	b := budgetFrom(WithReadLimits(context.Background(), ReadLimits{MaxRows: 50}))
	if err := b.reserve(30); err != nil {
		t.Fatal(err)
	}
	// A second batch of 30 in flight with the first: refused before it reads anything.
	if err := b.reserve(30); err == nil {
		t.Fatal("two batches of 30 were both allowed under a budget of 50")
	}
	if got := b.remaining(); got != 20 {
		t.Errorf("remaining %d after a refused reservation, want 20", got)
	}
	b.refund(10) // the first batch found 20 of its 30
	if err := b.reserve(30); err != nil {
		t.Errorf("30 rows refused with 30 left: %v", err)
	}
	if got := b.remaining(); got != 0 {
		t.Errorf("remaining %d, want 0", got)
	}
	var none *readBudget
	if none.reserve(1<<20) != nil {
		t.Error("a call outside any request is limited")
	}
	none.refund(1)
}
