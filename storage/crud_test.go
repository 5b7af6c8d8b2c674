package storage

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestPutReadExactBytes(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()

	// Decimal precision, key order, unicode and an extension must survive as sent.
	body := `{"resourceType":"Observation","id":"o1","status":"final","valueQuantity":{"value":1.50,"unit":"mg"},` +
		`"_status":{"extension":[{"url":"http://x","valueDecimal":0.10}]},"note":[{"text":"café \u00e9"}]}`
	r := res(body)

	before := time.Now().UTC().Add(-time.Millisecond)
	rec := mustPut(t, s, "Observation", "o1", r)

	if rec.VersionID != 1 || rec.Deleted || rec.Type != "Observation" || rec.ID != "o1" {
		t.Fatalf("put: got %+v, want version 1 of Observation/o1", rec)
	}

	if rec.LastUpdated.Location() != time.UTC || rec.LastUpdated.Nanosecond()%int(time.Millisecond) != 0 ||
		rec.LastUpdated.Before(before) || rec.LastUpdated.After(time.Now().Add(time.Second)) {
		t.Fatalf("put: LastUpdated %v is not a UTC millisecond instant of now", rec.LastUpdated)
	}

	if r.versionID != "1" || !r.lastUpdated.Equal(rec.LastUpdated) {
		t.Fatalf("StampMeta got (%q, %v), want (1, %v)", r.versionID, r.lastUpdated, rec.LastUpdated)
	}

	want := r.withMeta("1", rec.LastUpdated)

	got := mustRead(t, s, "Observation", "o1")
	if string(got.JSON) != want {
		t.Fatalf("read JSON:\n got %s\nwant %s", got.JSON, want)
	}

	if !got.LastUpdated.Equal(rec.LastUpdated) || got.VersionID != 1 || got.Seq != rec.Seq || got.Seq < 1 {
		t.Fatalf("read: got %+v, want version 1 at %v seq %d", got, rec.LastUpdated, rec.Seq)
	}

	v1, err := s.ReadVersion(ctx, "Observation", "o1", 1)
	if err != nil || string(v1.JSON) != want {
		t.Fatalf("ReadVersion(1): %v, %s", err, v1.JSON)
	}
}

func TestVersionsAndHistory(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()

	var bodies []string

	for i := 1; i <= 3; i++ {
		r := patient("p1", fmt.Sprintf("Family%d", i))

		rec := mustPut(t, s, "Patient", "p1", r)
		if rec.VersionID != int64(i) {
			t.Fatalf("put %d: got version %d", i, rec.VersionID)
		}

		bodies = append(bodies, r.withMeta(fmt.Sprint(i), rec.LastUpdated))
	}

	del := mustCommit(t, s, Write{Op: OpDelete, Type: "Patient", ID: "p1"})[0]
	if del.VersionID != 4 || !del.Deleted || del.JSON != nil {
		t.Fatalf("delete: got %+v, want tombstone version 4", del)
	}

	r5 := patient("p1", "Family5")
	if rec := mustPut(t, s, "Patient", "p1", r5); rec.VersionID != 5 {
		t.Fatalf("put after delete: got version %d, want 5", rec.VersionID)
	}

	hist, err := s.History(ctx, "Patient", "p1")
	if err != nil {
		t.Fatalf("History: %v", err)
	}

	if got, want := versions(hist), []int64{5, 4, 3, 2, 1}; !slices.Equal(got, want) {
		t.Fatalf("History versions: got %v, want %v", got, want)
	}

	if !hist[1].Deleted || hist[1].JSON != nil || hist[0].Deleted {
		t.Fatalf("History: tombstone flags wrong: %+v / %+v", hist[0], hist[1])
	}

	for i := 1; i <= 3; i++ {
		if got := string(hist[5-i].JSON); got != bodies[i-1] {
			t.Fatalf("History version %d: got %s, want %s", i, got, bodies[i-1])
		}

		rec, err := s.ReadVersion(ctx, "Patient", "p1", int64(i))
		if err != nil || string(rec.JSON) != bodies[i-1] {
			t.Fatalf("ReadVersion(%d): %v %s", i, err, rec.JSON)
		}
	}

	for i := 1; i < len(hist); i++ {
		if hist[i].Seq >= hist[i-1].Seq || hist[i].LastUpdated.After(hist[i-1].LastUpdated) {
			t.Fatalf("History not newest first by seq and time: %+v before %+v", hist[i-1], hist[i])
		}
	}

	tomb, err := s.ReadVersion(ctx, "Patient", "p1", 4)
	wantErr(t, "ReadVersion(4)", err, ErrDeleted)

	if tomb == nil || !tomb.Deleted || tomb.VersionID != 4 {
		t.Fatalf("ReadVersion(4): got %+v, want the tombstone", tomb)
	}

	_, err = s.ReadVersion(ctx, "Patient", "p1", 6)
	wantErr(t, "ReadVersion(6)", err, ErrNotFound)

	_, err = s.History(ctx, "Patient", "nope")
	wantErr(t, "History(nope)", err, ErrNotFound)
}

