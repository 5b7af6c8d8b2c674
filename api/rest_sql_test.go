//go:build cgo

package api_test

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // reads the Parquet answer back, independently of its writer

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/authz"
)

// runSQL posts a Parameters body to /fhir/$sqlquery-run.
func (e *env) runSQL(token string, params ...string) *viewResponse {
	e.t.Helper()
	return e.postParameters(token, "/fhir/$sqlquery-run", params)
}

func sqlParam(query string) string { return valueParam("query", "valueString", jsonString(query)) }

// tableParam is a view parameter: the table name and an inline ViewDefinition.
func tableParam(name, view string) string {
	return `{"name":"view","part":[{"name":"name","valueString":` + jsonString(name) + `},{"name":"viewResource","resource":` + view + `}]}`
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

const (
	sqlPatientView = `{"resource":"Patient","select":[{"column":[{"name":"id","path":"getResourceKey()"},{"name":"gender","path":"gender"}]}]}`
	sqlObsView     = `{"resource":"Observation","select":[{"column":[{"name":"id","path":"id"},{"name":"patient","path":"subject.getReferenceKey(Patient)"},
		{"name":"kg","path":"value.ofType(Quantity).value","tag":[{"name":"ansi/type","value":"DECIMAL"}]},{"name":"kg_text","path":"value.ofType(Quantity).value"}]}]}`
)

// seedSQL writes 6 patients (3 female, 2 male, 1 unknown) and an observation of each, of
// 60.50 + i kg, as the decimals a client sent.
func seedSQL(e *env) {
	genders := []string{"female", "male", "female", "male", "female", "unknown"}
	var res []string
	for i, g := range genders {
		res = append(res,
			fmt.Sprintf(`{"resourceType":"Patient","id":"s%d","gender":%q,"name":[{"family":"Fam%d"}],"birthDate":"1980-01-0%d"}`, i, g, i, i+1),
			fmt.Sprintf(`{"resourceType":"Observation","id":"w%d","status":"final","code":{"text":"weight"},"valueQuantity":{"value":%d.50,"unit":"kg"},"subject":{"reference":"Patient/s%d"}}`, i, 60+i, i))
	}
	e.put(res...)
}

// TestSQLQueryRun: a join and an aggregate over two views of the server's data, in every
// format; decimals exact; the Parquet answer read back by DuckDB.
func TestSQLQueryRun(t *testing.T) {
	e := newEnv(t)
	seedSQL(e)
	tables := []string{tableParam("patients", sqlPatientView), tableParam("obs", sqlObsView)}
	// kg is a DOUBLE (its ansi/type tag); kg_text the decimal as sent, summed exactly as a DECIMAL.
	const agg = `SELECT p.gender, count(*) AS n, sum(o.kg_text::DECIMAL(6,2)) AS total, max(o.kg_text) AS top, avg(o.kg) AS mean
		FROM obs o JOIN patients p ON p.id = o.patient GROUP BY p.gender ORDER BY p.gender`
	// By hand: female s0, s2, s4 (60.50, 62.50, 64.50), male s1, s3 (61.50, 63.50), unknown s5 (65.50).
	want := []string{
		`{"gender":"female","mean":62.5,"n":3,"top":"64.50","total":187.50}`,
		`{"gender":"male","mean":62.5,"n":2,"top":"63.50","total":125.00}`,
		`{"gender":"unknown","mean":65.5,"n":1,"top":"65.50","total":65.50}`,
	}
	r := e.runSQL("", append(tables, sqlParam(agg))...)
	if got := exactLines(t, r); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("ndjson\n got %s\nwant %s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r.ContentType != "application/x-ndjson" || !strings.HasPrefix(string(r.Body), `{"gender":"female","n":3,"total":187.50,"top":"64.50","mean":62.5}`) {
		t.Errorf("ndjson: %s %q", r.ContentType, r.Body)
	}

	r = e.runSQL("", append(tables, sqlParam(agg), valueParam("_format", "valueCode", `"json"`))...)
	var rows []map[string]any
	if err := json.Unmarshal(r.Body, &rows); err != nil || r.ContentType != "application/json" || len(rows) != 3 {
		t.Errorf("json: %s %s (%v)", r.ContentType, r.Body, err)
	}
	r = e.runSQL("", append(tables, sqlParam(agg), valueParam("_format", "valueCode", `"csv"`))...)
	recs, err := csv.NewReader(bytes.NewReader(r.Body)).ReadAll()
	if err != nil || fmt.Sprint(recs) != "[[gender n total top mean] [female 3 187.50 64.50 62.5] [male 2 125.00 63.50 62.5] [unknown 1 65.50 65.50 65.5]]" {
		t.Errorf("csv: %q (%v)", r.Body, err)
	}
	r = e.runSQL("", append(tables, sqlParam(agg), valueParam("_format", "valueCode", `"csv"`), valueParam("header", "valueBoolean", "false"))...)
	if !strings.HasPrefix(string(r.Body), "female,3,") {
		t.Errorf("csv without header: %q", r.Body)
	}
	r = e.runSQL("", append(tables, sqlParam(agg), valueParam("_format", "valueCode", `"parquet"`))...)
	if r.Status != http.StatusOK || r.ContentType != "application/vnd.apache.parquet" {
		t.Fatalf("parquet: %d %s %s", r.Status, r.ContentType, truncate(string(r.Body), 200))
	}
	if got := readParquet(t, r.Body, "SELECT gender, n, total, top, mean, typeof(n), typeof(mean) FROM read_parquet(?) ORDER BY gender"); got != "[female 3 187.50 64.50 62.5 BIGINT DOUBLE] [male 2 125.00 63.50 62.5 BIGINT DOUBLE] [unknown 1 65.50 65.50 65.5 BIGINT DOUBLE]" {
		t.Errorf("parquet read back: %s", got)
	}

	r = e.runSQL("", append(tables, sqlParam("SELECT id FROM patients ORDER BY id"), valueParam("_limit", "valueInteger", "2"))...)
	if got := exactLines(t, r); fmt.Sprint(got) != `[{"id":"Patient/s0"} {"id":"Patient/s1"}]` {
		t.Errorf("_limit 2: %v", got)
	}
	// The views run over the patient's compartment only, when asked.
	r = e.runSQL("", append(tables, sqlParam("SELECT count(*) AS n FROM obs"), valueParam("patient", "valueReference", `{"reference":"Patient/s3"}`))...)
	if got := exactLines(t, r); fmt.Sprint(got) != `[{"n":1}]` {
		t.Errorf("patient s3: %v", got)
	}
	// Or over resources the request carries.
	r = e.runSQL("", tableParam("patients", sqlPatientView), sqlParam("SELECT gender FROM patients"), resourceParam(viewPt1))
	if got := exactLines(t, r); fmt.Sprint(got) != `[{"gender":"female"}]` {
		t.Errorf("inline resources: %v", got)
	}
}

// exactLines returns the NDJSON rows of an answer, keys sorted, numbers as written.
func exactLines(t *testing.T, r *viewResponse) []string {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("status %d: %s", r.Status, truncate(string(r.Body), 400))
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(r.Body)), "\n") {
		if l != "" {
			out = append(out, canonicalJSON(t, json.RawMessage(l)))
		}
	}
	return out
}

