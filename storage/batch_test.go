package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
)

// TestCommitErrorsNameTheWrite checks that every kind of error about one write of a commit
// names that write's index, type and id, and that a validator refusing several writes is
// reported for each of them.
func TestCommitErrorsNameTheWrite(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	mustPut(t, s, "Patient", "a", patient("a", "A"))
	mustCommit(t, s, putW("Patient", "gone", patient("gone", "G")))
	mustCommit(t, s, Write{Op: OpDelete, Type: "Patient", ID: "gone"})

	ok := func(id string) Write { return putW("Patient", id, patient(id, "ok")) }
	cases := []struct {
		name string
		bad  Write
		want error
	}{
		{"malformed id", putW("Patient", "bad id", patient("x", "B")), ErrInvalid},
		{"stale IfMatch", Write{Op: OpPut, Type: "Patient", ID: "a", IfMatch: 9, Resource: patient("a", "B")}, ErrConflict},
		{"create over current", Write{Op: OpCreate, Type: "Patient", ID: "a", Resource: patient("a", "B")}, ErrExists},
		{"delete of nothing", Write{Op: OpDelete, Type: "Patient", ID: "never"}, ErrNotFound},
		{"delete of deleted", Write{Op: OpDelete, Type: "Patient", ID: "gone"}, ErrDeleted},
		{"invalid JSON", putW("Patient", "j", res(`{"resourceType":"Patient",}`)), ErrInvalid},
		{"bad type", putW("patient", "t", patient("t", "B")), ErrInvalid},
	}
	for _, c := range cases {
		_, err := s.Commit(ctx, []Write{ok("ok1"), ok("ok2"), c.bad, ok("ok3")})
		wantErr(t, c.name, err, c.want)
		we := WriteErrors(err)
		if len(we) != 1 || we[0].Index != 2 || we[0].Type != c.bad.Type || we[0].ID != c.bad.ID {
			t.Errorf("%s: write errors %+v, want one for write 2 (%s/%s)", c.name, we, c.bad.Type, c.bad.ID)
		}
	}

	// A validator refusing several writes of a large commit (validated on all cores): each is named.
	s.SetValidator(&refusingValidator{})
	defer s.SetValidator(nil)
	var writes []Write
	var refused []int
	for i := range 100 {
		body := fmt.Sprintf(`{"resourceType":"Patient","id":"v%d"}`, i)
		if i%7 == 3 {
			body = fmt.Sprintf(`{"resourceType":"Patient","id":"v%d","gender":"refuse"}`, i)
			refused = append(refused, i)
		}
		writes = append(writes, putW("Patient", fmt.Sprintf("v%d", i), res(body)))
	}
	_, err := s.Commit(ctx, writes)
	if !errors.Is(err, errRefused) {
		t.Fatalf("commit: %v, want the validator's error", err)
	}
	var got []int
	for _, we := range WriteErrors(err) {
		got = append(got, we.Index)
	}
	if !slices.Equal(got, refused) {
		t.Errorf("refused writes %v, want %v (%d of 100)", got, refused, len(refused))
	}
	if _, err := s.Read(ctx, "Patient", "v0"); !errors.Is(err, ErrNotFound) {
		t.Errorf("v0 after a refused commit: %v, want not found", err)
	}
}

