// Package embedded runs FerretDB in-process on SQLite: the MongoDB-compatible engine storage
// uses when no MongoDB server is configured. It lives apart from storage so that packages which
// only need storage's types (search, the GraphQL executor) do not wait for FerretDB and SQLite
// to compile.
package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/FerretDB/FerretDB/ferretdb"
	_ "modernc.org/sqlite" // the SQLite driver FerretDB itself uses, for the _id indexes
)

// FerretDB's SQLite layout (v1.24.2, internal/backends/sqlite): one file
// "<database>.sqlite" per database; a metadata table mapping collection names to
// table names; one STRICT table per collection whose only column (besides a record
// id for capped collections) holds the document as JSON.
const (
	sqliteFileExt   = ".sqlite"
	sqliteMetaTable = "_ferretdb_collections"
	sqliteDocColumn = "_ferretdb_sjson"
)

// IDIndexSuffix ends the name of the SQLite index IndexIDs creates for a collection's table.
const IDIndexSuffix = "_fhirgate_id"

// sqliteIDExpr is the expression FerretDB's pushed-down {_id: value} filter compares
// with (metadata.IDColumn). Its own unique index is on `_ferretdb_sjson->"_id"`,
// which SQLite does not consider the same expression, so the lookup scans; an index
// on exactly this text turns the scan into an index search.
const sqliteIDExpr = sqliteDocColumn + `->'$._id'`

// Engine is an embedded FerretDB serving one data directory on a loopback port. It
// implements storage.Engine: storage.Open starts it and Client.Close stops it.
type Engine struct {
	dir    string
	unlock func() error
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	dbs    map[string]*sql.DB   // SQLite connections by database name, for indexes
	tables map[string]string    // collection tables by database and collection name, for reads
	stmts  map[string]*sql.Stmt // statements prepared for InsertDocs, by database name and SQL
}

// New returns an engine for data directory dir, created when missing. It starts nothing.
func New(dir string) *Engine { return &Engine{dir: dir} }

// Start locks the data directory against other processes and starts FerretDB on
// 127.0.0.1 with a random port. It returns the engine's MongoDB connection string.
func (e *Engine) Start(ctx context.Context, log *slog.Logger) (uri string, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if e.dir == "" {
		return "", errors.New("embedded engine: a data directory is required")
	}
	abs, err := filepath.Abs(e.dir)
	if err != nil {
		return "", fmt.Errorf("embedded engine: data dir %q: %w", e.dir, err)
	}

	if err := os.MkdirAll(abs, 0o750); err != nil {
		return "", fmt.Errorf("embedded engine: data dir: %w", err)
	}

	unlock, err := lockDir(abs)
	if err != nil {
		return "", fmt.Errorf("embedded engine: %w", err)
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:    slog.New(engineLogHandler{min: slog.LevelWarn, next: log.Handler()}),
		Handler:   "sqlite",
		SQLiteURL: (&url.URL{Scheme: "file", Path: abs + "/"}).String(),
	})
	if err != nil {
		_ = unlock()
		return "", fmt.Errorf("embedded engine: %w", err)
	}

	runCtx, cancel := context.WithCancel(context.Background())
	e.dir, e.unlock, e.cancel, e.done, e.dbs = abs, unlock, cancel, make(chan struct{}), map[string]*sql.DB{}

	go func() {
		defer close(e.done)
		_ = f.Run(runCtx)
	}()

	// MongoDBURI blocks until the listener is bound.
	uriC := make(chan string, 1)
	go func() { uriC <- f.MongoDBURI() }()

	stopped := func() (string, error) {
		cancel()
		e.cancel = nil // nothing left for Stop to do
		_ = unlock()
		return "", errors.New("embedded engine: stopped while starting")
	}
	select {
	case uri = <-uriC:
		select {
		case <-e.done: // the address is known, but nothing listens on it any more
			return stopped()
		default:
		}
		log.DebugContext(ctx, "embedded engine started", slog.String("dir", abs))
		return uri, nil
	case <-e.done:
		return stopped()
	case <-ctx.Done():
		_ = e.Stop()
		return "", fmt.Errorf("embedded engine: start: %w", ctx.Err())
	}
}

// Done returns a channel that is closed when the engine has stopped, on its own or by Stop;
// nil before Start. storage.Open watches it, so that an engine that dies while the client
// connects fails the open at once rather than after the driver's server selection timeout.
func (e *Engine) Done() <-chan struct{} { return e.done }

// Stop closes the SQLite connections, stops FerretDB, waits for it and unlocks the
// data directory. It does nothing on an engine that is not running.
func (e *Engine) Stop() error {
	if e.cancel == nil {
		return nil
	}
	var errs []error

	e.mu.Lock()
	for _, st := range e.stmts {
		_ = st.Close() // before its connection; an error leaves nothing to do
	}
	for name, db := range e.dbs {
		if err := db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("embedded engine: close %s: %w", name, err))
		}
	}
	e.dbs, e.tables, e.stmts = map[string]*sql.DB{}, nil, nil
	e.mu.Unlock()

	e.cancel()
	<-e.done

	if err := e.unlock(); err != nil {
		errs = append(errs, fmt.Errorf("embedded engine: %w", err))
	}
	e.cancel = nil

	return errors.Join(errs...)
}

