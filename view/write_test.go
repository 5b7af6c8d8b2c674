package view

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// writeAll writes the rows of view over resources in format.
func writeAll(t testing.TB, format, view string, resources ...map[string]any) []byte {
	t.Helper()
	v, err := Parse([]byte(view))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := NewWriter(format, &buf, v.Columns)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resources {
		if err := v.Rows(r, w.Write); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writerView has a column of every JSON kind, a collection, nulls, and text that needs quoting.
const writerView = `{"resource":"Patient","constant":[{"name":"odd","valueString":"a,\"b\"\nc <&> \u2028"}],"select":[{"column":[
	{"name":"id","path":"id"},{"name":"active","path":"active"},{"name":"n","path":"name.count()"},
	{"name":"given","path":"name.given","collection":true},{"name":"org","path":"managingOrganization"},
	{"name":"odd","path":"%odd"},{"name":"birth","path":"birthDate"}]}]}`

func TestCSV(t *testing.T) {
	out := writeAll(t, FormatCSV, writerView, decode(t, pt1), decode(t, pt2))
	if !bytes.Contains(out, []byte("\r\n")) || bytes.Count(out, []byte("\r\n")) != 5 {
		t.Errorf("want CRLF line ends: 3 records, 2 in fields, got %q", out)
	}
	records, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"id", "active", "n", "given", "org", "odd", "birth"},
		{"pt1", "true", "2", `["Ada","Maria","Ada"]`, `{"reference":"Organization/o1"}`, "a,\"b\"\r\nc <&> \u2028", "1980-05-01"},
		{"pt2", "", "1", `[]`, "", "a,\"b\"\r\nc <&> \u2028", ""},
	}
	if len(records) != len(want) {
		t.Fatalf("%d records, want %d: %q", len(records), len(want), out)
	}
	for i := range want {
		for j := range want[i] {
			// encoding/csv reads a quoted CRLF as LF.
			if w := strings.ReplaceAll(want[i][j], "\r\n", "\n"); records[i][j] != w {
				t.Errorf("record %d field %d: %q, want %q", i, j, records[i][j], w)
			}
		}
	}
	// No rows still gives the header.
	empty := writeAll(t, FormatCSV, writerView)
	if string(empty) != "id,active,n,given,org,odd,birth\r\n" {
		t.Errorf("empty CSV %q", empty)
	}
	var noHeader bytes.Buffer
	w := NewCSV(&noHeader, []Column{{Name: "a"}}, false)
	w.Write(Row{"x"})
	w.Close()
	if noHeader.String() != "x\r\n" {
		t.Errorf("CSV without header %q", noHeader.String())
	}
}

func TestNDJSONAndJSON(t *testing.T) {
	nd := writeAll(t, FormatNDJSON, writerView, decode(t, pt1), decode(t, pt2))
	lines := strings.Split(strings.TrimSuffix(string(nd), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %q", len(lines), nd)
	}
	// Keys in column order, nulls kept, no HTML escaping, U+2028 escaped.
	want1 := `{"id":"pt1","active":true,"n":2,"given":["Ada","Maria","Ada"],"org":{"reference":"Organization/o1"},"odd":"a,\"b\"\nc <&> \u2028","birth":"1980-05-01"}`
	if lines[0] != want1 {
		t.Errorf("line 1\n got %s\nwant %s", lines[0], want1)
	}
	want2 := `{"id":"pt2","active":null,"n":1,"given":[],"org":null,"odd":"a,\"b\"\nc <&> \u2028","birth":null}`
	if lines[1] != want2 {
		t.Errorf("line 2\n got %s\nwant %s", lines[1], want2)
	}
	arr := writeAll(t, FormatJSON, writerView, decode(t, pt1), decode(t, pt2))
	var rows []map[string]any
	if err := json.Unmarshal(arr, &rows); err != nil {
		t.Fatalf("JSON output %q: %v", arr, err)
	}
	if len(rows) != 2 || rows[0]["id"] != "pt1" || rows[1]["active"] != nil {
		t.Errorf("JSON rows %v", rows)
	}
	if got := string(writeAll(t, FormatJSON, writerView)); got != "[]\n" {
		t.Errorf("empty JSON %q", got)
	}
	if got := writeAll(t, FormatNDJSON, writerView); len(got) != 0 {
		t.Errorf("empty NDJSON %q", got)
	}
}

func TestUnknownFormat(t *testing.T) {
	if _, err := NewWriter("xlsx", &bytes.Buffer{}, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("xlsx: %v", err)
	}
	for _, f := range Formats() {
		if ContentType(f) == "" {
			t.Errorf("no content type for %s", f)
		}
	}
}

// TestParquetMisfit: a value that does not fit its column's Parquet type is an error naming
// the column, not the value.
func TestParquetMisfit(t *testing.T) {
	v, err := Parse([]byte(`{"resource":"Patient","constant":[{"name":"s","valueString":"secret"}],"select":[{"column":[
		{"name":"n","path":"%s","type":"integer"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewParquet(&bytes.Buffer{}, v.Columns)
	if err != nil {
		t.Fatal(err)
	}
	err = v.Rows(decode(t, pt1), w.Write)
	if !errors.Is(err, ErrEval) || !strings.Contains(err.Error(), `column "n": a string value does not fit the column's type INT`) || strings.Contains(err.Error(), "secret") {
		t.Errorf("error %v", err)
	}
}
