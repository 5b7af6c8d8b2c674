package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestDirectInsertsReadAsFerretDBWrites: on the embedded engine, a commit inserts its history
// and new current documents straight into SQLite. Each such document, written again through
// the driver (so by FerretDB) into a collection of its own, is stored as the same text, and
// reads back the same, byte for byte and so type for type, through a driver find and through
// storage's SQL read.
func TestDirectInsertsReadAsFerretDBWrites(t *testing.T) {
	if !testClient.Embedded() {
		t.Skip("the direct inserts are the embedded engine's")
	}
	ctx := context.Background()
	s := newTestStore(t)
	const id = "direct1"
	mustPut(t, s, "Patient", id, res(`{"resourceType":"Patient","id":"`+id+`","name":[{"family":"O'Brien <&> \"é\" \u2028"}],"gender":"female","birthDate":"1970-01-02"}`))
	tc, err := s.colls(ctx, "Patient")
	if err != nil {
		t.Fatal(err)
	}

	checked := 0
	for _, c := range []struct {
		name  string
		table string
		key   string
	}{{"current", tc.cur.Name(), id}, {"history", tc.hist.Name(), historyKey(id, 1)}} {
		coll := s.db.Collection(c.table)
		var direct bson.Raw
		if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: c.key}}).Decode(&direct); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}

		viaFerret := s.db.Collection(c.table + "_viaFerret")
		if _, err := viaFerret.InsertOne(ctx, direct); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var again bson.Raw
		if err := viaFerret.FindOne(ctx, bson.D{{Key: "_id", Value: c.key}}).Decode(&again); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if string(again) != string(direct) {
			t.Errorf("%s: the driver reads the direct insert as %v, FerretDB's as %v", c.name, direct, again)
		}

		stored := func(coll string) string {
			var text string
			err := s.c.eng.QueryIndex(ctx, s.db.Name(), coll, "SELECT {{doc}} FROM {{t}} WHERE {{doc}}->>'$._id' = ?", []any{c.key}, func(r *sql.Rows) error {
				return r.Scan(&text)
			})
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			return text
		}
		if a, b := stored(c.table), stored(viaFerret.Name()); a != b || a == "" {
			t.Errorf("%s: stored directly as\n%s\nby FerretDB as\n%s", c.name, a, b)
		}

		if c.name == "current" {
			sqlRead := func(tc *typeColls) string {
				raws, ok, err := s.c.be.readCurrent(ctx, s, tc, []string{id}, true)
				if err != nil || !ok || len(raws) != 1 || raws[0] == nil {
					t.Fatalf("SQL read of %s: %v, %v, %d", tc.cur.Name(), err, ok, len(raws))
				}
				return raws[0].String()
			}
			if a, b := sqlRead(tc), sqlRead(&typeColls{typ: "Patient", cur: viaFerret, hist: tc.hist}); a != b {
				t.Errorf("storage's SQL read of the direct insert: %s; of FerretDB's: %s", a, b)
			}
		}
		checked++
	}
	if checked != 2 {
		t.Fatalf("checked %d documents, want 2", checked)
	}
}

