package fhirpath

import (
	"encoding/json"
	"math/big"
	"strings"
	"unicode"
)

// binary applies a binary operator (other than is and as) to its evaluated operands.
func binary(op string, l, r []Value) ([]Value, error) {
	switch op {
	case "|":
		return union(l, r), nil
	case "and", "or", "xor", "implies":
		return logic(op, l, r)
	case "=":
		return equal(l, r).result(), nil
	case "!=":
		return not3(equal(l, r)).result(), nil
	case "~":
		return boolResult(equivalent(l, r)), nil
	case "!~":
		return boolResult(!equivalent(l, r)), nil
	case "<", ">", "<=", ">=":
		return compareOp(op, l, r)
	case "in":
		return membership(op, l, r)
	case "contains":
		return membership(op, r, l)
	case "&":
		ls, err := stringOperand(l, op)
		if err != nil {
			return nil, err
		}
		rs, err := stringOperand(r, op)
		if err != nil {
			return nil, err
		}
		return []Value{{Data: ls + rs, Type: "string"}}, nil
	case "+", "-", "*", "/", "div", "mod":
		return arithmetic(op, l, r)
	}
	return nil, evalErr("internal: unknown operator %q", op)
}

// logic implements and, or, xor and implies with the specification's three-valued tables.
func logic(op string, l, r []Value) ([]Value, error) {
	a, err := toBool3(l, op)
	if err != nil {
		return nil, err
	}
	b, err := toBool3(r, op)
	if err != nil {
		return nil, err
	}
	return logic3(op, a, b).result(), nil
}

func logic3(op string, a, b tri) tri {
	switch op {
	case "and":
		switch {
		case a == False || b == False:
			return False
		case a == True && b == True:
			return True
		}
	case "or":
		switch {
		case a == True || b == True:
			return True
		case a == False && b == False:
			return False
		}
	case "xor":
		if a != Unknown && b != Unknown {
			return triOf(a != b)
		}
	case "implies":
		switch {
		case a == False || b == True:
			return True
		case a == True:
			return b
		}
	}
	return Unknown
}

func not3(t tri) tri {
	switch t {
	case True:
		return False
	case False:
		return True
	}
	return Unknown
}

// union merges two collections, dropping items equal to an earlier one.
func union(l, r []Value) []Value {
	var s valueSet
	out := make([]Value, 0, len(l)+len(r))
	for _, v := range l {
		if s.add(v) {
			out = append(out, v)
		}
	}
	for _, v := range r {
		if s.add(v) {
			out = append(out, v)
		}
	}
	return out
}

// valueSet holds distinct values under =. Numbers and booleans, which equal only values of
// their own kind, are kept by key so large collections of them dedupe in linear time;
// other values are compared one by one.
type valueSet struct {
	keys   map[string]bool
	others []Value
}

// add adds v and reports whether it was new.
func (s *valueSet) add(v Value) bool {
	if k, ok := setKey(v); ok {
		if s.keys[k] {
			return false
		}
		if s.keys == nil {
			s.keys = map[string]bool{}
		}
		s.keys[k] = true
		return true
	}
	if containsValue(s.others, v) {
		return false
	}
	s.others = append(s.others, v)
	return true
}

func setKey(v Value) (string, bool) {
	switch d := v.Data.(type) {
	case bool:
		if d {
			return "true", true
		}
		return "false", true
	case json.Number:
		if n, ok := parseNum(string(d)); ok {
			return n.r.RatString(), true
		}
	}
	return "", false
}

func containsValue(vs []Value, v Value) bool {
	for _, w := range vs {
		if equalItems(w, v) == True {
			return true
		}
	}
	return false
}

// equal is =: Unknown when either side is empty, False when the sizes differ, else the
// items compared in order (Unknown when a pair cannot be compared, such as dates of
// different precision).
func equal(l, r []Value) tri {
	if len(l) == 0 || len(r) == 0 {
		return Unknown
	}
	if len(l) != len(r) {
		return False
	}
	res := True
	for i := range l {
		switch equalItems(l[i], r[i]) {
		case False:
			return False
		case Unknown:
			res = Unknown
		}
	}
	return res
}

