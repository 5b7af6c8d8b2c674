package aggregate

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/fhirgate/fhirgate/search"
)

// grouper is the stream plan's state: the total, the overall summaries and the groups.
type grouper struct {
	req       *Request
	typ       string
	maxGroups int
	budget    *budget

	count  int64
	totals summaries
	groups map[string]*groupAcc
	order  []string // group tuples in the order first seen, for deterministic output
}

// groupAcc is one group being counted.
type groupAcc struct {
	key   []*string
	count int64
	stats summaries
}

func newGrouper(req *Request, maxGroups, maxValues int) *grouper {
	b := &budget{left: maxValues}
	return &grouper{req: req, typ: req.Query.Type, maxGroups: maxGroups, budget: b,
		totals: newSummaries(req.Measures, b), groups: map[string]*groupAcc{}}
}

// nullKey stands for "no value" among a key's values.
var nullKey *string

// add counts one matching resource.
func (g *grouper) add(res map[string]any) error {
	g.count++
	values := make([][]measured, len(g.req.Measures))
	for i, m := range g.req.Measures {
		vs, err := measureValues(g.typ, m, res)
		if err != nil {
			return err
		}
		values[i] = vs
		g.totals.add(i, vs)
	}
	if len(g.req.Keys) == 0 {
		return nil
	}
	keys := make([][]*string, len(g.req.Keys))
	tuples := 1
	for i, k := range g.req.Keys {
		vs, err := keyValues(g.typ, k, res)
		if err != nil {
			return err
		}
		if len(vs) == 0 {
			vs = []*string{nullKey}
		}
		keys[i] = vs
		if tuples *= len(vs); tuples > MaxTuples {
			return fmt.Errorf("%w: a resource falls in more than %d groups; group by fewer keys", ErrTooMany, MaxTuples)
		}
	}
	tuple := make([]*string, len(keys))
	var walk func(i int) error
	walk = func(i int) error {
		if i == len(keys) {
			return g.count1(tuple, values)
		}
		for _, v := range keys[i] {
			tuple[i] = v
			if err := walk(i + 1); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(0)
}

// count1 counts a resource, with its measures' values, in the group of tuple.
func (g *grouper) count1(tuple []*string, values [][]measured) error {
	id := tupleID(tuple)
	acc := g.groups[id]
	if acc == nil {
		if len(g.groups) == g.maxGroups {
			return errTooManyGroups(g.maxGroups)
		}
		acc = &groupAcc{key: slices.Clone(tuple), stats: newSummaries(g.req.Measures, g.budget)}
		g.groups[id] = acc
		g.order = append(g.order, id)
	}
	acc.count++
	for i, vs := range values {
		acc.stats.add(i, vs)
	}
	return nil
}

func errTooManyGroups(n int) error {
	return fmt.Errorf("%w: more than %d groups; bucket dates more coarsely, group by fewer keys or narrow the search", ErrTooMany, n)
}

// tupleID identifies a key tuple: each value length-prefixed, "-" for none.
func tupleID(tuple []*string) string {
	var b strings.Builder
	for _, v := range tuple {
		if v == nil {
			b.WriteString("-;")
			continue
		}
		b.WriteString(strconv.Itoa(len(*v)))
		b.WriteByte(':')
		b.WriteString(*v)
	}
	return b.String()
}

// result returns what was counted.
func (g *grouper) result() *Result {
	out := &Result{Count: g.count, Stats: g.totals.stats(g.req.Measures), Groups: []Group{}}
	for _, id := range g.order {
		acc := g.groups[id]
		out.Groups = append(out.Groups, Group{Key: acc.key, Count: acc.count, Stats: acc.stats.stats(g.req.Measures)})
	}
	return out
}

// keyValues returns the distinct values of key k for a resource of type typ, sorted.
func keyValues(typ string, k Key, res map[string]any) ([]*string, error) {
	var out []string
	if k.Param != nil {
		for _, x := range search.IndexedValues(typ, k.Param, res) {
			if s, ok := renderIndexed(k.Param.Type, x, k.Bucket); ok {
				out = append(out, s)
			}
		}
	} else {
		vals, err := k.Expr.Eval(res)
		if err != nil {
			return nil, fmt.Errorf("%w: group key %q: %w", ErrInvalid, k.Name, err)
		}
		for _, v := range vals {
			ss, err := renderValue(v.Data, v.Type, k.Bucket)
			if err != nil {
				return nil, fmt.Errorf("%w: group key %q: %w", ErrInvalid, k.Name, err)
			}
			out = append(out, ss...)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	ptrs := make([]*string, len(out))
	for i := range out {
		ptrs[i] = &out[i]
	}
	return ptrs, nil
}

// measured is one value of a measure, with its unit ("" for none).
type measured struct {
	unit string
	v    float64
}

// measureValues returns the values of measure m for a resource of type typ: each indexed point
// value of a parameter (ranges left out), or each number or quantity an expression gives
// (other values left out).
func measureValues(typ string, m Measure, res map[string]any) ([]measured, error) {
	var out []measured
	if m.Param != nil {
		for _, x := range search.IndexedValues(typ, m.Param, res) {
			if x.Range && x.Lo == x.Hi {
				out = append(out, measured{unit: unitOf(x.Code, x.Unit), v: x.Lo})
			}
		}
		return out, nil
	}
	vals, err := m.Expr.Eval(res)
	if err != nil {
		return nil, fmt.Errorf("%w: measure %q: %w", ErrInvalid, m.Name, err)
	}
	for _, v := range vals {
		if f, ok := number(v.Data); ok {
			out = append(out, measured{v: f})
			continue
		}
		if q, ok := v.Data.(map[string]any); ok {
			if f, ok := number(q["value"]); ok {
				code, _ := q["code"].(string)
				unit, _ := q["unit"].(string)
				out = append(out, measured{unit: unitOf(code, search.Normalize(unit)), v: f})
			}
		}
	}
	return out, nil
}

// unitOf is a quantity's unit: its code, else its unit text.
func unitOf(code, unit string) string {
	if code != "" {
		return code
	}
	return unit
}

// number reads a JSON or FHIRPath number.
func number(x any) (float64, bool) {
	switch n := x.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(n), 64)
		return f, err == nil
	case float64:
		return n, true
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	}
	return 0, false
}
