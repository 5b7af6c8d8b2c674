package fhirpath

import (
	"math/big"
	"strings"
)

// UCUM unit conversion for the units clinical data commonly uses. A unit is a product of
// powers of base dimensions (g, m, s, mol, L counted as its own dimension) with a factor; a
// unit written a/b or a.b combines two of them. Units outside the table, and the affine
// temperature units (Cel, [degF]), are not converted: quantities in them compare only with
// the same unit. Calendar durations of a year or a month are not UCUM units ('a' and 'mo'
// are mean lengths), so they convert to nothing, as the specification requires.

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

// ucumOf parses a unit: an atom, or atom/atom, atom.atom, atom/atom/atom (left to right).
func ucumOf(unit string) (ucumUnit, bool) {
	if u, ok := ucumAtoms[unit]; ok {
		return u, true
	}
	// Split on / and . outside brackets.
	var parts []string
	var ops []byte
	depth, start := 0, 0
	for i := 0; i < len(unit); i++ {
		switch c := unit[i]; {
		case c == '[':
			depth++
		case c == ']':
			depth--
		case depth == 0 && (c == '/' || c == '.'):
			parts = append(parts, unit[start:i])
			ops = append(ops, c)
			start = i + 1
		}
	}
	parts = append(parts, unit[start:])
	if len(parts) < 2 {
		return ucumUnit{}, false
	}
	first, ok := ucumAtoms[parts[0]]
	if !ok {
		return ucumUnit{}, false
	}
	num, den := []string{first.dim}, []string(nil)
	f := new(big.Rat).Set(first.factor)
	for i, p := range parts[1:] {
		u, ok := ucumAtoms[p]
		if !ok {
			return ucumUnit{}, false
		}
		if ops[i] == '/' {
			f.Quo(f, u.factor)
			den = append(den, u.dim)
		} else {
			f.Mul(f, u.factor)
			num = append(num, u.dim)
		}
	}
	return ucumUnit{dim: strings.Join(num, ".") + "/" + strings.Join(den, "."), factor: f}, true
}

// ucumKey returns the UCUM unit of q, mapping calendar durations of fixed length (week and
// below) to theirs; year and month have none.
func ucumKey(q quantity) string {
	if q.calendar {
		return definiteUCUM[q.unit]
	}
	return q.unit
}

// commensurable returns a and b's values in one unit (b's converted to a's) when their
// units are the same or convertible.
func commensurable(a, b quantity) (va, vb *big.Rat, ok bool) {
	if sameUnit(a, b) {
		return a.n.r, b.n.r, true
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
