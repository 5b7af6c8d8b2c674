package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/fhirpath"
)

// fhirpathRoutes serves POST /fhir/$fhirpath, the FHIRPath Lab convention: a Parameters body
// with expression (valueString), resource, optional context (valueString) and variables
// (parts, each a value[x] or a resource); the answer is a Parameters with one result
// parameter per context item (one without a context) whose parts are the output values in
// order, each named by its type and carrying the value in value[x].
func fhirpathRoutes(cfg Config, mux *http.ServeMux) {
	mux.HandleFunc("POST /fhir/$fhirpath", func(w http.ResponseWriter, r *http.Request) {
		out, err := evalFHIRPathParameters(r)
		if err != nil {
			writeError(cfg, w, r, err)
			return
		}
		writeFHIR(w, http.StatusOK, out)
	})
}

// noStore is the Resolver of $fhirpath: resolve() reads only the resource supplied (its
// contained resources, a Bundle's entries), never the store.
type noStore struct{}

func (noStore) Resolve(string) (map[string]any, bool) { return nil, false }

func evalFHIRPathParameters(r *http.Request) (*parameters, error) {
	ps, err := readParameters(r)
	if err != nil {
		return nil, err
	}
	src, ok := ps.str("expression")
	if !ok || strings.TrimSpace(src) == "" {
		return nil, fault.New(fault.Invalid, "$fhirpath needs an expression parameter (valueString)")
	}
	var resource map[string]any
	if p := ps.get("resource"); p != nil && p.Resource != nil {
		if err := decodeJSON(p.Resource, &resource); err != nil {
			return nil, fault.New(fault.Invalid, "the resource parameter is not a JSON object")
		}
	}
	if resource == nil {
		resource = map[string]any{}
	}
	expr, err := fhirpath.Cached(src)
	if err != nil {
		return nil, fault.New(fault.Invalid, "invalid expression: "+err.Error())
	}
	opts := &fhirpath.Options{Resolver: noStore{}}
	if opts.Vars, err = fhirpathVariables(ps); err != nil {
		return nil, err
	}
	contexts := []*fhirpath.Value{nil}
	labels := []string{""}
	if c, ok := ps.str("context"); ok && strings.TrimSpace(c) != "" {
		cexpr, err := fhirpath.Cached(c)
		if err != nil {
			return nil, fault.New(fault.Invalid, "invalid context expression: "+err.Error())
		}
		items, err := cexpr.EvalOptions(resource, opts)
		if err != nil {
			return nil, fault.New(fault.Invalid, "evaluating the context: "+err.Error())
		}
		contexts, labels = nil, nil
		for i := range items {
			contexts = append(contexts, &items[i])
			labels = append(labels, fmt.Sprintf("%s[%d]", c, i))
		}
	}
	out := &parameters{ResourceType: "Parameters"}
	for i, ctx := range contexts {
		o := *opts
		o.Context = ctx
		vals, err := expr.EvalOptions(resource, &o)
		if err != nil {
			return nil, fault.New(fault.Invalid, "evaluating the expression: "+err.Error())
		}
		res := parameter{Name: "result", Part: []parameter{}}
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
func fhirpathVariables(ps *parameters) (map[string][]fhirpath.Value, error) {
	p := ps.get("variables")
	if p == nil {
		return nil, nil
	}
	vars := map[string][]fhirpath.Value{}
	for _, part := range p.Part {
		if part.Resource != nil {
			var m map[string]any
			if err := decodeJSON(part.Resource, &m); err != nil {
				return nil, fault.New(fault.Invalid, "variable "+part.Name+" is not a resource")
			}
			t, _ := m["resourceType"].(string)
			vars[part.Name] = []fhirpath.Value{{Data: m, Type: t}}
			continue
		}
		for k, raw := range part.Value {
			var x any
			if err := decodeJSON(raw, &x); err != nil {
				return nil, fault.New(fault.Invalid, "variable "+part.Name+" has no value")
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
func resultPart(v fhirpath.Value) parameter {
	t := v.Type
	if t == "" {
		t = jsonKind(v.Data)
	}
	if m, ok := v.Data.(map[string]any); ok {
		if rt, _ := m["resourceType"].(string); rt != "" {
			return parameter{Name: rt, Resource: mustJSON(m)}
		}
		if t == "TypeInfo" {
			return parameter{Name: t, Value: map[string]json.RawMessage{"valueString": mustJSON(fmt.Sprint(m["namespace"], ".", m["name"]))}}
		}
	}
	if v.Data == nil {
		return parameter{Name: t} // a primitive with only extensions
	}
	return parameter{Name: t, Value: map[string]json.RawMessage{"value" + strings.ToUpper(t[:1]) + t[1:]: mustJSON(v.Data)}}
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