func TestIfMatchConflict(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()

	mustPut(t, s, "Patient", "p1", patient("p1", "A"))

	rec := mustCommit(t, s, Write{Op: OpPut, Type: "Patient", ID: "p1", IfMatch: 1, Resource: patient("p1", "B")})[0]
	if rec.VersionID != 2 {
		t.Fatalf("IfMatch 1: got version %d, want 2", rec.VersionID)
	}

	for _, w := range []Write{
		{Op: OpPut, Type: "Patient", ID: "p1", IfMatch: 1, Resource: patient("p1", "C")},
		{Op: OpDelete, Type: "Patient", ID: "p1", IfMatch: 3},
		{Op: OpPut, Type: "Patient", ID: "absent", IfMatch: 1, Resource: patient("absent", "C")},
	} {
		_, err := s.Commit(ctx, []Write{w})
		wantErr(t, fmt.Sprintf("%s %s IfMatch %d", w.Op, w.ID, w.IfMatch), err, ErrConflict)
	}

	if got := mustRead(t, s, "Patient", "p1"); got.VersionID != 2 {
		t.Fatalf("after conflicts: current version %d, want 2", got.VersionID)
	}

	_, err := s.Read(ctx, "Patient", "absent")
	wantErr(t, "Read(absent)", err, ErrNotFound)
}

func TestCreate(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()

	create := func(id string) ([]*Record, error) {
		return s.Commit(ctx, []Write{{Op: OpCreate, Type: "Patient", ID: id, Resource: patient(id, "A")}})
	}

	recs, err := create("p1")
	if err != nil || recs[0].VersionID != 1 {
		t.Fatalf("create: %v %v", recs, err)
	}

	_, err = create("p1")
	wantErr(t, "create existing", err, ErrExists)

	hist, _ := s.History(ctx, "Patient", "p1")
	if len(hist) != 1 {
		t.Fatalf("failed create left %d versions, want 1", len(hist))
	}

	// A create over a tombstone continues the version numbers.
	mustCommit(t, s, Write{Op: OpDelete, Type: "Patient", ID: "p1"})

	recs, err = create("p1")
	if err != nil || recs[0].VersionID != 3 {
		t.Fatalf("create over tombstone: %v %v, want version 3", recs, err)
	}
}

