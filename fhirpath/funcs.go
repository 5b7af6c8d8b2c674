package fhirpath

import (
	"math"
	"math/big"
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
