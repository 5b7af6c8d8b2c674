package fhirpath

import (
	"slices"
	"strings"
)

// Tree navigation: children() and descendants() list the elements of JSON objects. They are
// the hottest paths of expressions such as descendants().ofType(Reference), so they read each
// object once, without building keys such as "_name", and descendants() walks the tree
// without materialising each level as a list.

// field is one element of a JSON object as children() lists it: its name, its value and its
// _name companion (the id and extensions of a primitive), either of which may be nil.
type field struct {
	name             string
	value, companion any
	isCompanion      bool // while collecting: this entry came from the _name key
}

// fieldsOf appends the elements of m to buf: every key but resourceType, a _name companion
// joined to its value. sorted puts them in name order, as children() returns them; without
// it they are in map order (for consumers that only count or filter).
func fieldsOf(buf []field, m map[string]any, sorted bool) []field {
	start := len(buf)
	companions := false
	for k, x := range m {
		switch {
		case k == "resourceType":
		case strings.HasPrefix(k, "_"):
			buf = append(buf, field{name: k[1:], companion: x, isCompanion: true})
			companions = true
		default:
			buf = append(buf, field{name: k, value: x})
		}
	}
	fs := buf[start:]
	if !sorted && !companions {
		return buf
	}
	// Sorting puts a companion right after its value (same name, value first), to join them.
	slices.SortFunc(fs, func(a, b field) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		switch {
		case a.isCompanion == b.isCompanion:
			return 0
		case b.isCompanion:
			return -1
		}
		return 1
	})
	joined := fs[:0]
	for i := 0; i < len(fs); i++ {
		f := fs[i]
		if !f.isCompanion && i+1 < len(fs) && fs[i+1].isCompanion && fs[i+1].name == f.name {
			f.companion = fs[i+1].companion
			i++
		}
		joined = append(joined, f)
	}
	return buf[:start+len(joined)]
}

// children returns the child elements of each item in element-name order, typed as member
// navigation types them (so descendants().ofType(canonical) finds canonicals). A primitive
// that has only its _name companion (extensions, no value) is a child too, and a primitive's
// children are its id and extensions; resourceType and the companions themselves are not
// elements.
func children(in []Value) []Value {
	var out []Value
	var buf []field
	for _, v := range in {
		out, buf = appendChildren(out, buf, v, true)
	}
	return out
}

// appendChildren appends the children of v to out, using buf (returned for reuse) to list
// the fields of its object.
func appendChildren(out []Value, buf []field, v Value, sorted bool) ([]Value, []field) {
	m, typ := elementsOf(v)
	if m == nil {
		return out, buf
	}
	elems := fhirElements[typ] // nil when typ's elements are not known: children are untyped
	buf = fieldsOf(buf[:0], m, sorted)
	for _, f := range buf {
		out = appendItems(out, f.value, f.companion, elems[f.name])
	}
	return out, buf
}

// hasElements reports whether v may have children: a complex value or a primitive with a
// _name companion.
func hasElements(v Value) bool {
	if _, ok := v.Data.(map[string]any); ok {
		return true
	}
	return v.ext != nil
}

// eachDescendant calls visit with every descendant of the items of in, in the order
// descendants() returns them: level by level, the children of all items of one level, then
// theirs. It fails past maxItems descendants.
func eachDescendant(in []Value, visit func(Value)) error {
	// The queue holds the items whose children are still to be visited; leaves never enter
	// it, and it stands in for the levels, which are visited in the same order.
	var queue, items []Value
	var buf []field
	for _, v := range in {
		if hasElements(v) {
			queue = append(queue, v)
		}
	}
	visited := 0
	for i := 0; i < len(queue); i++ {
		items, buf = appendChildren(items[:0], buf, queue[i], true)
		for _, c := range items {
			visit(c)
			if hasElements(c) {
				queue = append(queue, c)
			}
		}
		if visited += len(items); visited > maxItems {
			return tooManyDescendants()
		}
	}
	return nil
}

// tooManyDescendants is the error of a walk past maxItems; a new one each time, as
// evaluation errors are completed with the expression.
func tooManyDescendants() error {
	return evalErr("descendants() produced more than %d items", maxItems)
}

