package fhirpath

import (
	"encoding/json"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// The math functions.

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
