package fhirpath

import (
	"encoding/json"
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// The System types of FHIRPath are carried in Value.Data as JSON kinds, so results stay
// plain JSON for the callers: Integer and Decimal as json.Number, Date, DateTime and Time
// as their FHIR text with Type "date", "dateTime" or "time", and Quantity as a FHIR
// Quantity object with Type "Quantity".

// ucumSystem is the code system of UCUM units (also %ucum).
const ucumSystem = "http://unitsofmeasure.org"

// num is a decimal value: exact, with the number of digits after the point it was written
// with (precision matters for ~, round and how results print).
type num struct {
	r     *big.Rat
	scale int
	isInt bool
}

// parseNum reads a json.Number or FHIRPath number literal.
func parseNum(s string) (num, bool) {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return num{}, false
	}
	scale := 0
	if i := strings.IndexByte(s, '.'); i >= 0 {
		frac := s[i+1:]
		if j := strings.IndexAny(frac, "eE"); j >= 0 {
			frac = frac[:j]
		}
		scale = len(frac)
	}
	return num{r: r, scale: scale, isInt: !strings.ContainsAny(s, ".eE")}, true
}

// numOf returns the number v holds, when it is an Integer or Decimal.
func numOf(v Value) (num, bool) {
	n, ok := v.Data.(json.Number)
	if !ok {
		return num{}, false
	}
	x, ok := parseNum(string(n))
	if v.Type == "decimal" {
		x.isInt = false // a FHIR decimal written without a point (1) is still a Decimal
	}
	return x, ok
}

// maxInt and minInt bound FHIRPath Integer values, which are 64-bit here (the
// specification requires at least 32).
var (
	maxInt = big.NewRat(1<<63-1, 1)
	minInt = big.NewRat(-1<<63, 1)
)

// value renders n as a result: an Integer when isInt (empty on overflow), else a Decimal
// with at least scale digits after the point, trailing zeros beyond it trimmed.
func (n num) value() ([]Value, bool) {
	if n.isInt {
		if !n.r.IsInt() || n.r.Cmp(maxInt) > 0 || n.r.Cmp(minInt) < 0 {
			return nil, false
		}
		return []Value{{Data: json.Number(n.r.Num().String()), Type: "integer"}}, true
	}
	return []Value{{Data: json.Number(formatDecimal(n.r, n.scale)), Type: "decimal"}}, true
}