// readParquet runs query, whose one parameter is the Parquet file, with DuckDB, and returns
// its rows.
func readParquet(t *testing.T, file []byte, query string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "answer.parquet")
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(query, path)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var fields []string
		for _, v := range vals {
			fields = append(fields, v.String)
		}
		out = append(out, "["+strings.Join(fields, " ")+"]")
	}
	return strings.Join(out, " ")
}

// TestSQLQueryLibrary: the specification's SQLQuery Library, inline and stored, with :name and
// $name parameters bound from a Parameters resource, and tables from view parameters named by
// the relatedArtifact labels or from stored views the relatedArtifacts reference.
func TestSQLQueryLibrary(t *testing.T) {
	e := newEnv(t)
	seedSQL(e)
	e.put(`{"resourceType":"Binary","id":"pv","contentType":"application/json","data":"` + base64.StdEncoding.EncodeToString([]byte(sqlPatientView)) + `"}`)
	library := func(sql string) string {
		return `{"resourceType":"Library","status":"active","type":{"coding":[{"system":"https://sql-on-fhir.org/ig/CodeSystem/LibraryTypesCodes","code":"sql-query"}]},
			"parameter":[{"name":"gender","use":"in","type":"string"},{"name":"min","use":"in","type":"decimal"}],
			"relatedArtifact":[{"type":"depends-on","label":"patient_view","resource":"Binary/pv"},{"type":"depends-on","label":"obs_view","resource":"https://example.org/ViewDefinition/obs"}],
			"content":[{"contentType":"application/sql;dialect=postgresql","data":"` + base64.StdEncoding.EncodeToString([]byte("SELECT 'wrong dialect'")) + `"},
				{"contentType":"application/sql","data":"` + base64.StdEncoding.EncodeToString([]byte(sql)) + `"}]}`
	}
	const q = `SELECT o.id, o.kg FROM obs_view o JOIN patient_view p ON p.id = o.patient
		WHERE p.gender = :gender AND o.kg >= :min ORDER BY o.id`
	params := `{"name":"parameters","resource":{"resourceType":"Parameters","parameter":[{"name":"gender","valueString":"female"},{"name":"min","valueDecimal":62.50}]}}`
	want := `[{"id":"w2","kg":62.5} {"id":"w4","kg":64.5}]`
	r := e.runSQL("", `{"name":"queryResource","resource":`+library(q)+`}`, params, tableParam("obs_view", sqlObsView))
	if got := exactLines(t, r); fmt.Sprint(got) != want {
		t.Errorf("inline library: %v", got)
	}
	e.put(`{"resourceType":"Library","id":"lib","status":"active","type":{"text":"sql-query"},"content":[{"contentType":"application/sql","data":"` +
		base64.StdEncoding.EncodeToString([]byte(strings.ReplaceAll(strings.ReplaceAll(q, ":gender", "$gender"), ":min", "$min"))) + `"}]}`)
	r = e.runSQL("", valueParam("queryReference", "valueReference", `{"reference":"Library/lib"}`), params,
		tableParam("obs_view", sqlObsView), `{"name":"view","part":[{"name":"name","valueString":"patient_view"},{"name":"viewReference","valueReference":{"reference":"Binary/pv"}}]}`)
	if got := exactLines(t, r); fmt.Sprint(got) != want {
		t.Errorf("stored library, $name: %v", got)
	}
	r = e.runSQL("", `{"name":"queryResource","resource":`+library(q)+`}`, params)
	if r.Status != http.StatusBadRequest || !strings.Contains(r.outcome(t), "the query's table obs_view (https://example.org/ViewDefinition/obs) has no view") {
		t.Errorf("a table with no view: %d %s", r.Status, r.Body)
	}
	r = e.runSQL("", `{"name":"queryResource","resource":`+library(q)+`}`, tableParam("obs_view", sqlObsView))
	if r.Status != http.StatusBadRequest || !strings.Contains(r.outcome(t), "$gender, which the request does not give") {
		t.Errorf("a parameter not given: %d %s", r.Status, r.Body)
	}
}

