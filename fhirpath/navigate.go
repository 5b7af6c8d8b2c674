package fhirpath

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"

	"github.com/fhirgate/fhirgate/model"
)

// Navigation of FHIR JSON: members (choice elements and primitives' _name companions
// included), typed by the StructureDefinitions, and equality of raw data.

// memberKey is an element name with its JSON keys, spelled once at compile time.
type memberKey struct {
	name, companion string // name and "_" + name
}

func newMemberKey(name string) memberKey { return memberKey{name: name, companion: "_" + name} }

// member appends the children named k.name of v to out, flattening arrays and
// expanding choice elements (value -> valueQuantity with Type Quantity).
func member(out []Value, v Value, k memberKey) []Value {
	m, typ := elementsOf(v)
	if m == nil {
		return out
	}
	name := k.name
	if t, known := elementType(typ, name); known {
		if t != "" {
			return appendItems(out, m[name], m[k.companion], t)
		}
		return typedMember(out, m, typ, name, t)
	}
	if x, ok := m[name]; ok || m[k.companion] != nil {
		return appendItems(out, x, m[k.companion], "")
	}
	if !model.IsChoiceName(name) {
		return out // only a choice element expands: birth never reads birthDate
	}
	// A valid resource holds at most one key per choice element; should a
	// malformed one hold several, take the first in key order so results do
	// not depend on map iteration order.
	best, bestType := "", ""
	for k := range m {
		if len(k) > len(name) && strings.HasPrefix(k, name) && isUpper(k[len(name):]) {
			if t, ok := choiceType(k[len(name):]); ok && (best == "" || k < best) {
				best, bestType = k, t
			}
		}
	}
	if best == "" {
		return out
	}
	return appendMember(out, m, best, bestType)
}

// elementsOf returns the JSON object holding v's elements and the type they are elements
// of: a complex value's own object, or a primitive's _name companion, which holds its id and
// extensions (the elements of Element). m is nil when v has no elements.
func elementsOf(v Value) (m map[string]any, typ string) {
	if m, ok := v.Data.(map[string]any); ok {
		return m, v.Type
	}
	if v.ext == nil {
		return nil, ""
	}
	return v.ext, "Element"
}

// typedMember appends element name of m, a value of type typ whose element types are known:
// an element of type t (t is "" when name is no element, or a choice element's base name).
func typedMember(out []Value, m map[string]any, typ, name, t string) []Value {
	if t != "" {
		return appendMember(out, m, name, t)
	}
	for _, c := range model.ChoiceElements(typ) {
		if c != name {
			continue
		}
		// Only a choice element's base name expands, to the one key present.
		elems := fhirElements[typ]
		best := ""
		for k := range m {
			if len(k) > len(name) && strings.HasPrefix(k, name) && isUpper(k[len(name):]) && elems[k] != "" && (best == "" || k < best) {
				best = k
			}
		}
		if best != "" {
			return appendMember(out, m, best, elems[best])
		}
	}
	return out
}

// appendMember appends the values of element key of m, with their _key companions.
func appendMember(out []Value, m map[string]any, key, typ string) []Value {
	return appendItems(out, m[key], m["_"+key], typ)
}

// appendItems appends the values of an element, x, with its companion: the id and
// extensions of primitives, which hold only those when they have no value.
func appendItems(out []Value, x, companion any, typ string) []Value {
	if companion == nil {
		return appendData(out, x, typ)
	}
	xs, isList := x.([]any)
	cs, csList := companion.([]any)
	if !isList && !csList {
		c, _ := companion.(map[string]any)
		v := withType(x, typ)
		v.ext = c
		if x == nil && c == nil {
			return out
		}
		return append(out, v)
	}
	for i := range max(len(xs), len(cs)) {
		var item any
		var c map[string]any
		if i < len(xs) {
			item = xs[i]
		}
		if i < len(cs) {
			c, _ = cs[i].(map[string]any)
		}
		if item == nil && c == nil {
			continue
		}
		v := withType(item, typ)
		v.ext = c
		out = append(out, v)
	}
	return out
}

func appendData(out []Value, x any, typ string) []Value {
	if arr, ok := x.([]any); ok {
		for _, item := range arr {
			if item != nil {
				out = append(out, withType(item, typ))
			}
		}
		return out
	}
	if x == nil {
		return out
	}
	return append(out, withType(x, typ))
}

func withType(x any, typ string) Value {
	if typ == "" || typ == "Resource" || typ == "DomainResource" {
		if m, ok := x.(map[string]any); ok {
			typ, _ = m["resourceType"].(string)
		}
	}
	return Value{Data: x, Type: typ, fhir: true}
}

// dataEqual compares JSON data structurally, numbers by value.
func dataEqual(a, b any) bool {
	switch a := a.(type) {
	case string:
		b, ok := b.(string)
		return ok && a == b
	case bool:
		b, ok := b.(bool)
		return ok && a == b
	case json.Number:
		b, ok := b.(json.Number)
		if !ok {
			return false
		}
		if a == b {
			return true
		}
		if fa, ok := parseFixed(string(a)); ok {
			if fb, ok := parseFixed(string(b)); ok {
				if c, ok := cmpFixed(fa, fb); ok {
					return c == 0
				}
			}
		}
		na, okA := parseNum(string(a))
		nb, okB := parseNum(string(b))
		return okA && okB && na.r.Cmp(nb.r) == 0
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, va := range a {
			vb, ok := b[k]
			if !ok || !dataEqual(va, vb) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !dataEqual(a[i], b[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// describe names the kind of v for error messages, without its content (which may be PHI).
func describe(v Value) string {
	if t := typeOf(v); t != "" {
		return t
	}
	return "an element"
}

func strconvInt(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }
