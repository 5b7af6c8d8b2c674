package view

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/snappy"
)

// Parquet output: one optional leaf per column, typed by its Kind (a collection is an
// optional LIST of required items), in column order, Snappy-compressed, in row groups of
// at most parquetRowGroup rows so that memory stays bounded.
const (
	parquetRowGroup = 64 << 10
	parquetBatch    = 512 // rows handed to the parquet writer at once
)

// NewParquet returns a writer of a Parquet file. An instant (TIMESTAMP) is stored in
// microseconds, adjusted to UTC; a decimal stays a string unless an ansi/type tag asks for a
// DOUBLE, as the specification's default type table says (a string keeps every digit).
func NewParquet(w io.Writer, cols []Column) (Writer, error) {
	fields := make([]parquet.Field, len(cols))
	for i, c := range cols {
		n := leafNode(c.Kind)
		if c.Collection {
			n = parquet.List(n)
		}
		fields[i] = &orderedField{Node: parquet.Optional(n), name: c.Name}
	}
	schema := parquet.NewSchema("view", orderedGroup{fields: fields})
	pw := parquet.NewGenericWriter[any](w, schema,
		parquet.Compression(&snappy.Codec{}),
		parquet.MaxRowsPerRowGroup(parquetRowGroup),
		parquet.CreatedBy("fhirgate", "", ""))
	return &parquetWriter{w: pw, cols: cols}, nil
}

// leafNode is the Parquet type of a kind.
func leafNode(k Kind) parquet.Node {
	switch k {
	case KindBoolean:
		return parquet.Leaf(parquet.BooleanType)
	case KindInt:
		return parquet.Int(32)
	case KindBigInt:
		return parquet.Int(64)
	case KindDouble:
		return parquet.Leaf(parquet.DoubleType)
	case KindTimestamp:
		return parquet.Timestamp(parquet.Microsecond)
	case KindDate:
		return parquet.Date()
	case KindBinary:
		return parquet.Leaf(parquet.ByteArrayType)
	}
	return parquet.String() // strings, and complex values as JSON text
}

// orderedGroup is a Parquet group whose fields keep the order they are given in (parquet.Group
// sorts them by name), as the specification's column order requires.
type orderedGroup struct {
	parquet.Group // for the node methods of a group, which do not depend on the fields
	fields        []parquet.Field
}

func (g orderedGroup) Fields() []parquet.Field { return g.fields }

func (g orderedGroup) String() string {
	var b strings.Builder
	b.WriteString("message view {")
	for _, f := range g.fields {
		fmt.Fprintf(&b, " %s %s;", f.Name(), f.Type())
	}
	b.WriteString(" }")
	return b.String()
}

func (g orderedGroup) GoType() reflect.Type {
	fields := make([]reflect.StructField, len(g.fields))
	for i, f := range g.fields {
		fields[i] = reflect.StructField{Name: fmt.Sprintf("F%d", i), Type: f.GoType(), Tag: reflect.StructTag(`parquet:"` + f.Name() + `"`)}
	}
	return reflect.StructOf(fields)
}

// orderedField is a named field of an orderedGroup.
type orderedField struct {
	parquet.Node
	name string
}

func (f *orderedField) Name() string { return f.name }

// Value is not used: rows are built as parquet.Row values, never from Go structs.
func (f *orderedField) Value(base reflect.Value) reflect.Value { return reflect.Value{} }

type parquetWriter struct {
	w    *parquet.GenericWriter[any]
	cols []Column
	rows []parquet.Row
	n    int // rows buffered in rows
}

func (p *parquetWriter) Write(row Row) error {
	if p.n == len(p.rows) {
		p.rows = append(p.rows, nil)
	}
	r := p.rows[p.n][:0]
	for i, v := range row {
		var err error
		if r, err = p.appendColumn(r, i, v); err != nil {
			return err
		}
	}
	p.rows[p.n] = r
	p.n++
	if p.n == parquetBatch {
		return p.flush()
	}
	return nil
}

