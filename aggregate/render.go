package aggregate

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fhirgate/fhirgate/search"
)

// renderIndexed is the group key of an indexed value of a parameter of type ptype: a token's
// system|code (its code alone without a system), a string or uri as written, a reference's
// Type/id or URL (an identifier's system|value), a number, a quantity's value and unit, a
// date's start (its bucket when given). ok is false for a value that has none (a concept of
// text only).
func renderIndexed(ptype string, x search.Indexed, b Bucket) (string, bool) {
	switch ptype {
	case "token":
		return systemCode(x.System, x.Code)
	case "string", "uri":
		return x.Exact, x.Exact != ""
	case "reference":
		if x.Ref != "" {
			return x.Ref, true
		}
		return systemCode(x.System, x.Code)
	case "number":
		return formatNumber(x.Lo), x.Range
	case "quantity":
		return strings.TrimSpace(formatNumber(x.Lo) + " " + unitOf(x.Code, x.Unit)), x.Range
	case "date":
		return renderInstant(x.From, b), x.Range
	}
	return "", false
}

func systemCode(system, code string) (string, bool) {
	switch {
	case code == "":
		return "", false
	case system == "":
		return code, true
	}
	return system + "|" + code, true
}

func formatNumber(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// renderInstant names the bucket of an instant (ms since the epoch) in UTC: 2024-01-29,
// 2024-W05 (ISO 8601 week), 2024-01, 2024; without a bucket the instant itself, to the second
// (to the millisecond when it has some).
func renderInstant(ms int64, b Bucket) string {
	t := time.UnixMilli(ms).UTC()
	switch b {
	case Day:
		return t.Format("2006-01-02")
	case Week:
		y, w := t.ISOWeek()
		return fmt.Sprintf("%04d-W%02d", y, w)
	case Month:
		return t.Format("2006-01")
	case Year:
		return t.Format("2006")
	}
	if t.Nanosecond() != 0 {
		return t.Format("2006-01-02T15:04:05.000Z07:00")
	}
	return t.Format(time.RFC3339)
}

// renderValue is the group key of one value a FHIRPath key gives: a primitive as its text (a
// date in its bucket when given, which then needs a date), a Coding's system|code (one per
// coding of a CodeableConcept), an Identifier's system|value, a Reference's reference, a
// Quantity's value and unit. Other values are errors: the key should select inside them.
func renderValue(data any, typ string, b Bucket) ([]string, error) {
	if b != "" {
		s, ok := data.(string)
		if !ok {
			return nil, fmt.Errorf("a %s bucket takes dates; the expression gives a %s", b, typeName(data, typ))
		}
		lo, _, ok := search.ParseDate(s)
		if !ok {
			return nil, fmt.Errorf("a %s bucket takes dates; the expression gives %q", b, s)
		}
		return []string{renderInstant(lo, b)}, nil
	}
	switch d := data.(type) {
	case string:
		return []string{d}, nil
	case bool:
		return []string{strconv.FormatBool(d)}, nil
	case json.Number:
		return []string{string(d)}, nil
	case map[string]any:
		str := func(k string) string { s, _ := d[k].(string); return s }
		if codings, ok := d["coding"].([]any); ok {
			var out []string
			for _, c := range codings {
				if cm, ok := c.(map[string]any); ok {
					sys, _ := cm["system"].(string)
					code, _ := cm["code"].(string)
					if s, ok := systemCode(sys, code); ok {
						out = append(out, s)
					}
				}
			}
			return out, nil
		}
		if ref := str("reference"); ref != "" {
			return []string{ref}, nil
		}
		if code := str("code"); code != "" && d["value"] == nil {
			s, _ := systemCode(str("system"), code)
			return []string{s}, nil
		}
		if v, ok := d["value"]; ok {
			if f, ok := number(v); ok {
				return []string{strings.TrimSpace(formatNumber(f) + " " + unitOf(str("code"), str("unit")))}, nil
			}
			if s, ok := v.(string); ok {
				if sys := str("system"); sys != "" {
					return []string{sys + "|" + s}, nil
				}
				return []string{s}, nil
			}
		}
	}
	return nil, fmt.Errorf("the expression gives a %s; group by one of its primitive elements", typeName(data, typ))
}

func typeName(data any, typ string) string {
	if typ != "" {
		return typ
	}
	return fmt.Sprintf("%T", data)
}
