// Package introspect answers GraphQL operations that only introspect (__schema, __type,
// __typename) straight from a schema, without gqlgen's executor, and keeps the answers.
package introspect

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/introspection"
	"github.com/vektah/gqlparser/v2/ast"
)

// answer answers an operation that selects only __schema, __type and __typename at its root
// (see only) by walking schema s directly. gqlgen's
// executor answers the same fields through its middleware, one goroutine-backed slice
// marshaller per list and a context per field: for the 100,000-odd fields of a full
// introspection that took about 400 ms, this takes a tenth of that. It reads the
// introspection types through gqlgen's own wrappers (WrapSchema, Type.Fields, VisibleArgs...),
// so what each field holds is decided in one place; api's
// TestIntrospectionAnswerMatchesExecutor holds the two answers equal byte for byte.
func answer(oc *graphql.OperationContext, s *ast.Schema) (json.RawMessage, error) {
	w := &introWriter{oc: oc, s: s}
	w.buf.Grow(1 << 16)
	sch := introspection.WrapSchema(s)
	err := w.object(oc.Operation.SelectionSet, s.Query.Name, func(f graphql.CollectedField) error {
		switch f.Name {
		case "__schema":
			return w.schema(f.Selections, sch)
		case "__type":
			name, _ := f.ArgumentMap(oc.Variables)["name"].(string)
			if def := s.Types[name]; def != nil {
				return w.typ(f.Selections, introspection.WrapTypeFromDef(s, def))
			}
			w.null()
			return nil
		}
		return fmt.Errorf("%s is not an introspection field", f.Name)
	})
	if err != nil {
		return nil, err
	}
	return w.buf.Bytes(), nil
}

// introWriter writes an introspection answer as JSON, field by field in selection order.
type introWriter struct {
	oc  *graphql.OperationContext
	s   *ast.Schema
	buf bytes.Buffer
}

// object writes an object of type typename: the fields sel collects for it, each by field
// (except __typename), under their aliases.
func (w *introWriter) object(sel ast.SelectionSet, typename string, field func(graphql.CollectedField) error) error {
	w.buf.WriteByte('{')
	for i, f := range graphql.CollectFields(w.oc, sel, []string{typename}) {
		if i > 0 {
			w.buf.WriteByte(',')
		}
		w.str(f.Alias)
		w.buf.WriteByte(':')
		if f.Name == "__typename" {
			w.str(typename)
			continue
		}
		if err := field(f); err != nil {
			return err
		}
	}
	w.buf.WriteByte('}')
	return nil
}

// list writes items as a JSON array, or null for a nil slice, as gqlgen's
// marshallers of nullable lists do.
func list[T any](w *introWriter, items []T, each func(*T) error) error {
	if items == nil {
		w.null()
		return nil
	}
	w.buf.WriteByte('[')
	for i := range items {
		if i > 0 {
			w.buf.WriteByte(',')
		}
		if err := each(&items[i]); err != nil {
			return err
		}
	}
	w.buf.WriteByte(']')
	return nil
}

func (w *introWriter) null() { w.buf.WriteString("null") }

// str writes s the way gqlgen's String scalar does.
func (w *introWriter) str(s string) { graphql.MarshalString(s).MarshalGQL(&w.buf) }

func (w *introWriter) optStr(s *string) {
	if s == nil {
		w.null()
		return
	}
	w.str(*s)
}

func (w *introWriter) boolean(b bool) { graphql.MarshalBoolean(b).MarshalGQL(&w.buf) }

func (w *introWriter) includeDeprecated(f graphql.CollectedField) bool {
	b, _ := f.ArgumentMap(w.oc.Variables)["includeDeprecated"].(bool)
	return b
}

func unknown(typename string, f graphql.CollectedField) error {
	return fmt.Errorf("%s has no field %s", typename, f.Name)
}

func (w *introWriter) schema(sel ast.SelectionSet, sch *introspection.Schema) error {
	return w.object(sel, "__Schema", func(f graphql.CollectedField) error {
		switch f.Name {
		case "description":
			w.optStr(sch.Description())
		case "types":
			return list(w, sch.Types(), func(t *introspection.Type) error { return w.typ(f.Selections, t) })
		case "queryType":
			return w.typ(f.Selections, sch.QueryType())
		case "mutationType":
			return w.typ(f.Selections, sch.MutationType())
		case "subscriptionType":
			return w.typ(f.Selections, sch.SubscriptionType())
		case "directives":
			return list(w, sch.Directives(), func(d *introspection.Directive) error { return w.directive(f.Selections, d) })
		default:
			return unknown("__Schema", f)
		}
		return nil
	})
}

