package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// assertUntouched checks that Patient/a and Patient/b are still at version 1 and
// Patient/c does not exist: in current, in history and in the change feed after seq.
func assertUntouched(t *testing.T, s *Store, seq int64) {
	t.Helper()

	ctx := context.Background()

	for _, id := range []string{"a", "b"} {
		if rec := mustRead(t, s, "Patient", id); rec.VersionID != 1 {
			t.Fatalf("%s: current version %d, want 1", id, rec.VersionID)
		}

		hist, err := s.History(ctx, "Patient", id)
		if err != nil || !slices.Equal(versions(hist), []int64{1}) {
			t.Fatalf("%s: history %v, %v; want [1]", id, versions(hist), err)
		}

		_, err = s.ReadVersion(ctx, "Patient", id, 2)
		wantErr(t, id+" version 2", err, ErrNotFound)
	}

	_, err := s.Read(ctx, "Patient", "c")
	wantErr(t, "c", err, ErrNotFound)

	if n := countDocs(t, s, "Patient_history"); n != 2 {
		t.Fatalf("history collection holds %d documents, want 2", n)
	}

	if ch := allChanges(t, s, seq); len(ch) != 0 {
		t.Fatalf("change feed after seq %d: %+v, want nothing", seq, ch)
	}
}

// seedAB writes Patient/a and Patient/b at version 1 and returns the seq of that commit.
func seedAB(t *testing.T, s *Store) int64 {
	t.Helper()

	recs := mustCommit(t, s, putW("Patient", "a", patient("a", "A1")), putW("Patient", "b", patient("b", "B1")))

	return recs[0].Seq
}

// batchABC updates a and b and creates c; b's IfMatch is the given version.
func batchABC(ifMatchB int64) []Write {
	return []Write{
		putW("Patient", "a", patient("a", "A2")),
		{Op: OpPut, Type: "Patient", ID: "b", IfMatch: ifMatchB, Resource: patient("b", "B2")},
		{Op: OpCreate, Type: "Patient", ID: "c", Resource: patient("c", "C1")},
	}
}

func TestCommitAllOrNothing(t *testing.T) {
	s := newTestStore(t)
	seq := seedAB(t, s)

	_, err := s.Commit(context.Background(), batchABC(7))
	wantErr(t, "batch with stale IfMatch", err, ErrConflict)

	assertUntouched(t, s, seq)

	recs := mustCommit(t, s, batchABC(1)...)
	if got := versions(recs); !slices.Equal(got, []int64{2, 2, 1}) {
		t.Fatalf("batch versions %v, want [2 2 1]", got)
	}

	if recs[0].Seq != recs[2].Seq || recs[0].Seq <= seq || !recs[0].LastUpdated.Equal(recs[2].LastUpdated) {
		t.Fatalf("batch records do not share one commit: %+v", recs)
	}

	ch := allChanges(t, s, seq)
	if len(ch) != 1 || len(ch[0].Entries) != 3 || ch[0].Seq != recs[0].Seq {
		t.Fatalf("feed after batch: %+v, want one change with 3 entries", ch)
	}

	want := ChangeEntry{Type: "Patient", ID: "c", VersionID: 1}
	if ch[0].Entries[2] != want || !ch[0].Time.Equal(recs[0].LastUpdated) {
		t.Fatalf("feed entry %+v at %v, want %+v at %v", ch[0].Entries[2], ch[0].Time, want, recs[0].LastUpdated)
	}
}

// crashAt makes the next commit of s stop after step k, as if its process died.
func crashAt(s *Store, k int) {
	s.afterStep = func(_ int64, step int) error {
		if step == k {
			return fmt.Errorf("after step %d: %w", k, errInjected)
		}

		return nil
	}
}

func TestCommitMeetsCommittedUnappliedVersion(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	seq := seedAB(t, s)

	// A commit writes a and b version 2 and dies right after its commit point.
	crashAt(s, stepCommit)

	_, err := s.Commit(ctx, []Write{putW("Patient", "a", patient("a", "crashed")), putW("Patient", "b", patient("b", "crashed"))})
	wantErr(t, "crashed commit", err, errInjected)

	s.afterStep = nil

	// A batch expecting b at version 1 reads 1 as current, then finds version 2
	// claimed by a committed commit: it must fail whole, after applying that commit.
	_, err = s.Commit(ctx, batchABC(1))
	wantErr(t, "batch against committed version", err, ErrConflict)

	_, err = s.Read(ctx, "Patient", "c")
	wantErr(t, "c", err, ErrNotFound)

	if n := countDocs(t, s, "Patient_history"); n != 4 {
		t.Fatalf("history holds %d documents, want 4 (a1, b1, a2, b2)", n)
	}

	// The feed delivers the dead commit, finishing it first.
	ch := allChanges(t, s, seq)
	if len(ch) != 1 || len(ch[0].Entries) != 2 || ch[0].Entries[1].ID != "b" {
		t.Fatalf("feed: %+v, want only the crashed commit", ch)
	}

	for _, id := range []string{"a", "b"} {
		if rec := mustRead(t, s, "Patient", id); rec.VersionID != 2 || !bytesContain(rec.JSON, "crashed") {
			t.Fatalf("%s: current %+v %s, want the crashed commit's version 2", id, rec, rec.JSON)
		}
	}

	if n := pendingLeft(t, s); n != 0 {
		t.Fatalf("%d pending records left, want 0", n)
	}
}

