package flatten

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// reshape applies the flattening directives of oc's operation to its answer's data.
func reshape(schema *ast.Schema, oc *graphql.OperationContext, data json.RawMessage, suffixes map[string][]string) (json.RawMessage, error) {
	tree, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("flatten: the answer: %w", err)
	}
	root, ok := tree.(*object)
	if !ok {
		return data, nil
	}
	s := &shaper{oc: oc, schema: schema, suffixes: suffixes}
	out, err := s.object(root, rootType(s.schema, oc.Operation.Operation), oc.Operation.SelectionSet, nil)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := encode(&buf, out); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func rootType(s *ast.Schema, op ast.Operation) string {
	var def *ast.Definition
	switch op {
	case ast.Mutation:
		def = s.Mutation
	case ast.Subscription:
		def = s.Subscription
	default:
		def = s.Query
	}
	if def == nil {
		return ""
	}
	return def.Name
}

// shaper reshapes one answer.
type shaper struct {
	oc       *graphql.OperationContext
	schema   *ast.Schema
	suffixes map[string][]string // the suffixes of @slice fields' elements, by field path
}

// mode is how the children of flattened fields land in the object they are collated into.
type mode struct {
	list   bool   // a flattened field above them repeats: every child collates to a list
	suffix string // the @slice suffixes above them, appended to their names
}

// object reshapes src, an answer object of the GraphQL type typ selected by set.
func (s *shaper) object(src *object, typ string, set ast.SelectionSet, path ast.Path) (*object, error) {
	var cols columns
	if err := s.into(&cols, src, typ, set, path, mode{}); err != nil {
		return nil, err
	}
	return cols.object()
}

// into collates the fields of src selected by set into cols: each as itself, or, flattened, by
// its children.
func (s *shaper) into(cols *columns, src *object, typ string, set ast.SelectionSet, path ast.Path, m mode) error {
	for _, f := range graphql.CollectFields(s.oc, set, s.satisfies(typ, src)) {
		v, ok := src.get(f.Alias)
		if !ok || f.Definition == nil {
			continue
		}
		fpath := extend(path, ast.PathName(f.Alias))
		childType := f.Definition.Type.Name()
		repeats := f.Definition.Type.Elem != nil
		flatten := f.Directives.ForName(Flatten) != nil
		singleton := f.Directives.ForName(Singleton) != nil
		sliced := f.Directives.ForName(Slice) != nil
		els := []any{v}
		if l, ok := v.([]any); ok && repeats {
			els = l
		}
		elPath := func(i int) ast.Path {
			if repeats {
				return extend(fpath, ast.PathIndex(i))
			}
			return fpath
		}
		switch {
		case flatten:
			sub := mode{list: m.list || repeats, suffix: m.suffix}
			for i, el := range els {
				obj, ok := el.(*object)
				if !ok {
					continue // null: nothing to collate
				}
				em := sub
				if sliced {
					suffix, err := s.suffix(fpath, i)
					if err != nil {
						return err
					}
					em.suffix += suffix
				}
				if err := s.into(cols, obj, childType, f.Selections, elPath(i), em); err != nil {
					return err
				}
			}
		case sliced:
			// Each element under its own name, a list of one unless @singleton says otherwise.
			for i, el := range els {
				suffix, err := s.suffix(fpath, i)
				if err != nil {
					return err
				}
				val, err := s.value(el, childType, f.Selections, elPath(i))
				if err != nil {
					return err
				}
				if err := cols.add(f.Alias+m.suffix+suffix, childType, val, false, !singleton, singleton); err != nil {
					return err
				}
			}
		default:
			val, err := s.value(v, childType, f.Selections, fpath)
			if err != nil {
				return err
			}
			if err := cols.add(f.Alias+m.suffix, childType, val, repeats, m.list, singleton); err != nil {
				return err
			}
		}
	}
	return nil
}

