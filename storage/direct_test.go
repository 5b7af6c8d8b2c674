package storage

import (
	"context"
	"database/sql"
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
