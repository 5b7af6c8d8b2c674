//go:build cgo

package sqlquery

import (
	"database/sql/driver"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/fhirgate/fhirgate/view"
)

// converter turns a value the driver scanned into a value of a view.Row.
type converter func(driver.Value) any

// answerColumns returns the columns of an answer, typed from their SQL types, and a
// converter per column. Two columns of one name are an error: the formats key values by name.
func answerColumns(rows driver.Rows) ([]view.Column, []converter, error) {
	names := rows.Columns()
	typed, _ := rows.(driver.RowsColumnTypeDatabaseTypeName)
	cols := make([]view.Column, len(names))
	convs := make([]converter, len(names))
	seen := map[string]bool{}
	for i, name := range names {
		if seen[name] {
			return nil, nil, fmt.Errorf("%w: the answer has two columns named %q; name them apart with AS", ErrInvalid, name)
		}
		seen[name] = true
		sqlType := ""
		if typed != nil {
			sqlType = typed.ColumnTypeDatabaseTypeName(i)
		}
		kind, collection := kindOf(sqlType)
		cols[i] = view.Column{Name: name, Type: sqlType, Kind: kind, Collection: collection}
		convs[i] = converterOf(sqlType)
	}
	return cols, convs, nil
}

// kindOf maps a DuckDB type name to the kind a view writer represents its values as: a list
// of a scalar type is a collection of that kind, nested and composite types are JSON, and
// what has no exact counterpart (DECIMAL, TIME, INTERVAL, UUID) is text.
func kindOf(sqlType string) (view.Kind, bool) {
	if item, ok := listItem(sqlType); ok {
		if _, nested := listItem(item); nested {
			return view.KindJSON, false
		}
		k, _ := kindOf(item)
		return k, true
	}
	base, _, _ := strings.Cut(sqlType, "(")
	switch strings.TrimSpace(base) {
	case "BOOLEAN":
		return view.KindBoolean, false
	case "TINYINT", "SMALLINT", "INTEGER", "UTINYINT", "USMALLINT":
		return view.KindInt, false
	case "BIGINT", "UINTEGER", "UBIGINT", "HUGEINT", "UHUGEINT":
		return view.KindBigInt, false
	case "FLOAT", "DOUBLE":
		return view.KindDouble, false
	case "DATE":
		return view.KindDate, false
	case "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ":
		return view.KindTimestamp, false
	case "BLOB":
		return view.KindBinary, false
	case "JSON", "STRUCT", "MAP", "UNION":
		return view.KindJSON, false
	}
	return view.KindString, false
}

// listItem returns the item type of a LIST (T[]) or ARRAY (T[n]) type.
func listItem(sqlType string) (string, bool) {
	if !strings.HasSuffix(sqlType, "]") {
		return "", false
	}
	i := strings.LastIndexByte(sqlType, '[')
	if i <= 0 {
		return "", false
	}
	return sqlType[:i], true
}

// converterOf returns the converter of a column of sqlType: dates, times and timestamps by
// their type, the rest by their Go type.
func converterOf(sqlType string) converter {
	if item, ok := listItem(sqlType); ok {
		conv := converterOf(item)
		return func(v driver.Value) any {
			items, ok := v.([]any)
			if !ok {
				return rowValue(v)
			}
			out := make([]any, len(items))
			for i, x := range items {
				out[i] = conv(x)
			}
			return out
		}
	}
	base, _, _ := strings.Cut(sqlType, "(")
	switch strings.TrimSpace(base) {
	case "JSON": // scanned as its text: decoded here, numbers digit for digit
		return func(v driver.Value) any {
			s, ok := v.(string)
			if !ok {
				return rowValue(v)
			}
			dec := json.NewDecoder(strings.NewReader(s))
			dec.UseNumber()
			var out any
			if dec.Decode(&out) != nil {
				return s
			}
			return out
		}
	case "DATE":
		return timeAs(time.DateOnly)
	case "TIME", "TIME WITH TIME ZONE", "TIMETZ":
		return timeAs("15:04:05.999999")
	case "UUID": // scanned as 16 bytes, which would otherwise be base64
		return func(v driver.Value) any {
			if b, ok := v.([]byte); ok {
				return uuidText(b)
			}
			return rowValue(v)
		}
	}
	return rowValue
}

func timeAs(layout string) converter {
	return func(v driver.Value) any {
		if t, ok := v.(time.Time); ok {
			return t.Format(layout)
		}
		return rowValue(v)
	}
}

// rowValue converts a scanned value: numbers to their exact text (json.Number), a decimal
// digit for digit, a non-finite float to its name, a timestamp to RFC 3339 in UTC, bytes to
// base64, a UUID to its text, an interval to an ISO 8601 duration, lists and structs item by
// item, maps to objects.
func rowValue(v driver.Value) any {
	switch v := v.(type) {
	case nil, bool, string:
		return v
	case int8, int16, int32, int64, uint8, uint16, uint32, uint64, int, uint:
		return json.Number(fmt.Sprint(v))
	case *big.Int:
		return json.Number(v.String())
	case float32:
		return floatValue(float64(v), 32)
	case float64:
		return floatValue(v, 64)
	case duckdb.Decimal:
		return json.Number(decimalText(v))
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	case []byte:
		return base64.StdEncoding.EncodeToString(v)
	case duckdb.Interval:
		return fmt.Sprintf("P%dM%dDT%sS", v.Months, v.Days, strconv.FormatFloat(float64(v.Micros)/1e6, 'f', -1, 64))
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = rowValue(x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = rowValue(x)
		}
		return out
	case duckdb.OrderedMap:
		out := make(map[string]any, v.Len())
		for _, k := range v.Keys() {
			x, _ := v.Get(k)
			out[fmt.Sprint(k)] = rowValue(x)
		}
		return out
	case duckdb.Map:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[fmt.Sprint(k)] = rowValue(x)
		}
		return out
	}
	return fmt.Sprint(v)
}

// floatValue is a float's shortest exact text, or NaN, Infinity, -Infinity as strings: JSON
// has no number for them.
func floatValue(f float64, bits int) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return json.Number(strconv.FormatFloat(f, 'g', -1, bits))
}

// decimalText writes a DECIMAL with all its scale's digits (1.50 as 1.50).
func decimalText(d duckdb.Decimal) string {
	if d.Value == nil {
		return "0"
	}
	digits := new(big.Int).Abs(d.Value).String()
	sign := ""
	if d.Value.Sign() < 0 {
		sign = "-"
	}
	scale := int(d.Scale)
	if scale == 0 {
		return sign + digits
	}
	if len(digits) <= scale {
		digits = strings.Repeat("0", scale-len(digits)+1) + digits
	}
	return sign + digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
}

func uuidText(b []byte) string {
	h := hex.EncodeToString(b)
	if len(h) != 32 {
		return h
	}
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
