package guard

import (
	"errors"
	"fmt"
)

// A small scanner over JSON text: enough to walk a resource's members and copy the spans
// Redact keeps byte for byte (decimals such as 1.50 and key order survive). It never reads
// past the end of its input and fails on what is not JSON.

// errJSON is the error of input that is not the JSON the scanner expects.
var errJSON = errors.New("guard: malformed JSON")

// maxJSONDepth bounds the nesting the scanner follows; FHIR resources nest far less.
const maxJSONDepth = 256

func jsonErr(at int, what string) error { return fmt.Errorf("%w at byte %d: %s", errJSON, at, what) }

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// scanString returns the index after the string starting at b[i] == '"'.
func scanString(b []byte, i int) (int, error) {
	if i >= len(b) || b[i] != '"' {
		return 0, jsonErr(i, "string expected")
	}
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, jsonErr(i, "unterminated string")
}

// skipValue returns the index after the value starting at b[i] (no leading space).
func skipValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return 0, jsonErr(i, "value expected")
	}
	switch c := b[i]; {
	case c == '"':
		return scanString(b, i)
	case c == '{' || c == '[':
		if depth >= maxJSONDepth {
			return 0, jsonErr(i, "nested too deep")
		}
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		j := skipWS(b, i+1)
		if j < len(b) && b[j] == end {
			return j + 1, nil
		}
		for {
			var err error
			if c == '{' {
				if j, err = scanString(b, j); err != nil {
					return 0, err
				}
				j = skipWS(b, j)
				if j >= len(b) || b[j] != ':' {
					return 0, jsonErr(j, "colon expected")
				}
				j = skipWS(b, j+1)
			}
			if j, err = skipValue(b, j, depth+1); err != nil {
				return 0, err
			}
			j = skipWS(b, j)
			if j >= len(b) {
				return 0, jsonErr(j, "unterminated")
			}
			if b[j] == end {
				return j + 1, nil
			}
			if b[j] != ',' {
				return 0, jsonErr(j, "comma expected")
			}
			j = skipWS(b, j+1)
		}
	default:
		j := i
		for j < len(b) && !isDelim(b[j]) {
			j++
		}
		if j == i {
			return 0, jsonErr(i, "value expected")
		}
		return j, nil
	}
}

func isDelim(c byte) bool {
	switch c {
	case ',', '}', ']', ':', ' ', '\n', '\r', '\t', '"', '{', '[':
		return true
	}
	return false
}

// member is one member of a JSON object: its key (unquoted, escapes left as they are; FHIR
// element names have none), where the quoted key starts and where its value starts.
type member struct {
	key   []byte
	keyAt int
	start int
}

// eachMember calls fn for each member of the object starting at b[i] == '{' and returns the
// index after the object. fn returns the index after the member's value (skipValue finds it
// when fn has no other use for the value).
func eachMember(b []byte, i, depth int, fn func(m member) (int, error)) (int, error) {
	if i >= len(b) || b[i] != '{' {
		return 0, jsonErr(i, "object expected")
	}
	if depth >= maxJSONDepth {
		return 0, jsonErr(i, "nested too deep")
	}
	j := skipWS(b, i+1)
	if j < len(b) && b[j] == '}' {
		return j + 1, nil
	}
	for {
		ke, err := scanString(b, j)
		if err != nil {
			return 0, err
		}
		m := member{key: b[j+1 : ke-1], keyAt: j}
		j = skipWS(b, ke)
		if j >= len(b) || b[j] != ':' {
			return 0, jsonErr(j, "colon expected")
		}
		m.start = skipWS(b, j+1)
		end, err := fn(m)
		if err != nil {
			return 0, err
		}
		j = skipWS(b, end)
		if j >= len(b) {
			return 0, jsonErr(j, "unterminated object")
		}
		if b[j] == '}' {
			return j + 1, nil
		}
		if b[j] != ',' {
			return 0, jsonErr(j, "comma expected")
		}
		j = skipWS(b, j+1)
	}
}

// eachElement calls fn with where each element of the array starting at b[i] == '[' starts
// and returns the index after the array; fn returns the index after the element.
func eachElement(b []byte, i, depth int, fn func(start int) (int, error)) (int, error) {
	if i >= len(b) || b[i] != '[' {
		return 0, jsonErr(i, "array expected")
	}
	if depth >= maxJSONDepth {
		return 0, jsonErr(i, "nested too deep")
	}
	j := skipWS(b, i+1)
	if j < len(b) && b[j] == ']' {
		return j + 1, nil
	}
	for {
		end, err := fn(j)
		if err != nil {
			return 0, err
		}
		j = skipWS(b, end)
		if j >= len(b) {
			return 0, jsonErr(j, "unterminated array")
		}
		if b[j] == ']' {
			return j + 1, nil
		}
		if b[j] != ',' {
			return 0, jsonErr(j, "comma expected")
		}
		j = skipWS(b, j+1)
	}
}

// stringValue returns the value of a JSON string span without escapes, and false for any
// other value or a string with escapes (which a resource type name never has).
func stringValue(b []byte) (string, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", false
	}
	s := b[1 : len(b)-1]
	for _, c := range s {
		if c == '\\' {
			return "", false
		}
	}
	return string(s), true
}
