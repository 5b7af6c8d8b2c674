package storage

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestSearchPageInIDOrder checks an unfiltered search (a list without parameters), which the
// embedded engine reads from SQLite in one statement: _id order both ways, paging, deletes
// left out, and records equal to what Read returns.
func TestSearchPageInIDOrder(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()

	for _, id := range []string{"c", "a", "e", "b", "d", "f"} {
		mustPut(t, s, "Patient", id, patient(id, "F"+id))
	}
	mustPut(t, s, "Patient", "d", patient("d", "second version"))
	mustCommit(t, s, Write{Op: OpDelete, Type: "Patient", ID: "b"})

	for _, tc := range []struct {
		name string
		q    Query
		want []string
	}{
		{"all", Query{}, []string{"a", "c", "d", "e", "f"}},
		{"descending", Query{Sort: bson.D{{Key: "_id", Value: -1}}}, []string{"f", "e", "d", "c", "a"}},
		{"page", Query{Skip: 1, Limit: 2}, []string{"c", "d"}},
		{"page descending", Query{Sort: bson.D{{Key: "_id", Value: -1}}, Skip: 3, Limit: 5}, []string{"c", "a"}},
		{"past the end", Query{Skip: 5, Limit: 5}, nil},
	} {
		var recs []*Record
		var err error
		cmds := countCommands(func() { recs, err = s.Search(ctx, "Patient", tc.q) })
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var ids []string
		for _, r := range recs {
			ids = append(ids, r.ID)
			want := mustRead(t, s, "Patient", r.ID)
			if r.VersionID != want.VersionID || !r.LastUpdated.Equal(want.LastUpdated) || r.Seq != want.Seq ||
				string(r.JSON) != string(want.JSON) || r.Deleted {
				t.Errorf("%s: record %+v, Read gives %+v", tc.name, r, want)
			}
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("%s: ids %v, want %v", tc.name, ids, tc.want)
		}
		if want := readCommands(1); fmt.Sprint(cmds) != fmt.Sprint(want) {
			t.Errorf("%s: sent %v, want %v", tc.name, cmds, want)
		}
	}
	if d := mustRead(t, s, "Patient", "d"); d.VersionID != 2 {
		t.Errorf("d is at version %d, want 2", d.VersionID)
	}
}

// TestReadManyBeyondOneStatement reads more ids than one SQL statement binds: every record
// comes back with its fields, in as few statements as the batch size allows.
func TestReadManyBeyondOneStatement(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()

	n := sqlReadBatch + 100
	seed(t, s, "Patient", n)
	ids := make([]string, 0, n+1)
	for i := range n {
		ids = append(ids, fmt.Sprintf("r%d", i))
	}
	ids = append(ids, "absent")

	var got map[string]*Record
	var err error
	cmds := countCommands(func() { got, err = s.ReadMany(ctx, "Patient", ids) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("ReadMany returned %d records, want %d", len(got), n)
	}
	for _, id := range ids[:n] {
		r := got[id]
		want := `{"resourceType":"Patient","id":"` + id + `","value":1.50}`
		if r == nil || r.ID != id || r.VersionID != 1 || r.Seq != 1 || string(r.JSON) != want ||
			r.LastUpdated.Location() != time.UTC || time.Since(r.LastUpdated) > time.Hour {
			t.Fatalf("ReadMany[%s] = %+v", id, r)
		}
	}
	want := map[string]int{"find": 1}
	if testClient.Embedded() {
		want = map[string]int{"sql": 2}
	}
	if fmt.Sprint(cmds) != fmt.Sprint(want) {
		t.Errorf("ReadMany of %d ids sent %v, want %v", len(ids), cmds, want)
	}
}

// TestCountAllFromIndexes counts a type's live resources, deletions and re-creations
// included, with one statement that SQLite answers from indexes: of the documents, only the
// deleted ones are read.
func TestCountAllFromIndexes(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	for i := range 7 {
		mustPut(t, s, "Patient", fmt.Sprint("p", i), patient(fmt.Sprint("p", i), "F"))
	}
	for _, id := range []string{"p1", "p3", "p5"} {
		mustCommit(t, s, Write{Op: OpDelete, Type: "Patient", ID: id})
	}
	mustPut(t, s, "Patient", "p3", patient("p3", "back"))
	n, err := s.Count(ctx, "Patient", Query{})
	if err != nil || n != 5 {
		t.Fatalf("count %d, %v; want 5", n, err)
	}

	tc, err := s.colls(ctx, "Patient")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := s.explainSQL(ctx, tc, countAllSQL, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The table's count from its _id index; the deleted documents through their own index,
	// which reads only theirs (covering it since SQLite 3.50 or so).
	ok := len(plan) == 5 && strings.Contains(plan[2], "USING COVERING INDEX") && strings.HasSuffix(plan[2], "_fhirgate_id") &&
		strings.HasPrefix(plan[4], "SCAN d USING ") && strings.Contains(plan[4], "INDEX ") && strings.HasSuffix(plan[4], "_fhirgate_del")
	if !ok {
		t.Errorf("plan %q: want the table's count from its _id index, the deleted from theirs", plan)
	}
}
