package fhirpath

import (
	"encoding/json"
	"strings"
	"sync"
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

// specialises reports whether type t is want or derives from it in FHIR's type hierarchy
// (fhirBase): code is a string, Age a Quantity, Patient a DomainResource and a Resource, a
// backbone element (PatientContact) a BackboneElement and an Element.
func specialises(t, want string) bool {
	for n := 0; t != "" && n < 10; n++ {
		if t == want {
			return true
		}
		t = fhirBase[t]
	}
	return false
}

// elementType returns the type of element name of type typ, and whether typ is a type whose
// elements are known.
func elementType(typ, name string) (elem string, known bool) {
	elems, ok := fhirElements[typ]
	if !ok {
		return "", false
	}
	return elems[name], true
}

// fhirSchema is the Schema of the R4 StructureDefinitions, for typed compilation.
type fhirSchema struct{}

func (fhirSchema) Elements(typ string) (map[string]string, bool) {
	if typ == "Resource" || typ == "DomainResource" {
		return nil, false // abstract: the value is some resource, known only when evaluated
	}
	m, ok := fhirElements[typ]
	return m, ok
}

// knownType reports whether name is a FHIR type (or a backbone element's generated name).
func knownType(name string) bool {
	_, ok := fhirBase[name]
	return ok
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
// Resource matches every value carrying a resourceType; DomainResource only the resource
// types that specialise it (Binary, Bundle and Parameters do not).
func typeMatches(v Value, want string) bool { return newTypeTest(want).matches(v) }

// typeTest is a type name of is, as or ofType compiled for evaluation: the set of the type
// names that are it or specialise it, so testing a value is one lookup.
type typeTest struct {
	want  string
	names map[string]bool
	// upper and lower tell whether names holds complex types (capitalised) and primitive
	// ones, so most values are decided without a lookup.
	upper, lower bool
}

// subtypeSets caches the typeTest of each known FHIR type; other names (System types,
// unknown names) match only themselves and are not kept, so the cache stays bounded.
var subtypeSets sync.Map // string -> *typeTest

// newTypeTest returns the test for type name want.
func newTypeTest(want string) *typeTest {
	if t, ok := subtypeSets.Load(want); ok {
		return t.(*typeTest)
	}
	t := &typeTest{want: want, names: map[string]bool{want: true}}
	if !knownType(want) {
		return t.withCases()
	}
	for name := range fhirBase {
		if specialises(name, want) {
			t.names[name] = true
		}
	}
	t.withCases()
	subtypeSets.Store(want, t)
	return t
}

// withCases sets upper and lower from names.
func (t *typeTest) withCases() *typeTest {
	for name := range t.names {
		if isUpper(name) {
			t.upper = true
		} else {
			t.lower = true
		}
	}
	return t
}

// matches reports whether v is of the type or a specialisation of it.
func (t *typeTest) matches(v Value) bool {
	vt := typeOf(v)
	if vt == "" {
		return false
	}
	if up := isUpper(vt); (up && t.upper || !up && t.lower) && t.names[vt] {
		return true
	}
	if t.want == "Resource" {
		if m, ok := v.Data.(map[string]any); ok {
			_, has := m["resourceType"].(string)
			return has
		}
	}
	return false
}

// typed returns v with its Type set to the type it is known by (ofType and as results).
func typed(v Value) Value {
	if v.Type == "" {
		v.Type = typeOf(v)
	}
	return v
}

func filterType(in []Value, test *typeTest) []Value {
	var out []Value
	for _, v := range in {
		if test.matches(v) {
			out = append(out, typed(v))
		}
	}
	return out
}

func isType(in []Value, test *typeTest) ([]Value, error) {
	switch len(in) {
	case 0:
		return nil, nil
	case 1:
		return boolResult(test.matches(in[0])), nil
	}
	return nil, evalErr("is %s expects a single item, got %d", test.want, len(in))
}