// TestDirectInsertIndexRows: a commit's direct insert of a new current document writes its
// search index rows itself and leaves the entries' JSON (ij) out of the document. The rows
// are those FerretDB's triggers make from that JSON when the document is written through
// FerretDB (a reindex), value for value and type for type, and a replace through FerretDB
// (the next version) replaces them.
func TestDirectInsertIndexRows(t *testing.T) {
	if !testClient.Embedded() {
		t.Skip("the direct inserts are the embedded engine's")
	}
	ctx := context.Background()
	s := IndexedTestStore(t, codeIndexer{})
	const id = "o1"
	obs := func(code string) *testResource {
		return res(`{"resourceType":"Observation","id":"` + id + `","code":"` + code + `"}`)
	}
	mustPut(t, s, "Observation", id, obs("1234-5"))
	tc, err := s.colls(ctx, "Observation")
	if err != nil {
		t.Fatal(err)
	}

	query := func(q string) []string {
		t.Helper()
		var out []string
		err := s.c.eng.QueryIndex(ctx, s.db.Name(), tc.cur.Name(), q, []any{id}, func(r *sql.Rows) error {
			var v string
			if err := r.Scan(&v); err != nil {
				return err
			}
			out = append(out, v)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	rows := func() string {
		t.Helper()
		return strings.Join(query(`SELECT quote(n)||' '||quote(p)||' '||quote(f)||' '||quote(k)||' '||quote(s)||' '||quote(lo)||' '||quote(hi)||' '||quote(o) FROM {{ix}} WHERE id = ? ORDER BY n`), "\n")
	}
	ij := func() string {
		t.Helper()
		return strings.Join(query(`SELECT quote({{doc}}->>'$.ij') FROM {{t}} WHERE {{doc}}->>'$._id' = ?`), "")
	}

	direct := rows()
	for _, want := range []string{"0 'code' 'c' '1234-5' 'http://loinc.org' NULL NULL '1234-5'", "1 'date' NULL NULL NULL 1580688000000 1580774399999 1580688000000",
		"2 'value-quantity' 'c' 'mg' 'http://unitsofmeasure.org' 5.25 5.25 NULL", "3 'od.date' 'o' NULL NULL NULL NULL 1580774399999"} {
		if !strings.Contains(direct, want) {
			t.Errorf("index rows of the direct insert lack %q:\n%s", want, direct)
		}
	}
	if got := ij(); got != "NULL" {
		t.Errorf("the direct insert stored the entries' JSON too: %s", got)
	}

	var d versionDoc
	if found, err := findByID(ctx, tc.cur, id, &d); err != nil || !found {
		t.Fatalf("read %s: %v, %v", id, found, err)
	}
	if ok, err := s.reindexOne(ctx, tc, &d, s.c.indexer); err != nil || !ok {
		t.Fatalf("reindex through FerretDB: %v, %v", ok, err)
	}
	if got := rows(); got != direct {
		t.Errorf("rows from the triggers:\n%s\nfrom the direct insert:\n%s", got, direct)
	}
	if got := ij(); got == "NULL" {
		t.Error("the reindex through FerretDB stored no entries' JSON")
	}

	mustPut(t, s, "Observation", id, obs("9999-9"))
	if got := rows(); strings.Contains(got, "1234-5") || !strings.Contains(got, "'code' 'c' '9999-9'") || strings.Count(got, "\n") != strings.Count(direct, "\n") {
		t.Errorf("rows after a replace:\n%s\nbefore:\n%s", got, direct)
	}
}

// codeIndexer gives each resource the search entries of an Observation with its field
// code: a token, a date and a quantity, so strings, integers and floats, and sort keys.
type codeIndexer struct{}

func (codeIndexer) Version() string { return "code1" }

func (codeIndexer) Index(_ string, js []byte) (IndexFields, error) {
	var r struct{ Code string }
	if err := json.Unmarshal(js, &r); err != nil {
		return IndexFields{}, err
	}
	const lo, hi = int64(1580688000000), int64(1580774399999)
	return IndexFields{
		Entries: bson.A{
			bson.D{{Key: "p", Value: "code"}, {Key: "s", Value: "http://loinc.org"}, {Key: "c", Value: r.Code}},
			bson.D{{Key: "p", Value: "date"}, {Key: "lo", Value: lo}, {Key: "hi", Value: hi}},
			bson.D{{Key: "p", Value: "value-quantity"}, {Key: "s", Value: "http://unitsofmeasure.org"}, {Key: "c", Value: "mg"}, {Key: "lo", Value: 5.25}, {Key: "hi", Value: 5.25}},
		},
		Asc:  bson.D{{Key: "code", Value: r.Code}, {Key: "date", Value: lo}},
		Desc: bson.D{{Key: "code", Value: r.Code}, {Key: "date", Value: hi}},
	}, nil
}
