package demo

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/fhirgate/fhirgate/internal/jsonstr"
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
		return jsonstr.Append(b, x, false) // <, > and & as they are: notes stay readable in the files
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
			b = jsonstr.Append(b, m.key, false)
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
			b = jsonstr.Append(b, e, false)
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