// TestCommitLargeBatch commits 1,000 new resources and updates of 200 existing ones in one
// commit: every version is current and in history, the change feed holds one change, and the
// new current documents cost a round trip per type, not one per resource. (On the embedded
// engine, 200 replaces in one update command used to wait forever for a SQLite connection:
// see replacesPerCommand.)
func TestCommitLargeBatch(t *testing.T) {
	s := newTestStore(t)
	const nNew, nOld = 1000, 200

	var seedW []Write
	for i := range nOld {
		id := fmt.Sprintf("old%d", i)
		seedW = append(seedW, putW("Patient", id, patient(id, "v1")))
	}
	seed := mustCommit(t, s, seedW...)

	var writes []Write
	for i := range nNew {
		typ := []string{"Patient", "Observation"}[i%2]
		id := fmt.Sprintf("new%d", i)
		writes = append(writes, putW(typ, id, res(`{"resourceType":"`+typ+`","id":"`+id+`"}`)))
	}
	for i := range nOld {
		id := fmt.Sprintf("old%d", i)
		writes = append(writes, putW("Patient", id, patient(id, "v2")))
	}

	var recs []*Record
	cmds := countCommands(func() { recs = mustCommit(t, s, writes...) })

	for i, r := range recs {
		want := int64(1)
		if i >= nNew {
			want = 2
		}
		if r.VersionID != want || r.Seq != recs[0].Seq {
			t.Fatalf("record %d: %+v, want version %d of seq %d", i, r, want, recs[0].Seq)
		}
	}
	for _, i := range []int{0, 1, nNew - 1, nNew, nNew + nOld - 1} {
		w := writes[i]
		if got := mustRead(t, s, w.Type, w.ID); got.VersionID != recs[i].VersionID || string(got.JSON) != string(recs[i].JSON) {
			t.Errorf("%s/%s: current %d %s, want %d %s", w.Type, w.ID, got.VersionID, got.JSON, recs[i].VersionID, recs[i].JSON)
		}
	}
	if n := countDocs(t, s, "Patient_history"); n != nNew/2+2*nOld {
		t.Errorf("Patient history holds %d documents, want %d", n, nNew/2+2*nOld)
	}
	if n := countDocs(t, s, "Observation"); n != nNew/2 {
		t.Errorf("Observation holds %d current documents, want %d", n, nNew/2)
	}
	ch := allChanges(t, s, seed[0].Seq)
	if len(ch) != 1 || len(ch[0].Entries) != nNew+nOld {
		t.Fatalf("feed: %d changes, want one of %d entries", len(ch), nNew+nOld)
	}
	// Inserts: the two types' claims and their new current documents (the driver may split a
	// batch, never per resource), the pending and journal records. Updates: the replaced
	// current documents, in commands of replacesPerCommand, and the sequence counter.
	maxUpdates := 2
	if n := s.c.be.replacesPerCommand(s); n > 0 {
		maxUpdates = (nOld+n-1)/n + 1
	}
	if cmds["insert"] > 8 || cmds["update"] > maxUpdates {
		t.Errorf("commands %v: want at most 8 inserts and %d updates for %d resources", cmds, maxUpdates, nNew+nOld)
	}
}

// TestApplyAllToleratesApplied applies a committed plan twice, as a process helping a
// commit along and the commit's own process may: the second apply keeps what the first wrote.
func TestApplyAllToleratesApplied(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	tc, err := s.colls(ctx, "Patient")
	if err != nil {
		t.Fatal(err)
	}
	recs := mustCommit(t, s, putW("Patient", "p", patient("p", "P")))
	plan := []*versionDoc{{Key: historyKey("p", 1), ID: "p", V: 1, TS: recs[0].LastUpdated, Seq: recs[0].Seq, JSON: string(recs[0].JSON)}}
	if err := s.applyAll(ctx, []*typeColls{tc}, plan, []*versionDoc{nil}); err != nil {
		t.Fatalf("apply again: %v", err)
	}
	if got := mustRead(t, s, "Patient", "p"); got.VersionID != 1 || string(got.JSON) != string(recs[0].JSON) {
		t.Errorf("after a second apply: %+v", got)
	}
}

func TestCheckpoints(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	type progress struct {
		Offset int64
		Types  map[string]int
	}
	var got progress
	if found, err := s.LoadCheckpoint(ctx, "imports", "k1", &got); found || err != nil {
		t.Fatalf("before any save: %v, %v", found, err)
	}
	for _, want := range []progress{{10, map[string]int{"Patient": 1}}, {20, map[string]int{"Patient": 2}}} {
		if err := s.SaveCheckpoint(ctx, "imports", "k1", want); err != nil {
			t.Fatal(err)
		}
		found, err := s.LoadCheckpoint(ctx, "imports", "k1", &got)
		if !found || err != nil || got.Offset != want.Offset || got.Types["Patient"] != want.Types["Patient"] {
			t.Errorf("load after save %+v: %+v, %v, %v", want, got, found, err)
		}
	}
	if found, _ := s.LoadCheckpoint(ctx, "imports", "k2", &got); found {
		t.Error("another key found")
	}
	for _, bad := range []string{"", "Imports", "_x", "a-b"} {
		wantErr(t, "kind "+bad, s.SaveCheckpoint(ctx, bad, "k", 1), ErrInvalid)
	}
}
