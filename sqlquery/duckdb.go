//go:build cgo

package sqlquery

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/fhirgate/fhirgate/view"
)

// Available reports whether queries can run: this binary has DuckDB (it was built with cgo).
func Available() bool { return true }

// sealed is the configuration of every query's database, set when it opens: no file,
// network or extension access. seal completes it on the connection, then locks it.
var sealed = map[string]string{
	"enable_external_access":       "false",
	"autoload_known_extensions":    "false",
	"autoinstall_known_extensions": "false",
	"allow_community_extensions":   "false",
	"allow_unsigned_extensions":    "false",
}

// sealing are the settings made on the connection before the caller's SQL reaches it, the
// last locking them all: TIMESTAMP WITH TIME ZONE is read in UTC. Nothing spills to disk: an
// in-memory database has no temporary directory, and without external access none can be set.
var sealing = []string{
	"SET TimeZone = 'UTC'",
	"SET lock_configuration = true",
}

// open opens an in-memory database under the engine's memory and thread limits, with the
// sealed configuration.
func (e *Engine) open() (*sql.DB, error) {
	dsn := url.Values{}
	for k, v := range sealed {
		dsn.Set(k, v)
	}
	dsn.Set("memory_limit", strconv.FormatInt(max(e.limits.MemoryBytes>>10, 1), 10)+"KiB")
	dsn.Set("threads", strconv.Itoa(e.limits.Threads))
	c, err := duckdb.NewConnector("?"+dsn.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("sqlquery: opening DuckDB: %w", err)
	}
	return sql.OpenDB(c), nil
}

func (e *Engine) run(ctx context.Context, q *Query, res Result) error {
	db, err := e.open()
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlquery: connecting to DuckDB: %w", err)
	}
	defer conn.Close()
	for _, stmt := range sealing {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("sqlquery: %s: %w", stmt, err)
		}
	}
	if err := checkSelect(ctx, conn, q.SQL); err != nil {
		return err
	}
	for _, t := range q.Tables {
		if err := e.load(ctx, conn, t); err != nil {
			return err
		}
	}
	return conn.Raw(func(dc any) error {
		return e.query(ctx, dc.(*duckdb.Conn), q, res)
	})
}

// serialized is what DuckDB's json_serialize_sql answers: the statements a SQL text holds,
// parsed, or why it holds something else than SELECT statements.
type serialized struct {
	Error        bool              `json:"error"`
	ErrorType    string            `json:"error_type"`
	ErrorMessage string            `json:"error_message"`
	Statements   []json.RawMessage `json:"statements"`
}

// checkSelect makes sure text is exactly one SELECT statement before anything prepares it:
// DuckDB's own parser reads it (json_serialize_sql only parses, and serialises SELECT
// statements only). Preparing a text of several statements would run all but the last.
func checkSelect(ctx context.Context, conn *sql.Conn, text string) error {
	switch {
	case strings.TrimSpace(text) == "":
		return fmt.Errorf("%w: the SQL is empty", ErrInvalid)
	case strings.IndexByte(text, 0) >= 0 || !utf8.ValidString(text):
		// DuckDB reads C strings: a NUL would end the text early.
		return fmt.Errorf("%w: the SQL holds a NUL character or is not UTF-8", ErrInvalid)
	}
	// The function takes a constant only, so the text is a string literal: standard SQL
	// quoting, where only the quote itself is doubled.
	literal := "'" + strings.ReplaceAll(text, "'", "''") + "'"
	var out string
	if err := conn.QueryRowContext(ctx, "SELECT json_serialize_sql("+literal+")::VARCHAR").Scan(&out); err != nil {
		return fmt.Errorf("sqlquery: parsing the SQL: %w", err)
	}
	var s serialized
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		return fmt.Errorf("sqlquery: reading DuckDB's parse: %w", err)
	}
	switch {
	case s.Error && s.ErrorType == "parser":
		return fmt.Errorf("%w: %s", ErrInvalid, clean(s.ErrorMessage))
	case s.Error:
		return fmt.Errorf("%w: only one read-only SELECT statement may run; the SQL holds another kind of statement (a write such as INSERT, UPDATE, DELETE, CREATE or COPY, or ATTACH, INSTALL, LOAD, SET, PRAGMA)", ErrInvalid)
	case len(s.Statements) != 1:
		return fmt.Errorf("%w: only one SELECT statement may run; the SQL holds %d", ErrInvalid, len(s.Statements))
	}
	return nil
}

