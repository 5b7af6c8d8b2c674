package embedded

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/storage/layout"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// directDocs are documents of every field type InsertDocs encodes, shaped like storage's
// history and current documents, with strings that JSON escapes.
func directDocs() []bson.D {
	ts := time.Date(2026, 11, 27, 2, 30, 0, 123e6, time.UTC)
	return []bson.D{
		{{Key: "_id", Value: "p1"}, {Key: "v", Value: int64(3)}, {Key: "ts", Value: ts}, {Key: "seq", Value: int64(1 << 40)},
			{Key: "json", Value: `{"resourceType":"Patient","name":[{"text":"<b>O'Brien & \"Sons\"</b> \\ é 日本 \u2028 \u2029 \n\t\b\f\u0001 >"}]}`},
			{Key: "ix", Value: bson.Binary{Subtype: 0, Data: []byte{0, 1, 2, 250, 251, 255}}},
			{Key: IndexField, Value: `[["gender","c","female",null,null,null,null],["birthdate",null,null,null,10,20,10]]`},
			{Key: "iv", Value: "7"}, {Key: "n32", Value: int32(-5)}, {Key: "del", Value: false},
			{Key: "raw", Value: "tab\tnl\ncr\rbs\bff\fctl\x01\x1f del\x7f ls\u2028 ps\u2029 <>& \"q\" \\ é"}},
		{{Key: "_id", Value: "p1/0000000002"}, {Key: "id", Value: "p1"}, {Key: "v", Value: int64(2)}, {Key: "ts", Value: ts.Add(-time.Hour)},
			{Key: "seq", Value: int64(7)}, {Key: "del", Value: true}},
		{{Key: "_id", Value: "e"}},
	}
}

