// Package jsontree decodes JSON into the tree encoding/json's Decoder makes of it with
// UseNumber: map[string]any, []any, string, json.Number, bool and nil. It is several
// times faster on the resources fhirgate stores, which validation and search extraction
// decode on every write.
//
// Decode is exact where it is fast and hands anything else to encoding/json: invalid JSON
// (so errors read as encoding/json's), invalid UTF-8 in a string (which encoding/json
// replaces), very deep nesting. Its results are therefore always encoding/json's.
package jsontree

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/fhirgate/fhirgate/internal/jsonstr"
)

// maxDepth bounds the nesting the fast path follows; encoding/json's own limit is 10,000.
const maxDepth = 1000

// Decode returns the first JSON value in data as encoding/json's Decoder with UseNumber
// returns it; like Decode, it ignores what follows that value.
func Decode(data []byte) (any, error) {
	d := decoder{data: data}
	if v, ok := d.value(0); ok {
		return v, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// decoder reads one value; false from any method means "not on the fast path".
type decoder struct {
	data []byte
	i    int
}

func (d *decoder) skipSpace() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) value(depth int) (any, bool) {
	d.skipSpace()
	if d.i >= len(d.data) || depth > maxDepth {
		return nil, false
	}
	switch c := d.data[d.i]; {
	case c == '{':
		return d.object(depth)
	case c == '[':
		return d.array(depth)
	case c == '"':
		s, ok := d.string()
		return s, ok
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	}
	return nil, false
}

func (d *decoder) literal(word string) bool {
	if !bytes.HasPrefix(d.data[d.i:], []byte(word)) {
		return false
	}
	d.i += len(word)
	return true
}

func (d *decoder) object(depth int) (any, bool) {
	m := map[string]any{}
	if !d.open('}') {
		return m, true
	}
	for {
		d.skipSpace()
		if d.i >= len(d.data) || d.data[d.i] != '"' {
			return nil, false
		}
		k, ok := d.string()
		if !ok {
			return nil, false
		}
		d.skipSpace()
		if d.i >= len(d.data) || d.data[d.i] != ':' {
			return nil, false
		}
		d.i++
		v, ok := d.value(depth + 1)
		if !ok {
			return nil, false
		}
		m[k] = v // the last of duplicate keys wins, as in encoding/json
		if more, ok := d.next('}'); !more {
			return m, ok
		}
	}
}

func (d *decoder) array(depth int) (any, bool) {
	a := []any{}
	if !d.open(']') {
		return a, true
	}
	for {
		v, ok := d.value(depth + 1)
		if !ok {
			return nil, false
		}
		a = append(a, v)
		if more, ok := d.next(']'); !more {
			return a, ok
		}
	}
}

// open reads the opening bracket at d.i and reports whether a member or element follows;
// if not, it reads the closing bracket too.
func (d *decoder) open(closing byte) bool {
	d.i++
	d.skipSpace()
	if d.i < len(d.data) && d.data[d.i] == closing {
		d.i++
		return false
	}
	return true
}

// next reads what follows a member or element: a comma (more follows) or the closing
// bracket (ok); anything else is neither.
func (d *decoder) next(closing byte) (more, ok bool) {
	d.skipSpace()
	if d.i < len(d.data) {
		switch d.data[d.i] {
		case ',':
			d.i++
			return true, true
		case closing:
			d.i++
			return false, true
		}
	}
	return false, false
}

// string reads a string at d.i, which holds its opening quote.
func (d *decoder) string() (string, bool) {
	start := d.i + 1
	for j := start; j < len(d.data); j++ {
		switch c := d.data[j]; {
		case c == '"':
			d.i = j + 1
			return string(d.data[start:j]), true
		case c == '\\' || c >= utf8.RuneSelf:
			return d.slowString(start)
		case c < ' ':
			return "", false
		}
	}
	return "", false
}

// slowString reads a string with escapes or non-ASCII characters, from its first byte at
// start: to its closing quote, then decoded.
func (d *decoder) slowString(start int) (string, bool) {
	for j := start; j < len(d.data); {
		switch c := d.data[j]; {
		case c == '"':
			b, ok := jsonstr.Unescape(make([]byte, 0, j-start), d.data[start:j])
			d.i = j + 1
			return string(b), ok
		case c < ' ':
			return "", false
		case c == '\\':
			j += 2 // the escaped character is never the closing quote
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(d.data[j:])
			if r == utf8.RuneError && n == 1 {
				return "", false // encoding/json replaces invalid UTF-8; leave it to it
			}
			j += n
		default:
			j++
		}
	}
	return "", false
}

// number reads a number in JSON's grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *decoder) number() (any, bool) {
	start, j := d.i, d.i
	digits := func() bool {
		k := j
		for j < len(d.data) && d.data[j] >= '0' && d.data[j] <= '9' {
			j++
		}
		return j > k
	}
	if d.data[j] == '-' {
		j++
	}
	if j < len(d.data) && d.data[j] == '0' {
		j++
	} else if !digits() {
		return nil, false
	}
	if j < len(d.data) && d.data[j] == '.' {
		j++
		if !digits() {
			return nil, false
		}
	}
	if j < len(d.data) && (d.data[j] == 'e' || d.data[j] == 'E') {
		j++
		if j < len(d.data) && (d.data[j] == '+' || d.data[j] == '-') {
			j++
		}
		if !digits() {
			return nil, false
		}
	}
	d.i = j
	return json.Number(d.data[start:j]), true
}

// DecodeObject returns the first JSON value in data as encoding/json's Decoder with
// UseNumber decodes it into a map[string]any: nil for null, and encoding/json's error for a
// value that is not an object.
func DecodeObject(data []byte) (map[string]any, error) {
	d := decoder{data: data}
	if v, ok := d.value(0); ok {
		switch v := v.(type) {
		case map[string]any:
			return v, nil
		case nil:
			return nil, nil
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}