// TestSQLQueryRunPolicy: the views of a query are the caller's to run, as $viewdefinition-run's
// are: the analyst's tables hold what it may read (genders, keys, weights), a view of names or
// birth dates is refused before any row is read, naming the column; a patient's token reads its
// own compartment; no token, no answer.
func TestSQLQueryRunPolicy(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{})
	seedSQL(a.env)
	analyst, admin := a.token(t, "analyst", ""), a.token(t, "admin", "")
	tables := []string{tableParam("patients", sqlPatientView), tableParam("obs", sqlObsView)}
	const byGender = "SELECT p.gender, count(*) AS n FROM obs o JOIN patients p ON p.id = o.patient GROUP BY ALL ORDER BY 1"
	if r := a.runSQL("", append(tables, sqlParam(byGender))...); r.Status != http.StatusUnauthorized {
		t.Errorf("no token: %d", r.Status)
	}
	if got := exactLines(t, a.runSQL(analyst, append(tables, sqlParam(byGender))...)); fmt.Sprint(got) != `[{"gender":"female","n":3} {"gender":"male","n":2} {"gender":"unknown","n":1}]` {
		t.Errorf("analyst: %v", got)
	}
	hidden := []struct{ name, view, column string }{
		{"names", `{"resource":"Patient","select":[{"column":[{"name":"id","path":"id"},{"name":"family","path":"name.family.first()"}]}]}`, "family"},
		{"birth dates", `{"resource":"Patient","select":[{"column":[{"name":"id","path":"id"},{"name":"born","path":"birthDate"}]}]}`, "born"},
		{"whole resources", `{"resource":"Patient","select":[{"column":[{"name":"doc","path":"$this"}]}]}`, "doc"},
	}
	for _, h := range hidden {
		r := a.runSQL(analyst, tableParam("hidden", h.view), tableParam("obs", sqlObsView), sqlParam("SELECT count(*) FROM obs"))
		if r.Status != http.StatusForbidden || !strings.Contains(r.outcome(t), fmt.Sprintf("view column %q", h.column)) || strings.Contains(string(r.Body), "Fam") {
			t.Errorf("analyst, %s: %d %s", h.name, r.Status, r.Body)
		}
		if r := a.runSQL(admin, tableParam("hidden", h.view), sqlParam("SELECT count(*) AS n FROM hidden")); r.Status != http.StatusOK {
			t.Errorf("admin, %s: %d %s", h.name, r.Status, r.Body)
		}
	}
	p3 := a.token(t, "patient", "s3")
	if got := exactLines(t, a.runSQL(p3, append(tables, sqlParam("SELECT o.id, p.gender FROM obs o JOIN patients p ON p.id = o.patient"))...)); fmt.Sprint(got) != `[{"gender":"male","id":"w3"}]` {
		t.Errorf("patient s3: %v", got)
	}
}

