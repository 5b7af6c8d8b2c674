package view

import (
	"github.com/fhirgate/fhirgate/fhirpath"
	"github.com/fhirgate/fhirgate/model"
)

// The specification's required additional functions. A key is "Type/id": the resource's own
// for getResourceKey(), the one a relative literal reference names for getReferenceKey(), so
// that the two join, and keys of resources of different types never do.
func init() {
	fhirpath.Register("getResourceKey", fhirpath.Function{Reads: []string{"id"}, Result: "string", Eval: resourceKeys})
	fhirpath.Register("getReferenceKey", fhirpath.Function{TypeArg: true, Reads: []string{"reference"}, Result: "string", Eval: referenceKeys})
}

// resourceKeys returns the key of each resource in in; other values have none.
func resourceKeys(in []fhirpath.Value, _ string) ([]fhirpath.Value, error) {
	var out []fhirpath.Value
	for _, v := range in {
		m, _ := v.Data.(map[string]any)
		typ, _ := m["resourceType"].(string)
		id, _ := m["id"].(string)
		if typ != "" && id != "" {
			out = append(out, fhirpath.Value{Data: typ + "/" + id, Type: "string"})
		}
	}
	return out, nil
}

// referenceKeys returns the key of the resource each Reference in in names, when it is a
// relative literal reference (Patient/1, Patient/1/_history/2) to a resource of type typ (any
// type when typ is ""). Absolute, contained (#id) and logical references have none: this
// server cannot tell that they name a resource its views hold.
func referenceKeys(in []fhirpath.Value, typ string) ([]fhirpath.Value, error) {
	var out []fhirpath.Value
	for _, v := range in {
		m, _ := v.Data.(map[string]any)
		ref, _ := m["reference"].(string)
		lr, ok := model.ParseReference(ref)
		if !ok || lr.Base != "" || typ != "" && lr.Type != typ {
			continue
		}
		out = append(out, fhirpath.Value{Data: lr.Type + "/" + lr.ID, Type: "string"})
	}
	return out, nil
}
