package api

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/fhirgate/fhirgate/model"
)

// listArguments applies the FHIR GraphQL list arguments to repeating elements after they are
// read: sub-field filters such as name(use: official) or extension(url: "..."), then _offset and
// _count. Root list queries handle their own arguments, so only fields of objects are touched.
func listArguments(ctx context.Context, next graphql.Resolver) (any, error) {
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
		default:
			if want, ok := scalarString(reflect.ValueOf(arg)); ok {
				filters = append(filters, filter{name, want})
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

type filter struct{ field, want string }

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
