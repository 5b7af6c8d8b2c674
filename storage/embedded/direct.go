package embedded

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"

	"github.com/fhirgate/fhirgate/internal/jsonstr"
	"github.com/fhirgate/fhirgate/storage/layout"
)

// insertRows is how many documents one INSERT statement carries, as FerretDB's own
// inserts (its default batch size), and how many index rows.
const insertRows = 100

// InsertDocs inserts docs into the table of collection coll of dbName, straight into
// SQLite in one transaction, stored exactly as FerretDB stores them (see sjson), so that
// FerretDB and SQL reads return them as if FerretDB had inserted them. The collection
// must exist.
//
// When rows is not nil, rows[i] are the search index rows of docs[i], written into the
// collection's index table (IndexSearch) in the same transaction; a document given rows
// must not hold them as IndexField too, which the table's triggers would also copy.
// Without rows, the triggers index documents as for any insert.
//
// Only flat documents of strings, 32- and 64-bit integers, booleans, dates and binary
// data are accepted, with plain field names: storage's history and current documents.
//
// When skipDups is set, a document whose _id is taken is skipped, and its rows with it;
// otherwise a taken _id inserts none of docs, and dup reports it.
func (e *Engine) InsertDocs(ctx context.Context, dbName, coll string, docs []bson.Raw, rows [][]layout.IndexRow, skipDups bool) (dup bool, err error) {
	if len(docs) == 0 {
		return false, nil
	}
	fail := func(err error) error { return fmt.Errorf("embedded engine: insert into %s.%s: %w", dbName, coll, err) }
	if rows != nil && len(rows) != len(docs) {
		return false, fail(fmt.Errorf("%d documents, %d sets of index rows", len(docs), len(rows)))
	}

	in := insertion{docs: make([]any, len(docs)), rows: rows, skipDups: skipDups}
	if rows != nil {
		in.ids = make([]string, len(docs))
	}
	for i, d := range docs {
		b, err := sjson(d)
		if err != nil {
			return false, fail(fmt.Errorf("document %d: %w", i, err))
		}
		in.docs[i] = string(b)
		if in.ids != nil && rows[i] != nil {
			id, ok := d.Lookup("_id").StringValueOK()
			if !ok {
				return false, fail(fmt.Errorf("document %d: index rows need a string _id", i))
			}
			in.ids[i] = id
		}
	}

	// The table first: the lookup uses the connection the transaction below holds.
	if in.table, err = e.tableOf(ctx, dbName, coll); err != nil {
		return false, err
	}
	db, err := e.sqlDB(dbName)
	if err != nil {
		return false, err
	}

	// The statements of full batches, prepared before the transaction takes the one
	// connection.
	verb := "INSERT"
	if skipDups {
		verb = "INSERT OR IGNORE"
	}
	in.docInsert = func(n int) string {
		return fmt.Sprintf(`%s INTO %q (%s) VALUES (?)`, verb, in.table, sqliteDocColumn) + strings.Repeat(",(?)", n-1)
	}
	if in.fullDocs, err = e.stmt(ctx, dbName, db, in.docInsert(insertRows)); err != nil {
		return false, fail(err)
	}
	if rows != nil {
		if in.fullRows, err = e.stmt(ctx, dbName, db, rowInsert(in.table+IndexTableSuffix, insertRows)); err != nil {
			return false, fail(err)
		}
	}

	dup, redo, err := in.run(ctx, db)
	if err == nil && redo {
		// A batch skipped a taken _id, which leaves unknown which of its documents went
		// in, and so which rows to write: the transaction again, a document at a time.
		in.single = true
		dup, _, err = in.run(ctx, db)
	}
	if err != nil {
		e.forgetTable(dbName, coll) // in case the collection was dropped
		return false, fail(err)
	}
	return dup, nil
}

// insertion is one InsertDocs: its documents encoded, their ids and index rows, and the
// statements that insert them.
type insertion struct {
	table    string
	docs     []any // FerretDB's JSON of each document, as strings
	ids      []string
	rows     [][]layout.IndexRow
	skipDups bool
	single   bool // a document per statement, to know which went in

	docInsert          func(n int) string // the statement that inserts n documents
	fullDocs, fullRows *sql.Stmt          // insertRows documents, insertRows index rows
}

