package storage

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestEach streams every live resource of a type, past several batches, with its JSON;
// since and a filter narrow it; an error from the callback stops it.
func TestEach(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	const n = 3*eachBatch + 17
	writes := make([]Write, n)
	for i := range writes {
		writes[i] = putW("Patient", fmt.Sprintf("p%04d", i), patient(fmt.Sprintf("p%04d", i), "F"))
	}
	mustCommit(t, s, writes...)
	mustCommit(t, s, Write{Op: OpDelete, Type: "Patient", ID: "p0003"})
	time.Sleep(5 * time.Millisecond)
	mark := time.Now()
	time.Sleep(5 * time.Millisecond)
	mustPut(t, s, "Patient", "p0007", patient("p0007", "G"))

	seen := map[string]*Record{}
	if err := s.Each(ctx, "Patient", nil, time.Time{}, func(r *Record) error {
		if seen[r.ID] != nil {
			t.Errorf("%s twice", r.ID)
		}
		seen[r.ID] = r
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != n-1 || seen["p0003"] != nil {
		t.Fatalf("Each: %d resources (p0003 deleted: %v), want %d", len(seen), seen["p0003"] != nil, n-1)
	}
	for id, r := range seen {
		if len(r.JSON) == 0 || r.Deleted || r.Type != "Patient" {
			t.Fatalf("%s: %+v", id, r)
		}
	}
	if r := seen["p0007"]; r.VersionID != 2 || !bytesContain(r.JSON, `"family":"G"`) {
		t.Errorf("p0007: version %d, %s", r.VersionID, r.JSON)
	}

	var since []string
	if err := s.Each(ctx, "Patient", nil, mark, func(r *Record) error { since = append(since, r.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(since) != "[p0007]" {
		t.Errorf("since: %v, want [p0007]", since)
	}

	var filtered []string
	in := bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{"p0001", "p0003", "p0500"}}}}}
	if err := s.Each(ctx, "Patient", in, time.Time{}, func(r *Record) error { filtered = append(filtered, r.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(filtered) != 2 {
		t.Errorf("filter: %v, want p0001 and p0500", filtered)
	}

	if types, err := s.Types(ctx); err != nil || fmt.Sprint(types) != "[Patient]" {
		t.Errorf("Types: %v %v, want [Patient]", types, err)
	}

	stop := errors.New("stop")
	calls := 0
	if err := s.Each(ctx, "Patient", nil, time.Time{}, func(*Record) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Errorf("stopping: %v after %d calls", err, calls)
	}
	if err := s.Each(ctx, "patient", nil, time.Time{}, func(*Record) error { return nil }); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad type: %v", err)
	}
}
