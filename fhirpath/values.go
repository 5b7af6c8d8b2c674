package fhirpath

import (
	"cmp"
	"encoding/json"
	"math"
	"math/big"
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

// smallInts are the Integer values of 0 to 255, made once: counts, lengths and indexes are
// mostly small, and making a json.Number costs two allocations.
var smallInts = func() (vs [256]Value) {
	for i := range vs {
		vs[i] = Value{Data: json.Number(strconv.Itoa(i)), Type: "integer"}
	}
	return vs
}()

func intValue(i int64) Value {
	if 0 <= i && i < int64(len(smallInts)) {
		return smallInts[i]
	}
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
	// YYYY[-MM[-DD]]: a part that is not two digits after its dash ends the date there.
	y, ok := digitsAt(s, 0, 4)
	if !ok {
		return m, false
	}
	m.kind, m.prec, m.y = "date", precYear, y
	n := 4
	if mo, ok := dashDigits(s, n); ok {
		m.mo, m.prec, n = mo, precMonth, n+3
		if d, ok := dashDigits(s, n); ok {
			m.d, m.prec, n = d, precDay, n+3
		}
	}
	rest := s[n:]
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

// digitsAt reads the n ASCII digits at s[i:] as a number.
func digitsAt(s string, i, n int) (int, bool) {
	if i+n > len(s) {
		return 0, false
	}
	v := 0
	for _, c := range []byte(s[i : i+n]) {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// dashDigits reads "-DD" (or ":DD", per sep) at s[i:].
func dashDigits(s string, i int) (int, bool) { return sepDigits(s, i, '-') }

func sepDigits(s string, i int, sep byte) (int, bool) {
	if i >= len(s) || s[i] != sep {
		return 0, false
	}
	return digitsAt(s, i+1, 2)
}

// parseClock parses hh[:mm[:ss[.fff]]][tz] into m and returns how much it consumed; a
// time (m.kind "time") takes no offset.
func parseClock(m *moment, s string) (int, bool) {
	h, ok := digitsAt(s, 0, 2)
	if !ok {
		return 0, false
	}
	m.h, m.prec = h, precHour
	n := 2
	if mi, ok := sepDigits(s, n, ':'); ok {
		m.mi, m.prec, n = mi, precMinute, n+3
		if sec, ok := sepDigits(s, n, ':'); ok {
			m.ms, m.prec, n = sec*1000, precSecond, n+3
			if n+1 < len(s) && s[n] == '.' && isDigit(s[n+1]) {
				end := n + 1
				for end < len(s) && isDigit(s[end]) {
					end++
				}
				frac := s[n+1 : end]
				m.fracDigits = len(frac)
				ms := 0
				for i := range 3 {
					ms *= 10
					if i < len(frac) {
						ms += int(frac[i] - '0')
					}
				}
				m.ms += ms
				n = end
			}
		}
	}
	if m.kind != "time" && n < len(s) {
		switch s[n] {
		case 'Z':
			m.hasTZ = true
			n++
		case '+', '-':
			hh, okH := digitsAt(s, n+1, 2)
			mm, okM := sepDigits(s, n+3, ':')
			if okH && okM {
				if hh > 14 || mm > 59 {
					return 0, false
				}
				m.hasTZ, m.tzMin = true, hh*60+mm
				if s[n] == '-' {
					m.tzMin = -m.tzMin
				}
				n += 6
			}
		}
	}
	if m.h > 23 || m.mi > 59 || m.ms >= 60000 {
		return 0, false
	}
	return n, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

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
// first: f[from:to] are those up to its precision.
func (m moment) fields() (f [6]int, from, to int) {
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
	f = [6]int{y, mo, d, h, mi, m.ms}
	if m.kind == "time" {
		return f, 3, 3 + m.prec - precHour + 1
	}
	return f, 0, m.prec
}

// compareMoments orders a and b: -1, 0 or 1, with ok false when the values cannot be
// ordered because their precisions differ where they are otherwise equal, or their kinds
// differ (a Time is not a Date).
func compareMoments(a, b moment) (int, bool) {
	if (a.kind == "time") != (b.kind == "time") {
		return 0, false
	}
	fa, fromA, toA := a.fields()
	fb, fromB, toB := b.fields()
	la, lb := toA-fromA, toB-fromB
	for i := 0; i < la && i < lb; i++ {
		switch x, y := fa[fromA+i], fb[fromB+i]; {
		case x < y:
			return -1, true
		case x > y:
			return 1, true
		}
	}
	if la != lb {
		return 0, false
	}
	return 0, true
}

// String renders m in FHIR syntax, without the @ of a literal.
func (m moment) String() string {
	var buf [40]byte
	b := buf[:0]
	if m.kind != "time" {
		b = appendPadded(b, m.y, 4)
		if m.prec >= precMonth {
			b = appendPadded(append(b, '-'), m.mo, 2)
		}
		if m.prec >= precDay {
			b = appendPadded(append(b, '-'), m.d, 2)
		}
		if m.prec < precHour {
			if m.kind == "dateTime" && m.explicitDateTimeTee {
				b = append(b, 'T')
			}
			return string(b)
		}
		b = append(b, 'T')
	}
	b = appendPadded(b, m.h, 2)
	if m.prec >= precMinute {
		b = appendPadded(append(b, ':'), m.mi, 2)
	}
	if m.prec >= precSecond {
		b = appendPadded(append(b, ':'), m.ms/1000, 2)
		if m.fracDigits > 0 {
			b = appendPadded(append(b, '.'), m.ms%1000, 3)
		}
	}
	if m.hasTZ && m.kind == "dateTime" {
		if m.tzMin == 0 {
			b = append(b, 'Z')
		} else {
			sign, off := byte('+'), m.tzMin
			if off < 0 {
				sign, off = '-', -off
			}
			b = appendPadded(append(b, sign), off/60, 2)
			b = appendPadded(append(b, ':'), off%60, 2)
		}
	}
	return string(b)
}

// appendPadded appends n with leading zeros to width digits.
func appendPadded(b []byte, n, width int) []byte {
	var digits [20]byte
	d := strconv.AppendInt(digits[:0], int64(n), 10)
	for i := len(d); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, d...)
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

// Fixed-point fast paths. Most numbers in resources and expressions have few digits; they
// compare and add exactly in an int64, without math/big. Every fast path gives the result
// the math/big path would, and falls back to it when the operands do not fit.

// fixed is the number m × 10^-scale, read from text of at most 18 digits.
type fixed struct {
	m     int64
	scale int
	isInt bool
}

// maxFixedScale bounds the scale of a fast result: formatDecimal prints up to 16 digits
// after the point, so beyond that the results would differ.
const maxFixedScale = 16

var pow10 = [...]int64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

// fixedOf reads v as a fixed when it is an Integer or Decimal of at most 18 digits written
// without an exponent; ok is false otherwise, and the caller uses numOf.
func fixedOf(v Value) (fixed, bool) {
	n, ok := v.Data.(json.Number)
	if !ok {
		return fixed{}, false
	}
	f, ok := parseFixed(string(n))
	if v.Type == "decimal" {
		f.isInt = false // a FHIR decimal written without a point (1) is still a Decimal
	}
	return f, ok
}

// parseFixed reads [+-]digits[.digits] of at most 18 digits.
func parseFixed(s string) (fixed, bool) {
	var f fixed
	i, neg := 0, false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	digits, point, start := 0, -1, i
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			if digits == 18 {
				return fixed{}, false
			}
			f.m = f.m*10 + int64(c-'0')
			digits++
		case c == '.' && point < 0 && i > start && i < len(s)-1:
			point = i
		default:
			return fixed{}, false
		}
	}
	if digits == 0 {
		return fixed{}, false
	}
	if neg {
		f.m = -f.m
	}
	f.isInt = point < 0
	if point >= 0 {
		f.scale = len(s) - point - 1
	}
	return f, true
}

// scaleUp returns m × 10^k, or false on overflow.
func scaleUp(m int64, k int) (int64, bool) {
	if k >= len(pow10) {
		return 0, false
	}
	p := pow10[k]
	if m > math.MaxInt64/p || m < math.MinInt64/p {
		return 0, false
	}
	return m * p, true
}

// align returns the mantissas of a and b at their common (larger) scale.
func align(a, b fixed) (am, bm int64, scale int, ok bool) {
	switch {
	case a.scale < b.scale:
		am, ok = scaleUp(a.m, b.scale-a.scale)
		return am, b.m, b.scale, ok
	case a.scale > b.scale:
		bm, ok = scaleUp(b.m, a.scale-b.scale)
		return a.m, bm, a.scale, ok
	}
	return a.m, b.m, a.scale, true
}

// cmpFixed orders a and b; ok is false when they do not fit.
func cmpFixed(a, b fixed) (int, bool) {
	am, bm, _, ok := align(a, b)
	if !ok {
		return 0, false
	}
	return cmp.Compare(am, bm), true
}

// fixedOp applies + - or * to a and b as numberOp would; ok is false for other operators
// and when the result does not fit, and the caller then uses numberOp.
func fixedOp(op string, a, b fixed) (Value, bool) {
	var r fixed
	r.isInt = a.isInt && b.isInt
	switch op {
	case "+", "-":
		am, bm, scale, ok := align(a, b)
		if !ok {
			return Value{}, false
		}
		if op == "-" {
			if bm == math.MinInt64 {
				return Value{}, false
			}
			bm = -bm
		}
		if (bm > 0 && am > math.MaxInt64-bm) || (bm < 0 && am < math.MinInt64-bm) {
			return Value{}, false
		}
		r.m, r.scale = am+bm, scale
	case "*":
		if a.m != 0 && b.m != 0 {
			p := a.m * b.m
			if p/b.m != a.m || (a.m == -1 && b.m == math.MinInt64) || (b.m == -1 && a.m == math.MinInt64) {
				return Value{}, false
			}
			r.m = p
		}
		r.scale = a.scale + b.scale
	default:
		return Value{}, false
	}
	if r.scale > maxFixedScale {
		return Value{}, false
	}
	if r.isInt {
		return intValue(r.m), true
	}
	return Value{Data: json.Number(formatFixed(r.m, r.scale)), Type: "decimal"}, true
}

// formatFixed prints m × 10^-scale with exactly scale digits after the point (none when
// scale is 0), as formatDecimal prints such a number.
func formatFixed(m int64, scale int) string {
	u := uint64(m)
	if m < 0 {
		u = -u
	}
	var digitsBuf, paddedBuf, outBuf [48]byte
	digits := strconv.AppendUint(digitsBuf[:0], u, 10)
	padded := paddedBuf[:0]
	for n := len(digits); n <= scale; n++ {
		padded = append(padded, '0') // 0.05: a zero before the point, zeros after it
	}
	padded = append(padded, digits...)
	out := outBuf[:0]
	if m < 0 {
		out = append(out, '-')
	}
	out = append(out, padded[:len(padded)-scale]...)
	if scale > 0 {
		out = append(out, '.')
		out = append(out, padded[len(padded)-scale:]...)
	}
	return string(out)
}
