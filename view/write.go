package view

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/fhirgate/fhirgate/internal/jsonstr"
)

// Writer writes a view's rows in one format, streaming: what it buffers is bounded (a Parquet
// row group at most), whatever the number of rows.
type Writer interface {
	// Write writes one row, whose values are in the order of the columns the writer was made
	// for. A value that does not fit its column's kind (Parquet) is an ErrEval error.
	Write(Row) error
	// Close writes what is buffered and the format's end (a JSON array's bracket, a Parquet
	// footer). It does not close the underlying io.Writer.
	Close() error
}

// The output formats, by their $viewdefinition-run _format codes.
const (
	FormatCSV     = "csv"
	FormatNDJSON  = "ndjson"
	FormatJSON    = "json"
	FormatParquet = "parquet"
)

// Formats lists the formats NewWriter writes.
func Formats() []string { return []string{FormatCSV, FormatNDJSON, FormatJSON, FormatParquet} }

// ContentType returns the media type of a format, "" for an unknown one.
func ContentType(format string) string {
	switch format {
	case FormatCSV:
		return "text/csv; charset=utf-8"
	case FormatNDJSON:
		return "application/x-ndjson"
	case FormatJSON:
		return "application/json"
	case FormatParquet:
		return "application/vnd.apache.parquet"
	}
	return ""
}

// NewWriter returns a writer of format to w for rows of the columns cols; a CSV starts with a
// header row of the column names. An unknown format is an ErrInvalid error.
func NewWriter(format string, w io.Writer, cols []Column) (Writer, error) {
	switch format {
	case FormatCSV:
		return NewCSV(w, cols, true), nil
	case FormatNDJSON:
		return NewNDJSON(w, cols), nil
	case FormatJSON:
		return NewJSON(w, cols), nil
	case FormatParquet:
		return NewParquet(w, cols)
	}
	return nil, fmt.Errorf("%w: unknown output format %q (known: csv, ndjson, json, parquet)", ErrInvalid, format)
}

// NewCSV returns a writer of RFC 4180 CSV (CRLF line ends, fields quoted when they hold a
// comma, quote or line end), with a header row of the column names when header is true.
// Null is an empty field; a complex value or a collection is its JSON text.
func NewCSV(w io.Writer, cols []Column, header bool) Writer {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	c := &csvWriter{w: cw, fields: make([]string, len(cols)), header: header}
	for i, col := range cols {
		c.fields[i] = col.Name
	}
	return c
}

type csvWriter struct {
	w      *csv.Writer
	fields []string
	header bool
	buf    []byte
}

func (c *csvWriter) writeHeader() error {
	if !c.header {
		return nil
	}
	c.header = false
	return c.w.Write(c.fields)
}

func (c *csvWriter) Write(row Row) error {
	if err := c.writeHeader(); err != nil {
		return err
	}
	for i, v := range row {
		switch v := v.(type) {
		case nil:
			c.fields[i] = ""
		case string:
			c.fields[i] = v
		case bool:
			c.fields[i] = strconv.FormatBool(v)
		case json.Number:
			c.fields[i] = string(v)
		default:
			c.buf = appendJSON(c.buf[:0], v)
			c.fields[i] = string(c.buf)
		}
	}
	return c.w.Write(c.fields)
}

func (c *csvWriter) Close() error {
	if err := c.writeHeader(); err != nil { // an empty view still has its header
		return err
	}
	c.w.Flush()
	return c.w.Error()
}

// NewNDJSON returns a writer of newline-delimited JSON: one object per row, its keys the
// column names in column order, null included.
func NewNDJSON(w io.Writer, cols []Column) Writer {
	return &jsonWriter{w: bufio.NewWriterSize(w, 64<<10), keys: jsonKeys(cols), sep: "\n", end: ""}
}

// NewJSON returns a writer of one JSON array of row objects, as NewNDJSON writes them.
func NewJSON(w io.Writer, cols []Column) Writer {
	return &jsonWriter{w: bufio.NewWriterSize(w, 64<<10), keys: jsonKeys(cols), start: "[", sep: ",\n", end: "]\n", array: true}
}

type jsonWriter struct {
	w                 *bufio.Writer
	keys              [][]byte // `"name":` per column
	start, sep, end   string
	array, begun, any bool
	buf               []byte
}

func jsonKeys(cols []Column) [][]byte {
	keys := make([][]byte, len(cols))
	for i, c := range cols {
		keys[i] = append(jsonstr.Append(nil, c.Name, false), ':')
	}
	return keys
}

func (j *jsonWriter) Write(row Row) error {
	b := j.buf[:0]
	switch {
	case !j.begun:
		b = append(b, j.start...)
		j.begun = true
	case j.array:
		b = append(b, j.sep...)
	}
	b = append(b, '{')
	for i, v := range row {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, j.keys[i]...)
		b = appendJSON(b, v)
	}
	b = append(b, '}')
	if !j.array {
		b = append(b, j.sep...)
	}
	j.buf = b
	_, err := j.w.Write(b)
	return err
}

func (j *jsonWriter) Close() error {
	if j.array {
		if !j.begun {
			j.w.WriteString(j.start)
		}
		j.w.WriteString(j.end)
	}
	return j.w.Flush()
}

// appendJSON appends the JSON of a row value.
func appendJSON(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return jsonstr.Append(b, v, false)
	case bool:
		return strconv.AppendBool(b, v)
	case json.Number:
		return append(b, v...)
	case []any:
		b = append(b, '[')
		for i, x := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, x)
		}
		return append(b, ']')
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return append(b, "null"...) // values come from decoded JSON: they encode
	}
	return append(b, bytes.TrimRight(buf.Bytes(), "\n")...)
}