// run inserts in's documents and rows in one transaction. It reports dup when, without
// skipDups, an _id was taken (nothing is inserted), and redo when a batch of many skipped
// one and had rows to write (nothing is inserted either).
func (in *insertion) run(ctx context.Context, db *sql.DB) (dup, redo bool, err error) {
	// The connection begins transactions IMMEDIATE (see sqlDB): the write lock is taken,
	// or waited for behind FerretDB's writers, at once.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, false, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit

	ix := rowInserter{tx: tx, table: in.table + IndexTableSuffix}
	if in.fullRows != nil {
		ix.full = tx.StmtContext(ctx, in.fullRows)
	}
	fullDocs := tx.StmtContext(ctx, in.fullDocs)

	step := insertRows
	if in.single {
		step = 1
	}
	for lo := 0; lo < len(in.docs); lo += step {
		hi := min(lo+step, len(in.docs))
		var res sql.Result
		if hi-lo == insertRows {
			res, err = fullDocs.ExecContext(ctx, in.docs[lo:hi]...)
		} else {
			res, err = tx.ExecContext(ctx, in.docInsert(hi-lo), in.docs[lo:hi]...)
		}
		if se, ok := errors.AsType[*sqlite.Error](err); ok && se.Code() == sqlite3lib.SQLITE_CONSTRAINT_UNIQUE {
			return true, false, nil
		}
		if err != nil {
			return false, false, err
		}
		if in.rows == nil {
			continue
		}
		if n, err := res.RowsAffected(); err != nil {
			return false, false, err
		} else if n < int64(hi-lo) {
			if !in.single {
				return false, true, nil
			}
			continue // this document was skipped
		}
		for i := lo; i < hi; i++ {
			if err := ix.add(ctx, in.ids[i], in.rows[i]); err != nil {
				return false, false, err
			}
		}
	}
	if err := ix.flush(ctx); err != nil {
		return false, false, err
	}
	return false, false, tx.Commit()
}

// rowInserter writes index rows in statements of insertRows rows.
type rowInserter struct {
	tx    *sql.Tx
	table string
	full  *sql.Stmt // the statement of insertRows rows, on tx
	args  []any
}

// indexColumns is the number of columns of an index table: id, n and an IndexRow.
const indexColumns = 2 + len(layout.IndexRow{})

