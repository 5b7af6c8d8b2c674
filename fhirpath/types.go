package fhirpath

import (
	"encoding/json"
	"strings"
)

// primitiveTypes are the FHIR R4 primitive types, spelled as in FHIRPath.
var primitiveTypes = map[string]bool{
	"base64Binary": true, "boolean": true, "canonical": true, "code": true,
	"date": true, "dateTime": true, "decimal": true, "id": true, "instant": true,
	"integer": true, "markdown": true, "oid": true, "positiveInt": true,
	"string": true, "time": true, "unsignedInt": true, "uri": true, "url": true,
	"uuid": true,
}

// complexTypes are the FHIR R4 data types that may appear as the suffix of a
// choice element (Observation.value[x], Extension.value[x], ...).
var complexTypes = map[string]bool{
	"Address": true, "Age": true, "Annotation": true, "Attachment": true,
	"CodeableConcept": true, "Coding": true, "ContactDetail": true,
	"ContactPoint": true, "Contributor": true, "Count": true,
	"DataRequirement": true, "Distance": true, "Dosage": true, "Duration": true,
	"Expression": true, "HumanName": true, "Identifier": true, "Meta": true,
	"Money": true, "ParameterDefinition": true, "Period": true, "Quantity": true,
	"Range": true, "Ratio": true, "Reference": true, "RelatedArtifact": true,
	"SampledData": true, "Signature": true, "Timing": true,
	"TriggerDefinition": true, "UsageContext": true,
}

// choiceType maps the suffix of a choice element key (Quantity, DateTime)
// to a FHIR type name (Quantity, dateTime).
func choiceType(suffix string) (string, bool) {
	if complexTypes[suffix] {
		return suffix, true
	}
	p := strings.ToLower(suffix[:1]) + suffix[1:]
	if primitiveTypes[p] {
		return p, true
	}
	return "", false
}

// supertypes lists, for each type, the types it specialises (FHIR profiles
// of string/uri/integer/Quantity), so code is string and Age is Quantity.
var supertypes = map[string][]string{
	"code": {"string"}, "id": {"string"}, "markdown": {"string"},
	"url": {"uri"}, "canonical": {"uri"}, "oid": {"uri"}, "uuid": {"uri"},
	"unsignedInt": {"integer"}, "positiveInt": {"integer"},
	"Age": {"Quantity"}, "Count": {"Quantity"}, "Distance": {"Quantity"},
	"Duration": {"Quantity"}, "SimpleQuantity": {"Quantity"}, "MoneyQuantity": {"Quantity"},
}

// typeOf returns the known type of v, falling back to resourceType and to
// the JSON kind of primitive data.
func typeOf(v Value) string {
	if v.Type != "" {
		return v.Type
	}
	switch d := v.Data.(type) {
	case map[string]any:
		t, _ := d["resourceType"].(string)
		return t
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number:
		if strings.ContainsAny(string(d), ".eE") {
			return "decimal"
		}
		return "integer"
	}
	return ""
}

// typeMatches reports whether v is of type want or a specialisation of it.
// Resource and DomainResource match every value carrying a resourceType.
func typeMatches(v Value, want string) bool {
	t := typeOf(v)
	if t == "" {
		return false
	}
	if t == want {
		return true
	}
	for _, s := range supertypes[t] {
		if s == want {
			return true
		}
	}
	if want == "Resource" || want == "DomainResource" {
		if m, ok := v.Data.(map[string]any); ok {
			_, has := m["resourceType"].(string)
			return has
		}
	}
	return false
}

func filterType(in []Value, typ string) []Value {
	var out []Value
	for _, v := range in {
		if typeMatches(v, typ) {
			if v.Type == "" {
				v.Type = typeOf(v)
			}
			out = append(out, v)
		}
	}
	return out
}

func isType(in []Value, typ string) ([]Value, error) {
	switch len(in) {
	case 0:
		return nil, nil
	case 1:
		return boolResult(typeMatches(in[0], typ)), nil
	}
	return nil, evalErr("is %s expects a single item, got %d", typ, len(in))
}
