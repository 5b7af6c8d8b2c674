package model

// SearchParam is one R4 search parameter of one resource type, as the specification defines it.
type SearchParam struct {
	// Code is the parameter's name in a search, such as "birthdate".
	Code string
	// Type is the parameter type: number, date, string, token, reference, composite, quantity, uri or special.
	Type string
	// Expression is the FHIRPath expression that selects the values, restricted to this resource type.
	Expression string
	// Targets lists the resource types a reference parameter may point to.
	Targets []string
	// Components are the parts of a composite parameter.
	Components []SearchComponent
}

// SearchComponent is one part of a composite search parameter.
type SearchComponent struct {
	// Code names the search parameter that defines this component.
	Code string
	// Expression selects the component's value relative to the composite's value.
	Expression string
}

// SearchParams returns the search parameters of a resource type, sorted by code; nil for an unknown type.
// The caller must not modify the result.
func SearchParams(resourceType string) []SearchParam { return searchParams[resourceType] }
