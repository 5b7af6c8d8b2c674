package fhirpath

import (
	"encoding/json"
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// The conversion functions: toX and convertsToX.

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
