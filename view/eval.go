package view

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/fhirgate/fhirgate/fhirpath"
)

// Bounds on what one resource may produce, so that a view cannot exhaust memory on a
// resource whose nesting or cross products explode.
const (
	// MaxRowsPerResource is the most rows one resource may yield.
	MaxRowsPerResource = 100_000
	// maxRepeatDepth and maxRepeatNodes bound repeat's traversal.
	maxRepeatDepth = 64
	maxRepeatNodes = 100_000
)

// Rows evaluates the view on one resource, decoded as generic JSON with numbers as
// json.Number (encoding/json with UseNumber), and calls emit with each row in order; an error
// of emit stops the evaluation and is returned as it is. A resource of another type than the
// view's yields no rows, as does one a where clause excludes. Evaluation errors are ErrEval.
// Rows are built per resource and hold values shared with resource: neither may be modified.
func (v *View) Rows(resource map[string]any, emit func(Row) error) error {
	if rt, _ := resource["resourceType"].(string); rt != v.Resource {
		return nil
	}
	ev := &evaluation{v: v, resource: resource, vars: make(map[string][]fhirpath.Value, len(v.constants)+1)}
	for name, val := range v.constants {
		ev.vars[name] = val
	}
	ev.opts.Vars = ev.vars
	for _, w := range v.where {
		ok, err := ev.where(w)
		if err != nil || !ok {
			return err
		}
	}
	rows, err := ev.process(v.root, nil, 0)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if err := emit(r); err != nil {
			return err
		}
	}
	return nil
}

// evaluation is the state of evaluating the view on one resource.
type evaluation struct {
	v        *View
	resource map[string]any
	vars     map[string][]fhirpath.Value // the constants, and %rowIndex
	opts     fhirpath.Options
}

// fail returns an ErrEval error about the resource.
func (ev *evaluation) fail(format string, args ...any) error {
	id, _ := ev.resource["id"].(string)
	return fmt.Errorf("%w: %s/%s: %s", ErrEval, ev.v.Resource, id, fmt.Sprintf(format, args...))
}

// eval evaluates e on focus (the resource when nil) with %rowIndex set to index.
func (ev *evaluation) eval(e *fhirpath.Expr, focus *fhirpath.Value, index int) ([]fhirpath.Value, error) {
	ev.vars[rowIndexVar] = rowIndex(index)
	ev.opts.Context = focus
	return e.EvalOptions(ev.resource, &ev.opts)
}

// smallIndexes are the %rowIndex values of the first positions, made once.
var smallIndexes = func() [][]fhirpath.Value {
	out := make([][]fhirpath.Value, 256)
	for i := range out {
		out[i] = []fhirpath.Value{{Data: json.Number(strconv.Itoa(i)), Type: "integer"}}
	}
	return out
}()

func rowIndex(i int) []fhirpath.Value {
	if i < len(smallIndexes) {
		return smallIndexes[i]
	}
	return []fhirpath.Value{{Data: json.Number(strconv.Itoa(i)), Type: "integer"}}
}

// where reports whether the resource meets the clause: it must yield true, false or nothing
// (false).
func (ev *evaluation) where(w clause) (bool, error) {
	vals, err := ev.eval(w.expr, nil, 0)
	if err != nil {
		return false, ev.fail("%s: %s", w.label, err)
	}
	switch len(vals) {
	case 0:
		return false, nil
	case 1:
		if b, ok := vals[0].Data.(bool); ok {
			return b, nil
		}
		return false, ev.fail("%s: the path yields a %s, not a boolean", w.label, kindName(vals[0]))
	}
	return false, ev.fail("%s: the path yields %d values, not one boolean", w.label, len(vals))
}

// process returns the rows of selection s on focus (the resource when nil), whose
// %rowIndex is index: the specification's Process(S, N).
func (ev *evaluation) process(s *selection, focus *fhirpath.Value, index int) ([]Row, error) {
	var foci []fhirpath.Value
	var err error
	switch s.iter {
	case iterNone:
		return ev.rowsOn(s, focus, index)
	case iterForEach, iterForEachOrNull:
		if foci, err = ev.eval(s.iterExprs[0], focus, index); err != nil {
			return nil, ev.fail("%s: %s", s.label, err)
		}
	case iterRepeat:
		if foci, err = ev.repeat(s, focus, index); err != nil {
			return nil, err
		}
	}
	if len(foci) == 0 && s.iter == iterForEachOrNull {
		return []Row{ev.nullRow(s)}, nil
	}
	var out []Row
	for i := range foci {
		rows, err := ev.rowsOn(s, &foci[i], i)
		if err != nil {
			return nil, err
		}
		if len(out)+len(rows) > MaxRowsPerResource {
			return nil, ev.fail("%s: yields more than %d rows", s.label, MaxRowsPerResource)
		}
		out = append(out, rows...)
	}
	return out, nil
}

