package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Reads on the embedded engine go to SQLite directly, through the engine's read-only
// connection (the file is in WAL mode, so a statement sees every commit that preceded it,
// as a read through FerretDB does). FerretDB would serve a read of n documents by _id as
// n finds, or as a $in that decodes the whole collection, and a page in _id order by
// decoding and sorting the whole collection; every document it returns is converted from
// its stored JSON to BSON on the wire and back. One SQL statement reads any number of
// documents by _id through the _id index (IndexIDs), or a page in _id order, and storage
// picks the fields a record needs out of each document's text (sqldoc.go).

// sqlReadBatch bounds the ids of one statement, well under SQLite's limit on bound
// parameters (32,766).
const sqlReadBatch = 4096

// sqlDocID is the expression of a document's _id, as JSON text, in the table aliased d:
// the expression of the _id index.
const sqlDocID = "d." + sqlDoc + "->'$._id'"

const sqlDoc = "{{doc}}"

// sqlDocText selects, from the table aliased d, the stored document's text, which
// docFromRow reads (see parseStored): as a blob, which the driver hands over with one copy
// where it makes two of a text (a fifth of a read of 10,000 documents).
const sqlDocText = "CAST(d." + sqlDoc + " AS BLOB)"

// docFromRow builds the BSON document of one row selected with sqlDocText: the stored
// document's fields that reads use, with the packed search fields unpacked when withPacked
// is set.
func docFromRow(rows *sql.Rows, withPacked bool) (bson.Raw, error) {
	d, err := scanStored(rows, withPacked)
	if err != nil {
		return nil, err
	}
	return d.bson(), nil
}

// scanStored reads the stored document of one row selected with sqlDocText.
func scanStored(rows *sql.Rows, withPacked bool) (storedDoc, error) {
	var text sql.RawBytes
	if err := rows.Scan(&text); err != nil {
		return storedDoc{}, err
	}
	d, err := parseStored(text, withPacked)
	if err != nil {
		return d, fmt.Errorf("stored document: %w", err)
	}
	return d, nil
}

// bson returns d as the BSON document reads decode, the packed search fields unpacked.
func (d *storedDoc) bson() bson.Raw {
	b := bsoncore.NewDocumentBuilder().
		AppendString("_id", d.id).
		AppendInt64("v", d.v).
		AppendDateTime("ts", d.ts).
		AppendInt64("seq", d.seq)
	if d.del {
		b.AppendBoolean("del", true)
	}
	if d.op != 0 {
		b.AppendInt64("op", d.op)
	}
	if d.json != nil {
		b.AppendString("json", string(d.json))
	}
	if d.packed != nil {
		b.AppendBinary("ix", 0, d.packed)
	}
	return withIndex(bson.Raw(b.Build()))
}

