package flatten

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/fhirgate/fhirgate/fhirpath"
)

// indexPath is the @slice path that names an element by its position, as the specification's
// examples use it. (FHIRPath defines $index only inside a function's argument; elsewhere a path
// is evaluated on the element, which is its focus and root.)
const indexPath = "$index"

// fragmentUse is a fragment spread under a parent that does or does not flatten: what the
// checks of the fragment's fields depend on, so each is checked once however often it is spread.
type fragmentUse struct {
	name    string
	flatten bool
}

// checker walks an operation's selections and keeps the first misapplied directive it meets.
type checker struct {
	ctx   context.Context
	opts  Options
	oc    *graphql.OperationContext
	seen  map[fragmentUse]bool
	found bool // some field carries a flattening directive
	err   *gqlerror.Error
}

// uses reports whether oc's operation carries a flattening directive on some field.
func uses(oc *graphql.OperationContext) bool {
	c := &checker{oc: oc, seen: map[fragmentUse]bool{}}
	c.walk(oc.Operation.SelectionSet, nil, false)
	return c.found
}

// set checks the fields of set, selected under parent (nil at the root).
func (c *checker) set(set ast.SelectionSet, parent *ast.Field) {
	c.walk(set, parent, true)
}

func (c *checker) walk(set ast.SelectionSet, parent *ast.Field, check bool) {
	parentFlattens := parent != nil && parent.Directives.ForName(Flatten) != nil
	for _, sel := range set {
		if c.err != nil {
			return
		}
		switch s := sel.(type) {
		case *ast.Field:
			if has(s) {
				c.found = true
				if check {
					c.field(s, parentFlattens)
				}
			}
			c.walk(s.SelectionSet, s, check)
		case *ast.InlineFragment:
			c.walk(s.SelectionSet, parent, check)
		case *ast.FragmentSpread:
			k := fragmentUse{s.Name, parentFlattens}
			if c.seen[k] || s.Definition == nil {
				continue
			}
			c.seen[k] = true
			c.walk(s.Definition.SelectionSet, parent, check)
		}
	}
}

// has reports whether f carries a flattening directive.
func has(f *ast.Field) bool {
	for _, d := range f.Directives {
		switch d.Name {
		case Flatten, First, Singleton, Slice:
			return true
		}
	}
	return false
}

// field checks the flattening directives of f, whose parent field flattens or not.
func (c *checker) field(f *ast.Field, parentFlattens bool) {
	slice := f.Directives.ForName(Slice)
	if f.Directives.ForName(Flatten) != nil && len(f.SelectionSet) == 0 {
		c.fail(f, "@flatten on %s: only a field with sub-selections can be flattened (its children take its place); %s is a %s", f.Alias, f.Alias, typeName(f))
		return
	}
	if f.Directives.ForName(Singleton) != nil && !parentFlattens && slice == nil {
		c.fail(f, "@singleton on %s: it applies to a field whose parent has @flatten (or that has @slice itself), and overrides the list that flattening makes", f.Alias)
		return
	}
	if slice != nil {
		path := slicePath(slice, c.oc)
		if path == "" {
			c.fail(f, "@slice on %s: path must be a FHIRPath expression, such as \"use\" or \"$index\"", f.Alias)
			return
		}
		if path == indexPath {
			return
		}
		typ := typeName(f)
		e, err := compilePath(typ, path)
		if err != nil {
			c.fail(f, "@slice on %s: %v", f.Alias, err)
			return
		}
		if c.opts.CheckPath != nil {
			if err := c.opts.CheckPath(c.ctx, typ, e); err != nil {
				c.failErr(f, fmt.Errorf("@slice on %s: %w", f.Alias, err))
			}
		}
	}
}

func typeName(f *ast.Field) string {
	if f.Definition == nil {
		return ""
	}
	return f.Definition.Type.Name()
}

func (c *checker) fail(f *ast.Field, format string, args ...any) {
	c.failErr(f, fmt.Errorf("%w: "+format, append([]any{ErrMisapplied}, args...)...))
}

func (c *checker) failErr(f *ast.Field, err error) {
	if c.err != nil {
		return
	}
	c.err = &gqlerror.Error{Err: err, Message: err.Error()}
	if f.Position != nil {
		c.err.Locations = []gqlerror.Location{{Line: f.Position.Line, Column: f.Position.Column}}
	}
}

// slicePath returns the path argument of a @slice directive, variables substituted.
func slicePath(d *ast.Directive, oc *graphql.OperationContext) string {
	var vars map[string]any
	if oc != nil {
		vars = oc.Variables
	}
	s, _ := d.ArgumentMap(vars)["path"].(string)
	return s
}

// compilePath compiles a @slice path for elements of the GraphQL type typ, typed against the
// StructureDefinitions when FHIRPath knows the type, so that a path the element cannot have is
// an error.
func compilePath(typ, path string) (*fhirpath.Expr, error) {
	if _, known := fhirpath.PathType(typ); known {
		return fhirpath.CompileFor(typ, path)
	}
	return fhirpath.Cached(path)
}

// sliceSuffixes returns the suffix of each element of v, a field's resolved value of the
// GraphQL type typ (a list, or one element): the path's result on the element as a string.
func sliceSuffixes(v reflect.Value, typ, path string) ([]string, error) {
	var els []reflect.Value
	if v.Kind() == reflect.Slice {
		for i := range v.Len() {
			els = append(els, v.Index(i))
		}
	} else {
		els = []reflect.Value{v}
	}
	out := make([]string, len(els))
	if path == indexPath {
		for i := range els {
			out[i] = strconv.Itoa(i)
		}
		return out, nil
	}
	e, err := compilePath(typ, path)
	if err != nil {
		return nil, fmt.Errorf("%w: @slice: %w", ErrMisapplied, err)
	}
	ctxType := ""
	if _, known := fhirpath.PathType(typ); known {
		ctxType = typ
	}
	for i, el := range els {
		s, err := elementSuffix(e, el, ctxType)
		if err != nil {
			return nil, fmt.Errorf("%w: @slice(path: %q) on element %d: %s", ErrShape, path, i, err)
		}
		out[i] = s
	}
	return out, nil
}

// elementSuffix evaluates e on one element, as its FHIR JSON: an empty result is "", several
// results or a complex one are errors.
func elementSuffix(e *fhirpath.Expr, el reflect.Value, typ string) (string, error) {
	b, err := json.Marshal(el.Interface())
	if err != nil {
		return "", fmt.Errorf("the element cannot be read")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var data any
	if err := dec.Decode(&data); err != nil {
		return "", fmt.Errorf("the element cannot be read")
	}
	root, _ := data.(map[string]any)
	if root == nil {
		root = map[string]any{}
	}
	vals, err := e.EvalOptions(root, &fhirpath.Options{Context: &fhirpath.Value{Data: data, Type: typ}})
	if err != nil {
		return "", err
	}
	switch len(vals) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", fmt.Errorf("the path gives %d values; a slice needs one", len(vals))
	}
	switch d := vals[0].Data.(type) {
	case string:
		return d, nil
	case bool:
		return strconv.FormatBool(d), nil
	case json.Number:
		return string(d), nil
	}
	return "", fmt.Errorf("the path gives a %s; a slice needs a primitive value", vals[0].Type)
}