func (w *introWriter) typ(sel ast.SelectionSet, t *introspection.Type) error {
	if t == nil {
		w.null()
		return nil
	}
	return w.object(sel, "__Type", func(f graphql.CollectedField) error {
		switch f.Name {
		case "kind":
			w.str(t.Kind())
		case "name":
			w.optStr(t.Name())
		case "description":
			w.optStr(t.Description())
		case "specifiedByURL":
			w.optStr(t.SpecifiedByURL())
		case "isOneOf":
			w.boolean(t.IsOneOf())
		case "fields":
			return list(w, t.Fields(w.includeDeprecated(f)), func(x *introspection.Field) error { return w.field(f.Selections, x) })
		case "interfaces":
			return list(w, t.Interfaces(), func(x *introspection.Type) error { return w.typ(f.Selections, x) })
		case "possibleTypes":
			return list(w, t.PossibleTypes(), func(x *introspection.Type) error { return w.typ(f.Selections, x) })
		case "enumValues":
			return list(w, t.EnumValues(w.includeDeprecated(f)), func(x *introspection.EnumValue) error { return w.enumValue(f.Selections, x) })
		case "inputFields":
			return list(w, t.VisibleInputFields(w.includeDeprecated(f)), func(x *introspection.InputValue) error { return w.inputValue(f.Selections, x) })
		case "ofType":
			return w.typ(f.Selections, t.OfType())
		default:
			return unknown("__Type", f)
		}
		return nil
	})
}

func (w *introWriter) field(sel ast.SelectionSet, x *introspection.Field) error {
	return w.object(sel, "__Field", func(f graphql.CollectedField) error {
		switch f.Name {
		case "name":
			w.str(x.Name)
		case "description":
			w.optStr(x.Description())
		case "args":
			return list(w, x.VisibleArgs(w.includeDeprecated(f)), func(a *introspection.InputValue) error { return w.inputValue(f.Selections, a) })
		case "type":
			return w.typ(f.Selections, x.Type)
		case "isDeprecated":
			w.boolean(x.IsDeprecated())
		case "deprecationReason":
			w.optStr(x.DeprecationReason())
		default:
			return unknown("__Field", f)
		}
		return nil
	})
}

func (w *introWriter) inputValue(sel ast.SelectionSet, x *introspection.InputValue) error {
	return w.object(sel, "__InputValue", func(f graphql.CollectedField) error {
		switch f.Name {
		case "name":
			w.str(x.Name)
		case "description":
			w.optStr(x.Description())
		case "type":
			return w.typ(f.Selections, x.Type)
		case "defaultValue":
			w.optStr(x.DefaultValue)
		case "isDeprecated":
			w.boolean(x.IsDeprecated())
		case "deprecationReason":
			w.optStr(x.DeprecationReason())
		default:
			return unknown("__InputValue", f)
		}
		return nil
	})
}

func (w *introWriter) enumValue(sel ast.SelectionSet, x *introspection.EnumValue) error {
	return w.object(sel, "__EnumValue", func(f graphql.CollectedField) error {
		switch f.Name {
		case "name":
			w.str(x.Name)
		case "description":
			w.optStr(x.Description())
		case "isDeprecated":
			w.boolean(x.IsDeprecated())
		case "deprecationReason":
			w.optStr(x.DeprecationReason())
		default:
			return unknown("__EnumValue", f)
		}
		return nil
	})
}

func (w *introWriter) directive(sel ast.SelectionSet, x *introspection.Directive) error {
	return w.object(sel, "__Directive", func(f graphql.CollectedField) error {
		switch f.Name {
		case "name":
			w.str(x.Name)
		case "description":
			w.optStr(x.Description())
		case "locations":
			return list(w, x.Locations, func(l *string) error { w.str(*l); return nil })
		case "args":
			return list(w, x.VisibleArgs(w.includeDeprecated(f)), func(a *introspection.InputValue) error { return w.inputValue(f.Selections, a) })
		case "isRepeatable":
			w.boolean(x.IsRepeatable)
		default:
			return unknown("__Directive", f)
		}
		return nil
	})
}