func TestConcurrentUnconditionalPuts(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()

	first := mustPut(t, s, "Patient", "hot", patient("hot", "v0"))

	// On MongoDB, half the writers go through a second client, standing for a second
	// process: in-process locks cannot order them, only the protocol can. (A FerretDB
	// server reached by URI supports one process only: its updates are not atomic.)
	stores := []*Store{s}
	if os.Getenv("MONGODB_URI") != "" {
		other := openOwnClient(t, "")
		other.gapTimeout = defaultGapTimeout
		defer other.Close(ctx)

		stores = append(stores, openStore(t, other, s.name))
	}

	const writers = 50

	var wg sync.WaitGroup

	errs := make(chan error, writers)
	got := make(chan int64, writers)

	for i := range writers {
		wg.Go(func() {
			recs, err := stores[i%len(stores)].Commit(ctx, []Write{putW("Patient", "hot", patient("hot", fmt.Sprintf("w%d", i)))})
			if err != nil {
				errs <- err
				return
			}
			got <- recs[0].VersionID
		})
	}

	wg.Wait()
	close(errs)
	close(got)

	for err := range errs {
		t.Fatalf("concurrent put: %v", err)
	}

	var vs []int64
	for v := range got {
		vs = append(vs, v)
	}

	slices.Sort(vs)

	for i, v := range vs {
		if v != int64(i+2) {
			t.Fatalf("returned versions %v: want each of 2..%d exactly once", vs, writers+1)
		}
	}

	hist, err := s.History(ctx, "Patient", "hot")
	if err != nil {
		t.Fatalf("History: %v", err)
	}

	if len(hist) != writers+1 || hist[0].VersionID != writers+1 {
		t.Fatalf("History: %d versions, newest %d; want %d", len(hist), hist[0].VersionID, writers+1)
	}

	if cur := mustRead(t, s, "Patient", "hot"); cur.VersionID != writers+1 {
		t.Fatalf("current version %d, want %d", cur.VersionID, writers+1)
	}

	// The feed has every version once, in version order.
	var feed []int64
	for _, c := range allChanges(t, s, first.Seq-1) {
		for _, e := range c.Entries {
			feed = append(feed, e.VersionID)
		}
	}

	if len(feed) != writers+1 || !slices.IsSorted(feed) || feed[0] != 1 || feed[writers] != writers+1 {
		t.Fatalf("change feed versions %v: want 1..%d ascending", feed, writers+1)
	}
}

func TestDelete(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()

	mustPut(t, s, "Patient", "p1", patient("p1", "A"))
	mustCommit(t, s, Write{Op: OpDelete, Type: "Patient", ID: "p1"})

	rec, err := s.Read(ctx, "Patient", "p1")
	wantErr(t, "read deleted", err, ErrDeleted)

	if rec == nil || !rec.Deleted || rec.VersionID != 2 || rec.JSON != nil {
		t.Fatalf("read deleted: got %+v, want tombstone version 2", rec)
	}

	_, err = s.Commit(ctx, []Write{{Op: OpDelete, Type: "Patient", ID: "p1"}})
	wantErr(t, "delete deleted", err, ErrDeleted)

	_, err = s.Commit(ctx, []Write{{Op: OpDelete, Type: "Patient", ID: "never"}})
	wantErr(t, "delete absent", err, ErrNotFound)

	hist, err := s.History(ctx, "Patient", "p1")
	if err != nil || !slices.Equal(versions(hist), []int64{2, 1}) {
		t.Fatalf("history after delete: %v, %v", versions(hist), err)
	}

	if rec := mustPut(t, s, "Patient", "p1", patient("p1", "B")); rec.VersionID != 3 {
		t.Fatalf("put after delete: version %d, want 3", rec.VersionID)
	}

	if rec := mustRead(t, s, "Patient", "p1"); rec.VersionID != 3 || rec.Deleted {
		t.Fatalf("read after re-put: %+v", rec)
	}
}

