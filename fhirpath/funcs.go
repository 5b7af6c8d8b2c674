package fhirpath

import (
	"encoding/json"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

var functions map[string]funcSpec

// fn is a function of the focus alone; fnArgs one with n plain arguments.
func fn(call func(e *env, c *callNode, in []Value) ([]Value, error)) funcSpec {
	return funcSpec{call: call}
}

func fnArgs(minArgs, maxArgs int, call func(e *env, c *callNode, in []Value) ([]Value, error)) funcSpec {
	return funcSpec{minArgs: minArgs, maxArgs: maxArgs, call: call}
}

// lambdaFn is a function whose first argument is evaluated per input item.
func lambdaFn(minArgs, maxArgs int, call func(e *env, c *callNode, in []Value) ([]Value, error)) funcSpec {
	return funcSpec{minArgs: minArgs, maxArgs: maxArgs, lambda: []bool{true}, call: call}
}

func init() {
	functions = map[string]funcSpec{
		// Existence.
		"empty":  fn(func(_ *env, _ *callNode, in []Value) ([]Value, error) { return boolResult(len(in) == 0), nil }),
		"exists": lambdaFn(0, 1, fnExists),
		"all":    lambdaFn(1, 1, fnAll),
		"allTrue": fn(func(_ *env, _ *callNode, in []Value) ([]Value, error) {
			return boolsAgg(in, "allTrue", func(t, f int) bool { return f == 0 })
		}),
		"anyTrue": fn(func(_ *env, _ *callNode, in []Value) ([]Value, error) {
			return boolsAgg(in, "anyTrue", func(t, f int) bool { return t > 0 })
		}),
		"allFalse": fn(func(_ *env, _ *callNode, in []Value) ([]Value, error) {
			return boolsAgg(in, "allFalse", func(t, f int) bool { return t == 0 })
		}),
		"anyFalse": fn(func(_ *env, _ *callNode, in []Value) ([]Value, error) {
			return boolsAgg(in, "anyFalse", func(t, f int) bool { return f > 0 })
		}),
		"subsetOf":   fnArgs(1, 1, fnSubsetOf),
		"supersetOf": fnArgs(1, 1, fnSupersetOf),
		"count":      fn(func(_ *env, _ *callNode, in []Value) ([]Value, error) { return []Value{intValue(int64(len(in)))}, nil }),
		"distinct":   fn(func(_ *env, _ *callNode, in []Value) ([]Value, error) { return union(in, nil), nil }),
		"isDistinct": fn(func(_ *env, _ *callNode, in []Value) ([]Value, error) {
			return boolResult(len(union(in, nil)) == len(in)), nil
		}),

		// Filtering and projection.
		"where":  lambdaFn(1, 1, fnWhere),
		"select": lambdaFn(1, 1, fnSelect),
		"repeat": lambdaFn(1, 1, fnRepeat),
		"ofType": {arg: argType, minArgs: 1, maxArgs: 1, call: func(_ *env, c *callNode, in []Value) ([]Value, error) {
			return filterType(in, c.types), nil
		}},

		// Subsetting.
		"single": fn(func(_ *env, _ *callNode, in []Value) ([]Value, error) {
			if len(in) > 1 {
				return nil, evalErr("single() expects at most one item, got %d", len(in))
			}
			return in, nil
		}),
		"first": fn(func(_ *env, _ *callNode, in []Value) ([]Value, error) { return subslice(in, 0, 1), nil }),
		"last":  fn(func(_ *env, _ *callNode, in []Value) ([]Value, error) { return subslice(in, int64(len(in))-1, 1), nil }),
		"tail":  fn(func(_ *env, _ *callNode, in []Value) ([]Value, error) { return subslice(in, 1, int64(len(in))), nil }),
		"skip": fnArgs(1, 1, func(e *env, c *callNode, in []Value) ([]Value, error) {
			n, ok, err := intArg(e, c.args[0], "skip()")
			if err != nil || !ok {
				return nil, err
			}
			return subslice(in, max(n, 0), int64(len(in))), nil
		}),
		"take": fnArgs(1, 1, func(e *env, c *callNode, in []Value) ([]Value, error) {
			n, ok, err := intArg(e, c.args[0], "take()")
			if err != nil || !ok {
				return nil, err
			}
			return subslice(in, 0, max(n, 0)), nil
		}),
		"intersect": fnArgs(1, 1, func(e *env, c *callNode, in []Value) ([]Value, error) {
			other, err := c.arg(e, 0)
			if err != nil {
				return nil, err
			}
			var out []Value
			for _, v := range in {
				if containsValue(other, v) && !containsValue(out, v) {
					out = append(out, v)
				}
			}
			return out, nil
		}),
		"exclude": fnArgs(1, 1, func(e *env, c *callNode, in []Value) ([]Value, error) {
			other, err := c.arg(e, 0)
			if err != nil {
				return nil, err
			}
			var out []Value
			for _, v := range in {
				if !containsValue(other, v) {
					out = append(out, v)
				}
			}
			return out, nil
		}),

		// Combining.
		"union": fnArgs(1, 1, func(e *env, c *callNode, in []Value) ([]Value, error) {
			other, err := c.arg(e, 0)
			if err != nil {
				return nil, err
			}
			return union(in, other), nil
		}),
		"combine": fnArgs(1, 1, func(e *env, c *callNode, in []Value) ([]Value, error) {
			other, err := c.arg(e, 0)
			if err != nil {
				return nil, err
			}
			return append(append([]Value(nil), in...), other...), nil
		}),

		// Conversion.
		"iif":                {minArgs: 2, maxArgs: 3, lambda: []bool{true, true, true}, call: fnIif},
		"toBoolean":          converter(toBoolean, false),
		"convertsToBoolean":  converter(toBoolean, true),
		"toInteger":          converter(toInteger, false),
		"convertsToInteger":  converter(toInteger, true),
		"toDecimal":          converter(toDecimal, false),
		"convertsToDecimal":  converter(toDecimal, true),
		"toString":           converter(toStringValue, false),
		"convertsToString":   converter(toStringValue, true),
		"toDate":             converter(toMoment("date"), false),
		"convertsToDate":     converter(toMoment("date"), true),
		"toDateTime":         converter(toMoment("dateTime"), false),
		"convertsToDateTime": converter(toMoment("dateTime"), true),
		"toTime":             converter(toMoment("time"), false),
		"convertsToTime":     converter(toMoment("time"), true),
		"toQuantity":         fnArgs(0, 1, fnToQuantity(false)),
		"convertsToQuantity": fnArgs(0, 1, fnToQuantity(true)),

		// Strings.
		"indexOf": stringFn(1, func(s string, a []string) ([]Value, error) {
			i := strings.Index(s, a[0])
			if i < 0 {
				return []Value{intValue(-1)}, nil
			}
			return []Value{intValue(int64(utf8.RuneCountInString(s[:i])))}, nil
		}),
		"substring":  fnArgs(1, 2, fnSubstring),
		"startsWith": stringFn(1, func(s string, a []string) ([]Value, error) { return boolResult(strings.HasPrefix(s, a[0])), nil }),
		"endsWith":   stringFn(1, func(s string, a []string) ([]Value, error) { return boolResult(strings.HasSuffix(s, a[0])), nil }),
		"contains":   stringFn(1, func(s string, a []string) ([]Value, error) { return boolResult(strings.Contains(s, a[0])), nil }),
		"upper":      stringFn(0, func(s string, _ []string) ([]Value, error) { return str(strings.ToUpper(s)), nil }),
		"lower":      stringFn(0, func(s string, _ []string) ([]Value, error) { return str(strings.ToLower(s)), nil }),
		"replace":    stringFn(2, func(s string, a []string) ([]Value, error) { return str(strings.ReplaceAll(s, a[0], a[1])), nil }),
		"matches": stringFn(1, func(s string, a []string) ([]Value, error) {
			re, err := compileRegex(a[0])
			if err != nil {
				return nil, err
			}
			return boolResult(re.MatchString(s)), nil
		}),
		"replaceMatches": stringFn(2, func(s string, a []string) ([]Value, error) {
			re, err := compileRegex(a[0])
			if err != nil {
				return nil, err
			}
			return str(re.ReplaceAllString(s, a[1])), nil
		}),
		"length": stringFn(0, func(s string, _ []string) ([]Value, error) {
			return []Value{intValue(int64(utf8.RuneCountInString(s)))}, nil
		}),
		"toChars": stringFn(0, func(s string, _ []string) ([]Value, error) {
			var out []Value
			for _, r := range s {
				out = append(out, Value{Data: string(r), Type: "string"})
			}
			return out, nil
		}),

		// Math.
		"abs": fn(func(_ *env, _ *callNode, in []Value) ([]Value, error) {
			v, ok, err := singleton(in, "abs()")
			if err != nil || !ok {
				return nil, err
			}
			if q, ok := quantityOf(v); ok && isQuantityType(v.Type) {
				q.n.r = new(big.Rat).Abs(q.n.r)
				return []Value{negQuantity(v, q)}, nil
			}
			n, err := numArg(v, "abs()")
			if err != nil {
				return nil, err
			}
			n.r = new(big.Rat).Abs(n.r)
			out, _ := n.value()
			return out, nil
		}),
		"ceiling":  mathFn(0, func(n num, _ []num) ([]Value, error) { return integerOf(ratCeil(n.r)) }),
		"floor":    mathFn(0, func(n num, _ []num) ([]Value, error) { return integerOf(ratFloor(n.r)) }),
		"truncate": mathFn(0, func(n num, _ []num) ([]Value, error) { return integerOf(new(big.Int).Quo(n.r.Num(), n.r.Denom())) }),
		"exp":      floatFn(0, func(x float64, _ []float64) float64 { return math.Exp(x) }),
		"ln":       floatFn(0, func(x float64, _ []float64) float64 { return math.Log(x) }),
		"log":      floatFn(1, func(x float64, a []float64) float64 { return math.Log(x) / math.Log(a[0]) }),
		"sqrt":     floatFn(0, math2(math.Sqrt)),
		"power": mathFn(1, func(n num, a []num) ([]Value, error) {
			if n.isInt && a[0].isInt && a[0].r.Sign() >= 0 && a[0].r.Num().IsInt64() && a[0].r.Num().Int64() <= 64 {
				r := new(big.Int).Exp(n.r.Num(), a[0].r.Num(), nil)
				return integerOf(r)
			}
			x, _ := n.r.Float64()
			y, _ := a[0].r.Float64()
			return floatValue(math.Pow(x, y))
		}),
		"round": mathFn(-1, func(n num, a []num) ([]Value, error) {
			scale := 0
			if len(a) == 1 {
				if !a[0].isInt || a[0].r.Sign() < 0 || a[0].r.Cmp(big.NewRat(30, 1)) > 0 {
					return nil, evalErr("round() expects a precision between 0 and 30")
				}
				scale = int(a[0].r.Num().Int64())
			}
			out, _ := num{r: roundHalfUp(n.r, scale), scale: scale}.value()
			return out, nil
		}),

		// Tree navigation.
		"children":    fn(func(e *env, _ *callNode, in []Value) ([]Value, error) { return children(in), nil }),
		"descendants": fn(fnDescendants),

		// Utility.
		"trace": {minArgs: 1, maxArgs: 2, lambda: []bool{false, true}, call: func(e *env, c *callNode, in []Value) ([]Value, error) {
			// Tracing has no sink here; the name is still evaluated, so errors in it surface.
			if _, err := c.arg(e, 0); err != nil {
				return nil, err
			}
			return in, nil
		}},
		"now": fn(func(e *env, _ *callNode, _ []Value) ([]Value, error) {
			return []Value{{Data: e.now.Format("2006-01-02T15:04:05.000Z07:00"), Type: "dateTime"}}, nil
		}),
		"today": fn(func(e *env, _ *callNode, _ []Value) ([]Value, error) {
			return []Value{{Data: e.now.Format(time.DateOnly), Type: "date"}}, nil
		}),
		"timeOfDay": fn(func(e *env, _ *callNode, _ []Value) ([]Value, error) {
			return []Value{{Data: e.now.Format("15:04:05.000"), Type: "time"}}, nil
		}),

		// Aggregates.
		"aggregate": {minArgs: 1, maxArgs: 2, lambda: []bool{true, false}, call: fnAggregate},

		// Boolean and type functions.
		"not": fn(func(_ *env, _ *callNode, in []Value) ([]Value, error) {
			t, err := toBool3(in, "not()")
			return not3(t).result(), err
		}),
		"as": {arg: argType, minArgs: 1, maxArgs: 1, call: func(_ *env, c *callNode, in []Value) ([]Value, error) {
			return filterType(in, c.types), nil
		}},
		"is": {arg: argType, minArgs: 1, maxArgs: 1, call: func(_ *env, c *callNode, in []Value) ([]Value, error) {
			return isType(in, c.types)
		}},
	}
	for name, f := range fhirFunctions() {
		functions[name] = f
	}
}

func str(s string) []Value { return []Value{{Data: s, Type: "string"}} }

func subslice(in []Value, start, n int64) []Value {
	if start < 0 || start >= int64(len(in)) || n <= 0 {
		return nil
	}
	end := min(start+n, int64(len(in)))
	return in[start:end]
}

// intArg evaluates an Integer argument on the caller's $this; ok is false when it is empty.
func intArg(e *env, a node, what string) (int64, bool, error) {
	vs, err := a.eval(e, e.thisFocus[:])
	if err != nil {
		return 0, false, err
	}
	v, ok, err := singleton(vs, what)
	if err != nil || !ok {
		return 0, false, err
	}
	n, isNum := numOf(v)
	if !isNum || !n.isInt || !n.r.Num().IsInt64() {
		return 0, false, evalErr("%s expects an integer, got %s", what, describe(v))
	}
	return n.r.Num().Int64(), true, nil
}

// filterItems keeps the items for which criteria is true, evaluating it with
// each item as focus and $this.
func filterItems(e *env, c *callNode, in []Value) ([]Value, error) {
	var out []Value
	err := c.each(e, 0, in, func(v Value, r []Value) (bool, error) {
		b, ok, err := toBool(r, c.what)
		if ok && b {
			out = append(out, v)
		}
		return false, err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func fnWhere(e *env, c *callNode, in []Value) ([]Value, error) { return filterItems(e, c, in) }

func fnExists(e *env, c *callNode, in []Value) ([]Value, error) {
	if len(c.args) == 1 {
		var err error
		if in, err = filterItems(e, c, in); err != nil {
			return nil, err
		}
	}
	return boolResult(len(in) > 0), nil
}

// fnAll is true when criteria is true for every item (and for no items).
func fnAll(e *env, c *callNode, in []Value) ([]Value, error) {
	all := true
	err := c.each(e, 0, in, func(_ Value, r []Value) (bool, error) {
		b, ok, err := toBool(r, "all()")
		all = ok && b
		return !all, err
	})
	if err != nil {
		return nil, err
	}
	return boolResult(all), nil
}

// boolsAgg implements allTrue and its siblings over a collection of booleans.
func boolsAgg(in []Value, what string, test func(trues, falses int) bool) ([]Value, error) {
	t, f := 0, 0
	for _, v := range in {
		b, ok := v.Data.(bool)
		if !ok {
			return nil, evalErr("%s() expects booleans, got %s", what, describe(v))
		}
		if b {
			t++
		} else {
			f++
		}
	}
	return boolResult(test(t, f)), nil
}

func fnSubsetOf(e *env, c *callNode, in []Value) ([]Value, error) {
	other, err := c.arg(e, 0)
	if err != nil {
		return nil, err
	}
	return boolResult(subset(in, other)), nil
}

func fnSupersetOf(e *env, c *callNode, in []Value) ([]Value, error) {
	other, err := c.arg(e, 0)
	if err != nil {
		return nil, err
	}
	return boolResult(subset(other, in)), nil
}

func subset(a, b []Value) bool {
	for _, v := range a {
		if !containsValue(b, v) {
			return false
		}
	}
	return true
}

func fnSelect(e *env, c *callNode, in []Value) ([]Value, error) {
	var out []Value
	err := c.each(e, 0, in, func(_ Value, r []Value) (bool, error) {
		out = append(out, r...)
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// maxRepeat bounds what repeat() may produce: values other than numbers are deduplicated
// by comparing them one by one, so the cost grows with the square of this.
const maxRepeat = 2000

// fnRepeat applies the projection to the input, then to its results, until no new items
// appear; items equal to one already found are not followed again.
func fnRepeat(e *env, c *callNode, in []Value) ([]Value, error) {
	var out []Value
	var seen valueSet
	queue := in
	for len(queue) > 0 {
		var next []Value
		err := c.each(e, 0, queue, func(_ Value, r []Value) (bool, error) {
			for _, w := range r {
				if seen.add(w) {
					out = append(out, w)
					next = append(next, w)
				}
			}
			if len(out) > maxRepeat {
				return true, evalErr("repeat() produced more than %d items", maxRepeat)
			}
			return false, nil
		})
		if err != nil {
			return nil, err
		}
		queue = next
	}
	return out, nil
}

// fnIif evaluates its criterion, then only the branch it selects. The arguments are
// evaluated on the input, with it as $this when it is one item (at the start of a term
// the input is the caller's $this).
func fnIif(e *env, c *callNode, in []Value) ([]Value, error) {
	if len(in) > 1 {
		return nil, evalErr("iif() expects at most one input item, got %d", len(in))
	}
	sub, focus := e, in
	if len(in) == 1 {
		sub = e.iter(in[0], 0)
	}
	crit, err := c.args[0].eval(sub, focus)
	if err != nil {
		return nil, err
	}
	b, ok, err := toBool(crit, "iif()")
	if err != nil {
		return nil, err
	}
	if ok && b {
		return c.args[1].eval(sub, focus)
	}
	if len(c.args) == 3 {
		return c.args[2].eval(sub, focus)
	}
	return nil, nil
}

func fnAggregate(e *env, c *callNode, in []Value) ([]Value, error) {
	var total []Value
	if len(c.args) == 2 {
		var err error
		if total, err = c.arg(e, 1); err != nil {
			return nil, err
		}
	}
	for i, v := range in {
		sub := e.iter(v, i)
		sub.total, sub.hasTotal = total, true
		r, err := c.args[0].eval(sub, sub.thisFocus[:])
		if err != nil {
			return nil, err
		}
		total = r
	}
	return total, nil
}

// Conversions.

// converter makes toX (check false) or convertsToX (check true) from a conversion of
// one item, which returns ok false when the item does not convert.
func converter(conv func(Value) (Value, bool), check bool) funcSpec {
	return fn(func(_ *env, c *callNode, in []Value) ([]Value, error) {
		v, ok, err := singleton(in, c.what)
		if err != nil || !ok {
			return nil, err
		}
		out, ok := conv(v)
		if check {
			return boolResult(ok), nil
		}
		if !ok {
			return nil, nil
		}
		return []Value{out}, nil
	})
}

func toBoolean(v Value) (Value, bool) {
	switch d := v.Data.(type) {
	case bool:
		return Value{Data: d, Type: "boolean"}, true
	case json.Number:
		if n, ok := parseNum(string(d)); ok {
			switch {
			case n.r.Cmp(big.NewRat(1, 1)) == 0:
				return Value{Data: true, Type: "boolean"}, true
			case n.r.Sign() == 0:
				return Value{Data: false, Type: "boolean"}, true
			}
		}
	case string:
		if isMomentType(v.Type) {
			return Value{}, false
		}
		switch strings.ToLower(d) {
		case "true", "t", "yes", "y", "1", "1.0":
			return Value{Data: true, Type: "boolean"}, true
		case "false", "f", "no", "n", "0", "0.0":
			return Value{Data: false, Type: "boolean"}, true
		}
	}
	return Value{}, false
}

var (
	reInteger  = regexp.MustCompile(`^[+-]?\d+$`)
	reDecimal  = regexp.MustCompile(`^[+-]?\d+(\.\d+)?$`)
	reQuantity = regexp.MustCompile(`^([+-]?\d+(?:\.\d+)?)\s*(?:'([^']+)'|([a-z]+))?$`)
)

func toInteger(v Value) (Value, bool) {
	switch d := v.Data.(type) {
	case bool:
		if d {
			return intValue(1), true
		}
		return intValue(0), true
	case json.Number:
		if n, ok := parseNum(string(d)); ok && n.isInt {
			out, ok := n.value()
			return first(out), ok
		}
	case string:
		if !isMomentType(v.Type) && reInteger.MatchString(d) {
			if i, err := strconvInt(strings.TrimPrefix(d, "+")); err == nil {
				return intValue(i), true
			}
		}
	}
	return Value{}, false
}

func toDecimal(v Value) (Value, bool) {
	switch d := v.Data.(type) {
	case bool:
		if d {
			return Value{Data: json.Number("1.0"), Type: "decimal"}, true
		}
		return Value{Data: json.Number("0.0"), Type: "decimal"}, true
	case json.Number:
		if _, ok := parseNum(string(d)); ok {
			return Value{Data: d, Type: "decimal"}, true
		}
	case string:
		if !isMomentType(v.Type) && reDecimal.MatchString(d) {
			return Value{Data: json.Number(strings.TrimPrefix(d, "+")), Type: "decimal"}, true
		}
	}
	return Value{}, false
}

func toStringValue(v Value) (Value, bool) {
	switch d := v.Data.(type) {
	case bool:
		return Value{Data: strconv.FormatBool(d), Type: "string"}, true
	case json.Number:
		return Value{Data: string(d), Type: "string"}, true
	case string:
		return Value{Data: d, Type: "string"}, true
	case map[string]any:
		if q, ok := quantityOf(v); ok && isQuantityType(v.Type) {
			val := string(d["value"].(json.Number))
			if q.calendar {
				unit, _ := d["unit"].(string)
				return Value{Data: val + " " + unit, Type: "string"}, true
			}
			return Value{Data: val + " '" + q.unit + "'", Type: "string"}, true
		}
	}
	return Value{}, false
}

// toMoment converts to a date, dateTime or time: from a value of that kind (a dateTime
// to a date keeps the date part; a date to a dateTime keeps its precision) or from a
// string in FHIR syntax.
func toMoment(kind string) func(Value) (Value, bool) {
	return func(v Value) (Value, bool) {
		s, ok := v.Data.(string)
		if !ok {
			return Value{}, false
		}
		m, ok := parseMoment(s, "")
		if kind == "time" {
			if strings.HasPrefix(s, "T") {
				return Value{}, false
			}
			m, ok = parseMoment(s, "time")
		}
		if !ok || (kind == "time") != (m.kind == "time") {
			return Value{}, false
		}
		switch {
		case kind == "date" && m.kind == "dateTime":
			m.kind, m.hasTZ, m.explicitDateTimeTee = "date", false, false
			m.prec = min(m.prec, precDay)
		case kind == "dateTime" && m.kind == "date":
			m.kind = "dateTime"
		}
		return m.value(), true
	}
}

func fnToQuantity(check bool) func(e *env, c *callNode, in []Value) ([]Value, error) {
	return func(e *env, c *callNode, in []Value) ([]Value, error) {
		v, ok, err := singleton(in, c.what)
		if err != nil || !ok {
			return nil, err
		}
		q, ok := toQuantity(v)
		if ok && len(c.args) == 1 {
			unit, err := c.arg(e, 0)
			if err != nil {
				return nil, err
			}
			u, isU, err := singleton(unit, c.what)
			if err != nil {
				return nil, err
			}
			want, _ := u.Data.(string)
			qa, _ := quantityOf(q)
			conv, okC := convertQuantity(qa, want)
			ok = isU && okC
			if ok {
				q = quantityValue(conv.n, conv.unit, conv.calendar)
			}
		}
		if check {
			return boolResult(ok), nil
		}
		if !ok {
			return nil, nil
		}
		return []Value{q}, nil
	}
}

func toQuantity(v Value) (Value, bool) {
	switch d := v.Data.(type) {
	case bool:
		if d {
			return quantityValue(num{r: big.NewRat(1, 1), scale: 1}, "1", false), true
		}
		return quantityValue(num{r: new(big.Rat), scale: 1}, "1", false), true
	case json.Number:
		n, ok := parseNum(string(d))
		if !ok {
			return Value{}, false
		}
		return quantityValue(n, "1", false), true
	case string:
		g := reQuantity.FindStringSubmatch(strings.TrimSpace(d))
		if g == nil || isMomentType(v.Type) {
			return Value{}, false
		}
		n, _ := parseNum(g[1])
		switch {
		case g[2] != "":
			return quantityValue(n, g[2], false), true
		case g[3] != "":
			cu, ok := calendarUnits[g[3]]
			if !ok {
				return Value{}, false
			}
			m := map[string]any{"value": json.Number(g[1]), "unit": cu}
			return Value{Data: m, Type: "Quantity"}, true
		}
		return quantityValue(n, "1", false), true
	case map[string]any:
		if _, ok := quantityOf(v); ok && isQuantityType(v.Type) {
			v.Type, v.fhir, v.ext = "Quantity", false, nil // a System.Quantity, as computed
			return v, true
		}
	}
	return Value{}, false
}

func first(vs []Value) Value {
	if len(vs) == 0 {
		return Value{}
	}
	return vs[0]
}

// Strings.

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

// Math.

func numArg(v Value, what string) (num, error) {
	n, ok := numOf(v)
	if !ok {
		return num{}, evalErr("%s expects a number, got %s", what, describe(v))
	}
	return n, nil
}

// mathFn makes a function of one number input and nargs number arguments (-1: zero or
// one); an empty input or argument gives empty.
func mathFn(nargs int, f func(n num, args []num) ([]Value, error)) funcSpec {
	lo, hi := nargs, nargs
	if nargs < 0 {
		lo, hi = 0, 1
	}
	return fnArgs(lo, hi, func(e *env, c *callNode, in []Value) ([]Value, error) {
		v, ok, err := singleton(in, c.what)
		if err != nil || !ok {
			return nil, err
		}
		n, err := numArg(v, c.what)
		if err != nil {
			return nil, err
		}
		var args []num
		for i := range c.args {
			vs, err := c.arg(e, i)
			if err != nil {
				return nil, err
			}
			a, ok, err := singleton(vs, c.what)
			if err != nil || !ok {
				return nil, err
			}
			an, err := numArg(a, c.what)
			if err != nil {
				return nil, err
			}
			args = append(args, an)
		}
		return f(n, args)
	})
}

// floatFn is mathFn for functions computed in floating point; a result that is not a
// finite number (ln of a negative) is empty.
func floatFn(nargs int, f func(x float64, args []float64) float64) funcSpec {
	return mathFn(nargs, func(n num, a []num) ([]Value, error) {
		x, _ := n.r.Float64()
		args := make([]float64, len(a))
		for i, an := range a {
			args[i], _ = an.r.Float64()
		}
		return floatValue(f(x, args))
	})
}

func math2(f func(float64) float64) func(float64, []float64) float64 {
	return func(x float64, _ []float64) float64 { return f(x) }
}

func floatValue(x float64) ([]Value, error) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil, nil
	}
	s := strconv.FormatFloat(x, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return []Value{{Data: json.Number(s), Type: "decimal"}}, nil
}

func integerOf(i *big.Int) ([]Value, error) {
	out, ok := num{r: new(big.Rat).SetInt(i), isInt: true}.value()
	if !ok {
		return nil, nil
	}
	return out, nil
}

func ratFloor(r *big.Rat) *big.Int {
	q, m := new(big.Int).DivMod(r.Num(), r.Denom(), new(big.Int))
	_ = m
	return q // Euclidean division by a positive denominator floors
}

func ratCeil(r *big.Rat) *big.Int {
	q := ratFloor(r)
	if !r.IsInt() {
		q.Add(q, big.NewInt(1))
	}
	return q
}