// sqlReadIDs reads the current documents of ids (distinct, well-formed) on the embedded
// engine, in key order, nil where absent; with the search fields when withIndex is set.
func (s *Store) sqlReadIDs(ctx context.Context, tc *typeColls, ids []string, withIndex bool) ([]*bson.Raw, error) {
	at := make(map[string]int, len(ids))
	for i, id := range ids {
		at[id] = i
	}
	out := make([]*bson.Raw, len(ids))
	for start := 0; start < len(ids); start += sqlReadBatch {
		batch := ids[start:min(start+sqlReadBatch, len(ids))]
		args := make([]any, len(batch))
		for i, id := range batch {
			args[i] = `"` + id + `"` // the JSON text of a well-formed id: no character to escape
		}
		q := "SELECT " + sqlDocText + " FROM {{t}} d WHERE " + sqlDocID +
			" IN (?" + strings.Repeat(", ?", len(batch)-1) + ")"
		err := s.sqlQuery(ctx, tc, q, args, func(rows *sql.Rows) error {
			raw, err := docFromRow(rows, withIndex)
			if err != nil {
				return err
			}
			if i, ok := at[raw.Lookup("_id").StringValue()]; ok {
				out[i] = &raw
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// sqlPage reads, on the embedded engine, the current resources (not deleted) of tc in _id
// order (descending when desc is set), skipping skip and up to limit (0: all), and calls each
// with them, search fields included when withIndex is set.
func (s *Store) sqlPage(ctx context.Context, tc *typeColls, desc bool, skip, limit int64, withIndex bool, each func(bson.Raw) error) error {
	dir := "ASC"
	if desc {
		dir = "DESC"
	}
	if limit == 0 {
		limit = -1
	}
	q := "SELECT " + sqlDocText + " FROM {{t}} d WHERE d." + sqlDoc + "->>'$.del' IS NOT 1" +
		" ORDER BY " + sqlDocID + " " + dir + " LIMIT ? OFFSET ?"
	return s.sqlQuery(ctx, tc, q, []any{limit, skip}, func(rows *sql.Rows) error {
		raw, err := docFromRow(rows, withIndex)
		if err != nil {
			return err
		}
		return each(raw)
	})
}

// sqlQuery runs one read-only statement on the embedded engine, counted as a round trip.
func (s *Store) sqlQuery(ctx context.Context, tc *typeColls, q string, args []any, row func(*sql.Rows) error) error {
	if on := s.c.onCommand; on != nil {
		on("sql")
	}
	return s.c.eng.QueryIndex(ctx, s.db.Name(), tc.cur.Name(), q, args, row)
}

// idOrder reports whether sort orders by _id alone, and whether descending.
func idOrder(sort bson.D) (ok, desc bool) {
	if len(sort) != 1 || sort[0].Key != "_id" {
		return false, false
	}
	n, _ := sort[0].Value.(int)
	return n == 1 || n == -1, n == -1
}

// pageByID: on the embedded engine, whose FerretDB would decode and sort the whole
// collection for a page of everything in _id order, one SQL statement (sqlPage).
func (embeddedBackend) pageByID(ctx context.Context, s *Store, tc *typeColls, desc bool, skip, limit int64, withIndex bool, each func(bson.Raw) error) (bool, error) {
	return true, s.sqlPage(ctx, tc, desc, skip, limit, withIndex, each)
}

// pageByID: never on MongoDB, whose _id index serves the sorted find.
func (mongoBackend) pageByID(context.Context, *Store, *typeColls, bool, int64, int64, bool, func(bson.Raw) error) (bool, error) {
	return false, nil
}

// countAllSQL counts the live documents of a table: see countAll.
const countAllSQL = "SELECT (SELECT COUNT(*) FROM {{t}}) - (SELECT COUNT(*) FROM {{t}} d WHERE d." + sqlDoc + "->>'$.del' IS NOT NULL)"

// countAll: on the embedded engine, the table's count less its deleted documents', both
// from indexes (the smallest of the table's, and IndexDeleted's), where a test of each
// document would parse every one's JSON.
func (embeddedBackend) countAll(ctx context.Context, s *Store, tc *typeColls) (n int64, ok bool, err error) {
	err = s.sqlQuery(ctx, tc, countAllSQL, nil, func(rows *sql.Rows) error { return rows.Scan(&n) })
	return n, true, err
}

// countAll: never on MongoDB, whose count command counts from the _id index.
func (mongoBackend) countAll(context.Context, *Store, *typeColls) (int64, bool, error) {
	return 0, false, nil
}

// eachPage is how many documents eachByID reads per statement: a statement holds one of the
// engine's few read connections until its rows are consumed, and each's work happens between
// statements.
const eachPage = 1000

// eachByID: on the embedded engine, keyset pages in _id order, each one SQL statement through
// the _id index, read whole before each sees them. Deleted resources are left out here, not in
// SQL, where the test would parse every document's JSON.
func (embeddedBackend) eachByID(ctx context.Context, s *Store, tc *typeColls, each func(*Record) error) (bool, error) {
	after := `""` // the JSON text of the least id: every id sorts after it
	q := "SELECT " + sqlDocText + " FROM {{t}} d WHERE " + sqlDocID + " > ? ORDER BY " + sqlDocID + " LIMIT ?"
	for {
		var page []*Record
		rows := 0
		err := s.sqlQuery(ctx, tc, q, []any{after, eachPage}, func(r *sql.Rows) error {
			d, err := scanStored(r, false)
			if err != nil {
				return err
			}
			rows++
			after = `"` + d.id + `"`
			if !d.del {
				page = append(page, &Record{Type: tc.typ, ID: d.id, VersionID: d.v, LastUpdated: time.UnixMilli(d.ts).UTC(),
					Seq: d.seq, JSON: d.json})
			}
			return nil
		})
		if err != nil {
			return true, err
		}
		for _, r := range page {
			if err := each(r); err != nil {
				return true, err
			}
		}
		if rows < eachPage {
			return true, nil
		}
	}
}

// eachByID: never on MongoDB, whose find streams the collection itself.
func (mongoBackend) eachByID(context.Context, *Store, *typeColls, func(*Record) error) (bool, error) {
	return false, nil
}