// TestWriteKinds checks that every version records the kind of write that made it, read
// back by every read, and that a patch needs a live resource.
func TestWriteKinds(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()

	_, err := s.Commit(ctx, []Write{{Op: OpPatch, Type: "Patient", ID: "p1", Resource: patient("p1", "A")}})
	wantErr(t, "patch absent", err, ErrNotFound)

	writes := []Write{
		{Op: OpCreate, Type: "Patient", ID: "p1", Resource: patient("p1", "A")},
		{Op: OpPut, Type: "Patient", ID: "p1", Resource: patient("p1", "B")},
		{Op: OpPatch, Type: "Patient", ID: "p1", IfMatch: 2, Resource: patient("p1", "C")},
	}
	for _, w := range writes {
		if rec := mustCommit(t, s, w)[0]; rec.Op != w.Op {
			t.Errorf("%s: the commit's record says %s", w.Op, rec.Op)
		}
	}
	if rec := mustRead(t, s, "Patient", "p1"); rec.Op != OpPatch {
		t.Errorf("read: %s, want patch", rec.Op)
	}
	if recs, err := s.ReadMany(ctx, "Patient", []string{"p1"}); err != nil || recs["p1"] == nil || recs["p1"].Op != OpPatch {
		t.Errorf("read many: %v, %v", recs, err)
	}
	mustCommit(t, s, Write{Op: OpDelete, Type: "Patient", ID: "p1"})
	hist, err := s.History(ctx, "Patient", "p1")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, rec := range hist {
		kinds = append(kinds, rec.Op.String())
		if v, err := s.ReadVersion(ctx, "Patient", "p1", rec.VersionID); v == nil || v.Op != rec.Op {
			t.Errorf("version %d: %v, %v; history says %s", rec.VersionID, v, err, rec.Op)
		}
	}
	if want := []string{"delete", "patch", "put", "create"}; !slices.Equal(kinds, want) {
		t.Errorf("history: %v, want %v", kinds, want)
	}

	_, err = s.Commit(ctx, []Write{{Op: OpPatch, Type: "Patient", ID: "p1", Resource: patient("p1", "D")}})
	wantErr(t, "patch deleted", err, ErrDeleted)
}

func TestReadMany(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()

	var writes []Write
	for i := range 6 {
		id := fmt.Sprintf("p%d", i)
		writes = append(writes, putW("Patient", id, patient(id, "F")))
	}

	mustCommit(t, s, writes...)
	mustCommit(t, s, Write{Op: OpDelete, Type: "Patient", ID: "p5"})

	ids := []string{"p3", "p0", "missing", "p3", "p1", "p2", "p4", "p5", "bad/id"}

	var got map[string]*Record

	var err error

	cmds := countCommands(func() { got, err = s.ReadMany(ctx, "Patient", ids) })
	if err != nil {
		t.Fatalf("ReadMany: %v", err)
	}

	var keys []string
	for k, r := range got {
		keys = append(keys, k)
		if r.ID != k || r.VersionID != 1 || len(r.JSON) == 0 {
			t.Fatalf("ReadMany[%s] = %+v", k, r)
		}
	}

	slices.Sort(keys)

	if want := []string{"p0", "p1", "p2", "p3", "p4"}; !slices.Equal(keys, want) {
		t.Fatalf("ReadMany keys %v, want %v (missing, deleted and malformed ids absent)", keys, want)
	}

	// 7 distinct well-formed ids: one find with $in, no getMore, on MongoDB; one SQL
	// statement on the embedded engine.
	if want := readCommands(1); fmt.Sprint(cmds) != fmt.Sprint(want) {
		t.Fatalf("ReadMany sent %v, want %v", cmds, want)
	}

	// 3 ids of a 60-document collection: the same one command, where the embedded engine
	// once read through FerretDB would have scanned or sent one find per id.
	writes = writes[:0]
	for i := 6; i < 60; i++ {
		id := fmt.Sprintf("p%d", i)
		writes = append(writes, putW("Patient", id, patient(id, "F")))
	}
	mustCommit(t, s, writes...)
	cmds = countCommands(func() { got, err = s.ReadMany(ctx, "Patient", []string{"p10", "p20", "p30"}) })
	if err != nil || len(got) != 3 {
		t.Fatalf("ReadMany of 3: %d records, %v", len(got), err)
	}
	if want := readCommands(1); fmt.Sprint(cmds) != fmt.Sprint(want) {
		t.Fatalf("ReadMany of 3 of 60 sent %v, want %v", cmds, want)
	}

	got, err = s.ReadMany(ctx, "Patient", nil)
	if err != nil || len(got) != 0 {
		t.Fatalf("ReadMany(nil): %v, %v", got, err)
	}
}

