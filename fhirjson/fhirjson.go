// Package fhirjson handles FHIR JSON resources as the bytes a client sent, for the paths that
// write many resources at once (bundles, bulk import): it reads a resource's type and id,
// sets its id and server-managed meta, rewrites the references inside it and compares two
// versions apart from meta, all without decoding it into the model. What it writes keeps
// every value as it came, decimals such as 1.50 included; only the objects it changes are
// re-encoded, compactly.
package fhirjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/fhirgate/fhirgate/fault"
)

// ErrInvalid reports bytes that are not a JSON object of the shape a FHIR resource has.
var ErrInvalid = fault.New(fault.Invalid, "invalid FHIR JSON")

// member is one member of a JSON object: its key, decoded, and its value as written.
type member struct {
	key string
	val []byte
}

// Head returns a resource's resourceType and id (empty when absent). It reads only the
// top-level members, so it is cheap for large resources.
func Head(b []byte) (typ, id string, err error) {
	ms, err := members(b)
	if err != nil {
		return "", "", err
	}
	for _, m := range ms {
		switch m.key {
		case "resourceType":
			if typ, err = str(m.val); err != nil {
				return "", "", fmt.Errorf("%w: resourceType: %w", ErrInvalid, err)
			}
		case "id":
			if id, err = str(m.val); err != nil {
				return "", "", fmt.Errorf("%w: id: %w", ErrInvalid, err)
			}
		}
	}
	if typ == "" {
		return "", "", fmt.Errorf("%w: resourceType is missing", ErrInvalid)
	}
	return typ, id, nil
}

// Resource is a resource kept as JSON bytes; it implements storage.Resource.
type Resource struct {
	ms []member
}

// Parse returns the resource b holds. It checks the top level only (an object with a
// string resourceType): validation on write checks the rest.
func Parse(b []byte) (*Resource, error) {
	ms, err := members(b)
	if err != nil {
		return nil, err
	}
	r := &Resource{ms: ms}
	if t := r.get("resourceType"); t == nil {
		return nil, fmt.Errorf("%w: resourceType is missing", ErrInvalid)
	} else if _, err := str(t); err != nil {
		return nil, fmt.Errorf("%w: resourceType: %w", ErrInvalid, err)
	}
	return r, nil
}

// Type returns the resource's resourceType.
func (r *Resource) Type() string { s, _ := str(r.get("resourceType")); return s }

// ID returns the resource's id, or "" when it has none (or one that is not a string).
func (r *Resource) ID() string { s, _ := str(r.get("id")); return s }

// String returns the top-level member key when it is a string, such as a Bundle's type;
// "" otherwise.
func (r *Resource) String(key string) string { s, _ := str(r.get(key)); return s }

// SetID sets the resource's id, placing it after resourceType when it had none.
func (r *Resource) SetID(id string) { r.set("id", quote(id), "resourceType") }

// StampMeta sets meta.versionId and meta.lastUpdated (storage.Resource), first in meta,
// keeping the rest of meta (profiles, tags, security labels, source) as it was.
func (r *Resource) StampMeta(versionID string, lastUpdated time.Time) {
	var meta []member
	if old := r.get("meta"); old != nil {
		if ms, err := members(old); err == nil {
			meta = ms
		}
	}
	out := []member{
		{"versionId", quote(versionID)},
		{"lastUpdated", quote(lastUpdated.UTC().Format("2006-01-02T15:04:05.000Z07:00"))},
	}
	for _, m := range meta {
		if m.key != "versionId" && m.key != "lastUpdated" {
			out = append(out, m)
		}
	}
	r.set("meta", encode(out), "id")
}

// MarshalJSON returns the resource's JSON (storage.Resource).
func (r *Resource) MarshalJSON() ([]byte, error) { return encode(r.ms), nil }

// withoutServerMeta returns the resource's JSON without meta.versionId and
// meta.lastUpdated, and without meta when nothing else is in it.
func (r *Resource) withoutServerMeta() []byte {
	out := make([]member, 0, len(r.ms))
	for _, m := range r.ms {
		if m.key == "meta" {
			ms, err := members(m.val)
			if err != nil {
				out = append(out, m)
				continue
			}
			var keep []member
			for _, x := range ms {
				if x.key != "versionId" && x.key != "lastUpdated" {
					keep = append(keep, x)
				}
			}
			if len(keep) > 0 {
				out = append(out, member{"meta", encode(keep)})
			}
			continue
		}
		out = append(out, m)
	}
	return encode(out)
}