// sqlDB returns a SQLite connection to the file behind FerretDB database dbName.
// The file must exist: FerretDB creates it with the database's first collection.
func (e *Engine) sqlDB(dbName string) (*sql.DB, error) {
	e.mu.Lock()
	defer e.mu.Unlock()

	if db := e.dbs[dbName]; db != nil {
		return db, nil
	}

	path := filepath.Join(e.dir, dbName+sqliteFileExt)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("embedded engine: database file: %w", err)
	}

	// FerretDB already put the file in WAL mode; wait for its writers rather than fail.
	// Transactions take the write lock when they begin: one that read first and then wrote
	// (IndexSearch) would fail with SQLITE_BUSY, without waiting, whenever FerretDB wrote
	// in between.
	u := url.URL{Scheme: "file", Path: path, RawQuery: "_pragma=busy_timeout(10000)&_pragma=temp_store(memory)&_txlock=immediate"}

	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, fmt.Errorf("embedded engine: open %s: %w", path, err)
	}

	db.SetMaxOpenConns(1)
	e.dbs[dbName] = db

	return db, nil
}

// sqliteTable returns the table FerretDB stores collection coll of dbName in.
func (e *Engine) sqliteTable(ctx context.Context, dbName, coll string) (*sql.DB, string, error) {
	db, err := e.sqlDB(dbName)
	if err != nil {
		return nil, "", err
	}

	var table string

	q := fmt.Sprintf(`SELECT table_name FROM %q WHERE name = ?`, sqliteMetaTable)
	if err := db.QueryRowContext(ctx, q, coll).Scan(&table); err != nil {
		return nil, "", fmt.Errorf("embedded engine: table of %s.%s: %w", dbName, coll, err)
	}

	return db, table, nil
}

// IndexIDs creates the SQLite index that makes FerretDB's {_id: value} lookups on
// collection coll of dbName an index search instead of a table scan. It is idempotent.
func (e *Engine) IndexIDs(ctx context.Context, dbName, coll string) error {
	db, table, err := e.sqliteTable(ctx, dbName, coll)
	if err != nil {
		return err
	}

	q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (%s)`, table+IDIndexSuffix, table, sqliteIDExpr)
	if _, err := db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("embedded engine: index %s.%s: %w", dbName, coll, err)
	}

	return nil
}

// ExplainIDLookup returns SQLite's plan for the exact statement FerretDB runs for a
// {_id: value} find on collection coll of dbName, one line per plan row.
func (e *Engine) ExplainIDLookup(ctx context.Context, dbName, coll string) (string, error) {
	db, table, err := e.sqliteTable(ctx, dbName, coll)
	if err != nil {
		return "", err
	}

	// Same text as FerretDB's prepareSelectClause + pushed-down WHERE + LIMIT.
	q := fmt.Sprintf(`EXPLAIN QUERY PLAN SELECT  %s FROM %q WHERE %s = ? LIMIT ?`, sqliteDocColumn, table, sqliteIDExpr)

	rows, err := db.QueryContext(ctx, q, `"x"`, 1)
	if err != nil {
		return "", fmt.Errorf("embedded engine: explain: %w", err)
	}
	defer rows.Close()

	var lines []string

	for rows.Next() {
		var id, parent, notused int
		var detail string

		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			return "", fmt.Errorf("embedded engine: explain: %w", err)
		}

		lines = append(lines, detail)
	}

	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("embedded engine: explain: %w", err)
	}

	return strings.Join(lines, "\n"), nil
}

// engineLogHandler passes on the embedded engine's records at min and above, except its
// dumps of wire messages: FerretDB logs the whole response to every failed command at warning
// level, and a response can quote the documents or values of the request, which may be PHI.
// The driver hands the same error to storage, which reports it without contents.
type engineLogHandler struct {
	min  slog.Level
	next slog.Handler
}

// wireDumps start the messages of FerretDB's wire-message dumps (internal/clientconn).
var wireDumps = []string{"Request header:", "Request message:", "Response header:", "Response message:",
	"Proxy response header:", "Proxy response message:", "Header diff:"}

func (h engineLogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.next.Enabled(ctx, l)
}

func (h engineLogHandler) Handle(ctx context.Context, r slog.Record) error {
	for _, p := range wireDumps {
		if strings.HasPrefix(r.Message, p) {
			return nil
		}
	}
	return h.next.Handle(ctx, r)
}

func (h engineLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return engineLogHandler{min: h.min, next: h.next.WithAttrs(attrs)}
}

func (h engineLogHandler) WithGroup(name string) slog.Handler {
	return engineLogHandler{min: h.min, next: h.next.WithGroup(name)}
}

// ForgetDatabase closes this engine's SQLite connections to dbName's file and forgets
// its tables, before the database is dropped: a database created again under the same
// name gets a new file, which old connections would not see.
func (e *Engine) ForgetDatabase(dbName string) error {
	e.mu.Lock()
	defer e.mu.Unlock()

	var errs []error
	for _, key := range []string{dbName, dbName + "\x00ro"} {
		if db := e.dbs[key]; db != nil {
			if err := db.Close(); err != nil {
				errs = append(errs, fmt.Errorf("embedded engine: close %s: %w", key, err))
			}
			delete(e.dbs, key)
		}
	}
	for key := range e.tables {
		if strings.HasPrefix(key, dbName+"\x00") {
			delete(e.tables, key)
		}
	}
	for key, st := range e.stmts {
		if strings.HasPrefix(key, dbName+"\x00") {
			_ = st.Close() // its connection is closed
			delete(e.stmts, key)
		}
	}
	return errors.Join(errs...)
}
