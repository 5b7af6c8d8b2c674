package fhirpath

import (
	"math/big"
	"sort"
	"strconv"
	"strings"
)

// UCUM unit conversion for the units clinical data commonly uses. A unit is a product of
// powers of base dimensions (g, m, s, mol, L counted as its own dimension) with a factor; a
// unit written a/b or a.b combines two of them. Units outside the table, and the affine
// temperature units (Cel, [degF]), are not converted: quantities in them compare only with
// the same unit. Calendar durations of a year or a month are not UCUM units ('a' and 'mo'
// are mean lengths), so they convert only into each other (a year is 12 months), as the
// specification requires.

// ucumUnit is a unit as a dimension key and the factor to its dimension's base unit.
type ucumUnit struct {
	dim    string
	factor *big.Rat
}

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic("fhirpath: bad rational " + s)
	}
	return r
}

// ucumAtoms are the simple units converted, by dimension.
var ucumAtoms = map[string]ucumUnit{
	// mass (base g)
	"kg": {"g", rat("1000")}, "g": {"g", rat("1")}, "mg": {"g", rat("1/1000")}, "ug": {"g", rat("1/1000000")},
	"ng": {"g", rat("1/1000000000")}, "pg": {"g", rat("1/1000000000000")},
	"[lb_av]": {"g", rat("453.59237")}, "[oz_av]": {"g", rat("28.349523125")},
	// length (base m)
	"km": {"m", rat("1000")}, "m": {"m", rat("1")}, "cm": {"m", rat("1/100")}, "mm": {"m", rat("1/1000")},
	"um": {"m", rat("1/1000000")}, "nm": {"m", rat("1/1000000000")},
	"[in_i]": {"m", rat("0.0254")}, "[ft_i]": {"m", rat("0.3048")}, "[mi_i]": {"m", rat("1609.344")},
	// volume (base L)
	"L": {"L", rat("1")}, "l": {"L", rat("1")}, "dL": {"L", rat("1/10")}, "cL": {"L", rat("1/100")},
	"mL": {"L", rat("1/1000")}, "uL": {"L", rat("1/1000000")}, "nL": {"L", rat("1/1000000000")},
	"fL": {"L", rat("1/1000000000000000")},
	// amount of substance (base mol)
	"mol": {"mol", rat("1")}, "mmol": {"mol", rat("1/1000")}, "umol": {"mol", rat("1/1000000")},
	"nmol": {"mol", rat("1/1000000000")}, "pmol": {"mol", rat("1/1000000000000")},
	"meq": {"eq", rat("1/1000")}, "eq": {"eq", rat("1")},
	// time (base s); a and mo are the Julian year and its twelfth
	"ms": {"s", rat("1/1000")}, "s": {"s", rat("1")}, "min": {"s", rat("60")}, "h": {"s", rat("3600")},
	"d": {"s", rat("86400")}, "wk": {"s", rat("604800")}, "mo": {"s", rat("2629800")}, "a": {"s", rat("31557600")},
	// pressure, energy, dimensionless
	"mm[Hg]": {"mm[Hg]", rat("1")}, "kPa": {"mm[Hg]", rat("7.50061683")}, "Pa": {"mm[Hg]", rat("0.00750061683")},
	"kcal": {"cal", rat("1000")}, "cal": {"cal", rat("1")},
	"1": {"", rat("1")}, "%": {"", rat("1/100")},
}

// unitTerm is one factor of a UCUM unit: an atom raised to an exponent (cm2 is cm to 2).
type unitTerm struct {
	atom string
	exp  int
}

// parseUnit splits a UCUM unit into its terms, read left to right as UCUM does: a.b is a
// times b, a/b/c is a divided by b and by c, and a term may carry an integer exponent
// (cm2, m-3). ok is false for syntax this engine does not read (parentheses, annotations).
func parseUnit(unit string) ([]unitTerm, bool) {
	if unit == "" || strings.ContainsAny(unit, "(){}") {
		return nil, false
	}
	var terms []unitTerm
	sign, depth, start := 1, 0, 0
	for i := 0; i <= len(unit); i++ {
		if i < len(unit) {
			switch c := unit[i]; {
			case c == '[':
				depth++
				continue
			case c == ']':
				depth--
				continue
			case depth > 0 || (c != '/' && c != '.'):
				continue
			}
		}
		t, ok := parseTerm(unit[start:i])
		if !ok {
			return nil, false
		}
		t.exp *= sign
		terms = append(terms, t)
		if i < len(unit) {
			sign = 1
			if unit[i] == '/' {
				sign = -1
			}
		}
		start = i + 1
	}
	return terms, true
}

// parseTerm reads atom[exponent]; an atom of the table (such as 1) is taken whole.
func parseTerm(s string) (unitTerm, bool) {
	if _, ok := ucumAtoms[s]; ok {
		return unitTerm{atom: s, exp: 1}, true
	}
	i := len(s)
	for i > 0 && isDigit(s[i-1]) {
		i--
	}
	if i > 0 && i < len(s) && (s[i-1] == '-' || s[i-1] == '+') {
		i--
	}
	if i == 0 {
		return unitTerm{}, false
	}
	t := unitTerm{atom: s[:i], exp: 1}
	if i < len(s) {
		e, err := strconv.Atoi(s[i:])
		if err != nil || e == 0 || e > 99 || e < -99 {
			return unitTerm{}, false
		}
		t.exp = e
	}
	return t, true
}