// formatDecimal prints r with scale digits after the point, or more (up to 16) when r
// needs them, trimming zeros beyond scale.
func formatDecimal(r *big.Rat, scale int) string {
	s := r.FloatString(16)
	if i := strings.IndexByte(s, '.'); i >= 0 {
		keep := i + 1 + scale
		j := len(s)
		for j > keep && s[j-1] == '0' {
			j--
		}
		s = s[:j]
		s = strings.TrimSuffix(s, ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

func intValue(i int64) Value {
	return Value{Data: json.Number(strconv.FormatInt(i, 10)), Type: "integer"}
}

// Date, DateTime and Time values.

// Precisions of date/time values, coarsest first. Seconds and milliseconds are one
// precision, as the specification compares them.
const (
	precYear = iota + 1
	precMonth
	precDay
	precHour
	precMinute
	precSecond
)

// moment is a parsed Date, DateTime or Time with the precision it was written with.
type moment struct {
	kind                string // "date", "dateTime" or "time"
	prec                int
	y, mo, d, h, mi     int
	ms                  int  // milliseconds within the minute (seconds * 1000 + fraction)
	fracDigits          int  // digits written after the seconds' point
	hasTZ               bool // an offset or Z was given
	tzMin               int  // offset east of UTC in minutes
	explicitDateTimeTee bool // "2015T": a DateTime of year precision
}

var (
	reDate = regexp.MustCompile(`^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?`)
	reTime = regexp.MustCompile(`^(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?`)
	reTZ   = regexp.MustCompile(`^(?:Z|([+-])(\d{2}):(\d{2}))`)
)

// parseMoment parses FHIR/FHIRPath date, dateTime or time text (without the @ of
// literals; a time literal starts with T). want restricts the kind when not "".
func parseMoment(s, want string) (moment, bool) {
	var m moment
	if rest, ok := strings.CutPrefix(s, "T"); ok {
		m.kind = "time"
		n, ok := parseClock(&m, rest)
		return m, ok && n == len(rest) && (want == "" || want == "time")
	}
	if want == "time" {
		n, ok := parseClock(&m, s)
		m.kind = "time"
		return m, ok && n == len(s) && !m.hasTZ
	}
	g := reDate.FindStringSubmatch(s)
	if g == nil {
		return m, false
	}
	m.kind, m.prec = "date", precYear
	m.y, _ = strconv.Atoi(g[1])
	if g[2] != "" {
		m.mo, _ = strconv.Atoi(g[2])
		m.prec = precMonth
	}
	if g[3] != "" {
		m.d, _ = strconv.Atoi(g[3])
		m.prec = precDay
	}
	rest := s[len(g[0]):]
	if rest != "" {
		if rest[0] != 'T' {
			return m, false
		}
		m.kind = "dateTime"
		rest = rest[1:]
		if rest == "" {
			m.explicitDateTimeTee = true
		} else {
			if m.prec != precDay {
				return m, false // a time needs a full date
			}
			base := m.prec
			n, ok := parseClock(&m, rest)
			if !ok || n != len(rest) || m.prec <= base {
				return m, false
			}
		}
	}
	if !validDate(m) || (want != "" && want != m.kind && !(want == "dateTime" && m.kind == "date")) {
		return m, false
	}
	return m, true
}

// parseClock parses hh[:mm[:ss[.fff]]][tz] into m and returns how much it consumed.
func parseClock(m *moment, s string) (int, bool) {
	g := reTime.FindStringSubmatch(s)
	if g == nil {
		return 0, false
	}
	m.h, _ = strconv.Atoi(g[1])
	m.prec = precHour
	if g[2] != "" {
		m.mi, _ = strconv.Atoi(g[2])
		m.prec = precMinute
	}
	if g[3] != "" {
		sec, _ := strconv.Atoi(g[3])
		m.ms = sec * 1000
		m.prec = precSecond
		if g[4] != "" {
			m.fracDigits = len(g[4])
			f := (g[4] + "000")[:3]
			ms, _ := strconv.Atoi(f)
			m.ms += ms
		}
	}
	n := len(g[0])
	if m.kind != "time" {
		if tz := reTZ.FindStringSubmatch(s[n:]); tz != nil {
			m.hasTZ = true
			if tz[1] != "" {
				hh, _ := strconv.Atoi(tz[2])
				mm, _ := strconv.Atoi(tz[3])
				if hh > 14 || mm > 59 {
					return 0, false
				}
				m.tzMin = hh*60 + mm
				if tz[1] == "-" {
					m.tzMin = -m.tzMin
				}
			}
			n += len(tz[0])
		}
	}
	if m.h > 23 || m.mi > 59 || m.ms >= 60000 {
		return 0, false
	}
	return n, true
}

func validDate(m moment) bool {
	if m.prec >= precMonth && (m.mo < 1 || m.mo > 12) {
		return false
	}
	if m.prec >= precDay && (m.d < 1 || m.d > daysIn(m.y, m.mo)) {
		return false
	}
	return true
}

func daysIn(y, mo int) int {
	switch mo {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// momentOf returns the date/time v holds: a typed value, or a string that reads as one
// when other (the value it is compared with) is a date/time.
func momentOf(v Value, other string) (moment, bool) {
	s, ok := v.Data.(string)
	if !ok {
		return moment{}, false
	}
	switch v.Type {
	case "date", "dateTime", "instant":
		return parseMoment(s, "")
	case "time":
		return parseMoment(s, "time")
	case "", "string":
		switch other {
		case "date", "dateTime", "instant":
			return parseMoment(s, "")
		case "time":
			return parseMoment(s, "time")
		}
	}
	return moment{}, false
}

func isMomentType(t string) bool {
	return t == "date" || t == "dateTime" || t == "instant" || t == "time"
}

// fields returns the components of m normalised to UTC when it has an offset, coarsest
// first, up to its precision.
func (m moment) fields() []int {
	y, mo, d, h, mi := m.y, m.mo, m.d, m.h, m.mi
	if m.hasTZ && m.prec >= precMinute {
		mi -= m.tzMin
		for mi < 0 {
			mi += 60
			h--
		}
		for mi >= 60 {
			mi -= 60
			h++
		}
		for h < 0 {
			h += 24
			d--
			if d < 1 {
				mo--
				if mo < 1 {
					mo, y = 12, y-1
				}
				d = daysIn(y, mo)
			}
		}
		for h >= 24 {
			h -= 24
			d++
			if d > daysIn(y, mo) {
				d, mo = 1, mo+1
				if mo > 12 {
					mo, y = 1, y+1
				}
			}
		}
	} else if m.hasTZ && m.prec == precHour && m.tzMin%60 == 0 {
		h -= m.tzMin / 60
		// Rare: an hour-precision value with an offset; normalise whole hours only.
		for h < 0 {
			h += 24
			d--
		}
		for h >= 24 {
			h -= 24
			d++
		}
	}
	all := []int{y, mo, d, h, mi, m.ms}
	if m.kind == "time" {
		return all[3 : 3+m.prec-precHour+1]
	}
	return all[:m.prec]
}

// compareMoments orders a and b: -1, 0 or 1, with ok false when the values cannot be
// ordered because their precisions differ where they are otherwise equal, or their kinds
// differ (a Time is not a Date).
func compareMoments(a, b moment) (int, bool) {
	if (a.kind == "time") != (b.kind == "time") {
		return 0, false
	}
	fa, fb := a.fields(), b.fields()
	for i := 0; i < len(fa) && i < len(fb); i++ {
		switch {
		case fa[i] < fb[i]:
			return -1, true
		case fa[i] > fb[i]:
			return 1, true
		}
	}
	if len(fa) != len(fb) {
		return 0, false
	}
	return 0, true
}

// String renders m in FHIR syntax, without the @ of a literal.
func (m moment) String() string {
	var b strings.Builder
	if m.kind != "time" {
		b.WriteString(pad(m.y, 4))
		if m.prec >= precMonth {
			b.WriteString("-" + pad(m.mo, 2))
		}
		if m.prec >= precDay {
			b.WriteString("-" + pad(m.d, 2))
		}
		if m.kind == "dateTime" && m.prec < precHour {
			if m.explicitDateTimeTee {
				b.WriteString("T")
			}
			return b.String()
		}
		if m.prec < precHour {
			return b.String()
		}
		b.WriteString("T")
	}
	b.WriteString(pad(m.h, 2))
	if m.prec >= precMinute {
		b.WriteString(":" + pad(m.mi, 2))
	}
	if m.prec >= precSecond {
		b.WriteString(":" + pad(m.ms/1000, 2))
		if m.fracDigits > 0 {
			b.WriteString("." + pad(m.ms%1000, 3))
		}
	}
	if m.hasTZ && m.kind == "dateTime" {
		if m.tzMin == 0 {
			b.WriteString("Z")
		} else {
			sign, off := "+", m.tzMin
			if off < 0 {
				sign, off = "-", -off
			}
			b.WriteString(sign + pad(off/60, 2) + ":" + pad(off%60, 2))
		}
	}
	return b.String()
}

func pad(n, width int) string {
	s := strconv.Itoa(n)
	for len(s) < width {
		s = "0" + s
	}
	return s
}

func (m moment) value() Value { return Value{Data: m.String(), Type: m.kind} }

// Quantities.

// calendarUnits maps the calendar duration keywords to their singular form.
var calendarUnits = map[string]string{
	"year": "year", "years": "year", "month": "month", "months": "month",
	"week": "week", "weeks": "week", "day": "day", "days": "day",
	"hour": "hour", "hours": "hour", "minute": "minute", "minutes": "minute",
	"second": "second", "seconds": "second", "millisecond": "millisecond", "milliseconds": "millisecond",
}

// definiteUCUM maps the calendar durations of fixed length to the UCUM unit they equal
// (a year and a month are not 'a' and 'mo').
var definiteUCUM = map[string]string{
	"week": "wk", "day": "d", "hour": "h", "minute": "min", "second": "s", "millisecond": "ms",
}

// quantity is a parsed Quantity: its value and a unit key that compares equal for units
// that are the same (calendar durations of fixed length are keyed by their UCUM code).
type quantity struct {
	n        num
	unit     string // UCUM code, or calendar keyword (singular) for calendar durations
	calendar bool
}

func quantityOf(v Value) (quantity, bool) {
	m, ok := v.Data.(map[string]any)
	if !ok || !(v.Type == "Quantity" || v.Type == "" || isSubtype(v.Type, "Quantity")) {
		return quantity{}, false
	}
	jn, ok := m["value"].(json.Number)
	if !ok {
		return quantity{}, false
	}
	n, ok := parseNum(string(jn))
	if !ok {
		return quantity{}, false
	}
	n.isInt = false // Quantity values are Decimal
	q := quantity{n: n}
	code, _ := m["code"].(string)
	system, _ := m["system"].(string)
	unit, _ := m["unit"].(string)
	switch {
	case code != "" && (system == ucumSystem || system == ""):
		q.unit = code
	case code == "" && system == "" && calendarUnits[unit] != "":
		q.unit, q.calendar = calendarUnits[unit], true
	case code == "" && system == "":
		q.unit = unit
	default:
		q.unit = system + "|" + code
	}
	if q.unit == "" {
		q.unit = "1"
	}
	return q, true
}

// sameUnit reports whether a and b can be compared by value: ok is false when the units
// differ in a way this engine cannot convert (it does not convert UCUM units yet).
func sameUnit(a, b quantity) bool {
	ua, ub := a.unit, b.unit
	if a.calendar {
		if u, ok := definiteUCUM[ua]; ok {
			ua = u
		}
	}
	if b.calendar {
		if u, ok := definiteUCUM[ub]; ok {
			ub = u
		}
	}
	return ua == ub
}

func quantityValue(n num, unit string, calendar bool) Value {
	vs, _ := num{r: n.r, scale: n.scale}.value()
	m := map[string]any{"value": vs[0].Data, "unit": unit}
	if !calendar {
		m["system"], m["code"] = ucumSystem, unit
	}
	return Value{Data: m, Type: "Quantity"}
}
