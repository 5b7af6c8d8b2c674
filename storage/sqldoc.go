package storage

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"

	"github.com/fhirgate/fhirgate/internal/jsonstr"
)

// Reads on the embedded engine take each stored document as FerretDB's JSON text and pick
// the fields a record needs out of it here, rather than with SQLite's JSON functions: those
// parse the whole text (the resource's JSON is a string inside it, plus the search fields)
// once per call and look the parse up again by comparing the whole text, which cost more
// than everything else a read of 100,000 documents does. The text is compact JSON written
// by FerretDB: an object whose first member, "$s", holds the field types, then the fields.

// storedDoc is what reads use of a stored version document.
type storedDoc struct {
	id           string
	v, ts, seq   int64
	op           int64
	del          bool
	json, packed []byte // the resource's JSON; the packed search fields (base64 in the text)
}

// errStoredLayout reports a stored document that is not the JSON object reads expect.
var errStoredLayout = errors.New("unexpected stored document layout")

// parseStored picks the fields of storedDoc out of stored document text; withPacked also
// takes the packed search fields. Other fields are skipped; absent ones stay zero.
func parseStored(text []byte, withPacked bool) (storedDoc, error) {
	var d storedDoc
	p := jsonScan{b: text}
	if !p.consume('{') {
		return d, errStoredLayout
	}
	if p.consume('}') {
		return d, nil
	}
	for {
		key, ok := p.rawString()
		if !ok || !p.consume(':') {
			return d, errStoredLayout
		}
		var err error
		switch string(key) {
		case "_id":
			var id []byte
			id, err = p.str()
			d.id = string(id)
		case "v":
			d.v, err = p.integer()
		case "ts":
			d.ts, err = p.integer()
		case "seq":
			d.seq, err = p.integer()
		case "op":
			d.op, err = p.integer()
		case "del":
			d.del = p.literal("true")
			if !d.del && !p.literal("false") {
				err = errStoredLayout
			}
		case "json":
			d.json, err = p.str()
		case "ix":
			if !withPacked {
				err = p.skip()
				break
			}
			var b64 []byte
			if b64, err = p.str(); err == nil {
				d.packed, err = decodeBase64(b64)
			}
		default:
			err = p.skip()
		}
		if err != nil {
			return d, fmt.Errorf("field %q: %w", key, err)
		}
		if p.consume('}') {
			return d, nil
		}
		if !p.consume(',') {
			return d, errStoredLayout
		}
	}
}

// jsonScan reads compact JSON text from position i of b.
type jsonScan struct {
	b []byte
	i int
}

// consume skips c if it comes next.
func (p *jsonScan) consume(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// literal skips word if it comes next.
func (p *jsonScan) literal(word string) bool {
	if bytes.HasPrefix(p.b[p.i:], []byte(word)) {
		p.i += len(word)
		return true
	}
	return false
}

// rawString returns the next string's text between its quotes, escapes left as they are.
// It looks for quotes only (IndexByte is vectorised; the resource JSON inside a document has
// an escaped quote every few bytes): a quote after an odd run of backslashes is escaped.
func (p *jsonScan) rawString() ([]byte, bool) {
	if !p.consume('"') {
		return nil, false
	}
	start := p.i
	for {
		j := bytes.IndexByte(p.b[p.i:], '"')
		if j < 0 {
			return nil, false
		}
		p.i += j + 1
		k := p.i - 2
		for k >= start && p.b[k] == '\\' {
			k--
		}
		if (p.i-2-k)%2 == 0 {
			return p.b[start : p.i-1], true
		}
	}
}

// str returns the next string's value, escapes decoded.
func (p *jsonScan) str() ([]byte, error) {
	raw, ok := p.rawString()
	if !ok {
		return nil, errStoredLayout
	}
	return unescape(raw)
}

// integer returns the next number, which must be an integer, or 0 for null.
func (p *jsonScan) integer() (int64, error) {
	if p.literal("null") {
		return 0, nil
	}
	start := p.i
	for p.i < len(p.b) && (p.b[p.i] == '-' || p.b[p.i] >= '0' && p.b[p.i] <= '9') {
		p.i++
	}
	return strconv.ParseInt(string(p.b[start:p.i]), 10, 64)
}

// skip passes over the next value of any kind, up to the comma or bracket that ends it.
func (p *jsonScan) skip() error {
	depth := 0
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case '"':
			if _, ok := p.rawString(); !ok {
				return errStoredLayout
			}
		case '{', '[':
			depth++
			p.i++
		case '}', ']':
			if depth == 0 {
				return nil // the end of the enclosing value: the skipped one was a scalar
			}
			depth--
			p.i++
		case ',':
			if depth == 0 {
				return nil
			}
			p.i++
		default:
			p.i++
		}
	}
	return errStoredLayout
}

// decodeBase64 decodes standard base64 text.
func decodeBase64(b []byte) ([]byte, error) {
	out := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
	n, err := base64.StdEncoding.Decode(out, b)
	return out[:n], err
}

// unescape decodes the escapes of a JSON string's text into a new slice: what parseStored
// returns never shares the text's memory, which the driver reuses.
func unescape(raw []byte) ([]byte, error) {
	out, ok := jsonstr.Unescape(make([]byte, 0, len(raw)), raw)
	if !ok {
		return nil, errStoredLayout
	}
	return out, nil
}