// formatUnit writes terms as a UCUM unit: the factors with positive exponents joined by
// ".", then each negative one after a "/" (mg/mL, cm2, g.m/s2); "1" when none is left.
func formatUnit(terms []unitTerm) string {
	var b strings.Builder
	for _, t := range terms {
		if t.exp > 0 {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			writeTerm(&b, t.atom, t.exp)
		}
	}
	if b.Len() == 0 {
		b.WriteByte('1')
	}
	for _, t := range terms {
		if t.exp < 0 {
			b.WriteByte('/')
			writeTerm(&b, t.atom, -t.exp)
		}
	}
	return b.String()
}

func writeTerm(b *strings.Builder, atom string, exp int) {
	b.WriteString(atom)
	if exp != 1 {
		b.WriteString(strconv.Itoa(exp))
	}
}

// multiplyUnits returns the unit of a quantity in unit a multiplied by one in unit b, or
// divided by it: exponents of the same atom add (cm times cm is cm2, g/g is 1), and the
// dimensionless 1 drops out.
func multiplyUnits(a, b string, divide bool) (string, bool) {
	ta, okA := parseUnit(a)
	tb, okB := parseUnit(b)
	if !okA || !okB {
		return "", false
	}
	var out []unitTerm
	add := func(t unitTerm) {
		if t.atom == "1" {
			return
		}
		for i := range out {
			if out[i].atom == t.atom {
				out[i].exp += t.exp
				return
			}
		}
		out = append(out, t)
	}
	for _, t := range ta {
		add(t)
	}
	for _, t := range tb {
		if divide {
			t.exp = -t.exp
		}
		add(t)
	}
	kept := out[:0]
	for _, t := range out {
		if t.exp != 0 {
			kept = append(kept, t)
		}
	}
	return formatUnit(kept), true
}

// ucumOf reads a unit whose atoms are all in the table: its dimension, written canonically
// (base dimensions in order with their exponents: L-1.g for mg/dL, m2 for cm2), and its
// factor to that dimension's base unit.
func ucumOf(unit string) (ucumUnit, bool) {
	if u, ok := ucumAtoms[unit]; ok {
		return u, true
	}
	terms, ok := parseUnit(unit)
	if !ok {
		return ucumUnit{}, false
	}
	dims := map[string]int{}
	f := big.NewRat(1, 1)
	for _, t := range terms {
		u, ok := ucumAtoms[t.atom]
		if !ok {
			return ucumUnit{}, false
		}
		for _, d := range strings.Split(u.dim, ".") {
			if d != "" {
				dims[d] += t.exp
			}
		}
		for range abs(t.exp) {
			if t.exp > 0 {
				f.Mul(f, u.factor)
			} else {
				f.Quo(f, u.factor)
			}
		}
	}
	names := make([]string, 0, len(dims))
	for d, e := range dims {
		if e != 0 {
			names = append(names, d)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for i, d := range names {
		if i > 0 {
			b.WriteByte('.')
		}
		writeTerm(&b, d, dims[d])
	}
	return ucumUnit{dim: b.String(), factor: f}, true
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// ucumKey returns the UCUM unit of q, mapping calendar durations of fixed length (week and
// below) to theirs; year and month have none.
func ucumKey(q quantity) string {
	if q.calendar {
		return definiteUCUM[q.unit]
	}
	return q.unit
}

// calendarMonths are the calendar durations counted in months: a year is exactly 12 months
// (FHIRPath's calendar units), while neither has a fixed length in days.
var calendarMonths = map[string]int64{"year": 12, "month": 1}

// commensurable returns a and b's values in one unit (b's converted to a's) when their
// units are the same or convertible.
func commensurable(a, b quantity) (va, vb *big.Rat, ok bool) {
	if sameUnit(a, b) {
		return a.n.r, b.n.r, true
	}
	if a.calendar && b.calendar && calendarMonths[a.unit] != 0 && calendarMonths[b.unit] != 0 {
		conv := new(big.Rat).Mul(b.n.r, big.NewRat(calendarMonths[b.unit], calendarMonths[a.unit]))
		return a.n.r, conv, true
	}
	ua, okA := ucumOf(ucumKey(a))
	ub, okB := ucumOf(ucumKey(b))
	if !okA || !okB || ua.dim != ub.dim || ucumKey(a) == "" || ucumKey(b) == "" {
		return nil, nil, false
	}
	conv := new(big.Rat).Mul(b.n.r, ub.factor)
	conv.Quo(conv, ua.factor)
	return a.n.r, conv, true
}

// convertQuantity expresses q in unit (a UCUM code or calendar keyword), when convertible.
func convertQuantity(q quantity, unit string) (quantity, bool) {
	target := quantity{n: num{r: big.NewRat(1, 1)}, unit: unit}
	if cu, ok := calendarUnits[unit]; ok {
		target.unit, target.calendar = cu, true
	}
	_, v, ok := commensurable(target, q)
	if !ok {
		return quantity{}, false
	}
	return quantity{n: num{r: v, scale: q.n.scale}, unit: target.unit, calendar: target.calendar}, true
}