// equalItems compares two items for =.
func equalItems(a, b Value) tri {
	if ma, ok := momentOf(a, b.Type); ok {
		if mb, ok := momentOf(b, a.Type); ok {
			c, ok := compareMoments(ma, mb)
			if !ok {
				return Unknown
			}
			return triOf(c == 0)
		}
	}
	if isQuantityType(a.Type) || isQuantityType(b.Type) {
		qa, okA := quantityOf(a)
		qb, okB := quantityOf(b)
		if okA && okB {
			va, vb, ok := commensurable(qa, qb)
			if !ok {
				return Unknown // not comparable: 1 year vs 1 'a', 1 'g' vs 1 'm'
			}
			return triOf(va.Cmp(vb) == 0)
		}
	}
	return triOf(dataEqual(a.Data, b.Data))
}

// isQuantityType reports whether t is Quantity or a type specialising it (Age, Duration...).
func isQuantityType(t string) bool { return quantityTypes.names[t] }

var quantityTypes = newTypeTest("Quantity")

// equivalent is ~: both empty is true; otherwise the same size and every item of l
// equivalent to some item of r.
func equivalent(l, r []Value) bool {
	if len(l) != len(r) {
		return false
	}
	used := make([]bool, len(r))
	for _, a := range l {
		found := false
		for j, b := range r {
			if !used[j] && equivalentItems(a, b) {
				used[j], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// equivalentItems compares two items for ~: strings ignoring case and differences in
// whitespace, decimals at the lesser precision of the two, dates of different
// precision as not equivalent, objects element by element.
func equivalentItems(a, b Value) bool {
	if ma, ok := momentOf(a, b.Type); ok {
		if mb, ok := momentOf(b, a.Type); ok {
			c, ok := compareMoments(ma, mb)
			return ok && c == 0
		}
	}
	if na, ok := numOf(a); ok {
		nb, ok := numOf(b)
		if !ok {
			return false
		}
		scale := min(na.scale, nb.scale)
		return roundHalfUp(na.r, scale).Cmp(roundHalfUp(nb.r, scale)) == 0
	}
	if sa, ok := a.Data.(string); ok {
		sb, ok := b.Data.(string)
		return ok && normalizeSpace(sa) == normalizeSpace(sb)
	}
	if isQuantityType(a.Type) || isQuantityType(b.Type) {
		qa, okA := quantityOf(a)
		qb, okB := quantityOf(b)
		if okA && okB {
			ua, ub := qa.unit, qb.unit
			if qa.calendar && (ua == "year" || ua == "month") && ub == map[string]string{"year": "a", "month": "mo"}[ua] {
				ub = ua // 1 year ~ 1 'a'
			}
			if qb.calendar && (ub == "year" || ub == "month") && ua == map[string]string{"year": "a", "month": "mo"}[ub] {
				ua = ub
			}
			qa.unit, qb.unit = ua, ub
			scale := min(qa.n.scale, qb.n.scale)
			va, vb, ok := commensurable(qa, qb)
			return ok && roundHalfUp(va, scale).Cmp(roundHalfUp(vb, scale)) == 0
		}
	}
	if ma, ok := a.Data.(map[string]any); ok {
		mb, ok := b.Data.(map[string]any)
		if !ok || len(ma) != len(mb) {
			return false
		}
		for k, va := range ma {
			vb, ok := mb[k]
			if !ok || !equivalentItems(Value{Data: va}, Value{Data: vb}) {
				return false
			}
		}
		return true
	}
	if xa, ok := a.Data.([]any); ok {
		var la, lb []Value
		la = appendData(la, xa, "")
		lb = appendData(lb, b.Data, "")
		return equivalent(la, lb)
	}
	return dataEqual(a.Data, b.Data)
}

// normalizeSpace lower-cases s and writes each whitespace character as a space: the
// specification's string equivalence treats all whitespace characters as equivalent (section
// 6.1.2), one for one, without collapsing runs or trimming.
func normalizeSpace(s string) string {
	return strings.ToLower(strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		return r
	}, s))
}

// roundHalfUp rounds r to scale digits after the point, halves away from zero.
func roundHalfUp(r *big.Rat, scale int) *big.Rat {
	p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)
	x := new(big.Rat).Mul(r, new(big.Rat).SetInt(p))
	neg := x.Sign() < 0
	x.Abs(x)
	x.Add(x, big.NewRat(1, 2))
	q := new(big.Int).Quo(x.Num(), x.Denom())
	if neg {
		q.Neg(q)
	}
	return new(big.Rat).SetFrac(q, p)
}

// singleton returns the one item of vs: ok is false for an empty collection, and more
// than one item is an error.
func singleton(vs []Value, what string) (Value, bool, error) {
	switch len(vs) {
	case 0:
		return Value{}, false, nil
	case 1:
		// A primitive with only extensions has no value to compute with.
		return vs[0], vs[0].Data != nil, nil
	}
	return Value{}, false, evalErr("%s expects a single item, got %d", what, len(vs))
}

// compareOp implements < > <= >= on single strings, numbers, dates and times, and
// quantities of the same unit.
func compareOp(op string, l, r []Value) ([]Value, error) {
	a, okA, err := singleton(l, op)
	if err != nil {
		return nil, err
	}
	b, okB, err := singleton(r, op)
	if err != nil || !okA || !okB {
		return nil, err
	}
	c, ok, err := compareItems(a, b, op)
	if err != nil || !ok {
		return nil, err
	}
	switch op {
	case "<":
		return boolResult(c < 0), nil
	case ">":
		return boolResult(c > 0), nil
	case "<=":
		return boolResult(c <= 0), nil
	}
	return boolResult(c >= 0), nil
}

// compareItems orders a and b; ok is false when they cannot be ordered (dates of
// different precision, quantities of different units) and err is set when they are of
// types that have no order between them.
func compareItems(a, b Value, op string) (int, bool, error) {
	if ma, ok := momentOf(a, b.Type); ok {
		if mb, ok := momentOf(b, a.Type); ok {
			c, ok := compareMoments(ma, mb)
			return c, ok, nil
		}
	}
	if fa, ok := fixedOf(a); ok {
		if fb, ok := fixedOf(b); ok {
			if c, ok := cmpFixed(fa, fb); ok {
				return c, true, nil
			}
		}
	}
	if na, ok := numOf(a); ok {
		if nb, ok := numOf(b); ok {
			return na.r.Cmp(nb.r), true, nil
		}
	}
	if sa, ok := a.Data.(string); ok && !isMomentType(a.Type) {
		if sb, ok := b.Data.(string); ok && !isMomentType(b.Type) {
			return strings.Compare(sa, sb), true, nil
		}
	}
	if qa, ok := quantityOf(a); ok {
		if qb, ok := quantityOf(b); ok {
			va, vb, ok := commensurable(qa, qb)
			if !ok {
				return 0, false, nil
			}
			return va.Cmp(vb), true, nil
		}
	}
	return 0, false, evalErr("%s cannot compare %s with %s", op, describe(a), describe(b))
}

// membership implements `item in collection` (contains swaps the operands).
func membership(op string, item, coll []Value) ([]Value, error) {
	v, ok, err := singleton(item, op)
	if err != nil || !ok {
		return nil, err
	}
	for _, w := range coll {
		if equalItems(v, w) == True {
			return boolResult(true), nil
		}
	}
	return boolResult(false), nil
}

// stringOperand reads an operand of &: empty is the empty string.
func stringOperand(vs []Value, op string) (string, error) {
	v, ok, err := singleton(vs, op)
	if err != nil || !ok {
		return "", err
	}
	s, ok := v.Data.(string)
	if !ok {
		return "", evalErr("%s expects strings, got %s", op, describe(v))
	}
	return s, nil
}

// arithmetic implements + - * / div mod on numbers, + on strings, + and - of a
// quantity to a date/time, and + - of quantities with the same unit.
func arithmetic(op string, l, r []Value) ([]Value, error) {
	a, okA, err := singleton(l, op)
	if err != nil {
		return nil, err
	}
	b, okB, err := singleton(r, op)
	if err != nil || !okA || !okB {
		return nil, err
	}
	if fa, ok := fixedOf(a); ok {
		if fb, ok := fixedOf(b); ok {
			if v, ok := fixedOp(op, fa, fb); ok {
				return []Value{v}, nil
			}
		}
	}
	if na, ok := numOf(a); ok {
		if nb, ok := numOf(b); ok {
			return numberOp(op, na, nb)
		}
	}
	if sa, ok := a.Data.(string); ok && op == "+" && !isMomentType(a.Type) {
		if sb, ok := b.Data.(string); ok && !isMomentType(b.Type) {
			return []Value{{Data: sa + sb, Type: "string"}}, nil
		}
	}
	if ma, ok := momentOf(a, "dateTime"); ok && (isMomentType(a.Type) || a.Type == "") && (op == "+" || op == "-") {
		if q, ok := quantityOf(b); ok && isQuantityType(b.Type) {
			return addDuration(ma, q, op == "-")
		}
	}
	if qa, ok := quantityOf(a); ok && (op == "+" || op == "-") {
		if qb, ok := quantityOf(b); ok {
			va, vb, ok := commensurable(qa, qb)
			if !ok {
				return nil, nil // units that do not convert into each other
			}
			r := new(big.Rat)
			if op == "+" {
				r.Add(va, vb)
			} else {
				r.Sub(va, vb)
			}
			return []Value{quantityValue(num{r: r, scale: max(qa.n.scale, qb.n.scale)}, qa.unit, qa.calendar)}, nil
		}
	}
	if out, ok := scaleQuantity(op, a, b); ok {
		return out, nil
	}
	if out, ok := multiplyQuantities(op, a, b); ok {
		return out, nil
	}
	return nil, evalErr("%s is not defined for %s and %s", op, describe(a), describe(b))
}

// scaleQuantity multiplies a quantity by a number (either side) or divides it by one, as
// section 6.6 allows * and / on quantities; ok is false for other operands. Dividing by
// zero is empty.
func scaleQuantity(op string, a, b Value) ([]Value, bool) {
	if op != "*" && op != "/" {
		return nil, false
	}
	q, okQ := quantityOf(a)
	n, okN := numOf(b)
	if !okQ || !okN || !isQuantityType(typeOf(a)) {
		if op == "/" {
			return nil, false
		}
		if q, okQ = quantityOf(b); !okQ || !isQuantityType(typeOf(b)) {
			return nil, false
		}
		if n, okN = numOf(a); !okN {
			return nil, false
		}
	}
	r := new(big.Rat)
	if op == "*" {
		r.Mul(q.n.r, n.r)
	} else {
		if n.r.Sign() == 0 {
			return nil, true
		}
		r.Quo(q.n.r, n.r)
	}
	return []Value{quantityValue(num{r: r, scale: q.n.scale + n.scale}, q.unit, q.calendar)}, true
}

// multiplyQuantities multiplies or divides two quantities (section 6.6): the values
// multiply and the units combine (2 'cm' * 3 'cm' is 6 'cm2', 6 'mg' / 2 'mL' is 3 'mg/mL').
// ok is false for other operands. The result is empty when a unit is no UCUM unit this
// engine reads (a calendar year or month, a code of another system) and when dividing by zero.
func multiplyQuantities(op string, a, b Value) ([]Value, bool) {
	if op != "*" && op != "/" || !isQuantityType(typeOf(a)) || !isQuantityType(typeOf(b)) {
		return nil, false
	}
	qa, okA := quantityOf(a)
	qb, okB := quantityOf(b)
	if !okA || !okB {
		return nil, false
	}
	ua, ub := ucumKey(qa), ucumKey(qb)
	if ua == "" || ub == "" || strings.Contains(ua, "|") || strings.Contains(ub, "|") {
		return nil, true
	}
	unit, ok := multiplyUnits(ua, ub, op == "/")
	if !ok {
		return nil, true
	}
	r := new(big.Rat)
	scale := qa.n.scale + qb.n.scale
	if op == "*" {
		r.Mul(qa.n.r, qb.n.r)
	} else {
		if qb.n.r.Sign() == 0 {
			return nil, true
		}
		r.Quo(qa.n.r, qb.n.r)
		scale = max(qa.n.scale, qb.n.scale)
	}
	return []Value{quantityValue(num{r: r, scale: scale}, unit, false)}, true
}

// numberOp applies an arithmetic operator to two numbers. Division by zero is empty.
func numberOp(op string, a, b num) ([]Value, error) {
	r := new(big.Rat)
	res := num{r: r, isInt: a.isInt && b.isInt}
	switch op {
	case "+":
		r.Add(a.r, b.r)
		res.scale = max(a.scale, b.scale)
	case "-":
		r.Sub(a.r, b.r)
		res.scale = max(a.scale, b.scale)
	case "*":
		r.Mul(a.r, b.r)
		res.scale = a.scale + b.scale
	case "/":
		if b.r.Sign() == 0 {
			return nil, nil
		}
		r.Quo(a.r, b.r)
		res.isInt, res.scale = false, max(a.scale, b.scale)
	case "div", "mod":
		if b.r.Sign() == 0 {
			return nil, nil
		}
		q := new(big.Rat).Quo(a.r, b.r)
		t := new(big.Int).Quo(q.Num(), q.Denom()) // truncated towards zero
		if op == "div" {
			r.SetInt(t)
			res.scale = 0
		} else {
			r.Sub(a.r, new(big.Rat).Mul(new(big.Rat).SetInt(t), b.r))
			res.scale = max(a.scale, b.scale)
		}
		if op == "div" {
			res.isInt = true
		}
	}
	out, ok := res.value()
	if !ok {
		return nil, nil // Integer overflow: the result is empty
	}
	return out, nil
}

// addDuration adds (or subtracts) a time-valued quantity to a date, dateTime or time,
// keeping the precision of the value: a calendar duration finer than the value's
// precision is truncated to whole units of that precision, as the specification says.
func addDuration(m moment, q quantity, sub bool) ([]Value, error) {
	unit := q.unit
	if !q.calendar {
		if cal, ok := ucumCalendar[unit]; ok {
			unit = cal
		}
	}
	if _, ok := calendarUnits[unit]; !ok {
		return nil, evalErr("cannot add a quantity in '%s' to a date/time", q.unit)
	}
	if !q.n.r.IsInt() && unit != "second" && unit != "millisecond" {
		// Decimal durations of days and above are truncated.
		t := new(big.Int).Quo(q.n.r.Num(), q.n.r.Denom())
		q.n.r = new(big.Rat).SetInt(t)
	}
	amount := new(big.Rat).Set(q.n.r)
	if sub {
		amount.Neg(amount)
	}
	if amount.Num().BitLen() > 40 {
		return nil, nil // beyond any representable date
	}
	ms := new(big.Rat).Mul(amount, big.NewRat(unitMillis(unit), 1))
	if !ms.IsInt() {
		ms = new(big.Rat).SetInt(new(big.Int).Quo(ms.Num(), ms.Denom()))
	}
	switch unit {
	case "year", "month":
		if m.kind == "time" {
			return nil, evalErr("cannot add %s to a time", unit)
		}
		if amount.Num().BitLen() > 32 {
			return nil, nil // beyond any representable date
		}
		n := amount.Num().Int64()
		if unit == "year" {
			n *= 12
		}
		mo := max(m.mo, 1) // a year-precision value has no month: count from January
		months := int64(m.y)*12 + int64(mo-1) + n
		if months < 12 || months >= 10000*12 {
			return nil, nil
		}
		m.y, m.mo = int(months/12), int(months%12)+1
		if m.d > daysIn(m.y, m.mo) {
			m.d = daysIn(m.y, m.mo)
		}
		return []Value{m.value()}, nil
	}
	// Durations of fixed length move the value in milliseconds, at its precision.
	step := precisionMillis(m.prec)
	if m.kind == "time" && step == 0 {
		step = 1
	}
	delta := ms.Num().Int64()
	if step == 0 {
		// A year or month precision value moves by whole days only through its month:
		// below its precision the duration has no effect, except whole years of days.
		return []Value{m.value()}, nil
	}
	delta = delta / step * step
	out, ok := shiftMillis(m, delta)
	if !ok {
		return nil, nil
	}
	if out.ms%1000 != 0 && out.fracDigits == 0 {
		out.fracDigits = 3 // seconds and milliseconds are one precision: keep what was added
	}
	return []Value{out.value()}, nil
}

// ucumCalendar maps the UCUM time units to the calendar duration they are added as.
var ucumCalendar = map[string]string{
	"wk": "week", "d": "day", "h": "hour", "min": "minute", "s": "second", "ms": "millisecond",
	"a": "year", "mo": "month",
}

// unitMillis is the length of a calendar duration of fixed length in milliseconds (0 for
// a year and a month).
func unitMillis(unit string) int64 {
	switch unit {
	case "week":
		return 7 * 86400000
	case "day":
		return 86400000
	case "hour":
		return 3600000
	case "minute":
		return 60000
	case "second":
		return 1000
	case "millisecond":
		return 1
	}
	return 0
}

// precisionMillis is the step a date/time of precision prec moves by, in milliseconds (0
// for year and month precision, which do not move by days).
func precisionMillis(prec int) int64 {
	switch prec {
	case precDay:
		return 86400000
	case precHour:
		return 3600000
	case precMinute:
		return 60000
	case precSecond:
		return 1
	}
	return 0
}

// shiftMillis moves m by delta milliseconds, carrying across the calendar; ok is false
// when the result leaves the years 1 to 9999.
func shiftMillis(m moment, delta int64) (moment, bool) {
	if m.kind == "time" {
		day := int64(86400000)
		t := (int64(m.h)*3600000 + int64(m.mi)*60000 + int64(m.ms) + delta) % day
		if t < 0 {
			t += day
		}
		m.h, m.mi, m.ms = int(t/3600000), int(t/60000%60), int(t%60000)
		return m, true
	}
	days := delta / 86400000
	rest := delta % 86400000
	t := int64(m.h)*3600000 + int64(m.mi)*60000 + int64(m.ms) + rest
	for t < 0 {
		t += 86400000
		days--
	}
	for t >= 86400000 {
		t -= 86400000
		days++
	}
	m.h, m.mi, m.ms = int(t/3600000), int(t/60000%60), int(t%60000)
	y, mo, d := civilFromDays(daysFromCivil(m.y, m.mo, m.d) + days)
	if y < 1 || y > 9999 {
		return m, false
	}
	m.y, m.mo, m.d = y, mo, d
	return m, true
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian date.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(z int64) (y, m, d int) {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	yy := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	m = int(mp + 3)
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		yy++
	}
	return int(yy), m, d
}

// negQuantity returns v with its value replaced by q's.
func negQuantity(v Value, q quantity) Value {
	m := map[string]any{}
	for k, x := range v.Data.(map[string]any) {
		m[k] = x
	}
	vs, _ := num{r: q.n.r, scale: q.n.scale}.value()
	m["value"] = vs[0].Data.(json.Number)
	return Value{Data: m, Type: v.Type}
}