func TestInvalidArguments(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()

	tests := []struct {
		name   string
		writes []Write
	}{
		{"lower-case type", []Write{putW("patient", "p1", patient("p1", "A"))}},
		{"id with slash", []Write{putW("Patient", "p/1", patient("p1", "A"))}},
		{"empty id", []Write{putW("Patient", "", patient("p1", "A"))}},
		{"no op", []Write{{Type: "Patient", ID: "p1", Resource: patient("p1", "A")}}},
		{"no resource", []Write{{Op: OpPut, Type: "Patient", ID: "p1"}}},
		{"negative IfMatch", []Write{{Op: OpPut, Type: "Patient", ID: "p1", IfMatch: -1, Resource: patient("p1", "A")}}},
		{"twice", []Write{putW("Patient", "p1", patient("p1", "A")), putW("Patient", "p1", patient("p1", "B"))}},
		{"bad JSON", []Write{putW("Patient", "p1", res(`{"broken":}`))}},
	}

	for _, tt := range tests {
		_, err := s.Commit(ctx, tt.writes)
		wantErr(t, tt.name, err, ErrInvalid)
	}

	if _, err := s.Read(ctx, "Patient", "p1"); err == nil {
		t.Fatal("an invalid commit wrote something")
	}

	for _, name := range []string{"", "UPPER", "has space", "a.b", "x123456789012345678901234567890123456789012"} {
		_, err := testClient.Datastore(ctx, name)
		wantErr(t, fmt.Sprintf("Datastore(%q)", name), err, ErrInvalid)
	}

	_, err := s.Changes(ctx, 0, 0)
	wantErr(t, "Changes limit 0", err, ErrInvalid)
}

func TestDatastores(t *testing.T) {
	ctx := context.Background()

	a, b := newTestStore(t), newTestStore(t)

	again, err := testClient.Datastore(ctx, a.name)
	if err != nil || again != a {
		t.Fatalf("Datastore(%q) again: %p, %v; want the cached %p", a.name, again, err, a)
	}

	mustPut(t, a, "Patient", "p1", patient("p1", "A"))

	_, err = b.Read(ctx, "Patient", "p1")
	wantErr(t, "read other tenant's resource", err, ErrNotFound)

	if a.db.Name() != "fhirgate_"+a.name {
		t.Fatalf("database name %q", a.db.Name())
	}

	if _, err := testClient.Datastore(ctx, DefaultDatastore); err != nil {
		t.Fatalf("default datastore: %v", err)
	}
}

// readCommands is what n reads of current documents by _id send: finds on MongoDB, SQL
// statements on the embedded engine, which storage reads directly (sqlread.go).
func readCommands(n int) map[string]int {
	if testClient.Embedded() {
		return map[string]int{"sql": n}
	}
	return map[string]int{"find": n}
}

// TestRoundTrips pins the commands that a read and a one-resource commit send, so
// that a change that adds round trips shows up here first.
func TestRoundTrips(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()

	mustPut(t, s, "Patient", "p1", patient("p1", "A"))

	if err := s.flushFinished(ctx); err != nil {
		t.Fatal(err)
	}

	if s.head+2 > s.reserved && testClient.Embedded() {
		mustPut(t, s, "Patient", "p1", patient("p1", "A")) // start a fresh block
	}

	read := countCommands(func() { mustRead(t, s, "Patient", "p1") })
	if want := readCommands(1); fmt.Sprint(read) != fmt.Sprint(want) {
		t.Errorf("Read sent %v, want %v", read, want)
	}

	// Read the current version; record the intent; claim the version; commit; apply.
	// On the embedded engine, the claim is inserted straight into SQLite.
	want := map[string]int{"insert": 2, "sql": 1, "sqlinsert": 1, "update": 1}
	if !testClient.Embedded() {
		// Plus the sequence counter and the pending record's removal, which the
		// embedded engine does from memory and in batches.
		want = map[string]int{"find": 1, "findAndModify": 1, "insert": 3, "update": 1, "delete": 1}
	}

	commit := countCommands(func() { mustPut(t, s, "Patient", "p1", patient("p1", "B")) })
	if fmt.Sprint(commit) != fmt.Sprint(want) {
		t.Errorf("Commit of one put sent %v, want %v", commit, want)
	}
}
