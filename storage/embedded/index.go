package embedded

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/fhirgate/fhirgate/storage/layout"
)

// The search index tables. Each collection table T that storage indexes gets a table
// "T_fhirgate_ix" with one row per search entry of each document, kept by triggers on
// T: an index row commits in the same SQLite transaction as its document, so a search
// through it always sees the write that preceded it, and a crash leaves nothing to
// repair. The rows come from the document's string field "ij" (see IndexField), a JSON
// array of [p, f, k, s, lo, hi, o] arrays that storage writes beside the packed entries
// (o: a parameter's sort key, on its first entry row or in a row of its own, which no
// index but the table's covers).
// The value columns have no type affinity, so SQLite keeps numbers and text apart and
// orders them as MongoDB does: null, then numbers, then text.
const (
	// IndexField is the document field that holds the search entries as JSON.
	IndexField = layout.EntriesJSON
	// IndexTableSuffix ends the name of a collection's search index table.
	IndexTableSuffix = "_fhirgate_ix"
	// IndexPlaceholder stands for the quoted index table's name in QueryIndex's SQL;
	// TablePlaceholder for the collection's own table, and DocPlaceholder for its column
	// that holds each document as FerretDB's JSON (strings as JSON strings, int64 and
	// int32 as numbers, dates as milliseconds since the epoch, binary data as base64).
	IndexPlaceholder = "{{ix}}"
	TablePlaceholder = "{{t}}"
	DocPlaceholder   = "{{doc}}"
)

// indexSchema creates the index table of collection table t and its indexes. The table
// is clustered by (id, n), n the entry's position in ij, which serves the check of
// further conditions on one document and the triggers' deletes without an index of its
// own; partial indexes, which skip the rows without the value, serve equality and
// prefix matches on a parameter's value (p, f, k) and ranges of dates and numbers (p,
// lo) and (p, hi). Each carries the primary key, so the ids come from the index alone.
func indexSchema(t string) []string {
	ix := t + IndexTableSuffix
	return []string{
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %q (id TEXT NOT NULL, n INTEGER NOT NULL, p TEXT NOT NULL, f TEXT, k ANY, s TEXT, lo ANY, hi ANY, o ANY, PRIMARY KEY (id, n)) WITHOUT ROWID`, ix),
		fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (p, f, k) WHERE k IS NOT NULL`, ix+"_pk", ix),
		fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (p, lo) WHERE lo IS NOT NULL`, ix+"_plo", ix),
		fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (p, hi) WHERE hi IS NOT NULL`, ix+"_phi", ix),
	}
}

// indexRows is the SELECT that turns document column doc of a row into index rows: of NEW
// in a trigger (from empty), of each row of table from in a backfill. The _id is a scalar
// subquery so that a trigger extracts it from the document once, not once per index row.
func indexRows(doc, from string) string {
	if from != "" {
		from = fmt.Sprintf("%q, ", from)
	}
	return fmt.Sprintf(`SELECT (SELECT %[1]s->>'$._id'), key, value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6 FROM %[3]sjson_each(%[1]s->>'$.%[2]s')`, doc, IndexField, from)
}

// indexTriggers keeps the index table of collection table t in step with it. FerretDB
// replaces a document with an UPDATE of its row.
func indexTriggers(t string) []string {
	ix := t + IndexTableSuffix
	cols := `(id, n, p, f, k, s, lo, hi, o)`
	del := fmt.Sprintf(`DELETE FROM %q WHERE id = OLD.%s->>'$._id';`, ix, sqliteDocColumn)
	ins := fmt.Sprintf(`INSERT INTO %q %s %s;`, ix, cols, indexRows("NEW."+sqliteDocColumn, ""))
	return []string{
		fmt.Sprintf(`CREATE TRIGGER IF NOT EXISTS %q AFTER INSERT ON %q BEGIN %s END`, ix+"_ai", t, ins),
		fmt.Sprintf(`CREATE TRIGGER IF NOT EXISTS %q AFTER UPDATE ON %q BEGIN %s %s END`, ix+"_au", t, del, ins),
		fmt.Sprintf(`CREATE TRIGGER IF NOT EXISTS %q AFTER DELETE ON %q BEGIN %s END`, ix+"_ad", t, del),
	}
}

