package flatten

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// object is a JSON object that keeps its keys' order: an answer's fields come in the order the
// query selects them, and a flattened answer keeps that order.
type object struct {
	keys []string
	vals []any // *object, []any, string, json.Number, bool or nil
	idx  map[string]int
}

func (o *object) get(k string) (any, bool) {
	if o.idx == nil {
		o.idx = make(map[string]int, len(o.keys))
		for i, key := range o.keys {
			o.idx[key] = i
		}
	}
	i, ok := o.idx[k]
	if !ok {
		return nil, false
	}
	return o.vals[i], true
}

func (o *object) set(k string, v any) {
	o.keys = append(o.keys, k)
	o.vals = append(o.vals, v)
	o.idx = nil
}

// decode reads a JSON document into objects, lists and scalars; numbers keep their text.
func decode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("flatten: trailing data after the answer")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &object{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				o.set(k.(string), v)
			}
			_, err := dec.Token() // }
			return o, err
		case '[':
			l := []any{}
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				l = append(l, v)
			}
			_, err := dec.Token() // ]
			return l, err
		}
		return nil, fmt.Errorf("flatten: unexpected %v", t)
	}
	return tok, nil // string, json.Number, bool or nil
}

// encode writes v as JSON.
func encode(buf *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case *object:
		buf.WriteByte('{')
		for i, k := range x.keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := encodeString(buf, k); err != nil {
				return err
			}
			buf.WriteByte(':')
			if err := encode(buf, x.vals[i]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case []any:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := encode(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case string:
		return encodeString(buf, x)
	case json.Number:
		buf.WriteString(string(x))
	case bool:
		if x {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	case nil:
		buf.WriteString("null")
	default:
		return fmt.Errorf("flatten: cannot encode %T", v)
	}
	return nil
}

// encodeString writes s as a JSON string, without the HTML escapes encoding/json adds by
// default (gqlgen writes none either).
func encodeString(buf *bytes.Buffer, s string) error {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return err
	}
	buf.Truncate(buf.Len() - 1) // Encode's newline
	return nil
}