// sqlTypes are the DuckDB types of the kinds of view columns.
var sqlTypes = map[view.Kind]string{
	view.KindString: "VARCHAR", view.KindBoolean: "BOOLEAN", view.KindInt: "INTEGER", view.KindBigInt: "BIGINT",
	view.KindTimestamp: "TIMESTAMPTZ", view.KindBinary: "BLOB", view.KindDouble: "DOUBLE", view.KindDate: "DATE",
	view.KindJSON: "JSON",
}

// quote quotes a SQL identifier.
func quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// load creates table t and appends its rows.
func (e *Engine) load(ctx context.Context, conn *sql.Conn, t Table) error {
	defs := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		typ := sqlTypes[c.Kind]
		if c.Collection && c.Kind != view.KindJSON {
			typ += "[]"
		} // a list of complex values is one JSON array: DuckDB reads JSON[] back as VARCHAR[]
		defs[i] = quote(c.Name) + " " + typ
	}
	if _, err := conn.ExecContext(ctx, "CREATE TABLE "+quote(t.Name)+" ("+strings.Join(defs, ", ")+")"); err != nil {
		return fmt.Errorf("sqlquery: creating table %s: %w", t.Name, err)
	}
	return conn.Raw(func(dc any) error {
		app, err := duckdb.NewAppender(dc.(driver.Conn), "", "", t.Name)
		if err != nil {
			return fmt.Errorf("sqlquery: appending to table %s: %w", t.Name, err)
		}
		vals := make([]driver.Value, len(t.Columns))
		err = t.Rows(func(row view.Row) error {
			for i := range row {
				v, err := t.Columns[i].DriverValue(row[i])
				if err != nil {
					return err
				}
				if items, ok := v.([]any); ok && t.Columns[i].Kind == view.KindJSON {
					v = jsonArray(items)
				}
				vals[i] = v
			}
			if err := app.AppendRow(vals...); err != nil {
				return e.loadError(t.Name, err)
			}
			return ctx.Err()
		})
		if cerr := app.Close(); err == nil && cerr != nil {
			err = e.loadError(t.Name, cerr)
		}
		return err
	})
}

// jsonArray joins the JSON texts of a list's items into one JSON array.
func jsonArray(items []any) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, x := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(x.(string))
	}
	b.WriteByte(']')
	return b.String()
}

// loadError is the error of appending rows to a table.
func (e *Engine) loadError(table string, err error) error {
	var de *duckdb.Error
	if errors.As(err, &de) && de.Type == duckdb.ErrorTypeOutOfMemory {
		return fmt.Errorf("%w: the rows of table %s need more than the %s of memory one query may use; narrow its view with patient, group or _since", ErrTooCostly, table, size(e.limits.MemoryBytes))
	}
	return fmt.Errorf("sqlquery: appending to table %s: %w", table, err)
}

// query prepares and runs q's SQL, already checked to be one SELECT, on dc, and sends its
// answer to res.
func (e *Engine) query(ctx context.Context, dc *duckdb.Conn, q *Query, res Result) error {
	qctx, cancel := context.WithTimeout(ctx, e.limits.Timeout)
	defer cancel()
	ds, err := dc.PrepareContext(qctx, q.SQL)
	if err != nil {
		return e.sqlError(ctx, qctx, err)
	}
	stmt := ds.(*duckdb.Stmt)
	defer stmt.Close()
	if t, err := stmt.StatementType(); err != nil || t != duckdb.STATEMENT_TYPE_SELECT {
		// checkSelect let only a SELECT through; this holds even if the two parsers differ.
		return fmt.Errorf("%w: only one read-only SELECT statement may run", ErrInvalid)
	}
	args, err := bindings(stmt, q.Params)
	if err != nil {
		return err
	}
	rows, err := stmt.QueryContext(qctx, args)
	if err != nil {
		return e.sqlError(ctx, qctx, err)
	}
	defer rows.Close()
	cols, convs, err := answerColumns(rows)
	if err != nil {
		return err
	}
	if err := res.Columns(cols); err != nil {
		return err
	}
	dst := make([]driver.Value, len(cols))
	row := make(view.Row, len(cols))
	for n := 0; q.Limit <= 0 || n < q.Limit; n++ {
		if err := rows.Next(dst); err == io.EOF {
			return nil
		} else if err != nil {
			return e.sqlError(ctx, qctx, err)
		}
		if n == e.limits.MaxRows {
			return fmt.Errorf("%w: the query gives more than %d rows, the most one answer may hold; aggregate, add a LIMIT, or set _limit", ErrTooMany, e.limits.MaxRows)
		}
		for i, v := range dst {
			row[i] = convs[i](v)
		}
		if err := res.Row(row); err != nil {
			return err
		}
	}
	return nil
}