// IndexSearch creates the search index table of collection coll of dbName and the
// triggers that keep it, filling it from the documents already stored when it is new.
// It is idempotent.
func (e *Engine) IndexSearch(ctx context.Context, dbName, coll string) error {
	db, table, err := e.sqliteTable(ctx, dbName, coll)
	if err != nil {
		return err
	}
	fail := func(err error) error { return fmt.Errorf("embedded engine: search index %s.%s: %w", dbName, coll, err) }

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit

	var exists int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND name = ?`, table+IndexTableSuffix+"_ad").Scan(&exists); err != nil {
		return fail(err)
	}
	if exists > 0 {
		return nil
	}

	stmts := indexSchema(table)
	stmts = append(stmts, fmt.Sprintf(`DELETE FROM %q`, table+IndexTableSuffix),
		fmt.Sprintf(`INSERT INTO %q (id, n, p, f, k, s, lo, hi, o) %s`, table+IndexTableSuffix,
			indexRows(fmt.Sprintf("%q.%s", table, sqliteDocColumn), table)))
	stmts = append(stmts, indexTriggers(table)...)
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fail(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return nil
}

// readDB returns a read-only pool of connections to the file behind database dbName,
// for index queries that run beside FerretDB's writers (the file is in WAL mode).
func (e *Engine) readDB(dbName string) (*sql.DB, error) {
	e.mu.Lock()
	defer e.mu.Unlock()

	key := dbName + "\x00ro"
	if db := e.dbs[key]; db != nil {
		return db, nil
	}
	path := filepath.Join(e.dir, dbName+sqliteFileExt)
	u := url.URL{Scheme: "file", Path: path, RawQuery: "mode=ro&_pragma=busy_timeout(10000)&_pragma=query_only(1)"}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, fmt.Errorf("embedded engine: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	e.dbs[key] = db
	return db, nil
}

// tableOf returns the table of collection coll of dbName, remembered after the first
// lookup: reads would otherwise query FerretDB's metadata table, on the one writing
// connection, before each statement. FerretDB names a collection's table after the
// collection, so the name holds for as long as the collection exists.
func (e *Engine) tableOf(ctx context.Context, dbName, coll string) (string, error) {
	key := dbName + "\x00" + coll
	e.mu.Lock()
	table, ok := e.tables[key]
	e.mu.Unlock()
	if ok {
		return table, nil
	}
	_, table, err := e.sqliteTable(ctx, dbName, coll)
	if err != nil {
		return "", err
	}
	e.mu.Lock()
	if e.tables == nil {
		e.tables = map[string]string{}
	}
	e.tables[key] = table
	e.mu.Unlock()
	return table, nil
}

func (e *Engine) forgetTable(dbName, coll string) {
	e.mu.Lock()
	delete(e.tables, dbName+"\x00"+coll)
	e.mu.Unlock()
}

// QueryIndex runs query on a read-only connection to the file of database dbName, with
// IndexPlaceholder, TablePlaceholder and DocPlaceholder replaced by the quoted names of the
// search index table, the table of collection coll and its document column, and calls row
// for each result row. A document's _id is the expression DocPlaceholder+"->'$._id'" (the
// JSON text of the string), which the index IndexIDs creates serves.
func (e *Engine) QueryIndex(ctx context.Context, dbName, coll, query string, args []any, row func(*sql.Rows) error) error {
	table, err := e.tableOf(ctx, dbName, coll)
	if err != nil {
		return err
	}
	db, err := e.readDB(dbName)
	if err != nil {
		return err
	}
	q := strings.ReplaceAll(query, IndexPlaceholder, fmt.Sprintf("%q", table+IndexTableSuffix))
	q = strings.ReplaceAll(q, TablePlaceholder, fmt.Sprintf("%q", table))
	q = strings.ReplaceAll(q, DocPlaceholder, fmt.Sprintf("%q", sqliteDocColumn))
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		e.forgetTable(dbName, coll) // in case the collection was dropped
		return fmt.Errorf("embedded engine: index query on %s.%s: %w", dbName, coll, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("embedded engine: index query on %s.%s: %w", dbName, coll, err)
	}
	return nil
}
