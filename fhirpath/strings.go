package fhirpath

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"html"
	"regexp"
	"strings"
	"unicode"
)

// The additional string functions of section 5.6 (trim, split, join, encode, decode,
// escape, unescape).
func init() {
	functions["trim"] = stringFn(0, func(s string, _ []string) ([]Value, error) {
		return str(strings.TrimFunc(s, unicode.IsSpace)), nil
	})
	functions["split"] = stringFn(1, func(s string, a []string) ([]Value, error) {
		var out []Value
		for _, part := range strings.Split(s, a[0]) {
			out = append(out, Value{Data: part, Type: "string"})
		}
		return out, nil
	})
	functions["join"] = fnArgs(0, 1, fnJoin)
	functions["encode"] = stringFn(1, func(s string, a []string) ([]Value, error) {
		return codec(s, a[0], true)
	})
	functions["decode"] = stringFn(1, func(s string, a []string) ([]Value, error) {
		return codec(s, a[0], false)
	})
	functions["escape"] = stringFn(1, func(s string, a []string) ([]Value, error) {
		switch a[0] {
		case "html":
			return str(html.EscapeString(s)), nil
		case "json":
			b, _ := json.Marshal(s)
			return str(string(b[1 : len(b)-1])), nil
		}
		return nil, nil
	})
	functions["unescape"] = stringFn(1, func(s string, a []string) ([]Value, error) {
		switch a[0] {
		case "html":
			return str(html.UnescapeString(s)), nil
		case "json":
			var out string
			if err := json.Unmarshal([]byte(`"`+s+`"`), &out); err != nil {
				return nil, nil
			}
			return str(out), nil
		}
		return nil, nil
	})
}

// fnJoin concatenates its input's strings, separated by the argument (none by default).
func fnJoin(e *env, c *callNode, in []Value) ([]Value, error) {
	sep := ""
	if len(c.args) == 1 {
		s, ok, err := stringArg(e, c, 0)
		if err != nil || !ok {
			return nil, err
		}
		sep = s
	}
	parts := make([]string, 0, len(in))
	for _, v := range in {
		s, ok := v.Data.(string)
		if !ok {
			return nil, evalErr("join() expects strings, got %s", describe(v))
		}
		parts = append(parts, s)
	}
	if len(in) == 0 {
		return nil, nil
	}
	return str(strings.Join(parts, sep)), nil
}

// codec encodes s in, or decodes it from, format (hex, base64, urlbase64); an unknown format or
// undecodable input is empty.
func codec(s, format string, encode bool) ([]Value, error) {
	var enc interface {
		EncodeToString([]byte) string
		DecodeString(string) ([]byte, error)
	}
	switch format {
	case "hex":
		if encode {
			return str(hex.EncodeToString([]byte(s))), nil
		}
		b, err := hex.DecodeString(s)
		if err != nil {
			return nil, nil
		}
		return str(string(b)), nil
	case "base64":
		enc = base64.StdEncoding
	case "urlbase64":
		enc = base64.URLEncoding
	default:
		return nil, nil
	}
	if encode {
		return str(enc.EncodeToString([]byte(s))), nil
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return nil, nil
	}
	return str(string(b)), nil
}

// stringFn makes a function of one string input and nargs string arguments; an empty
// input or argument gives empty.
func stringFn(nargs int, f func(s string, args []string) ([]Value, error)) funcSpec {
	return fnArgs(nargs, nargs, func(e *env, c *callNode, in []Value) ([]Value, error) {
		v, ok, err := singleton(in, c.what)
		if err != nil || !ok {
			return nil, err
		}
		s, isStr := v.Data.(string)
		if !isStr {
			return nil, evalErr("%s() expects a string, got %s", c.name, describe(v))
		}
		var args []string
		if nargs > 0 {
			args = make([]string, nargs)
		}
		for i := range nargs {
			a, ok, err := stringArg(e, c, i)
			if err != nil || !ok {
				return nil, err
			}
			args[i] = a
		}
		return f(s, args)
	})
}

func stringArg(e *env, c *callNode, i int) (string, bool, error) {
	vs, err := c.arg(e, i)
	if err != nil {
		return "", false, err
	}
	v, ok, err := singleton(vs, c.what)
	if err != nil || !ok {
		return "", false, err
	}
	s, isStr := v.Data.(string)
	if !isStr {
		return "", false, evalErr("%s() expects string arguments, got %s", c.name, describe(v))
	}
	return s, true, nil
}

func fnSubstring(e *env, c *callNode, in []Value) ([]Value, error) {
	v, ok, err := singleton(in, "substring()")
	if err != nil || !ok {
		return nil, err
	}
	s, isStr := v.Data.(string)
	if !isStr {
		return nil, evalErr("substring() expects a string, got %s", describe(v))
	}
	start, ok, err := intArg(e, c.args[0], "substring()")
	if err != nil || !ok {
		return nil, err
	}
	runes := []rune(s)
	if start < 0 || start >= int64(len(runes)) {
		return nil, nil
	}
	end := int64(len(runes))
	if len(c.args) == 2 {
		n, ok, err := intArg(e, c.args[1], "substring()")
		if err != nil {
			return nil, err
		}
		if ok {
			end = min(end, start+max(n, 0))
		}
	}
	return str(string(runes[start:end])), nil
}

// maxRegex bounds the length of a regular expression; Go's engine runs in linear time,
// so length is the only cost to bound.
const maxRegex = 1000

func compileRegex(s string) (*regexp.Regexp, error) {
	if len(s) > maxRegex {
		return nil, evalErr("regular expression longer than %d bytes", maxRegex)
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return nil, evalErr("invalid regular expression")
	}
	return re, nil
}