// bindings returns the values of stmt's parameters from params, by name ($name) or position
// ($1, ?: the name is the position).
func bindings(stmt *duckdb.Stmt, params map[string]any) ([]driver.NamedValue, error) {
	var args []driver.NamedValue
	used := map[string]bool{}
	for i := 1; i <= stmt.NumInput(); i++ {
		name, err := stmt.ParamName(i)
		if err != nil {
			return nil, fmt.Errorf("sqlquery: parameter %d: %w", i, err)
		}
		v, ok := params[name]
		if !ok {
			return nil, fmt.Errorf("%w: the SQL has parameter $%s, which the request does not give", ErrInvalid, name)
		}
		used[name] = true
		nv := driver.NamedValue{Ordinal: i, Value: bindValue(v)}
		if _, err := strconv.Atoi(name); err != nil {
			nv.Name = name
		}
		args = append(args, nv)
	}
	for name := range params {
		if !used[name] {
			return nil, fmt.Errorf("%w: parameter %q is given, but the SQL has no $%s", ErrInvalid, name, name)
		}
	}
	return args, nil
}

// bindValue converts a parameter value to one the driver binds: a json.Number to a BIGINT
// when whole, else to its text, which DuckDB casts exactly to the type the SQL gives the
// parameter (DECIMAL, DOUBLE) where it is compared or computed with.
func bindValue(v any) any {
	n, ok := v.(json.Number)
	if !ok {
		return v
	}
	if i, err := n.Int64(); err == nil {
		return i
	}
	return string(n)
}

// sqlError turns an error of preparing or running the SQL into one for the caller: what
// DuckDB refuses at run time (files, extensions) is forbidden, running out of time (qctx's
// deadline, not the request's) or memory is too costly, and any other DuckDB error is the
// SQL's fault, told with DuckDB's message. ctx is the request's context.
func (e *Engine) sqlError(ctx, qctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if qctx.Err() != nil {
		return fmt.Errorf("%w: the query ran longer than the %s one query may run", ErrTooCostly, e.limits.Timeout)
	}
	var de *duckdb.Error
	if !errors.As(err, &de) {
		return fmt.Errorf("sqlquery: running the SQL: %w", err)
	}
	switch de.Type {
	case duckdb.ErrorTypeOutOfMemory:
		return fmt.Errorf("%w: the query needs more than the %s of memory one query may use", ErrTooCostly, size(e.limits.MemoryBytes))
	case duckdb.ErrorTypeInterrupt:
		return fmt.Errorf("%w: the query ran longer than the %s one query may run", ErrTooCostly, e.limits.Timeout)
	case duckdb.ErrorTypePermission, duckdb.ErrorTypeIO, duckdb.ErrorTypeHTTP, duckdb.ErrorTypeNetwork,
		duckdb.ErrorTypeMissingExtension, duckdb.ErrorTypeAutoLoad, duckdb.ErrorTypeInvalidConfiguration:
		return fmt.Errorf("%w: the SQL reaches outside its tables (files, URLs, secrets or extensions); it may read only the views' tables", ErrForbidden)
	case duckdb.ErrorTypeFatal, duckdb.ErrorTypeInternal:
		return fmt.Errorf("sqlquery: DuckDB failed: %w", err)
	case duckdb.ErrorTypeCatalog:
		if strings.Contains(de.Msg, "exists in the") && strings.Contains(de.Msg, "extension") {
			return fmt.Errorf("%w: %s; extensions cannot be loaded here", ErrForbidden, strings.TrimSuffix(firstLine(de.Msg), "."))
		}
	}
	if de.Msg == "" {
		return fmt.Errorf("sqlquery: running the SQL: %w", err)
	}
	return fmt.Errorf("%w: %s", ErrInvalid, clean(de.Msg))
}

// clean shortens a DuckDB message for the caller: the error and the line it points at, not
// DuckDB's advice on settings and extensions the caller cannot change.
func clean(msg string) string {
	paras := strings.Split(strings.TrimSpace(msg), "\n\n")
	kept := paras[:1]
	for _, p := range paras[1:] {
		if strings.HasPrefix(p, "LINE ") {
			kept = append(kept, p)
		}
	}
	msg = strings.Join(kept, "\n\n")
	if len(msg) > 2000 {
		msg = msg[:2000] + "…"
	}
	return msg
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// size writes a byte count in MB (or KB).
func size(n int64) string {
	if n >= 1<<20 {
		return strconv.FormatInt(n>>20, 10) + " MB"
	}
	return strconv.FormatInt(n>>10, 10) + " KB"
}
