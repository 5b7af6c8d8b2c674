package view

import (
	"encoding/base64"
	"fmt"
	"math"
	"time"
)

// DriverValue converts a value of column c, as Rows gives it, to the Go value a SQL database
// driver stores in a column of c's Kind, by the rules the Parquet writer follows: nil stays
// nil; a string (KindString, and KindJSON as JSON text), a bool, an int32 (KindInt), an int64
// (KindBigInt), a float64 (KindDouble), a time.Time (KindTimestamp in UTC, KindDate at
// midnight UTC) or a []byte (KindBinary, decoded from base64). A collection column's value is
// a []any of its items converted so, empty when the path yielded nothing. A value that does
// not fit the kind is an ErrEval error naming the column, never showing the value.
func (c *Column) DriverValue(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if !c.Collection {
		return c.driverItem(v)
	}
	items, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: column %q: a %s value where a list is expected", ErrEval, c.Name, jsonKind(v))
	}
	out := make([]any, len(items))
	for i, item := range items {
		var err error
		if out[i], err = c.driverItem(item); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// driverItem converts one non-collection value, or one item of a collection.
func (c *Column) driverItem(v any) (any, error) {
	switch c.Kind {
	case KindBoolean:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case KindInt:
		if n, ok := integer(v); ok && n >= math.MinInt32 && n <= math.MaxInt32 {
			return int32(n), nil
		}
	case KindBigInt:
		if n, ok := integer(v); ok {
			return n, nil
		}
	case KindDouble:
		if f, ok := number(v); ok {
			return f, nil
		}
	case KindTimestamp:
		if s, ok := v.(string); ok {
			if t, ok := parseInstant(s); ok {
				return t.UTC(), nil
			}
		}
	case KindDate:
		if s, ok := v.(string); ok {
			if t, err := time.Parse(time.DateOnly, s); err == nil {
				return t, nil
			}
		}
	case KindBinary:
		if s, ok := v.(string); ok {
			if b, err := base64.StdEncoding.DecodeString(s); err == nil {
				return b, nil
			}
		}
	case KindJSON: // JSON text, whatever the value
		return string(appendJSON(nil, v)), nil
	default:
		return string(textOf(v)), nil
	}
	return nil, fmt.Errorf("%w: column %q: a %s value does not fit the column's type %s", ErrEval, c.Name, jsonKind(v), c.Kind)
}
