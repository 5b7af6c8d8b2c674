// Package operation holds fhirgate's FHIR operations ($expand, $lookup, $validate-code,
// $subsumes, $translate, ...): each takes a Parameters resource and answers a resource, so
// that the FHIR REST surface and the GraphQL fields run the same code.
package operation

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/fhirgate/fhirgate/fault"
)

// ErrInvalid reports operation parameters that are wrong in themselves.
var ErrInvalid = fault.New(fault.Invalid, "invalid parameters")

// Parameters is a FHIR Parameters resource as operations read and write it.
type Parameters struct {
	ResourceType string      `json:"resourceType"`
	Parameter    []Parameter `json:"parameter,omitempty"`
}

// Parameter is one entry of a Parameters resource: a value[x], a resource, or parts. Value
// maps the one value[x] key ("valueString") to its JSON.
type Parameter struct {
	Name     string
	Value    map[string]json.RawMessage
	Resource json.RawMessage
	Part     []Parameter
}

// NewParameters returns an empty Parameters resource.
func NewParameters() *Parameters { return &Parameters{ResourceType: "Parameters"} }

// MarshalJSON writes the parameter with its value[x] key.
func (p Parameter) MarshalJSON() ([]byte, error) {
	m := map[string]any{"name": p.Name}
	for k, v := range p.Value {
		m[k] = v
	}
	if p.Resource != nil {
		m["resource"] = p.Resource
	}
	if len(p.Part) > 0 {
		m["part"] = p.Part
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads a parameter, refusing more than one value[x].
func (p *Parameter) UnmarshalJSON(data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	for k, v := range m {
		switch {
		case k == "name":
			if err := json.Unmarshal(v, &p.Name); err != nil {
				return fmt.Errorf("parameter name: %w", err)
			}
		case k == "resource":
			p.Resource = v
		case k == "part":
			if err := json.Unmarshal(v, &p.Part); err != nil {
				return err
			}
		case len(k) > 5 && k[:5] == "value":
			if len(p.Value) > 0 {
				return fmt.Errorf("parameter %q has more than one value[x]", p.Name)
			}
			p.Value = map[string]json.RawMessage{k: v}
		}
	}
	return nil
}

// Read reads a Parameters resource from JSON.
func Read(r io.Reader) (*Parameters, error) {
	var ps Parameters
	if err := json.NewDecoder(r).Decode(&ps); err != nil {
		return nil, fmt.Errorf("%w: the body is not a FHIR Parameters resource: %s", ErrInvalid, err)
	}
	if ps.ResourceType != "Parameters" {
		return nil, fmt.Errorf("%w: the body is a %q, not a Parameters resource", ErrInvalid, ps.ResourceType)
	}
	return &ps, nil
}

// Get returns the first parameter named name, or nil.
func (ps *Parameters) Get(name string) *Parameter {
	for i := range ps.Parameter {
		if ps.Parameter[i].Name == name {
			return &ps.Parameter[i]
		}
	}
	return nil
}

// Str returns the string value (valueString, valueCode, valueUri, ...) of the parameter
// named name; ok is false when it is absent or holds no string.
func (ps *Parameters) Str(name string) (s string, ok bool) {
	p := ps.Get(name)
	if p == nil {
		return "", false
	}
	for _, v := range p.Value {
		if json.Unmarshal(v, &s) == nil {
			return s, true
		}
	}
	return "", false
}

// Int returns the integer value of the parameter named name (valueInteger, or a string of
// digits as a query string gives), or 0 when it is absent.
func (ps *Parameters) Int(name string) (int, error) {
	p := ps.Get(name)
	if p == nil {
		return 0, nil
	}
	for _, v := range p.Value {
		var n int
		if json.Unmarshal(v, &n) == nil {
			return n, nil
		}
		var s string
		if json.Unmarshal(v, &s) == nil {
			if n, err := strconv.Atoi(s); err == nil {
				return n, nil
			}
		}
	}
	return 0, fmt.Errorf("%w: parameter %s must be an integer", ErrInvalid, name)
}

// Bool reports whether the parameter named name is true (valueBoolean, or "true" as a query
// string gives).
func (ps *Parameters) Bool(name string) bool {
	p := ps.Get(name)
	if p == nil {
		return false
	}
	for _, v := range p.Value {
		if s := string(v); s == "true" || s == `"true"` {
			return true
		}
	}
	return false
}

// Add appends a parameter named name whose value[x] key is key.
func (ps *Parameters) Add(name, key string, v any) {
	ps.Parameter = append(ps.Parameter, Value(name, key, v))
}

// AddString appends a valueString parameter; a query string's parameters arrive this way.
func (ps *Parameters) AddString(name, v string) { ps.Add(name, "valueString", v) }

// Value is a parameter named name whose value[x] key is key.
func Value(name, key string, v any) Parameter {
	b, _ := json.Marshal(v)
	return Parameter{Name: name, Value: map[string]json.RawMessage{key: b}}
}
