package storage

import (
	"context"
	"slices"
	"testing"
)

func TestChangesOrderAndResume(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()

	var seqs []int64

	for i, w := range []Write{
		putW("Patient", "p1", patient("p1", "A")),
		putW("Observation", "o1", res(`{"resourceType":"Observation","id":"o1"}`)),
		putW("Patient", "p1", patient("p1", "B")),
		{Op: OpDelete, Type: "Patient", ID: "p1"},
		putW("Patient", "p2", patient("p2", "C")),
	} {
		rec := mustCommit(t, s, w)[0]
		if i > 0 && rec.Seq <= seqs[i-1] {
			t.Fatalf("seq %d after %d: not ascending", rec.Seq, seqs[i-1])
		}

		seqs = append(seqs, rec.Seq)
	}

	// A failed commit takes a sequence number or not, but never shows up.
	if _, err := s.Commit(ctx, []Write{{Op: OpPut, Type: "Patient", ID: "p2", IfMatch: 9, Resource: patient("p2", "X")}}); err == nil {
		t.Fatal("stale write succeeded")
	}

	all := allChanges(t, s, 0)

	var got []int64
	for _, c := range all {
		got = append(got, c.Seq)
	}

	if !slices.Equal(got, seqs) {
		t.Fatalf("feed seqs %v, want %v", got, seqs)
	}

	wantEntries := []ChangeEntry{
		{Type: "Patient", ID: "p1", VersionID: 1},
		{Type: "Observation", ID: "o1", VersionID: 1},
		{Type: "Patient", ID: "p1", VersionID: 2},
		{Type: "Patient", ID: "p1", VersionID: 3, Deleted: true},
		{Type: "Patient", ID: "p2", VersionID: 1},
	}

	for i, c := range all {
		if len(c.Entries) != 1 || c.Entries[0] != wantEntries[i] || c.Time.IsZero() {
			t.Fatalf("change %d: %+v, want %+v", i, c, wantEntries[i])
		}
	}

	// Resume from any point, in pages of any size.
	for after := range len(seqs) {
		page, err := s.Changes(ctx, seqs[after], 2)
		if err != nil {
			t.Fatalf("Changes(%d, 2): %v", seqs[after], err)
		}

		want := seqs[after+1 : min(after+3, len(seqs))]

		var got []int64
		for _, c := range page {
			got = append(got, c.Seq)
		}

		if !slices.Equal(got, want) {
			t.Fatalf("Changes(%d, 2) = %v, want %v", seqs[after], got, want)
		}
	}
}

// TestChangesWaitsForRunningCommit holds a commit between its claims and its commit
// point while a later one completes: the feed must stop before the held one rather
// than skip it, and deliver both, in order, once it lands.
func TestChangesWaitsForRunningCommit(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()

	base := mustPut(t, s, "Patient", "p0", patient("p0", "A")).Seq

	held := make(chan int64, 1)
	release := make(chan struct{})

	s.afterStep = func(seq int64, step int) error {
		if step == stepClaims && seq == base+1 {
			held <- seq
			<-release
		}

		return nil
	}
	defer func() { s.afterStep = nil }()

	done := make(chan error, 1)
	go func() {
		_, err := s.Commit(ctx, []Write{putW("Patient", "slow", patient("slow", "S"))})
		done <- err
	}()

	slow := <-held

	fast := mustPut(t, s, "Patient", "fast", patient("fast", "F"))
	if fast.Seq <= slow {
		t.Fatalf("fast commit seq %d not after held seq %d", fast.Seq, slow)
	}

	// Even after the timeout for dead commits: this one is alive.
	skipGapTimeout(t)

	if ch := allChanges(t, s, base); len(ch) != 0 {
		t.Fatalf("feed while seq %d runs: %+v, want nothing", slow, ch)
	}

	close(release)

	if err := <-done; err != nil {
		t.Fatalf("held commit: %v", err)
	}

	ch := allChanges(t, s, base)
	if len(ch) != 2 || ch[0].Seq != slow || ch[1].Seq != fast.Seq || ch[0].Entries[0].ID != "slow" {
		t.Fatalf("feed after release: %+v, want seq %d then %d", ch, slow, fast.Seq)
	}
}

// TestChangesSkipsDeadCommit lets a commit die after taking a sequence number: the
// feed must not stall on it forever.
func TestChangesSkipsDeadCommit(t *testing.T) {
	for _, step := range []int{stepSeq, stepPending, stepClaims} {
		s := newTestStore(t)
		ctx := context.Background()

		base := mustPut(t, s, "Patient", "p0", patient("p0", "A")).Seq

		crashAt(s, step)

		_, err := s.Commit(ctx, []Write{putW("Patient", "dead", patient("dead", "D"))})
		wantErr(t, "crashed commit", err, errInjected)

		s.afterStep = nil
		next := mustPut(t, s, "Patient", "p1", patient("p1", "B"))

		if !testClient.Embedded() {
			// The first look starts the clock for a gap without a pending record.
			if ch := allChanges(t, s, base); len(ch) != 0 && step != stepSeq {
				t.Fatalf("step %d: feed before timeout: %+v", step, ch)
			}

			skipGapTimeout(t)
		}

		ch := allChanges(t, s, base)
		if len(ch) != 1 || ch[0].Seq != next.Seq || ch[0].Seq != base+2 {
			t.Fatalf("step %d: feed %+v, want only seq %d", step, ch, base+2)
		}

		if n := pendingLeft(t, s); n != 0 {
			t.Fatalf("step %d: %d pending records left, want 0", step, n)
		}

		_, err = s.Read(ctx, "Patient", "dead")
		wantErr(t, "dead commit's resource", err, ErrNotFound)

		if rec := mustPut(t, s, "Patient", "dead", patient("dead", "E")); rec.VersionID != 1 {
			t.Fatalf("step %d: put after dead claim: version %d, want 1", step, rec.VersionID)
		}
	}
}
