//go:build cgo

package sqlquery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/view"
)

// answer collects a Result.
type answer struct {
	cols []view.Column
	rows []view.Row
}

func (a *answer) Columns(cols []view.Column) error { a.cols = cols; return nil }
func (a *answer) Row(row view.Row) error           { a.rows = append(a.rows, slices.Clone(row)); return nil }

// text is the answer as JSON lines, one per row, values in column order.
func (a *answer) text() string {
	var b strings.Builder
	for _, r := range a.rows {
		j, _ := json.Marshal([]any(r))
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// table is a test table of the given columns and rows.
func table(name string, cols []view.Column, rows ...view.Row) Table {
	return Table{Name: name, Columns: cols, Rows: func(emit func(view.Row) error) error {
		for _, r := range rows {
			if err := emit(r); err != nil {
				return err
			}
		}
		return nil
	}}
}

// patients is a small table: id, gender, birth date, and a list of given names.
func patients() Table {
	cols := []view.Column{
		{Name: "id", Kind: view.KindString}, {Name: "gender", Kind: view.KindString},
		{Name: "birth", Kind: view.KindDate}, {Name: "given", Kind: view.KindString, Collection: true},
	}
	return table("patients", cols,
		view.Row{"Patient/a", "female", "1980-05-01", []any{"Ada", "Maria"}},
		view.Row{"Patient/b", "male", "1975-01-31", []any{}},
		view.Row{"Patient/c", "female", nil, nil})
}

func run(t *testing.T, e *Engine, sql string, params map[string]any, tables ...Table) (*answer, error) {
	t.Helper()
	a := &answer{}
	err := e.Run(t.Context(), &Query{SQL: sql, Params: params, Tables: tables}, a)
	return a, err
}

// TestEveryKindRoundTrips loads a column of every view kind, alone and as a list, and reads it
// back with SELECT *: the answer's columns have the same kinds, and the values are the rows'
// own, in the form view writers take (numbers as json.Number, instants in UTC).
func TestEveryKindRoundTrips(t *testing.T) {
	samples := map[view.Kind][2]any{ // a value as Rows gives it, and as the answer gives it back
		view.KindString:    {"Ash", "Ash"},
		view.KindBoolean:   {true, true},
		view.KindInt:       {json.Number("42"), json.Number("42")},
		view.KindBigInt:    {json.Number("9007199254740993"), json.Number("9007199254740993")},
		view.KindTimestamp: {"2024-03-01T10:20:30.123+02:00", "2024-03-01T08:20:30.123Z"},
		view.KindBinary:    {"aGVsbG8=", "aGVsbG8="},
		view.KindDouble:    {json.Number("0.25"), json.Number("0.25")},
		view.KindDate:      {"1980-05-01", "1980-05-01"},
		view.KindJSON:      {map[string]any{"family": "Lind", "given": []any{"Ada"}}, map[string]any{"family": "Lind", "given": []any{"Ada"}}},
	}
	var cols []view.Column
	var in, want view.Row
	for k := view.KindString; k <= view.KindJSON; k++ {
		s, ok := samples[k]
		if !ok {
			t.Fatalf("no sample of kind %s", k)
		}
		cols = append(cols, view.Column{Name: fmt.Sprintf("k%d", k), Kind: k}, view.Column{Name: fmt.Sprintf("k%d_list", k), Kind: k, Collection: true})
		in = append(in, s[0], []any{s[0], s[0]})
		want = append(want, s[1], []any{s[1], s[1]})
	}
	nulls := make(view.Row, len(cols))
	a, err := run(t, New(Limits{}), "SELECT * FROM every", nil, table("every", cols, in, nulls))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.cols) != len(cols) || len(a.rows) != 2 {
		t.Fatalf("%d columns, %d rows", len(a.cols), len(a.rows))
	}
	for i, c := range cols {
		if c.Kind == view.KindJSON && c.Collection { // one JSON array
			c.Collection = false
		}
		got := a.cols[i]
		if got.Name != c.Name || got.Kind != c.Kind || got.Collection != c.Collection {
			t.Errorf("column %d: %s %s collection=%v (SQL %s), want %s %s collection=%v", i, got.Name, got.Kind, got.Collection, got.Type, c.Name, c.Kind, c.Collection)
		}
		g, _ := json.Marshal(a.rows[0][i])
		w, _ := json.Marshal(want[i])
		if string(g) != string(w) {
			t.Errorf("column %s: %s, want %s", c.Name, g, w)
		}
		if a.rows[1][i] != nil {
			t.Errorf("column %s: null read back as %v", c.Name, a.rows[1][i])
		}
	}
	t.Logf("%d kinds, each alone and as a list", len(samples))
}

// TestAnswerTypes: SQL values the views do not give are typed and written exactly: decimals
// digit for digit, big sums, intervals, structs, maps, UUIDs, non-finite floats.
func TestAnswerTypes(t *testing.T) {
	a, err := run(t, New(Limits{}), `SELECT 1.50::DECIMAL(10,2) AS d, sum(i)::HUGEINT AS s, INTERVAL 90 MINUTE AS iv,
		{'a': 1, 'b': 'x'} AS st, MAP {'k': 2} AS m, '00112233-4455-6677-8899-aabbccddeeff'::UUID AS u,
		'nan'::DOUBLE AS nan, TIME '10:20:30' AS tm, count(*) AS n, list(i ORDER BY i) AS l
		FROM (SELECT 1 AS i FROM patients) x`, nil, patients())
	if err != nil {
		t.Fatal(err)
	}
	want := `[1.50,3,"P0M0DT5400S",{"a":1,"b":"x"},{"k":2},"00112233-4455-6677-8899-aabbccddeeff","NaN","10:20:30",3,[1,1,1]]` + "\n"
	if got := a.text(); got != want {
		t.Errorf("got  %swant %s", got, want)
	}
	kinds := map[string]string{}
	for _, c := range a.cols {
		kinds[c.Name] = fmt.Sprintf("%s/%v", c.Kind, c.Collection)
	}
	if fmt.Sprint(kinds) != "map[d:CHARACTER VARYING/false iv:CHARACTER VARYING/false l:INT/true m:JSON/false n:BIGINT/false nan:DOUBLE PRECISION/false s:BIGINT/false st:JSON/false tm:CHARACTER VARYING/false u:CHARACTER VARYING/false]" {
		t.Errorf("kinds %v", kinds)
	}
}

// TestParameters: $name parameters are bound, never spliced into the SQL; a missing or unused
// one is an error; a decimal parameter keeps its digits.
func TestParameters(t *testing.T) {
	e := New(Limits{})
	a, err := run(t, e, "SELECT id, $d AS d FROM patients WHERE gender = $g ORDER BY id", map[string]any{"g": "female", "d": json.Number("1.50")}, patients())
	if err != nil {
		t.Fatal(err)
	}
	if got := a.text(); got != "[\"Patient/a\",\"1.50\"]\n[\"Patient/c\",\"1.50\"]\n" {
		t.Errorf("bound: %s", got)
	}
	a, err = run(t, e, "SELECT count(*) AS n FROM patients WHERE gender = $g", map[string]any{"g": "x' OR '1'='1"}, patients())
	if err != nil || a.text() != "[0]\n" {
		t.Errorf("a quote in a value: %s %v", a.text(), err)
	}
	if _, err = run(t, e, "SELECT * FROM patients WHERE gender = $g", nil, patients()); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "$g") {
		t.Errorf("missing parameter: %v", err)
	}
	if _, err = run(t, e, "SELECT 1", map[string]any{"g": "x"}, patients()); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `parameter "g" is given`) {
		t.Errorf("unused parameter: %v", err)
	}
}

