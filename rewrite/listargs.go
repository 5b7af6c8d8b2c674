package rewrite

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/fhirpath"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/search"
)

// errBadArgument is the error of a list argument the element cannot take: a negative _count
// or _offset, a fhirpath argument that does not compile.
var errBadArgument = fault.New(fault.Invalid, "bad argument")

// ListArguments applies the FHIR GraphQL list arguments to repeating elements after they are
// read: sub-field filters such as name(use: official) or extension(url: "..."), then _offset and
// _count. Root list queries handle their own arguments, so only fields of objects are touched.
func ListArguments(ctx context.Context, next graphql.Resolver) (any, error) {
	res, err := next(ctx)
	fc := graphql.GetFieldContext(ctx)
	if err != nil || fc == nil || len(fc.Args) == 0 || fc.IsResolver || res == nil || strings.HasPrefix(fc.Object, "__") {
		return res, err // introspection's own list arguments (includeDeprecated) are not filters
	}
	v := reflect.ValueOf(res)
	if v.Kind() != reflect.Slice || v.IsNil() {
		return res, nil // an absent element stays null, never []
	}
	var offset, count = 0, -1
	var filters []filter
	elementType := fc.Field.Definition.Type.Name() // HumanName, PatientContact
	for name, arg := range fc.Args {
		switch name {
		case "_offset":
			if n, ok := arg.(*int); ok && n != nil {
				if *n < 0 {
					return nil, fmt.Errorf("%w: _offset must not be negative", errBadArgument)
				}
				offset = *n
			}
		case "_count":
			if n, ok := arg.(*int); ok && n != nil {
				if *n < 0 {
					return nil, fmt.Errorf("%w: _count must not be negative", errBadArgument)
				}
				count = *n
			}
		case "fhirpath":
			if s, ok := arg.(*string); ok && s != nil {
				e, err := compileFHIRPath(elementType, *s)
				if err != nil {
					return nil, err
				}
				filters = append(filters, filter{expr: e, typ: elementType})
			}
		default:
			if want, ok := scalarString(reflect.ValueOf(arg)); ok {
				filters = append(filters, filter{field: name, want: want})
			}
		}
	}
	out := reflect.MakeSlice(v.Type(), 0, v.Len())
	skipped := 0
	for i := 0; i < v.Len(); i++ {
		el := v.Index(i)
		if !matches(el, filters) {
			continue
		}
		if skipped < offset {
			skipped++
			continue
		}
		if count >= 0 && out.Len() == count {
			break
		}
		out = reflect.Append(out, el)
	}
	return out.Interface(), nil
}

// filter keeps the elements whose sub-field equals want, or for which expr, evaluated on an
// element of type typ, is true.
type filter struct {
	field, want string
	expr        *fhirpath.Expr
	typ         string
}

// CachedExpressions returns the number of compiled fhirpath expressions kept (one cache,
// fhirpath's, serves the arguments and every other caller).
func CachedExpressions() int { return fhirpath.CachedExpressions() }

// compileFHIRPath compiles the argument of a repeating element of type typ, typed against
// the StructureDefinitions when fhirpath knows typ: a path the element cannot have is an error.
func compileFHIRPath(typ, src string) (*fhirpath.Expr, error) {
	compile := fhirpath.Cached
	if _, known := fhirpath.PathType(typ); known {
		compile = func(src string) (*fhirpath.Expr, error) { return fhirpath.CompileFor(typ, src) }
	}
	e, err := compile(src)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadArgument, err)
	}
	return e, nil
}

// evalOn evaluates expr with the element, as FHIR JSON of type typ, as its root.
func evalOn(expr *fhirpath.Expr, el reflect.Value, typ string) bool {
	b, err := json.Marshal(el.Interface())
	if err != nil {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if dec.Decode(&m) != nil {
		return false
	}
	vals, err := expr.EvalOptions(m, &fhirpath.Options{Context: &fhirpath.Value{Data: m, Type: typ}})
	return err == nil && search.Truthy(vals)
}

func matches(el reflect.Value, filters []filter) bool {
	if len(filters) == 0 {
		return true
	}
	for el.Kind() == reflect.Pointer || el.Kind() == reflect.Interface {
		if el.IsNil() {
			return false
		}
		el = el.Elem()
	}
	if el.Kind() != reflect.Struct {
		return false
	}
	for _, f := range filters {
		if f.expr != nil {
			if !evalOn(f.expr, el.Addr(), f.typ) {
				return false
			}
			continue
		}
		idx, ok := model.FieldIndex(el.Type(), f.field)
		if !ok {
			return false
		}
		got, ok := scalarString(el.Field(idx))
		if !ok || got != f.want {
			return false
		}
	}
	return true
}

// scalarString renders a (pointer to a) string-kinded or boolean value for comparison.
func scalarString(v reflect.Value) (string, bool) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return "", false
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.String:
		return v.String(), true
	case reflect.Bool:
		return strconv.FormatBool(v.Bool()), true
	}
	return "", false
}
