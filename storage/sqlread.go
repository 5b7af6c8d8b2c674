package storage

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Reads on the embedded engine go to SQLite directly, through the engine's read-only
// connection (the file is in WAL mode, so a statement sees every commit that preceded it,
// as a read through FerretDB does). FerretDB would serve a read of n documents by _id as
// n finds, or as a $in that decodes the whole collection, and a page in _id order by
// decoding and sorting the whole collection; every document it returns is converted from
// its stored JSON to BSON on the wire and back. One SQL statement reads any number of
// documents by _id through the _id index (IndexIDs), or a page in _id order, taking only
// the fields a record needs.

// sqlReadBatch bounds the ids of one statement, well under SQLite's limit on bound
// parameters (32,766).
const sqlReadBatch = 4096

// sqlDocID is the expression of a document's _id, as JSON text, in the table aliased d:
// the expression of the _id index.
const sqlDocID = "d." + sqlDoc + "->'$._id'"

const sqlDoc = "{{doc}}"

// sqlDocFields selects, from the table aliased d, what docFromRow reads: the fields of a
// version and, when withIndex is set, its packed search fields. The small fields come in one
// JSON array from one json_extract: SQLite finds each call's document in its cache of parsed
// JSON by comparing the whole text, a cost per call that dominated a page read field by field.
func sqlDocFields(withIndex bool) string {
	doc := "d." + sqlDoc
	ix := "NULL"
	if withIndex {
		ix = doc + "->>'$.ix'"
	}
	return "json_extract(" + doc + ", '$._id', '$.v', '$.ts', '$.seq', '$.del'), " + doc + "->>'$.json', " + ix
}

// docFromRow builds the BSON document of one row selected with sqlDocFields: the stored
// document's fields that reads use, with the packed search fields unpacked (withIndex) when
// selected.
func docFromRow(rows *sql.Rows) (bson.Raw, error) {
	var (
		head   string
		js, ix sql.NullString
	)
	if err := rows.Scan(&head, &js, &ix); err != nil {
		return nil, err
	}
	id, v, ts, seq, del, err := parseHead(head)
	if err != nil {
		return nil, err
	}
	b := bsoncore.NewDocumentBuilder().
		AppendString("_id", id).
		AppendInt64("v", v).
		AppendDateTime("ts", ts).
		AppendInt64("seq", seq)
	if del {
		b.AppendBoolean("del", true)
	}
	if js.Valid {
		b.AppendString("json", js.String)
	}
	if ix.Valid {
		data, err := base64.StdEncoding.DecodeString(ix.String)
		if err != nil {
			return nil, fmt.Errorf("packed search fields of %s: %w", id, err)
		}
		b.AppendBinary("ix", 0, data)
	}
	return withIndex(bson.Raw(b.Build())), nil
}

// parseHead reads the array [_id, v, ts, seq, del] of sqlDocFields: a well-formed id needs no
// escapes, the numbers are integers (FerretDB stores int64 and dates as JSON integers), and
// absent fields are null.
func parseHead(head string) (id string, v, ts, seq int64, del bool, err error) {
	parts := strings.Split(strings.TrimSuffix(strings.TrimPrefix(head, "["), "]"), ",")
	if len(parts) != 5 || len(parts[0]) < 2 || parts[0][0] != '"' || parts[0][len(parts[0])-1] != '"' {
		return "", 0, 0, 0, false, fmt.Errorf("stored document fields %.80s: unexpected layout", head)
	}
	num := func(s string) (int64, error) {
		if s == "null" {
			return 0, nil
		}
		return strconv.ParseInt(s, 10, 64)
	}
	id = parts[0][1 : len(parts[0])-1]
	if v, err = num(parts[1]); err == nil {
		if ts, err = num(parts[2]); err == nil {
			seq, err = num(parts[3])
		}
	}
	if err != nil {
		return "", 0, 0, 0, false, fmt.Errorf("stored document %s: %w", id, err)
	}
	return id, v, ts, seq, parts[4] == "true", nil
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
		q := "SELECT " + sqlDocFields(withIndex) + " FROM {{t}} d WHERE " + sqlDocID +
			" IN (?" + strings.Repeat(", ?", len(batch)-1) + ")"
		err := s.sqlQuery(ctx, tc, q, args, func(rows *sql.Rows) error {
			raw, err := docFromRow(rows)
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
	q := "SELECT " + sqlDocFields(withIndex) + " FROM {{t}} d WHERE d." + sqlDoc + "->>'$.del' IS NOT 1" +
		" ORDER BY " + sqlDocID + " " + dir + " LIMIT ? OFFSET ?"
	return s.sqlQuery(ctx, tc, q, []any{limit, skip}, func(rows *sql.Rows) error {
		raw, err := docFromRow(rows)
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

// countAll: on the embedded engine, one SQL statement counts the live documents, where
// FerretDB would decode every one of them.
func (embeddedBackend) countAll(ctx context.Context, s *Store, tc *typeColls) (n int64, ok bool, err error) {
	q := "SELECT COUNT(*) FROM {{t}} d WHERE d." + sqlDoc + "->>'$.del' IS NOT 1"
	err = s.sqlQuery(ctx, tc, q, nil, func(rows *sql.Rows) error { return rows.Scan(&n) })
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
// the _id index, read whole before each sees them.
func (embeddedBackend) eachByID(ctx context.Context, s *Store, tc *typeColls, each func(bson.Raw) error) (bool, error) {
	after := `""` // the JSON text of the least id: every id sorts after it
	for {
		var page []bson.Raw
		q := "SELECT " + sqlDocFields(false) + " FROM {{t}} d WHERE " + sqlDocID + " > ? AND d." + sqlDoc + "->>'$.del' IS NOT 1" +
			" ORDER BY " + sqlDocID + " LIMIT ?"
		err := s.sqlQuery(ctx, tc, q, []any{after, eachPage}, func(rows *sql.Rows) error {
			raw, err := docFromRow(rows)
			if err != nil {
				return err
			}
			page = append(page, raw)
			return nil
		})
		if err != nil {
			return true, err
		}
		for _, raw := range page {
			if err := each(raw); err != nil {
				return true, err
			}
		}
		if len(page) < eachPage {
			return true, nil
		}
		after = `"` + page[len(page)-1].Lookup("_id").StringValue() + `"`
	}
}

// eachByID: never on MongoDB, whose find streams the collection itself.
func (mongoBackend) eachByID(context.Context, *Store, *typeColls, func(bson.Raw) error) (bool, error) {
	return false, nil
}