// SameContent reports whether resources a and b are equal apart from meta.versionId and
// meta.lastUpdated, which the server sets on every write: a write of b over a would
// change nothing else. Values are compared as JSON (formatting and key order aside,
// numbers by their digits).
func SameContent(a, b []byte) bool {
	ra, err := Parse(a)
	if err != nil {
		return false
	}
	rb, err := Parse(b)
	if err != nil {
		return false
	}
	ca, cb := ra.withoutServerMeta(), rb.withoutServerMeta()
	if bytes.Equal(ca, cb) {
		return true
	}
	va, errA := decode(ca)
	vb, errB := decode(cb)
	return errA == nil && errB == nil && reflect.DeepEqual(va, vb)
}

func decode(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

func (r *Resource) get(key string) []byte {
	if i := r.index(key); i >= 0 {
		return r.ms[i].val
	}
	return nil
}

// set sets member key to val, in place when present, else right after member after (or
// resourceType, or first, when there is no such member).
func (r *Resource) set(key string, val []byte, after string) {
	if i := r.index(key); i >= 0 {
		r.ms[i].val = val
		return
	}
	at := r.index(after) + 1
	if at == 0 {
		at = r.index("resourceType") + 1
	}
	r.ms = append(r.ms, member{})
	copy(r.ms[at+1:], r.ms[at:])
	r.ms[at] = member{key, val}
}

func (r *Resource) index(key string) int {
	for i, m := range r.ms {
		if m.key == key {
			return i
		}
	}
	return -1
}

// encode writes members as a compact JSON object.
func encode(ms []member) []byte {
	n := 2
	for _, m := range ms {
		n += len(m.key) + len(m.val) + 4
	}
	out := make([]byte, 0, n)
	out = append(out, '{')
	for i, m := range ms {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, quote(m.key)...)
		out = append(out, ':')
		out = append(out, m.val...)
	}
	return append(out, '}')
}

// quote encodes s as a JSON string, without HTML escaping (narratives keep their markup).
func quote(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// str decodes a JSON string value.
func str(v []byte) (string, error) {
	if len(v) < 2 || v[0] != '"' {
		return "", errors.New("not a string")
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return string(v[1 : len(v)-1]), nil
	}
	var s string
	err := json.Unmarshal(v, &s)
	return s, err
}

// members splits a JSON object into its members, values as written. It checks the
// object's structure, not the validity of every value: storage checks the whole.
func members(b []byte) ([]member, error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrInvalid)
	}
	var out []member
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return out, checkEnd(b, i+1)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, fmt.Errorf("%w: expected a member name at byte %d", ErrInvalid, i)
		}
		end, err := skipValue(b, i)
		if err != nil {
			return nil, err
		}
		key, err := str(b[i:end])
		if err != nil {
			return nil, fmt.Errorf("%w: member name at byte %d: %w", ErrInvalid, i, err)
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return nil, fmt.Errorf("%w: expected ':' at byte %d", ErrInvalid, i)
		}
		i = skipSpace(b, i+1)
		end, err = skipValue(b, i)
		if err != nil {
			return nil, err
		}
		out = append(out, member{key, b[i:end]})
		i = skipSpace(b, end)
		if i >= len(b) {
			return nil, fmt.Errorf("%w: unterminated object", ErrInvalid)
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return out, checkEnd(b, i+1)
		default:
			return nil, fmt.Errorf("%w: expected ',' or '}' at byte %d", ErrInvalid, i)
		}
	}
}

func checkEnd(b []byte, i int) error {
	if skipSpace(b, i) != len(b) {
		return fmt.Errorf("%w: data after the object at byte %d", ErrInvalid, i)
	}
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the JSON value that starts at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, fmt.Errorf("%w: expected a value at byte %d", ErrInvalid, i)
	}
	switch b[i] {
	case '"':
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1, nil
			}
		}
		return 0, fmt.Errorf("%w: unterminated string at byte %d", ErrInvalid, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, err := skipValue(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, fmt.Errorf("%w: unterminated %c at byte %d", ErrInvalid, b[i], i)
	default:
		j := i
		for j < len(b) && !bytes.ContainsRune([]byte(",}] \t\r\n"), rune(b[j])) {
			j++
		}
		if j == i {
			return 0, fmt.Errorf("%w: expected a value at byte %d", ErrInvalid, i)
		}
		return j, nil
	}
}
