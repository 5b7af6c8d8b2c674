package search

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"github.com/fhirgate/fhirgate/fhirpath"
)

// Normalize folds a string for string search: lower case, accents removed, runs of
// white space collapsed. "Chalmérs  " and "chalmers" normalise alike.
func Normalize(s string) string {
	folded := s
	if !ascii(s) { // ASCII has no accents to remove
		t := unaccent.Get().(transform.Transformer)
		if f, _, err := transform.String(t, s); err == nil {
			folded = f
		}
		unaccent.Put(t)
	}
	folded = strings.ToLower(folded)
	if !spaced(folded) {
		return folded
	}
	return strings.Join(strings.Fields(folded), " ")
}

// unaccent holds transformers that remove accents: a chain holds buffers of its own, and
// an import normalises several strings per resource.
var unaccent = sync.Pool{New: func() any {
	return transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
}}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// spaced reports whether s has white space other than single spaces between words.
func spaced(s string) bool {
	for i, r := range s {
		if r == ' ' && (i == 0 || i == len(s)-1 || s[i+1] == ' ') || r != ' ' && unicode.IsSpace(r) {
			return true
		}
	}
	return false
}

// Bounds of the date ranges: the years 0001 to 9999, in milliseconds since the epoch.
var (
	minDate = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	maxDate = time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli()
)

var dateRE = regexp.MustCompile(`^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$`)

// ParseDate returns the range of instants a FHIR date, dateTime or instant denotes,
// by its precision: "1970" is all of 1970, "1970-05-03T10:00:00Z" one second. The
// bounds are milliseconds since the epoch, both inclusive. A value without a time
// zone is read as UTC.
func ParseDate(s string) (lo, hi int64, ok bool) {
	m := dateRE.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, false
	}
	atoi := func(x string, def int) int {
		if x == "" {
			return def
		}
		n, _ := strconv.Atoi(x)
		return n
	}
	loc := time.UTC
	if z := m[8]; z != "" && z != "Z" {
		h, mi := atoi(z[1:3], 0), atoi(z[4:6], 0)
		off := (h*60 + mi) * 60
		if z[0] == '-' {
			off = -off
		}
		loc = time.FixedZone("", off)
	}
	y, mo, d, hh, mm, ss := atoi(m[1], 0), atoi(m[2], 1), atoi(m[3], 1), atoi(m[4], 0), atoi(m[5], 0), atoi(m[6], 0)
	if mo < 1 || mo > 12 || d < 1 || d > 31 || hh > 24 || mm > 59 || ss > 60 {
		return 0, 0, false
	}
	start := time.Date(y, time.Month(mo), d, hh, mm, ss, 0, loc)
	if start.Day() != d { // 2021-02-30 and the like
		return 0, 0, false
	}
	var end time.Time
	switch {
	case m[7] != "": // fraction: millisecond precision
		ms, _ := strconv.ParseFloat("0"+m[7], 64)
		start = start.Add(time.Duration(ms*1000) * time.Millisecond)
		end = start.Add(time.Millisecond)
	case m[6] != "":
		end = start.Add(time.Second)
	case m[5] != "":
		end = start.Add(time.Minute)
	case m[3] != "":
		end = start.AddDate(0, 0, 1)
	case m[2] != "":
		end = start.AddDate(0, 1, 0)
	default:
		end = start.AddDate(1, 0, 0)
	}
	return start.UnixMilli(), end.UnixMilli() - 1, true
}

// dateRange returns the range of a date-typed value: a date, dateTime or instant
// string, a Period (an open end is unbounded) or a Timing (its events and bounds).
func dateRange(v fhirpath.Value) (lo, hi int64, ok bool) {
	switch d := v.Data.(type) {
	case string:
		return ParseDate(d)
	case map[string]any:
		if _, isPeriod := d["start"]; isPeriod || d["end"] != nil {
			lo, hi = minDate, maxDate
			if s, ok := d["start"].(string); ok {
				if l, _, ok := ParseDate(s); ok {
					lo = l
				}
			}
			if e, ok := d["end"].(string); ok {
				if _, h, ok := ParseDate(e); ok {
					hi = h
				}
			}
			return lo, hi, true
		}
		// Timing: from the first event (or bounds start) to the last.
		lo, hi = math.MaxInt64, math.MinInt64
		events, _ := d["event"].([]any)
		for _, e := range events {
			if s, ok := e.(string); ok {
				if l, h, ok := ParseDate(s); ok {
					lo, hi = min(lo, l), max(hi, h)
				}
			}
		}
		if rep, ok := d["repeat"].(map[string]any); ok {
			if b, ok := rep["boundsPeriod"].(map[string]any); ok {
				if l, h, ok := dateRange(fhirpath.Value{Data: b}); ok {
					lo, hi = min(lo, l), max(hi, h)
				}
			}
		}
		return lo, hi, lo <= hi
	}
	return 0, 0, false
}
