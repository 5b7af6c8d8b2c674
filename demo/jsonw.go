package demo

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// member is one name/value pair of an object.
type member struct {
	key string
	val any
}

// object is a JSON object whose members are written in the order they were
// listed, so every resource starts with resourceType and id like the examples
// in the FHIR specification, and the output does not depend on map iteration.
//
// Members whose value is empty (nil, "", an object or array with nothing left
// in it) are left out when the object is written: FHIR forbids empty strings,
// arrays and objects, and leaving them out here lets the builders list
// optional elements without a condition around each one.
//
// Values may be string, json.Number, bool, int, object, []object, []string or
// []any (whose elements are any of these); anything else is a programming
// error and panics.
type object []member

// isEmpty reports whether v would be written as nothing at all.
func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case json.Number:
		return x == ""
	case object:
		for _, m := range x {
			if !isEmpty(m.val) {
				return false
			}
		}
		return true
	case []object:
		for _, o := range x {
			if !isEmpty(o) {
				return false
			}
		}
		return true
	case []string:
		for _, s := range x {
			if s != "" {
				return false
			}
		}
		return true
	case []any:
		for _, e := range x {
			if !isEmpty(e) {
				return false
			}
		}
		return true
	}
	return false
}

// appendJSON appends the compact JSON text of v to b.
func appendJSON(b []byte, v any) []byte {
	switch x := v.(type) {
	case string:
		return appendString(b, x)
	case json.Number:
		return append(b, x...)
	case bool:
		return strconv.AppendBool(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case object:
		b = append(b, '{')
		n := 0
		for _, m := range x {
			if isEmpty(m.val) {
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = appendString(b, m.key)
			b = append(b, ':')
			b = appendJSON(b, m.val)
		}
		return append(b, '}')
	case []object:
		b = append(b, '[')
		n := 0
		for _, e := range x {
			if isEmpty(e) {
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = appendJSON(b, e)
		}
		return append(b, ']')
	case []string:
		b = append(b, '[')
		n := 0
		for _, e := range x {
			if e == "" {
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = appendString(b, e)
		}
		return append(b, ']')
	case []any:
		b = append(b, '[')
		n := 0
		for _, e := range x {
			if isEmpty(e) {
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = appendJSON(b, e)
		}
		return append(b, ']')
	}
	panic(fmt.Sprintf("demo: cannot write %T as JSON", v))
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Unlike encoding/json it leaves
// <, > and & alone, which keeps note text readable in the raw output.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, `\ufffd`...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
