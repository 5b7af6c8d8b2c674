//go:build cgo

package view

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // the independent reader: DuckDB's own Parquet code
)

// typedPatient has a value for every kind of column.
const typedPatient = `{"resourceType":"Patient","id":"t1","meta":{"lastUpdated":"2024-03-01T10:20:30.123+02:00"},
	"active":false,"birthDate":"1980-05-01","gender":"other","multipleBirthInteger":3,
	"photo":[{"data":"aGVsbG8="}],"name":[{"family":"Lind","given":["Ada","Maria"]}],
	"managingOrganization":{"reference":"Organization/o1"}}`

const typedView = `{"resource":"Patient","select":[{"column":[
	{"name":"id","path":"getResourceKey()"},{"name":"active","path":"active"},{"name":"births","path":"multipleBirth.ofType(integer)"},
	{"name":"big","path":"multipleBirth.ofType(integer) * 1000000","type":"integer64"},
	{"name":"updated","path":"meta.lastUpdated"},{"name":"birth","path":"birthDate","tag":[{"name":"ansi/type","value":"DATE"}]},
	{"name":"ratio","path":"multipleBirth.ofType(integer) / 2","tag":[{"name":"ansi/type","value":"DOUBLE"}]},
	{"name":"photo","path":"photo.data"},{"name":"org","path":"managingOrganization"},
	{"name":"given","path":"name.given","collection":true},{"name":"gender","path":"gender"}]}]}`

// TestParquetReadByDuckDB writes a Parquet file and reads it back with DuckDB: the column
// order, the SQL types of the specification's table, the values, nulls, empty and null lists.
func TestParquetReadByDuckDB(t *testing.T) {
	out := writeAll(t, FormatParquet, typedView, decode(t, typedPatient), decode(t, pt2), decode(t, pt1))
	path := filepath.Join(t.TempDir(), "view.parquet")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`SET TimeZone = 'UTC'`); err != nil {
		t.Fatal(err)
	}

	rows, err := db.Query(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))`, path)
	if err != nil {
		t.Fatal(err)
	}
	var schema []string
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			t.Fatal(err)
		}
		schema = append(schema, name+" "+typ)
	}
	rows.Close()
	wantSchema := "id VARCHAR, active BOOLEAN, births INTEGER, big BIGINT, updated TIMESTAMP WITH TIME ZONE, birth DATE, " +
		"ratio DOUBLE, photo BLOB, org VARCHAR, given VARCHAR[], gender VARCHAR"
	if got := strings.Join(schema, ", "); got != wantSchema {
		t.Errorf("schema\n got %s\nwant %s", got, wantSchema)
	}

	rows, err = db.Query(`SELECT id, active, births, big, strftime(updated, '%Y-%m-%dT%H:%M:%S.%g'), CAST(birth AS VARCHAR),
		ratio, CAST(photo AS VARCHAR), org, CAST(given AS VARCHAR), gender FROM read_parquet(?)`, path)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var id, updated, birth, photo, org, given, gender sql.NullString
		var active sql.NullBool
		var births, big sql.NullInt64
		var ratio sql.NullFloat64
		if err := rows.Scan(&id, &active, &births, &big, &updated, &birth, &ratio, &photo, &org, &given, &gender); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s", str(id), str(active), str(births), str(big), str(updated),
			str(birth), str(ratio), str(photo), str(org), str(given), str(gender)))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`Patient/t1|false|3|3000000|2024-03-01T08:20:30.123|1980-05-01|1.5|hello|{"reference":"Organization/o1"}|[Ada, Maria]|other`,
		`Patient/pt2|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|[]|male`,
		`Patient/pt1|true|NULL|NULL|NULL|1980-05-01|NULL|NULL|{"reference":"Organization/o1"}|[Ada, Maria, Ada]|female`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
}

// str prints a nullable SQL value, NULL when null.
func str(v any) string {
	switch v := v.(type) {
	case sql.NullString:
		if v.Valid {
			return v.String
		}
	case sql.NullBool:
		if v.Valid {
			return fmt.Sprint(v.Bool)
		}
	case sql.NullInt64:
		if v.Valid {
			return fmt.Sprint(v.Int64)
		}
	case sql.NullFloat64:
		if v.Valid {
			return fmt.Sprint(v.Float64)
		}
	}
	return "NULL"
}

// TestParquetLargeRowGroups writes more rows than a row group holds and reads the count back.
func TestParquetLargeRowGroups(t *testing.T) {
	v, err := Parse([]byte(`{"resource":"Patient","select":[{"column":[{"name":"id","path":"id"}]},{"forEach":"name","column":[{"name":"family","path":"family"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "big.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewParquet(f, v.Columns)
	if err != nil {
		t.Fatal(err)
	}
	p := decode(t, pt1)
	const resources = parquetRowGroup + 1000
	start := time.Now()
	for i := range resources {
		p["id"] = fmt.Sprint("p", i)
		if err := v.Rows(p, w.Write); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Logf("%d rows in %v", 2*resources, time.Since(start))
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n, distinct int
	var last string
	if err := db.QueryRow(`SELECT count(*), count(DISTINCT id), max(family) FROM read_parquet(?)`, path).Scan(&n, &distinct, &last); err != nil {
		t.Fatal(err)
	}
	if n != 2*resources || distinct != resources || last != "Lind" {
		t.Errorf("read %d rows, %d ids, max family %q; want %d, %d, Lind", n, distinct, last, 2*resources, resources)
	}
}