// TestInsertDocsStoresAsFerretDB: documents InsertDocs writes straight into SQLite are stored
// byte for byte as FerretDB stores the same documents inserted through the driver, read back
// through the driver identically, field for field and type for type, and fill the search
// index through the triggers as FerretDB's inserts do.
func TestInsertDocsStoresAsFerretDB(t *testing.T) {
	ctx, e, mc := startEngine(t)
	db := mc.Database("direct")
	for _, c := range []string{"viaFerret", "viaSQL"} {
		if err := db.CreateCollection(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := e.IndexSearch(ctx, "direct", c); err != nil {
			t.Fatal(err)
		}
	}

	docs := directDocs()
	var raws []bson.Raw
	var anys []any
	for _, d := range docs {
		b, err := bson.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		raws, anys = append(raws, b), append(anys, d)
	}
	if _, err := db.Collection("viaFerret").InsertMany(ctx, anys); err != nil {
		t.Fatal(err)
	}
	if dup, err := e.InsertDocs(ctx, "direct", "viaSQL", raws, nil, false); err != nil || dup {
		t.Fatalf("InsertDocs: dup %v, %v", dup, err)
	}

	stored := func(coll string) []string {
		t.Helper()
		sdb, table, err := e.sqliteTable(ctx, "direct", coll)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := sdb.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM %q ORDER BY rowid`, sqliteDocColumn, table))
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}
	want, got := stored("viaFerret"), stored("viaSQL")
	if len(want) != len(docs) || len(got) != len(docs) {
		t.Fatalf("stored %d rows through FerretDB and %d directly, want %d each", len(want), len(got), len(docs))
	}
	for i := range docs {
		if got[i] != want[i] {
			t.Errorf("document %d stored directly as\n%s\nFerretDB stores it as\n%s", i, got[i], want[i])
		}
	}

	// Read back through FerretDB: the same BSON, which has the types of the original.
	for i, d := range docs {
		id := d[0].Value
		var a, b bson.Raw
		if err := db.Collection("viaFerret").FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&a); err != nil {
			t.Fatal(err)
		}
		if err := db.Collection("viaSQL").FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&b); err != nil {
			t.Fatal(err)
		}
		if string(a) != string(b) || string(b) != string(raws[i]) {
			t.Errorf("document %d reads back through the driver as %v, FerretDB's as %v, inserted %v", i, b, a, raws[i])
		}
	}

	ixRows := func(coll string) string { return strings.Join(storedIndexRows(t, e, "direct", coll, ""), "; ") }
	if got, want := ixRows("viaSQL"), ixRows("viaFerret"); got != want || !strings.Contains(got, "'p1' 1 'birthdate' NULL NULL NULL 10 20 10") {
		t.Errorf("index rows of the direct insert: %s; of FerretDB's: %s", got, want)
	}
}

// TestInsertDocsDuplicates: a taken _id makes an insert without skipDups insert nothing and
// report it, and one with skipDups insert the others and leave the taken one as it was.
func TestInsertDocsDuplicates(t *testing.T) {
	ctx, e, mc := startEngine(t)
	coll := mc.Database("dups").Collection("c")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}, {Key: "v", Value: int64(1)}}); err != nil {
		t.Fatal(err)
	}
	doc := func(id string, v int64) bson.Raw {
		b, err := bson.Marshal(bson.D{{Key: "_id", Value: id}, {Key: "v", Value: v}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// More than one statement's worth, the duplicate in the second statement.
	var docs []bson.Raw
	for i := range insertRows + 10 {
		docs = append(docs, doc(fmt.Sprintf("n%03d", i), 2))
	}
	docs = append(docs, doc("a", 2))

	dup, err := e.InsertDocs(ctx, "dups", "c", docs, nil, false)
	if err != nil || !dup {
		t.Fatalf("insert with a taken _id: dup %v, %v; want a duplicate", dup, err)
	}
	if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != 1 {
		t.Fatalf("%d documents after a failed insert (%v), want the 1 there before", n, err)
	}

	dup, err = e.InsertDocs(ctx, "dups", "c", docs, nil, true)
	if err != nil || dup {
		t.Fatalf("insert skipping duplicates: dup %v, %v", dup, err)
	}
	if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != int64(len(docs)) {
		t.Fatalf("%d documents after skipping the duplicate (%v), want %d", n, err, len(docs))
	}
	var a struct{ V int64 }
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "a"}}).Decode(&a); err != nil || a.V != 1 {
		t.Errorf("taken document after skipDups: v %d (%v), want 1", a.V, err)
	}

	bad, _ := bson.Marshal(bson.D{{Key: "_id", Value: "x"}, {Key: "sub", Value: bson.D{{Key: "k", Value: 1.5}}}})
	if _, err := e.InsertDocs(ctx, "dups", "c", []bson.Raw{bad}, nil, false); err == nil || !strings.Contains(err.Error(), "does not encode") {
		t.Errorf("insert of a nested document: %v, want an error saying it is not encoded", err)
	}
}

// TestInsertDocsWithRows: documents inserted with their index rows get those rows in the
// search index, typed as given, and nothing from the triggers; a document skipped as a
// duplicate keeps its own rows, not the ones given with the skipped copy (the batch is then
// inserted a document at a time); and an insert that fails on a duplicate writes no row.
func TestInsertDocsWithRows(t *testing.T) {
	ctx, e, mc := startEngine(t)
	db := mc.Database("rows")
	if err := db.CreateCollection(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if err := e.IndexSearch(ctx, "rows", "c"); err != nil {
		t.Fatal(err)
	}
	// "a" through FerretDB: its rows come from its JSON entries, by the triggers.
	if _, err := db.Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}, {Key: IndexField, Value: `[["code","c","old","sys",null,null,"old"]]`}}); err != nil {
		t.Fatal(err)
	}

	var docs []bson.Raw
	var rows [][]layout.IndexRow
	for i := range insertRows + 10 {
		id := fmt.Sprintf("n%03d", i)
		b, _ := bson.Marshal(bson.D{{Key: "_id", Value: id}, {Key: "v", Value: int64(i)}})
		docs = append(docs, b)
		rows = append(rows, []layout.IndexRow{
			{"code", "c", id, "sys", nil, nil, id},
			{"date", nil, nil, nil, int64(i), float64(i) + 0.5, int64(i)},
			{"od.date", "o", nil, nil, nil, nil, 1.25},
		})
	}
	// A taken id in the second statement, with rows of its own, and one without rows.
	a, _ := bson.Marshal(bson.D{{Key: "_id", Value: "a"}})
	z, _ := bson.Marshal(bson.D{{Key: "_id", Value: "z"}})
	docs = append(docs, a, z)
	rows = append(rows, []layout.IndexRow{{"code", "c", "new", "sys", nil, nil, "new"}}, nil)

	ixRows := func(where string) []string { return storedIndexRows(t, e, "rows", "c", where) }

	if dup, err := e.InsertDocs(ctx, "rows", "c", docs, rows, false); err != nil || !dup {
		t.Fatalf("insert with a taken _id: dup %v, %v; want a duplicate", dup, err)
	}
	if got := ixRows(""); len(got) != 1 || got[0] != "'a' 0 'code' 'c' 'old' 'sys' NULL NULL 'old'" {
		t.Fatalf("index after a failed insert: %q, want only a's old row", got)
	}

	if dup, err := e.InsertDocs(ctx, "rows", "c", docs, rows, true); err != nil || dup {
		t.Fatalf("insert skipping duplicates: dup %v, %v", dup, err)
	}
	if n, err := db.Collection("c").CountDocuments(ctx, bson.D{}); err != nil || n != int64(len(docs)) {
		t.Fatalf("%d documents (%v), want %d", n, err, len(docs))
	}
	got := ixRows("")
	if len(got) != 1+3*(insertRows+10) {
		t.Fatalf("%d index rows, want %d", len(got), 1+3*(insertRows+10))
	}
	if got := ixRows("WHERE id = 'a'"); len(got) != 1 || !strings.Contains(got[0], "'old'") {
		t.Errorf("rows of the skipped duplicate: %q, want its own old row", got)
	}
	if got := ixRows("WHERE id = 'z'"); len(got) != 0 {
		t.Errorf("rows of a document given none: %q", got)
	}
	want := []string{
		"'n107' 0 'code' 'c' 'n107' 'sys' NULL NULL 'n107'",
		"'n107' 1 'date' NULL NULL NULL 107 107.5 107",
		"'n107' 2 'od.date' 'o' NULL NULL NULL NULL 1.25",
	}
	if got := ixRows("WHERE id = 'n107'"); strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("rows of n107:\n%q\nwant\n%q", got, want)
	}

	if _, err := e.InsertDocs(ctx, "rows", "c", docs[:2], rows[:1], false); err == nil {
		t.Error("an insert with fewer sets of rows than documents succeeded")
	}
}

// TestDeleteDocs: DeleteDocs deletes the documents with the given ids and no other, their
// search index rows with them (the delete trigger), and refuses an id it cannot quote.
func TestDeleteDocs(t *testing.T) {
	ctx, e, mc := startEngine(t)
	db := mc.Database("del")
	if err := db.CreateCollection(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if err := e.IndexIDs(ctx, "del", "c"); err != nil {
		t.Fatal(err)
	}
	if err := e.IndexSearch(ctx, "del", "c"); err != nil {
		t.Fatal(err)
	}
	var docs []bson.Raw
	var rows [][]layout.IndexRow
	for _, id := range []string{"0000000001", "0000000002", "a/b-c.d_e", "keep"} {
		b, _ := bson.Marshal(bson.D{{Key: "_id", Value: id}})
		docs, rows = append(docs, b), append(rows, []layout.IndexRow{{"p", "c", id, nil, nil, nil, nil}})
	}
	if _, err := e.InsertDocs(ctx, "del", "c", docs, rows, false); err != nil {
		t.Fatal(err)
	}

	n, err := e.DeleteDocs(ctx, "del", "c", []string{"0000000001", "a/b-c.d_e", "absent"})
	if err != nil || n != 2 {
		t.Fatalf("DeleteDocs: %d, %v; want 2 deleted", n, err)
	}
	var left []string
	cur, err := db.Collection("c").Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var got []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &got); err != nil {
		t.Fatal(err)
	}
	for _, d := range got {
		left = append(left, d.ID)
	}
	if strings.Join(left, ",") != "0000000002,keep" {
		t.Errorf("left %v, want 0000000002 and keep", left)
	}
	var ixIDs []string
	err = e.QueryIndex(ctx, "del", "c", "SELECT id FROM {{ix}} ORDER BY id", nil, func(r *sql.Rows) error {
		var id string
		ixIDs = append(ixIDs, id)
		return r.Scan(&ixIDs[len(ixIDs)-1])
	})
	if err != nil || strings.Join(ixIDs, ",") != "0000000002,keep" {
		t.Errorf("index rows of %v (%v), want those of 0000000002 and keep", ixIDs, err)
	}

	for _, bad := range []string{`a"b`, `a\b`, "a b", "é"} {
		if _, err := e.DeleteDocs(ctx, "del", "c", []string{bad}); err == nil {
			t.Errorf("DeleteDocs(%q) succeeded", bad)
		}
	}
}

// storedIndexRows returns the search index rows of collection coll of dbName that match where
// (SQL, may be empty), in (id, n) order, each as its columns quoted by SQLite's quote(),
// which shows each value's type: 10, 10.0 and '10' differ.
func storedIndexRows(t *testing.T, e *Engine, dbName, coll, where string) []string {
	t.Helper()
	var out []string
	q := "SELECT quote(id), quote(n), quote(p), quote(f), quote(k), quote(s), quote(lo), quote(hi), quote(o) FROM {{ix}} " + where + " ORDER BY id, n"
	err := e.QueryIndex(context.Background(), dbName, coll, q, nil, func(r *sql.Rows) error {
		v := make([]string, 9)
		ptrs := make([]any, len(v))
		for i := range v {
			ptrs[i] = &v[i]
		}
		if err := r.Scan(ptrs...); err != nil {
			return err
		}
		out = append(out, strings.Join(v, " "))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
