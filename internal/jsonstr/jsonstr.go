// Package jsonstr writes and reads JSON string literals byte for byte as encoding/json
// does, without its reflection and allocations: for the encoders that build JSON by hand
// (the embedded engine's stored documents, view rows, demo data) and the decoders that
// read it (stored documents, jsontree).
package jsonstr

import (
	"bytes"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

const hex = "0123456789abcdef"

// Append appends s as a quoted JSON string as encoding/json encodes it: '"' and '\\'
// escaped, \b \f \n \r \t short, other control characters as \u00XX, U+2028 and U+2029 as
// \u2028 and \u2029, each byte of invalid UTF-8 as \ufffd, and with escapeHTML (its default)
// '<', '>' and '&' as \u003c, \u003e and \u0026.
func Append(dst []byte, s string, escapeHTML bool) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= ' ' && b != '"' && b != '\\' && (!escapeHTML || b != '<' && b != '>' && b != '&') {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Unescape appends to dst the text of a JSON string whose contents, between the quotes,
// are raw, its escapes decoded as encoding/json decodes them (a lone surrogate becomes
// U+FFFD). It reports false for an escape JSON does not have; it does not check raw for
// control characters or invalid UTF-8, which it copies as they are.
func Unescape(dst, raw []byte) ([]byte, bool) {
	for {
		j := bytes.IndexByte(raw, '\\')
		if j < 0 {
			return append(dst, raw...), true
		}
		dst = append(dst, raw[:j]...)
		if j+1 >= len(raw) {
			return nil, false
		}
		c := raw[j+1]
		raw = raw[j+2:]
		switch c {
		case '"', '\\', '/':
			dst = append(dst, c)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, n, ok := hexRune(raw)
			if !ok {
				return nil, false
			}
			raw = raw[n:]
			dst = utf8.AppendRune(dst, r)
		default:
			return nil, false
		}
	}
}

// hexRune decodes the XXXX of a \uXXXX escape at the start of b, and the low half that
// follows a high surrogate, returning the rune and the bytes it took.
func hexRune(b []byte) (rune, int, bool) {
	hex4 := func(b []byte) (rune, bool) {
		if len(b) < 4 {
			return 0, false
		}
		n, err := strconv.ParseUint(string(b[:4]), 16, 16)
		return rune(n), err == nil
	}
	r, ok := hex4(b)
	if !ok {
		return 0, 0, false
	}
	if utf16.IsSurrogate(r) && len(b) >= 10 && b[4] == '\\' && b[5] == 'u' {
		if lo, ok := hex4(b[6:]); ok {
			if pair := utf16.DecodeRune(r, lo); pair != utf8.RuneError {
				return pair, 10, true
			}
		}
	}
	if utf16.IsSurrogate(r) {
		r = utf8.RuneError // a lone surrogate, as encoding/json decodes it
	}
	return r, 4, true
}