// TestRefused: SQL that writes, reads files or the network, loads extensions, attaches
// databases, changes settings, or holds several statements, is refused with the error of its
// kind; nothing is written anywhere, and the same engine answers the next query as before.
func TestRefused(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir) // DuckDB would write relative paths (and a .tmp spill directory) here
	outside := filepath.Join(dir, "outside.csv")
	if err := os.WriteFile(outside, []byte("a,b\n1,2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := New(Limits{Timeout: 300 * time.Millisecond, MemoryBytes: 64 << 20})
	cases := []struct {
		sql  string
		kind error
		want string
	}{
		{"INSERT INTO patients VALUES ('x', 'y', NULL, NULL)", ErrInvalid, "only one read-only SELECT"},
		{"UPDATE patients SET gender = 'x'", ErrInvalid, "only one read-only SELECT"},
		{"DELETE FROM patients", ErrInvalid, "only one read-only SELECT"},
		{"DROP TABLE patients", ErrInvalid, "only one read-only SELECT"},
		{"CREATE TABLE x AS SELECT * FROM patients", ErrInvalid, "only one read-only SELECT"},
		{"CREATE MACRO m(a) AS a", ErrInvalid, "only one read-only SELECT"},
		{"COPY patients TO 'out.csv'", ErrInvalid, "only one read-only SELECT"},
		{"COPY (SELECT * FROM patients) TO '" + filepath.Join(dir, "out.parquet") + "' (FORMAT parquet)", ErrInvalid, "only one read-only SELECT"},
		{"EXPORT DATABASE 'exported'", ErrInvalid, "only one read-only SELECT"},
		{"ATTACH 'other.db' AS other", ErrInvalid, "only one read-only SELECT"},
		{"ATTACH ':memory:' AS other", ErrInvalid, "only one read-only SELECT"},
		{"INSTALL httpfs", ErrInvalid, "only one read-only SELECT"},
		{"LOAD httpfs", ErrInvalid, "only one read-only SELECT"},
		{"SET memory_limit = '100GB'", ErrInvalid, "only one read-only SELECT"},
		{"SET enable_external_access = true", ErrInvalid, "only one read-only SELECT"},
		{"PRAGMA enable_profiling", ErrInvalid, "only one read-only SELECT"},
		{"CALL pragma_version()", ErrInvalid, "only one read-only SELECT"},
		{"CHECKPOINT", ErrInvalid, "only one read-only SELECT"},
		{"DROP TABLE patients; SELECT 1", ErrInvalid, "only one read-only SELECT"},
		{"SELECT 1; SELECT 2", ErrInvalid, "only one SELECT statement may run; the SQL holds 2"},
		{"SELECT * FROM query('DROP TABLE patients')", ErrInvalid, "Expected a single SELECT statement"},
		{"SELECT * FROM read_csv('" + outside + "')", ErrForbidden, "reaches outside its tables"},
		{"SELECT * FROM read_csv_auto('outside.csv')", ErrForbidden, "reaches outside its tables"},
		{"SELECT * FROM read_text('/etc/hostname')", ErrForbidden, "reaches outside its tables"},
		{"SELECT * FROM read_parquet('https://example.org/x.parquet')", ErrForbidden, "reaches outside its tables"},
		{"SELECT * FROM 'outside.csv'", ErrForbidden, "reaches outside its tables"},
		{"SELECT * FROM glob('/*')", ErrForbidden, "reaches outside its tables"},
		{"SELECT * FROM duckdb_extensions()", ErrForbidden, "reaches outside its tables"},
		{"SELECT * FROM sqlite_scan('other.db', 't')", ErrForbidden, `"sqlite_scan" is not in the catalog, but it exists in the sqlite_scanner extension; extensions cannot be loaded here`},
		{"SELECT sum(hash(i)) FROM range(10000000000000) t(i)", ErrTooCostly, "ran longer than the 300ms"},
		{"SELECT list(repeat('x', 1000)) FROM range(1000000)", ErrTooCostly, "more than the 64 MB of memory"},
		{"SELECT * FROM nope", ErrInvalid, "Table with name nope does not exist"},
		{"SELEC 1", ErrInvalid, "syntax error"},
		{"", ErrInvalid, "the SQL is empty"},
	}
	for _, c := range cases {
		_, err := run(t, e, c.sql, nil, patients())
		if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s\n   error %v\n   want  %v: %q", c.sql, err, c.kind, c.want)
		}
		if err != nil && (strings.Contains(err.Error(), dir) || strings.Contains(err.Error(), "SET autoinstall") || strings.Contains(err.Error(), "INSTALL sqlite")) {
			t.Errorf("%s: the message shows a path or a setting: %v", c.sql, err)
		}
		a, err := run(t, e, "SELECT count(*) AS n FROM patients", nil, patients())
		if err != nil || a.text() != "[3]\n" {
			t.Fatalf("after %q: %s %v", c.sql, a.text(), err)
		}
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	if fmt.Sprint(names) != "[outside.csv]" {
		t.Errorf("files written: %v", names)
	}
	t.Logf("%d refused statements", len(cases))
}

// TestRowLimit: an answer of more rows than MaxRows is an error, not cut short; a Limit cuts it
// short on purpose.
func TestRowLimit(t *testing.T) {
	e := New(Limits{MaxRows: 10})
	if a, err := run(t, e, "SELECT * FROM range(10)", nil, patients()); err != nil || len(a.rows) != 10 {
		t.Errorf("10 rows: %d %v", len(a.rows), err)
	}
	if _, err := run(t, e, "SELECT * FROM range(11)", nil, patients()); !errors.Is(err, ErrTooMany) || !strings.Contains(err.Error(), "more than 10 rows") {
		t.Errorf("11 rows: %v", err)
	}
	a := &answer{}
	if err := e.Run(t.Context(), &Query{SQL: "SELECT * FROM range(1000)", Tables: []Table{patients()}, Limit: 3}, a); err != nil || a.text() != "[0]\n[1]\n[2]\n" {
		t.Errorf("Limit 3: %s %v", a.text(), err)
	}
}

// TestTables: bad table names and duplicate answer columns are refused; a table's rows that
// do not fit its columns are an error naming the column; the tables' own errors come back.
func TestTables(t *testing.T) {
	e := New(Limits{})
	for _, name := range []string{"", "1x", "a b", `x"`, "drop table"} {
		if _, err := run(t, e, "SELECT 1", nil, table(name, nil)); !errors.Is(err, ErrInvalid) {
			t.Errorf("table name %q: %v", name, err)
		}
	}
	p := patients()
	q := patients()
	q.Name = "PATIENTS"
	if _, err := run(t, e, "SELECT 1", nil, p, q); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("two tables of one name: %v", err)
	}
	if _, err := run(t, e, "SELECT id, gender AS id FROM patients", nil, p); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `two columns named "id"`) {
		t.Errorf("duplicate columns: %v", err)
	}
	bad := table("t", []view.Column{{Name: "n", Kind: view.KindInt}}, view.Row{"x"})
	if _, err := run(t, e, "SELECT * FROM t", nil, bad); !errors.Is(err, view.ErrEval) || !strings.Contains(err.Error(), `column "n"`) {
		t.Errorf("a misfit value: %v", err)
	}
	boom := errors.New("storage failed")
	failing := Table{Name: "t", Columns: []view.Column{{Name: "n", Kind: view.KindInt}}, Rows: func(func(view.Row) error) error { return boom }}
	if _, err := run(t, e, "SELECT * FROM t", nil, failing); !errors.Is(err, boom) {
		t.Errorf("a failing table: %v", err)
	}
	// A query waits for a place, and gives up when its context ends.
	full := New(Limits{Concurrency: 1})
	full.slots <- struct{}{}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := full.Run(ctx, &Query{SQL: "SELECT 1", Tables: []Table{p}}, &answer{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("no place: %v", err)
	}
}
