package view

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/fhirgate/fhirgate/fhirpath"
	"github.com/fhirgate/fhirgate/model"
)

// constantTypes are the value[x] types a constant may have, by the suffix of their key
// (valueBase64Binary), with the check of a string-valued one against its FHIR format.
var constantTypes = map[string]func(json.RawMessage) error{
	"Base64Binary": validator[model.Base64Binary](),
	"Boolean":      nil,
	"Canonical":    validator[model.Canonical](),
	"Code":         validator[model.Code](),
	"Date":         validator[model.Date](),
	"DateTime":     validator[model.DateTime](),
	"Decimal":      nil,
	"Id":           validator[model.ID](),
	"Instant":      validator[model.Instant](),
	"Integer":      nil,
	"Integer64":    nil,
	"Oid":          validator[model.OID](),
	"String":       nil,
	"PositiveInt":  nil,
	"Time":         validator[model.Time](),
	"UnsignedInt":  nil,
	"Uri":          validator[model.URI](),
	"Url":          validator[model.URL](),
	"Uuid":         validator[model.UUID](),
}

// validator checks a JSON value by decoding it as the model's primitive T, which validates
// its format.
func validator[T any]() func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		var v T
		return json.Unmarshal(raw, &v)
	}
}

// constants reads the view's constants into FHIRPath values, by name.
func constants(raw any) (map[string][]fhirpath.Value, error) {
	out := map[string][]fhirpath.Value{}
	if raw == nil {
		return out, nil
	}
	list, err := objects(map[string]any{"constant": raw}, "constant", "constant")
	if err != nil {
		return nil, err
	}
	for i, m := range list {
		label := fmt.Sprintf("constant[%d]", i)
		name, err := reqString(m, "name", label+".name")
		if err != nil {
			return nil, err
		}
		if !sqlName.MatchString(name) {
			return nil, fmt.Errorf("%s.name: %q is not a SQL name (a letter, then letters, digits and underscores)", label, name)
		}
		if name == rowIndexVar {
			return nil, fmt.Errorf("%s.name: %q is the specification's own variable %%%s", label, name, rowIndexVar)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s.name: constant %q is already defined", label, name)
		}
		v, err := constantValue(m, label)
		if err != nil {
			return nil, err
		}
		out[name] = []fhirpath.Value{v}
	}
	return out, nil
}

// constantValue reads the one value[x] of the constant m.
func constantValue(m map[string]any, label string) (fhirpath.Value, error) {
	var key string
	for k := range m {
		if slices.Contains(constantKeys, strings.TrimPrefix(k, "_")) {
			continue
		}
		suffix, ok := strings.CutPrefix(k, "value")
		if _, known := constantTypes[suffix]; !ok || !known {
			return fhirpath.Value{}, fmt.Errorf("%s: unknown key %q (a constant has a name and one value[x] of the types %s)", label, k, constantTypeList())
		}
		if key != "" {
			return fhirpath.Value{}, fmt.Errorf("%s: has both %s and %s; a constant has one value", label, min(key, k), max(key, k))
		}
		key = k
	}
	if key == "" {
		return fhirpath.Value{}, fmt.Errorf("%s: has no value[x]", label)
	}
	suffix := strings.TrimPrefix(key, "value")
	typ := strings.ToLower(suffix[:1]) + suffix[1:]
	label += "." + key
	bad := func(want string) error {
		return fmt.Errorf("%s: %s, not %s", label, describe(m[key]), want)
	}
	switch v := m[key].(type) {
	case bool:
		if typ != "boolean" {
			return fhirpath.Value{}, bad("a " + typ)
		}
		return fhirpath.Value{Data: v, Type: typ}, nil
	case json.Number:
		return numberConstant(typ, v, bad)
	case float64: // a caller that decoded without UseNumber
		return numberConstant(typ, json.Number(fmt.Sprint(v)), bad)
	case string:
		check := constantTypes[suffix]
		switch {
		case typ == "integer64": // a string in FHIR JSON, as it exceeds JSON numbers
			return numberConstant(typ, json.Number(v), bad)
		case typ == "boolean" || numberTypes[typ]:
			return fhirpath.Value{}, bad("a " + typ)
		case check != nil:
			raw, _ := json.Marshal(v)
			if err := check(raw); err != nil {
				return fhirpath.Value{}, bad("a valid " + typ)
			}
		}
		return fhirpath.Value{Data: v, Type: typ}, nil
	}
	return fhirpath.Value{}, bad("a " + typ)
}

// numberConstant reads a numeric constant of FHIR type typ.
func numberConstant(typ string, n json.Number, bad func(string) error) (fhirpath.Value, error) {
	switch typ {
	case "decimal":
		if _, err := n.Float64(); err != nil {
			return fhirpath.Value{}, bad("a decimal")
		}
		return fhirpath.Value{Data: n, Type: typ}, nil
	case "integer", "positiveInt", "unsignedInt", "integer64":
		i, err := n.Int64()
		lo, hi := int64(math.MinInt32), int64(math.MaxInt32)
		switch typ {
		case "positiveInt":
			lo = 1
		case "unsignedInt":
			lo = 0
		case "integer64":
			lo, hi = math.MinInt64, math.MaxInt64
		}
		if err != nil || i < lo || i > hi {
			return fhirpath.Value{}, bad("a valid " + typ)
		}
		if typ == "integer64" {
			typ = "integer" // FHIRPath has one Integer type; values beyond 32 bits stay exact
		}
		return fhirpath.Value{Data: json.Number(fmt.Sprint(i)), Type: typ}, nil
	}
	return fhirpath.Value{}, bad("a " + typ)
}

// constantTypeList names the value[x] keys a constant may use.
func constantTypeList() string {
	var names []string
	for s := range constantTypes {
		names = append(names, "value"+s)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