// appendColumn appends the values of column i holding v to r, with their levels: an optional
// column is defined (1) or null (0); an optional list is null (0), empty (1) or has items (2),
// the first starting a new row (repetition 0), the others continuing it (1).
func (p *parquetWriter) appendColumn(r parquet.Row, i int, v any) (parquet.Row, error) {
	col := &p.cols[i]
	if !col.Collection {
		if v == nil {
			return append(r, parquet.NullValue().Level(0, 0, i)), nil
		}
		pv, err := parquetValue(col, v)
		if err != nil {
			return nil, err
		}
		return append(r, pv.Level(0, 1, i)), nil
	}
	items, _ := v.([]any)
	switch {
	case v == nil:
		return append(r, parquet.NullValue().Level(0, 0, i)), nil
	case len(items) == 0:
		return append(r, parquet.NullValue().Level(0, 1, i)), nil
	}
	for k, item := range items {
		pv, err := parquetValue(col, item)
		if err != nil {
			return nil, err
		}
		rep := 1
		if k == 0 {
			rep = 0
		}
		r = append(r, pv.Level(rep, 2, i))
	}
	return r, nil
}

func (p *parquetWriter) flush() error {
	if p.n == 0 {
		return nil
	}
	_, err := p.w.WriteRows(p.rows[:p.n])
	p.n = 0
	return err
}

func (p *parquetWriter) Close() error {
	if err := p.flush(); err != nil {
		return err
	}
	return p.w.Close()
}

// parquetValue converts a non-null value of column col to its Parquet value.
func parquetValue(col *Column, v any) (parquet.Value, error) {
	misfit := func() (parquet.Value, error) {
		return parquet.Value{}, fmt.Errorf("%w: column %q: a %s value does not fit the column's type %s", ErrEval, col.Name, jsonKind(v), col.Kind)
	}
	switch col.Kind {
	case KindBoolean:
		if b, ok := v.(bool); ok {
			return parquet.BooleanValue(b), nil
		}
	case KindInt, KindBigInt:
		n, ok := integer(v)
		switch {
		case !ok:
		case col.Kind == KindBigInt:
			return parquet.Int64Value(n), nil
		case n >= math.MinInt32 && n <= math.MaxInt32:
			return parquet.Int32Value(int32(n)), nil
		}
	case KindDouble:
		if f, ok := number(v); ok {
			return parquet.DoubleValue(f), nil
		}
	case KindTimestamp:
		if s, ok := v.(string); ok {
			if t, ok := parseInstant(s); ok {
				return parquet.Int64Value(t.UnixMicro()), nil
			}
		}
	case KindDate:
		if s, ok := v.(string); ok {
			if t, err := time.Parse(time.DateOnly, s); err == nil {
				return parquet.Int32Value(int32(t.Unix() / 86400)), nil
			}
		}
	case KindBinary:
		if s, ok := v.(string); ok {
			if b, err := base64.StdEncoding.DecodeString(s); err == nil {
				return parquet.ByteArrayValue(b), nil
			}
		}
	default:
		return parquet.ByteArrayValue(textOf(v)), nil
	}
	return misfit()
}

// textOf is a value as a string column holds it: a string as it is, a number or boolean as
// its JSON text, a complex value as its JSON.
func textOf(v any) []byte {
	switch v := v.(type) {
	case string:
		return []byte(v)
	case json.Number:
		return []byte(v)
	}
	return appendJSON(nil, v)
}

// integer reads a whole number from a JSON number or a string of digits.
func integer(v any) (int64, bool) {
	var s string
	switch v := v.(type) {
	case json.Number:
		s = string(v)
	case string:
		s = v
	default:
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// number reads a number from a JSON number or a numeric string.
func number(v any) (float64, bool) {
	var s string
	switch v := v.(type) {
	case json.Number:
		s = string(v)
	case string:
		s = v
	default:
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// parseInstant reads a FHIR instant, or a dateTime or date of any precision as the instant it
// starts at (UTC when it has no offset).
func parseInstant(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02", "2006-01", "2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// jsonKind names the JSON kind of a value for messages, which must not show the value.
func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	case map[string]any:
		return "complex"
	case []any:
		return "list"
	}
	return fmt.Sprintf("%T", v)
}