func TestCommitMeetsDeadClaim(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	seq := seedAB(t, s)

	// A commit claims b version 2 and dies before its commit point.
	crashAt(s, stepClaims)

	_, err := s.Commit(ctx, []Write{putW("Patient", "b", patient("b", "crashed"))})
	wantErr(t, "crashed commit", err, errInjected)

	s.afterStep = nil

	if n := countDocs(t, s, "Patient_history"); n != 3 {
		t.Fatalf("history holds %d documents, want 3 with the dead claim", n)
	}

	// The dead claim is not a version: readers do not see it.
	_, err = s.ReadVersion(ctx, "Patient", "b", 2)
	wantErr(t, "dead claim", err, ErrNotFound)

	if !testClient.Embedded() {
		// On MongoDB another process's commit is only given up on after the timeout.
		skipGapTimeout(t)
	}

	// The next writer fences the dead commit, removes its claim and succeeds.
	recs := mustCommit(t, s, batchABC(1)...)
	if got := versions(recs); !slices.Equal(got, []int64{2, 2, 1}) {
		t.Fatalf("batch versions %v, want [2 2 1]", got)
	}

	if rec := mustRead(t, s, "Patient", "b"); rec.VersionID != 2 || string(rec.JSON) == "" || !bytesContain(rec.JSON, "B2") {
		t.Fatalf("b: got %+v %s, want the batch's version 2", rec, rec.JSON)
	}

	ch := allChanges(t, s, seq)
	if len(ch) != 1 || ch[0].Seq != recs[0].Seq {
		t.Fatalf("feed: %+v, want only the batch", ch)
	}
}

// TestFailureInjectionRecovery stops a commit after each step in turn, reopens the
// store as a restarted process would, and checks that recovery leaves all of it or
// none of it.
func TestFailureInjectionRecovery(t *testing.T) {
	for step := stepSeq; step <= stepDone; step++ {
		t.Run(fmt.Sprintf("after step %d", step), func(t *testing.T) {
			dir := t.TempDir()
			name := newStoreName()
			ctx := context.Background()

			c := openOwnClient(t, dir)
			s := openStore(t, c, name)
			seq := seedAB(t, s)

			crashAt(s, step)

			_, err := s.Commit(ctx, batchABC(1))
			wantErr(t, "crashed commit", err, errInjected)

			if err := c.Close(ctx); err != nil {
				t.Fatalf("Close: %v", err)
			}

			c = openOwnClient(t, dir)
			defer c.Close(ctx)

			s = openStore(t, c, name)

			if n := pendingLeft(t, s); n != 0 {
				t.Fatalf("after recovery: %d pending commits, want 0", n)
			}

			committed := step >= stepCommit
			if !committed {
				assertUntouched(t, s, seq)
			} else {
				for id, want := range map[string]int64{"a": 2, "b": 2, "c": 1} {
					if rec := mustRead(t, s, "Patient", id); rec.VersionID != want {
						t.Fatalf("%s: current version %d, want %d", id, rec.VersionID, want)
					}

					hist, err := s.History(ctx, "Patient", id)
					if err != nil || len(hist) != int(want) {
						t.Fatalf("%s: history %v, %v", id, versions(hist), err)
					}
				}

				ch := allChanges(t, s, seq)
				if len(ch) != 1 || len(ch[0].Entries) != 3 {
					t.Fatalf("feed: %+v, want the recovered commit", ch)
				}
			}

			// Nothing left behind blocks the next writer.
			next := int64(2)
			if committed {
				next = 3
			}

			if rec := mustPut(t, s, "Patient", "b", patient("b", "next")); rec.VersionID != next {
				t.Fatalf("put after recovery: version %d, want %d", rec.VersionID, next)
			}

			if ch := allChanges(t, s, seq); len(ch) == 0 || ch[len(ch)-1].Entries[0].VersionID != next {
				t.Fatalf("feed after put: %+v", ch)
			}
		})
	}
}

func TestCommitErrorsAreWrapped(t *testing.T) {
	s := newTestStore(t)
	mustPut(t, s, "Patient", "p1", patient("p1", "A"))

	_, err := s.Commit(context.Background(), []Write{{Op: OpPut, Type: "Patient", ID: "p1", IfMatch: 5, Resource: patient("p1", "B")}})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("got %v, want ErrConflict", err)
	}

	for _, want := range []string{"Patient/p1", "expected version 5", "current 1"} {
		if !bytesContain([]byte(err.Error()), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func bytesContain(b []byte, s string) bool { return strings.Contains(string(b), s) }

// skipGapTimeout moves the suite's clock past the gap timeout until t ends: commits that
// died now count as dead on MongoDB.
func skipGapTimeout(t *testing.T) {
	d := testClient.gapTimeout + time.Millisecond
	testClock.advance(d)
	t.Cleanup(func() { testClock.advance(-d) })
}
