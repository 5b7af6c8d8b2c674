package fhirjson

import "fmt"

// A Rewriter returns the new value of a string member named key (one of the keys Rewrite
// was asked about), or value itself to keep it; an error stops the rewrite.
type Rewriter func(key, value string) (string, error)

// Rewrite calls f with every string member, at any depth, whose name is in keys (such as
// "reference" in every Reference), and replaces its value with what f returns. Only the
// objects and arrays on the way to a changed value are re-encoded.
func (r *Resource) Rewrite(keys map[string]bool, f Rewriter) error {
	for i, m := range r.ms {
		v, changed, err := rewriteValue(m.val, m.key, keys, f)
		if err != nil {
			return err
		}
		if changed {
			r.ms[i].val = v
		}
	}
	return nil
}

// rewriteValue rewrites value v of member key; changed reports whether out differs from v.
func rewriteValue(v []byte, key string, keys map[string]bool, f Rewriter) (out []byte, changed bool, err error) {
	if len(v) == 0 {
		return v, false, nil
	}
	switch v[0] {
	case '"':
		if !keys[key] {
			return v, false, nil
		}
		s, err := str(v)
		if err != nil {
			return nil, false, fmt.Errorf("%w: %s: %w", ErrInvalid, key, err)
		}
		ns, err := f(key, s)
		if err != nil || ns == s {
			return v, false, err
		}
		return quote(ns), true, nil
	case '{':
		ms, err := members(v)
		if err != nil {
			return nil, false, err
		}
		any := false
		for i, m := range ms {
			nv, ch, err := rewriteValue(m.val, m.key, keys, f)
			if err != nil {
				return nil, false, err
			}
			if ch {
				ms[i].val, any = nv, true
			}
		}
		if !any {
			return v, false, nil
		}
		return encode(ms), true, nil
	case '[':
		elems, err := elements(v)
		if err != nil {
			return nil, false, err
		}
		any := false
		for i, e := range elems {
			// An array's elements are values of the member that holds the array.
			ne, ch, err := rewriteValue(e, key, keys, f)
			if err != nil {
				return nil, false, err
			}
			if ch {
				elems[i], any = ne, true
			}
		}
		if !any {
			return v, false, nil
		}
		out := []byte{'['}
		for i, e := range elems {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, e...)
		}
		return append(out, ']'), true, nil
	}
	return v, false, nil
}

// elements splits a JSON array into its elements, as written.
func elements(b []byte) ([][]byte, error) {
	i := skipSpace(b, 1)
	var out [][]byte
	if i < len(b) && b[i] == ']' {
		return out, nil
	}
	for {
		end, err := skipValue(b, i)
		if err != nil {
			return nil, err
		}
		out = append(out, b[i:end])
		i = skipSpace(b, end)
		if i >= len(b) {
			return nil, fmt.Errorf("%w: unterminated array", ErrInvalid)
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			return out, nil
		default:
			return nil, fmt.Errorf("%w: expected ',' or ']' at byte %d", ErrInvalid, i)
		}
	}
}
