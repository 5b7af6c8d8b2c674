// Package sqlquery runs read-only SQL over tables of SQL on FHIR view rows, for the
// $sqlquery-run operation: each request gets its own in-memory DuckDB database, the rows of
// its views are loaded into it as typed tables, and one SELECT runs over them under row, time
// and memory limits.
//
// The database of a request is sealed before the caller's SQL reaches it: no file, network or
// extension access (enable_external_access=false, no extension autoloading or installing), a
// memory limit with no spilling to disk, a fixed number of threads, and a locked
// configuration (SET is refused). The SQL must be exactly one SELECT statement (DuckDB's own
// parser decides, before anything runs): INSERT, UPDATE, DELETE, CREATE, COPY, ATTACH,
// INSTALL, LOAD, SET, PRAGMA and several statements in one are refused. What DuckDB refuses at
// run time (a table function reading a file) is refused as forbidden.
//
// DuckDB needs cgo. A binary built without it (CGO_ENABLED=0) has this package's API but
// every Run fails with ErrUnavailable; Available reports which.
package sqlquery

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/view"
)

// The kinds of failure of a run. Their messages are written for the caller.
var (
	// ErrInvalid: the SQL does not parse, is not one SELECT, names an unknown table or column,
	// or misses a parameter; the tables are misnamed.
	ErrInvalid = fault.New(fault.Invalid, "invalid SQL query")
	// ErrForbidden: the SQL reaches outside its tables (files, URLs, extensions).
	ErrForbidden = fault.New(fault.Forbidden, "SQL query not allowed")
	// ErrTooCostly: the SQL ran longer, or needed more memory, than one query may.
	ErrTooCostly = fault.New(fault.TooComplex, "SQL query too costly")
	// ErrTooMany: the SQL gives more rows than one answer may hold.
	ErrTooMany = fault.New(fault.TooMany, "answer too large")
	// ErrUnavailable: this binary was built without cgo, so without DuckDB.
	ErrUnavailable = fault.New(fault.Unsupported, "SQL queries are unavailable")
)

// Limits bound the queries of an Engine.
type Limits struct {
	// MemoryBytes is the memory one query's database may use, its tables included (DuckDB's
	// memory_limit; nothing spills to disk).
	MemoryBytes int64
	// Threads is how many threads one query may use.
	Threads int
	// Timeout bounds the run of the SQL itself, after its tables are loaded.
	Timeout time.Duration
	// MaxRows is the most rows an answer may hold: a query that gives more without a Limit
	// fails with ErrTooMany rather than being cut short.
	MaxRows int
	// Concurrency is how many queries may run at once in the process; others wait for a
	// place until their context ends.
	Concurrency int
}

// DefaultLimits are the limits fhirgate runs with unless configured otherwise.
func DefaultLimits() Limits {
	return Limits{MemoryBytes: 256 << 20, Threads: 1, Timeout: 10 * time.Second, MaxRows: 100_000, Concurrency: 2}
}

// Table is one table of a query: a view's columns and its rows.
type Table struct {
	// Name is the table's name in the SQL: a SQL name (letters, digits and _, not starting
	// with a digit), unique in the query without regard to case.
	Name    string
	Columns []view.Column
	// Rows calls emit with each row, its values in the order of Columns; an error of emit is
	// returned as it is.
	Rows func(emit func(view.Row) error) error
}

// Query is one SQL query over tables.
type Query struct {
	// SQL is one SELECT statement. It names parameters as $name.
	SQL string
	// Params are the values of the SQL's $name parameters: nil, string, bool, int64,
	// float64, a json.Number (bound as an exact DECIMAL, or a BIGINT when whole), or
	// time.Time.
	Params map[string]any
	Tables []Table
	// Limit, when positive, is the most rows the answer gives: the rest are left out, with no
	// error, up to Limits.MaxRows.
	Limit int
}

// Result receives an answer: its columns once, then each row.
type Result interface {
	// Columns gives the answer's columns: each with its name, its Kind and Collection
	// (a list of the kind) from the SQL type, and Type the SQL type's name.
	Columns(cols []view.Column) error
	// Row gives one row, its values as view.Row holds them (nil, string, bool, json.Number,
	// map[string]any, []any), in the order of the columns.
	Row(row view.Row) error
}

// Engine runs queries under Limits.
type Engine struct {
	limits Limits
	slots  chan struct{}
}

// New returns an engine with limits; a zero field takes its DefaultLimits value.
func New(limits Limits) *Engine {
	def := DefaultLimits()
	if limits.MemoryBytes <= 0 {
		limits.MemoryBytes = def.MemoryBytes
	}
	if limits.Threads <= 0 {
		limits.Threads = def.Threads
	}
	if limits.Timeout <= 0 {
		limits.Timeout = def.Timeout
	}
	if limits.MaxRows <= 0 {
		limits.MaxRows = def.MaxRows
	}
	if limits.Concurrency <= 0 {
		limits.Concurrency = def.Concurrency
	}
	return &Engine{limits: limits, slots: make(chan struct{}, limits.Concurrency)}
}

// Limits returns the engine's limits.
func (e *Engine) Limits() Limits { return e.limits }

// Run loads q's tables into a database of its own and sends the answer of q's SQL to res.
// It waits for a place among the engine's concurrent queries first. Errors are ErrInvalid,
// ErrForbidden, ErrTooCostly, ErrTooMany or ErrUnavailable with a message for the caller;
// errors of the tables' Rows and of res are returned as they are; ctx's end is ctx.Err().
func (e *Engine) Run(ctx context.Context, q *Query, res Result) error {
	if !Available() {
		return fmt.Errorf("%w: this fhirgate was built without cgo, which DuckDB needs; build it with CGO_ENABLED=1 and a C compiler", ErrUnavailable)
	}
	if err := checkTables(q.Tables); err != nil {
		return err
	}
	select {
	case e.slots <- struct{}{}:
		defer func() { <-e.slots }()
	case <-ctx.Done():
		return ctx.Err()
	}
	return e.run(ctx, q, res)
}

// sqlName is what a table name may be.
var sqlName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// checkTables checks the tables' names: SQL names, unique whatever their case (DuckDB's
// names are case-insensitive).
func checkTables(tables []Table) error {
	if len(tables) == 0 {
		return fmt.Errorf("%w: the query has no table; give it at least one view", ErrInvalid)
	}
	seen := map[string]bool{}
	for _, t := range tables {
		if !sqlName.MatchString(t.Name) {
			return fmt.Errorf("%w: table name %q is not a SQL name (letters, digits and _, not starting with a digit)", ErrInvalid, t.Name)
		}
		key := lower(t.Name)
		if seen[key] {
			return fmt.Errorf("%w: table name %q is given twice", ErrInvalid, t.Name)
		}
		seen[key] = true
	}
	return nil
}

// lower lowercases an ASCII name.
func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