// TestSQLQueryRunRefused: over HTTP, SQL that writes, reads files, loads extensions, attaches
// databases, changes settings, holds several statements, runs too long, needs too much memory or
// gives too many rows is refused with an OperationOutcome of its kind; the datastore is
// unchanged, nothing is written in the working directory, and the server answers as before.
func TestSQLQueryRunRefused(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	e := newEnv(t, func(c *api.Config) {
		c.SQL.Timeout = 300 * time.Millisecond
		c.SQL.MemoryBytes = 64 << 20
		c.SQL.MaxRows = 50
		c.SQL.MaxAnswerBytes = 10_000
	})
	seedSQL(e)
	tables := []string{tableParam("patients", sqlPatientView), tableParam("obs", sqlObsView)}
	cases := []struct {
		sql    string
		status int
		want   string
	}{
		{"INSERT INTO patients VALUES ('Patient/x', 'male')", 400, "only one read-only SELECT statement may run"},
		{"DELETE FROM obs", 400, "only one read-only SELECT statement may run"},
		{"DROP TABLE obs; SELECT 1", 400, "only one read-only SELECT statement may run"},
		{"CREATE TABLE copy AS SELECT * FROM obs", 400, "only one read-only SELECT statement may run"},
		{"COPY obs TO 'stolen.csv'", 400, "only one read-only SELECT statement may run"},
		{"ATTACH 'other.db' AS other", 400, "only one read-only SELECT statement may run"},
		{"INSTALL httpfs", 400, "only one read-only SELECT statement may run"},
		{"LOAD json", 400, "only one read-only SELECT statement may run"},
		{"SET threads = 64", 400, "only one read-only SELECT statement may run"},
		{"SELECT 1; SELECT 2", 400, "the SQL holds 2"},
		{"SELECT * FROM read_text('/etc/passwd')", 403, "reaches outside its tables"},
		{"SELECT * FROM read_json('https://example.org/data.json')", 403, "reaches outside its tables"},
		{"SELECT * FROM sqlite_scan('x.db', 't')", 403, "extensions cannot be loaded here"},
		{"SELECT sum(hash(i)) FROM range(10000000000000) t(i)", 400, "ran longer than the 300ms"},
		{"SELECT list(repeat('x', 1000)) FROM range(1000000)", 400, "more than the 64 MB of memory"},
		{"SELECT * FROM range(51)", 400, "more than 50 rows"},
		{"SELECT repeat('x', 1000) FROM range(50)", 400, "larger than one answer may be"},
		{"SELECT nope FROM obs", 400, `Referenced column "nope" not found`},
	}
	count := func() string {
		return fmt.Sprint(exactLines(t, e.runSQL("", append(tables, sqlParam("SELECT count(*) AS n, sum(kg) AS kg FROM obs"))...)))
	}
	before := count()
	for _, c := range cases {
		r := e.runSQL("", append(tables, sqlParam(c.sql))...)
		if r.Status != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.sql, r.Status, c.status, truncate(string(r.Body), 300))
			continue
		}
		if msg := r.outcome(t); !strings.Contains(msg, c.want) || strings.Contains(msg, dir) {
			t.Errorf("%s: %q, want %q", c.sql, msg, c.want)
		}
	}
	if after := count(); after != before || before != `[{"kg":378,"n":6}]` {
		t.Errorf("the tables before %s, after %s", before, after)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files written: %v", entries)
	}
	if r := e.fhir(http.MethodGet, "/fhir/Patient?_summary=count", "", nil); r.Status != http.StatusOK || !strings.Contains(string(r.Raw), `"total":6`) {
		t.Errorf("the datastore after: %d %s", r.Status, r.Raw)
	}
	t.Logf("%d refused queries", len(cases))
}

