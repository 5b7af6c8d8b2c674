package operation

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/fhirgate/fhirgate/fhirpath"
)

func init() { register("$fhirpath", fhirpathOp) }

// noStore is the Resolver of $fhirpath without WithResolver: resolve() reads only the
// resource supplied (its contained resources, a Bundle's entries).
type noStore struct{}

func (noStore) Resolve(string) (map[string]any, bool) { return nil, false }

type resolverKey struct{}

// WithResolver returns ctx in which $fhirpath's resolve() reads the references the supplied
// resource does not hold through r, such as the store as the caller may see it.
func WithResolver(ctx context.Context, r fhirpath.Resolver) context.Context {
	return context.WithValue(ctx, resolverKey{}, r)
}

func resolverFrom(ctx context.Context) fhirpath.Resolver {
	if r, ok := ctx.Value(resolverKey{}).(fhirpath.Resolver); ok {
		return r
	}
	return noStore{}
}

// fhirpathOp evaluates an expression the FHIRPath Lab way: a Parameters with expression
// (valueString), resource, optional context (valueString) and variables (parts, each a
// value[x] or a resource); the answer is a Parameters with one result parameter per context
// item (one without a context) whose parts are the output values in order, each named by its
// type and carrying the value in value[x].
func fhirpathOp(ctx context.Context, ps *Parameters) (any, error) {
	src, ok := ps.Str("expression")
	if !ok || strings.TrimSpace(src) == "" {
		return nil, fmt.Errorf("%w: $fhirpath needs an expression parameter (valueString)", ErrInvalid)
	}
	var resource map[string]any
	if p := ps.Get("resource"); p != nil && p.Resource != nil {
		if err := decodeJSON(p.Resource, &resource); err != nil {
			return nil, fmt.Errorf("%w: the resource parameter is not a JSON object", ErrInvalid)
		}
	}
	if resource == nil {
		resource = map[string]any{}
	}
	expr, err := fhirpath.Cached(src)
	if err != nil {
		return nil, fmt.Errorf("%w: invalid expression: %s", ErrInvalid, err)
	}
	opts := &fhirpath.Options{Resolver: resolverFrom(ctx)}
	if opts.Vars, err = fhirpathVariables(ps); err != nil {
		return nil, err
	}
	contexts := []*fhirpath.Value{nil}
	labels := []string{""}
	if c, ok := ps.Str("context"); ok && strings.TrimSpace(c) != "" {
		cexpr, err := fhirpath.Cached(c)
		if err != nil {
			return nil, fmt.Errorf("%w: invalid context expression: %s", ErrInvalid, err)
		}
		items, err := cexpr.EvalOptions(resource, opts)
		if err != nil {
			return nil, fmt.Errorf("%w: evaluating the context: %s", ErrInvalid, err)
		}
		contexts, labels = nil, nil
		for i := range items {
			contexts = append(contexts, &items[i])
			labels = append(labels, fmt.Sprintf("%s[%d]", c, i))
		}
	}
	out := NewParameters()
	for i, ctx := range contexts {
		o := *opts
		o.Context = ctx
		vals, err := expr.EvalOptions(resource, &o)
		if err != nil {
			return nil, fmt.Errorf("%w: evaluating the expression: %s", ErrInvalid, err)
		}
		res := Parameter{Name: "result", Part: []Parameter{}}
		if labels[i] != "" {
			res.Value = map[string]json.RawMessage{"valueString": mustJSON(labels[i])}
		}
		for _, v := range vals {
			res.Part = append(res.Part, resultPart(v))
		}
		out.Parameter = append(out.Parameter, res)
	}
	return out, nil
}

// fhirpathVariables reads the variables parameter: each part is %name with its value[x]
// (typed by the key's suffix) or its resource.
func fhirpathVariables(ps *Parameters) (map[string][]fhirpath.Value, error) {
	p := ps.Get("variables")
	if p == nil {
		return nil, nil
	}
	vars := map[string][]fhirpath.Value{}
	for _, part := range p.Part {
		if part.Resource != nil {
			var m map[string]any
			if err := decodeJSON(part.Resource, &m); err != nil {
				return nil, fmt.Errorf("%w: variable %s is not a resource", ErrInvalid, part.Name)
			}
			t, _ := m["resourceType"].(string)
			vars[part.Name] = []fhirpath.Value{{Data: m, Type: t}}
			continue
		}
		for k, raw := range part.Value {
			var x any
			if err := decodeJSON(raw, &x); err != nil {
				return nil, fmt.Errorf("%w: variable %s has no value", ErrInvalid, part.Name)
			}
			t := strings.TrimPrefix(k, "value")
			if t != "" && t[0] >= 'A' && t[0] <= 'Z' && !fhirComplex(t) {
				t = strings.ToLower(t[:1]) + t[1:]
			}
			vars[part.Name] = []fhirpath.Value{{Data: x, Type: t}}
		}
		if _, ok := vars[part.Name]; !ok {
			vars[part.Name] = []fhirpath.Value{} // a variable with no value is the empty collection
		}
	}
	return vars, nil
}

// fhirComplex reports whether a value[x] suffix names a complex type (HumanName) rather than
// a primitive (String, DateTime).
func fhirComplex(t string) bool {
	switch t {
	case "Base64Binary", "Boolean", "Canonical", "Code", "Date", "DateTime", "Decimal", "Id", "Instant",
		"Integer", "Markdown", "Oid", "PositiveInt", "String", "Time", "UnsignedInt", "Uri", "Url", "Uuid":
		return false
	}
	return true
}

// resultPart renders one output value: named by its type, with the value in value[x] (a
// resource in resource).
func resultPart(v fhirpath.Value) Parameter {
	t := v.Type
	if t == "" {
		t = jsonKind(v.Data)
	}
	if m, ok := v.Data.(map[string]any); ok {
		if rt, _ := m["resourceType"].(string); rt != "" {
			return Parameter{Name: rt, Resource: mustJSON(m)}
		}
		if t == "TypeInfo" {
			return Parameter{Name: t, Value: map[string]json.RawMessage{"valueString": mustJSON(fmt.Sprint(m["namespace"], ".", m["name"]))}}
		}
	}
	if v.Data == nil {
		return Parameter{Name: t} // a primitive with only extensions
	}
	return Parameter{Name: t, Value: map[string]json.RawMessage{"value" + strings.ToUpper(t[:1]) + t[1:]: mustJSON(v.Data)}}
}

func jsonKind(x any) string {
	switch d := x.(type) {
	case bool:
		return "boolean"
	case json.Number:
		if strings.ContainsAny(string(d), ".eE") {
			return "decimal"
		}
		return "integer"
	case map[string]any:
		return "Element"
	}
	return "string"
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// decodeJSON decodes with numbers kept as json.Number, as the engine expects.
func decodeJSON(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(v)
}