// value reshapes v, the value of a field of the GraphQL type typ selected with set: an object
// by its own selections, a list element by element, a scalar as it is.
func (s *shaper) value(v any, typ string, set ast.SelectionSet, path ast.Path) (any, error) {
	switch x := v.(type) {
	case *object:
		if len(set) == 0 {
			return x, nil // a JSON scalar holding an object
		}
		return s.object(x, typ, set, path)
	case []any:
		out := make([]any, len(x))
		for i, el := range x {
			var err error
			if out[i], err = s.value(el, typ, set, extend(path, ast.PathIndex(i))); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return v, nil
}

// suffix returns the @slice suffix of element i of the field at path, as field middleware
// recorded it: "." and the path's result.
func (s *shaper) suffix(path ast.Path, i int) (string, error) {
	list, ok := s.suffixes[path.String()]
	if !ok || i >= len(list) {
		return "", fmt.Errorf("flatten: no @slice suffix recorded for %s[%d]", path, i)
	}
	return "." + list[i], nil
}

// satisfies returns the type names whose fragments apply to src, an object of the GraphQL type
// typ: the type and its interfaces; for an interface or union, the object's own type when it
// tells (resourceType, __typename), else every possible type.
func (s *shaper) satisfies(typ string, src *object) []string {
	def := s.schema.Types[typ]
	if def == nil {
		return []string{typ}
	}
	if def.Kind == ast.Object {
		return append([]string{typ}, def.Interfaces...)
	}
	for _, k := range []string{"__typename", "resourceType"} {
		if v, ok := src.get(k); ok {
			if name, ok := v.(string); ok && s.schema.Types[name] != nil {
				return s.satisfies(name, src)
			}
		}
	}
	out := []string{typ}
	for _, p := range s.schema.PossibleTypes[typ] {
		out = append(out, p.Name)
	}
	return out
}

// extend returns path with e appended, never sharing the backing array of path.
func extend(path ast.Path, e ast.PathElement) ast.Path {
	return append(slices.Clip(path), e)
}

// column is one name of a reshaped object and what was collated under it.
type column struct {
	name      string
	typ       string // the GraphQL type of the fields collated, the same for all
	first     any    // the first value collated, as it came
	n         int    // fields collated
	vals      []any  // the values collated: list elements one by one, nulls left out
	list      bool   // collated as a list
	singleton bool   // collated to one value
}

// columns are the names of a reshaped object, in the order they first appear.
type columns struct {
	cols   []*column
	byName map[string]*column
}

// add collates v, the value of a field of GraphQL type typ (a list when repeats), under name:
// listed says a flattened field above it repeats, singleton that the field has @singleton.
func (c *columns) add(name, typ string, v any, repeats, listed, singleton bool) error {
	col := c.byName[name]
	switch {
	case col == nil:
		col = &column{name: name, typ: typ, first: v}
		if c.byName == nil {
			c.byName = map[string]*column{}
		}
		c.byName[name] = col
		c.cols = append(c.cols, col)
	case col.typ != typ:
		return fmt.Errorf("%w: the children collated into %q have different FHIR types (%s and %s); give one of them an alias", ErrShape, name, col.typ, typ)
	}
	col.n++
	col.list = col.list || listed
	col.singleton = col.singleton || singleton
	if l, ok := v.([]any); ok && repeats {
		for _, e := range l {
			if e != nil {
				col.vals = append(col.vals, e)
			}
		}
	} else if v != nil {
		col.vals = append(col.vals, v)
	}
	return nil
}

// object returns the reshaped object: each name with its one value, its list of values, or,
// for a name that was neither flattened into nor collated twice, its value as it came. A
// flattened name that collated no value is left out.
func (c *columns) object() (*object, error) {
	out := &object{}
	for _, col := range c.cols {
		switch {
		case col.singleton:
			if len(col.vals) > 1 {
				return nil, fmt.Errorf("%w: @singleton: %q has %d values", ErrShape, col.name, len(col.vals))
			}
			if len(col.vals) == 1 {
				out.set(col.name, col.vals[0])
			}
		case col.list || col.n > 1:
			if len(col.vals) > 0 {
				out.set(col.name, col.vals)
			}
		default:
			out.set(col.name, col.first)
		}
	}
	return out, nil
}