// TestSQLQueryRunLeavesServerResponsive: while queries run to their time limit on every
// place the engine has and more wait, the server answers other requests at once.
func TestSQLQueryRunLeavesServerResponsive(t *testing.T) {
	e := newEnv(t, func(c *api.Config) { c.SQL.Timeout = 2 * time.Second; c.SQL.Concurrency = 2 })
	seedSQL(e)
	var wg sync.WaitGroup
	statuses := make([]int, 4)
	start := time.Now()
	for i := range statuses {
		wg.Go(func() {
			statuses[i] = e.runSQL("", tableParam("obs", sqlObsView), sqlParam("SELECT sum(hash(i)) FROM range(10000000000000) t(i)")).Status
		})
	}
	time.Sleep(300 * time.Millisecond)
	var slowest time.Duration
	for range 5 {
		t0 := time.Now()
		if r := e.fhir(http.MethodGet, "/fhir/Patient/s1", "", nil); r.Status != http.StatusOK {
			t.Errorf("read during the queries: %d", r.Status)
		}
		slowest = max(slowest, time.Since(t0))
	}
	wg.Wait()
	if slowest > 500*time.Millisecond {
		t.Errorf("a read took %s while queries ran", slowest)
	}
	sort.Ints(statuses)
	if fmt.Sprint(statuses) != "[400 400 400 400]" {
		t.Errorf("statuses %v", statuses)
	}
	// Two at a time: the last two waited for the first two's 2 s.
	if took := time.Since(start); took < 4*time.Second {
		t.Errorf("4 queries of 2 s, 2 at a time, took %s", took)
	}
}