// rowsOn returns the rows of s on one node: its columns, crossed with the rows of each nested
// select, crossed with the rows of its unionAll branches one after the other.
func (ev *evaluation) rowsOn(s *selection, focus *fhirpath.Value, index int) ([]Row, error) {
	row := make(Row, len(ev.v.Columns))
	for _, c := range s.columns {
		vals, err := ev.eval(c.expr, focus, index)
		if err != nil {
			return nil, ev.fail("column %q: %s", c.name, err)
		}
		if row[c.pos], err = cell(vals, c.collection); err != nil {
			return nil, ev.fail("column %q: %s", c.name, err)
		}
	}
	rows := []Row{row}
	for _, sub := range s.selects {
		subRows, err := ev.process(sub, focus, index)
		if err != nil {
			return nil, err
		}
		if rows, err = ev.cross(s, rows, subRows, sub.positions); err != nil || len(rows) == 0 {
			return nil, err
		}
	}
	if len(s.unionAll) == 0 {
		return rows, nil
	}
	var union []Row
	for _, u := range s.unionAll {
		r, err := ev.process(u, focus, index)
		if err != nil {
			return nil, err
		}
		union = append(union, r...)
	}
	return ev.cross(s, rows, union, s.unionAll[0].positions)
}

// cross returns the cross product of rows and more, each row of more binding the columns at
// positions.
func (ev *evaluation) cross(s *selection, rows, more []Row, positions []int) ([]Row, error) {
	if len(more) == 0 {
		return nil, nil
	}
	if len(rows)*len(more) > MaxRowsPerResource {
		return nil, ev.fail("%s: yields more than %d rows", s.label, MaxRowsPerResource)
	}
	out := make([]Row, 0, len(rows)*len(more))
	for _, r := range rows {
		for j, m := range more {
			n := r
			if j < len(more)-1 {
				n = append(Row(nil), r...)
			}
			for _, p := range positions {
				n[p] = m[p]
			}
			out = append(out, n)
		}
	}
	return out, nil
}

// nullRow is forEachOrNull's row when its path yields nothing: null in every column of s,
// but 0 in those whose path is %rowIndex, as the specification says.
func (ev *evaluation) nullRow(s *selection) Row {
	row := make(Row, len(ev.v.Columns))
	for _, p := range s.rowIndexPositions {
		row[p] = json.Number("0")
	}
	return row
}

// repeat returns the nodes s's repeat paths reach from focus, at any depth, depth first: each
// node, then what it reaches, then its next sibling.
func (ev *evaluation) repeat(s *selection, focus *fhirpath.Value, index int) ([]fhirpath.Value, error) {
	var out []fhirpath.Value
	var walk func(node *fhirpath.Value, depth int) error
	walk = func(node *fhirpath.Value, depth int) error {
		if depth > maxRepeatDepth {
			return ev.fail("%s.repeat: goes deeper than %d levels", s.label, maxRepeatDepth)
		}
		for _, e := range s.iterExprs {
			children, err := ev.eval(e, node, index)
			if err != nil {
				return ev.fail("%s.repeat: %s", s.label, err)
			}
			for i := range children {
				if out = append(out, children[i]); len(out) > maxRepeatNodes {
					return ev.fail("%s.repeat: reaches more than %d nodes", s.label, maxRepeatNodes)
				}
				if err := walk(&children[i], depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return out, walk(focus, 0)
}

// cell returns a column's value from what its path yields.
func cell(vals []fhirpath.Value, collection bool) (any, error) {
	if collection {
		out := make([]any, 0, len(vals))
		for _, v := range vals {
			if v.Data != nil { // a primitive with only extensions has no value
				out = append(out, v.Data)
			}
		}
		return out, nil
	}
	switch len(vals) {
	case 0:
		return nil, nil
	case 1:
		return vals[0].Data, nil
	}
	return nil, fmt.Errorf("the path yields %d values; a column that is not a collection takes at most one (set collection to true, or narrow the path)", len(vals))
}

// kindName names the JSON kind of a value, for messages that must not show the value.
func kindName(v fhirpath.Value) string {
	if v.Type != "" {
		return v.Type
	}
	switch v.Data.(type) {
	case string:
		return "string"
	case json.Number:
		return "number"
	case map[string]any:
		return "complex value"
	}
	return "value"
}