func (r *rowInserter) add(ctx context.Context, id string, rows []layout.IndexRow) error {
	for n, row := range rows {
		r.args = append(r.args, id, n)
		r.args = append(r.args, row[:]...)
		if len(r.args) == insertRows*indexColumns {
			if err := r.flush(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *rowInserter) flush(ctx context.Context) error {
	if len(r.args) == 0 {
		return nil
	}
	var err error
	if n := len(r.args) / indexColumns; n == insertRows {
		_, err = r.full.ExecContext(ctx, r.args...)
	} else {
		_, err = r.tx.ExecContext(ctx, rowInsert(r.table, n), r.args...)
	}
	r.args = r.args[:0]
	return err
}

// rowInsert is the statement that inserts n rows into index table ix.
func rowInsert(ix string, n int) string {
	row := "(?" + strings.Repeat(",?", indexColumns-1) + ")"
	return fmt.Sprintf(`INSERT INTO %q (id, n, p, f, k, s, lo, hi, o) VALUES %s`, ix, row) + strings.Repeat(","+row, n-1)
}

// stmt returns query prepared on db, the connection to database dbName, once for the
// engine's life: the statements of InsertDocs's full batches, which SQLite would
// otherwise parse again for every batch (a thousand parameters for the index rows).
func (e *Engine) stmt(ctx context.Context, dbName string, db *sql.DB, query string) (*sql.Stmt, error) {
	key := dbName + "\x00" + query
	e.mu.Lock()
	st := e.stmts[key]
	e.mu.Unlock()
	if st != nil {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if had := e.stmts[key]; had != nil { // prepared meanwhile by another insert
		_ = st.Close()
		return had, nil
	}
	if e.stmts == nil {
		e.stmts = map[string]*sql.Stmt{}
	}
	e.stmts[key] = st
	return st, nil
}

// sjson encodes flat BSON document d as FerretDB v1.24.2 stores documents in SQLite
// (internal/handler/sjson): a JSON object whose "$s" field, first, holds the schema
// {"p": {field: {"t": type}}, "$k": [fields in order]}, then the fields: strings as JSON
// strings (encoding/json's escaping), integers as numbers, dates as milliseconds since the
// epoch, binary data as base64 (its subtype in the schema).
func sjson(d bson.Raw) ([]byte, error) {
	elems, err := d.Elements()
	if err != nil {
		return nil, err
	}
	if len(elems) == 0 {
		return []byte(`{"$s":{}}`), nil
	}

	// Base64 and escapes make the values up to a third larger than their BSON.
	out := make([]byte, 0, len(d)+len(d)/3+40*len(elems)+32)
	out = append(out, `{"$s":{"p":{`...)
	for i, el := range elems {
		key := el.Key()
		if !plainKey(key) {
			return nil, fmt.Errorf("field %q: a name the direct path does not encode", key)
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `"`+key+`":`...)
		switch v := el.Value(); v.Type {
		case bson.TypeString:
			out = append(out, `{"t":"string"}`...)
		case bson.TypeInt64:
			out = append(out, `{"t":"long"}`...)
		case bson.TypeInt32:
			out = append(out, `{"t":"int"}`...)
		case bson.TypeBoolean:
			out = append(out, `{"t":"bool"}`...)
		case bson.TypeDateTime:
			out = append(out, `{"t":"date"}`...)
		case bson.TypeBinary:
			sub, _ := v.Binary()
			out = append(out, `{"t":"binData","s":`...)
			out = strconv.AppendInt(out, int64(sub), 10)
			out = append(out, '}')
		default:
			return nil, fmt.Errorf("field %q: type %s, which the direct path does not encode", key, v.Type)
		}
	}
	out = append(out, `},"$k":[`...)
	for i, el := range elems {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `"`+el.Key()+`"`...)
	}
	out = append(out, `]}`...)

	for _, el := range elems {
		out = append(out, `,"`+el.Key()+`":`...)
		switch v := el.Value(); v.Type {
		case bson.TypeString:
			out = jsonstr.Append(out, v.StringValue(), true) // FerretDB escapes HTML, as encoding/json
		case bson.TypeInt64:
			out = strconv.AppendInt(out, v.Int64(), 10)
		case bson.TypeInt32:
			out = strconv.AppendInt(out, int64(v.Int32()), 10)
		case bson.TypeBoolean:
			out = strconv.AppendBool(out, v.Boolean())
		case bson.TypeDateTime:
			out = strconv.AppendInt(out, v.DateTime(), 10)
		case bson.TypeBinary:
			_, data := v.Binary()
			out = append(out, '"')
			out = base64.StdEncoding.AppendEncode(out, data)
			out = append(out, '"')
		}
	}
	return append(out, '}'), nil
}

// plainKey reports whether key is a field name that JSON needs no escaping for and that
// FerretDB stores as it is: FerretDB writes the document's field names unescaped.
func plainKey(key string) bool {
	if key == "" || key[0] == '$' {
		return false
	}
	for _, r := range key {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// DeleteDocs deletes the documents of collection coll of dbName whose _id is one of ids,
// straight in SQLite through the _id index (IndexIDs), and returns how many it deleted.
// FerretDB reads and decodes each document it deletes, and storage's pending records are
// large. The ids must be plain strings (letters, digits, '.', '_', '/', '-'), whose JSON
// text is the id quoted.
func (e *Engine) DeleteDocs(ctx context.Context, dbName, coll string, ids []string) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	fail := func(err error) error { return fmt.Errorf("embedded engine: delete from %s.%s: %w", dbName, coll, err) }
	args := make([]any, len(ids))
	for i, id := range ids {
		if strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/-") != "" {
			return 0, fail(fmt.Errorf("_id %q: not a plain string", id))
		}
		args[i] = `"` + id + `"`
	}
	table, err := e.tableOf(ctx, dbName, coll)
	if err != nil {
		return 0, err
	}
	db, err := e.sqlDB(dbName)
	if err != nil {
		return 0, err
	}
	q := fmt.Sprintf(`DELETE FROM %q WHERE %s IN (?%s)`, table, sqliteIDExpr, strings.Repeat(",?", len(ids)-1))
	res, err := db.ExecContext(ctx, q, args...)
	if err != nil {
		e.forgetTable(dbName, coll) // in case the collection was dropped
		return 0, fail(err)
	}
	return res.RowsAffected()
}