// TestSQLQueryRunBadInput: malformed requests are OperationOutcomes naming the problem.
func TestSQLQueryRunBadInput(t *testing.T) {
	e := newEnv(t)
	pv := tableParam("patients", sqlPatientView)
	q := sqlParam("SELECT * FROM patients")
	cases := []struct {
		name   string
		params []string
		want   string
	}{
		{"no SQL", []string{pv}, "the SQL is needed"},
		{"two SQL", []string{pv, q, valueParam("queryReference", "valueString", `"Library/x"`)}, "give one of query, queryResource and queryReference"},
		{"no table", []string{q}, "the query has no table"},
		{"a table without a name", []string{`{"name":"view","part":[{"name":"viewResource","resource":` + sqlPatientView + `}]}`, q}, "needs a name part"},
		{"a table named badly", []string{tableParam("drop table", sqlPatientView), q}, `table name "drop table" is not a SQL name`},
		{"two tables of one name", []string{pv, tableParam("Patients", sqlObsView), q}, `table name "Patients" is given twice`},
		{"an unknown part", []string{`{"name":"view","part":[{"name":"nam","valueString":"x"}]}`, q}, `unknown part "nam"`},
		{"an invalid view", []string{tableParam("p", `{"resource":"Patient","select":[{"column":[{"name":"a","path":"name.("}]}]}`), q}, "select[0].column[0].path: fhirpath"},
		{"an unknown parameter", []string{pv, q, valueParam("sql", "valueString", `"x"`)}, `unknown parameter "sql"`},
		{"an unknown format", []string{pv, q, valueParam("_format", "valueCode", `"fhir"`)}, `_format "fhir"`},
		{"a library of no SQL", []string{pv, `{"name":"queryResource","resource":{"resourceType":"Library","content":[{"contentType":"text/plain","data":"eA=="}]}}`}, "the Library has no SQL"},
		{"a query resource of another type", []string{pv, `{"name":"queryResource","resource":{"resourceType":"Patient"}}`}, "must be a SQLQuery Library"},
		{"a query reference of another type", []string{pv, valueParam("queryReference", "valueString", `"Binary/x"`)}, "must name a Library"},
		{"a parameter given twice", []string{pv, q, `{"name":"parameters","resource":{"resourceType":"Parameters","parameter":[{"name":"a","valueString":"x"},{"name":"a","valueString":"y"}]}}`}, `"a" is given twice`},
		{"an unused parameter", []string{pv, q, `{"name":"parameters","resource":{"resourceType":"Parameters","parameter":[{"name":"a","valueString":"x"}]}}`}, `parameter "a" is given, but the SQL has no $a`},
		{"two columns of one name", []string{pv, sqlParam("SELECT id, gender AS id FROM patients")}, `two columns named "id"`},
		{"a syntax error", []string{pv, sqlParam("SELECT FROM WHERE")}, "syntax error"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.runSQL("", c.params...)
			if r.Status != http.StatusBadRequest {
				t.Fatalf("status %d: %s", r.Status, truncate(string(r.Body), 300))
			}
			if msg := r.outcome(t); !strings.Contains(msg, c.want) {
				t.Errorf("diagnostics %q, want %q", msg, c.want)
			}
		})
	}
	if r := e.runSQL("", pv, valueParam("queryReference", "valueString", `"Library/none"`)); r.Status != http.StatusNotFound {
		t.Errorf("a missing library: %d %s", r.Status, r.Body)
	}
}

// TestSQLQueryRunReadBudget: the views of a query read at most SQL.MaxRead stored resources,
// and _since narrows them to what changed.
func TestSQLQueryRunReadBudget(t *testing.T) {
	e := newEnv(t, func(c *api.Config) { c.SQL.MaxRead = 4 })
	seedSQL(e)
	q := sqlParam("SELECT count(*) AS n FROM patients")
	r := e.runSQL("", tableParam("patients", sqlPatientView), q)
	if r.Status != http.StatusBadRequest || !strings.Contains(r.outcome(t), "the view reads more than 4 Patient resources") {
		t.Errorf("6 patients: %d %s", r.Status, r.Body)
	}
	if got := exactLines(t, e.runSQL("", tableParam("patients", sqlPatientView), q, valueParam("patient", "valueString", `"Patient/s2"`))); fmt.Sprint(got) != `[{"n":1}]` {
		t.Errorf("one patient: %v", got)
	}
	rec, err := e.store.Read(t.Context(), "Patient", "s5")
	if err != nil {
		t.Fatal(err)
	}
	e.put(`{"resourceType":"Patient","id":"late","gender":"other"}`)
	since := rec.LastUpdated.Format("2006-01-02T15:04:05.000Z07:00")
	r = e.runSQL("", tableParam("patients", sqlPatientView), sqlParam("SELECT id, gender FROM patients"), valueParam("_since", "valueInstant", `"`+since+`"`))
	if got := exactLines(t, r); fmt.Sprint(got) != `[{"gender":"other","id":"Patient/late"}]` {
		t.Errorf("_since: %v", got)
	}
}