// countDescendantsOf counts the descendants of the items of in that pass test (all when
// test is nil). Order does not matter, so it walks depth first, reusing two buffers as
// stacks, and allocates next to nothing.
func countDescendantsOf(in []Value, test *typeTest) (int, error) {
	w := counter{test: test}
	for _, v := range in {
		if err := w.walk(v); err != nil {
			return 0, err
		}
	}
	return w.matched, nil
}

type counter struct {
	test             *typeTest
	fields           []field // the fields of the objects being walked, innermost last
	items            []Value // the items of the fields being walked, innermost last
	visited, matched int
}

func (w *counter) walk(v Value) error {
	m, typ := elementsOf(v)
	if m == nil {
		return nil
	}
	if !hasCompanions(m) {
		return w.walkPlain(m, typ)
	}
	elems := fhirElements[typ]
	fieldsStart := len(w.fields)
	w.fields = fieldsOf(w.fields, m, false)
	for fi := fieldsStart; fi < len(w.fields); fi++ {
		f := w.fields[fi]
		itemsStart := len(w.items)
		w.items = appendItems(w.items, f.value, f.companion, elems[f.name])
		for ii := itemsStart; ii < len(w.items); ii++ {
			if err := w.count(w.items[ii]); err != nil {
				return err
			}
		}
		w.items = w.items[:itemsStart]
	}
	w.fields = w.fields[:fieldsStart]
	return nil
}

// walkPlain is walk for an object without _name companions, the common case: its values
// are its items, read straight from the map.
func (w *counter) walkPlain(m map[string]any, typ string) error {
	elems := fhirElements[typ]
	for k, x := range m {
		if k == "resourceType" {
			continue
		}
		t := elems[k]
		if xs, ok := x.([]any); ok {
			for _, item := range xs {
				if item != nil {
					if err := w.count(withType(item, t)); err != nil {
						return err
					}
				}
			}
		} else if x != nil {
			if err := w.count(withType(x, t)); err != nil {
				return err
			}
		}
	}
	return nil
}

// count counts item c and walks its children.
func (w *counter) count(c Value) error {
	if w.visited++; w.visited > maxItems {
		return tooManyDescendants()
	}
	if w.test == nil || w.test.matches(c) {
		w.matched++
	}
	if hasElements(c) {
		return w.walk(c)
	}
	return nil
}

// hasCompanions reports whether m holds a _name companion (a primitive's id or extensions).
func hasCompanions(m map[string]any) bool {
	for k := range m {
		if strings.HasPrefix(k, "_") {
			return true
		}
	}
	return false
}

func fnDescendants(_ *env, _ *callNode, in []Value) ([]Value, error) {
	var out []Value
	err := eachDescendant(in, func(v Value) { out = append(out, v) })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// fuse gives c a plan that evaluates it together with its target where that saves building
// intermediate collections: descendants().ofType(T) filters while walking, and count() of
// either counts while walking. The tree keeps its shape (Reads analyses it as written).
func fuse(c *callNode) {
	target, _ := c.target.(*callNode)
	if target == nil {
		return
	}
	switch {
	case c.name == "ofType" && target.name == "descendants":
		test := c.types
		c.fused = func(e *env, focus []Value) ([]Value, error) {
			in, err := target.input(e, focus)
			if err != nil {
				return nil, err
			}
			var out []Value
			err = eachDescendant(in, func(v Value) {
				if test.matches(v) {
					out = append(out, typed(v))
				}
			})
			if err != nil {
				return nil, err
			}
			return out, nil
		}
	case c.name == "count" && target.name == "descendants":
		c.fused = countDescendants(target, nil)
	case c.name == "count" && target.name == "ofType":
		if inner, _ := target.target.(*callNode); inner != nil && inner.name == "descendants" {
			c.fused = countDescendants(inner, target.types)
		}
	}
}

// countDescendants is count() of d, a descendants() call, keeping only the items of type
// test when test is not nil.
func countDescendants(d *callNode, test *typeTest) func(e *env, focus []Value) ([]Value, error) {
	return func(e *env, focus []Value) ([]Value, error) {
		in, err := d.input(e, focus)
		if err != nil {
			return nil, err
		}
		n, err := countDescendantsOf(in, test)
		if err != nil {
			return nil, err
		}
		return []Value{intValue(int64(n))}, nil
	}
}
