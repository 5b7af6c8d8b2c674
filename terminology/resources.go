package terminology

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// CodeSystem is a FHIR R4 CodeSystem as terminology operations read it.
type CodeSystem struct {
	ResourceType     string        `json:"resourceType"`
	URL              string        `json:"url"`
	Version          string        `json:"version,omitempty"`
	Name             string        `json:"name,omitempty"`
	Title            string        `json:"title,omitempty"`
	Status           string        `json:"status,omitempty"`
	Content          string        `json:"content,omitempty"`
	HierarchyMeaning string        `json:"hierarchyMeaning,omitempty"`
	ValueSet         string        `json:"valueSet,omitempty"`
	Property         []PropertyDef `json:"property,omitempty"`
	Concept          []*Concept    `json:"concept,omitempty"`

	index csIndex // built on first use; a CodeSystem is not copied after
}

// PropertyDef declares a property that the code system's concepts may carry.
type PropertyDef struct {
	Code        string `json:"code"`
	URI         string `json:"uri,omitempty"`
	Description string `json:"description,omitempty"`
	Type        string `json:"type,omitempty"`
}

// Concept is one code of a CodeSystem; its nested concepts are its children.
type Concept struct {
	Code        string            `json:"code"`
	Display     string            `json:"display,omitempty"`
	Definition  string            `json:"definition,omitempty"`
	Designation []Designation     `json:"designation,omitempty"`
	Property    []ConceptProperty `json:"property,omitempty"`
	Concept     []*Concept        `json:"concept,omitempty"`
}

// Designation is another representation of a concept (a language, a synonym).
type Designation struct {
	Language string  `json:"language,omitempty"`
	Use      *Coding `json:"use,omitempty"`
	Value    string  `json:"value"`
}

// Coding is a FHIR Coding.
type Coding struct {
	System  string `json:"system,omitempty"`
	Version string `json:"version,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

// ConceptProperty is one property value of a concept. Value holds the value[x] as text
// (a code, string, boolean, number or date) and Type names the value[x] suffix.
type ConceptProperty struct {
	Code  string
	Type  string
	Value string
	// Coding is set when Type is "Coding".
	Coding *Coding
}

// UnmarshalJSON reads a property with its one value[x].
func (p *ConceptProperty) UnmarshalJSON(data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	for k, v := range m {
		switch {
		case k == "code":
			if err := json.Unmarshal(v, &p.Code); err != nil {
				return fmt.Errorf("concept property code: %w", err)
			}
		case len(k) > 5 && k[:5] == "value":
			p.Type = k[5:]
			if p.Type == "Coding" {
				p.Coding = &Coding{}
				if err := json.Unmarshal(v, p.Coding); err != nil {
					return fmt.Errorf("concept property %s: %w", k, err)
				}
				p.Value = p.Coding.Code
				continue
			}
			var s string
			if json.Unmarshal(v, &s) == nil {
				p.Value = s
			} else {
				p.Value = string(v) // booleans and numbers keep their JSON text
			}
		}
	}
	return nil
}

// MarshalJSON writes the property with its value[x] key.
func (p ConceptProperty) MarshalJSON() ([]byte, error) {
	m := map[string]any{"code": p.Code}
	m["value"+p.Type] = p.jsonValue()
	return json.Marshal(m)
}

// jsonValue is the value as its JSON type.
func (p ConceptProperty) jsonValue() any {
	switch p.Type {
	case "Coding":
		return p.Coding
	case "Boolean":
		return p.Value == "true"
	case "Integer", "Decimal":
		if n, err := strconv.ParseFloat(p.Value, 64); err == nil {
			return json.Number(strconv.FormatFloat(n, 'f', -1, 64))
		}
	}
	return p.Value
}

// ValueSet is a FHIR R4 ValueSet as terminology operations read it.
type ValueSet struct {
	ResourceType string     `json:"resourceType"`
	URL          string     `json:"url,omitempty"`
	Version      string     `json:"version,omitempty"`
	Name         string     `json:"name,omitempty"`
	Title        string     `json:"title,omitempty"`
	Status       string     `json:"status,omitempty"`
	Compose      *Compose   `json:"compose,omitempty"`
	Expansion    *Expansion `json:"expansion,omitempty"`
}

// Compose is a ValueSet's definition: the union of its includes less its excludes.
type Compose struct {
	Include []ConceptSet `json:"include,omitempty"`
	Exclude []ConceptSet `json:"exclude,omitempty"`
}

// ConceptSet selects codes: from a system (listed, filtered, or all), intersected with
// the value sets it names.
type ConceptSet struct {
	System   string           `json:"system,omitempty"`
	Version  string           `json:"version,omitempty"`
	Concept  []ComposeConcept `json:"concept,omitempty"`
	Filter   []Filter         `json:"filter,omitempty"`
	ValueSet []string         `json:"valueSet,omitempty"`
}

// ComposeConcept is a code listed in a ConceptSet.
type ComposeConcept struct {
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

// Filter selects a code system's concepts by a property.
type Filter struct {
	Property string `json:"property"`
	Op       string `json:"op"`
	Value    string `json:"value"`
}

// Expansion is a ValueSet's expansion: the codes it holds, or a page of them.
type Expansion struct {
	Identifier string     `json:"identifier,omitempty"`
	Timestamp  string     `json:"timestamp,omitempty"`
	Total      *int       `json:"total,omitempty"`
	Offset     *int       `json:"offset,omitempty"`
	Contains   []Contains `json:"contains,omitempty"`
}

// Contains is one code of an expansion.
type Contains struct {
	System   string     `json:"system,omitempty"`
	Version  string     `json:"version,omitempty"`
	Abstract bool       `json:"abstract,omitempty"`
	Inactive bool       `json:"inactive,omitempty"`
	Code     string     `json:"code,omitempty"`
	Display  string     `json:"display,omitempty"`
	Contains []Contains `json:"contains,omitempty"`
}

// ConceptMap is a FHIR R4 ConceptMap as $translate reads it.
type ConceptMap struct {
	ResourceType    string     `json:"resourceType"`
	URL             string     `json:"url,omitempty"`
	Version         string     `json:"version,omitempty"`
	Name            string     `json:"name,omitempty"`
	Title           string     `json:"title,omitempty"`
	Status          string     `json:"status,omitempty"`
	SourceURI       string     `json:"sourceUri,omitempty"`
	SourceCanonical string     `json:"sourceCanonical,omitempty"`
	TargetURI       string     `json:"targetUri,omitempty"`
	TargetCanonical string     `json:"targetCanonical,omitempty"`
	Group           []MapGroup `json:"group,omitempty"`
}

// Source is the value set the map translates from.
func (m *ConceptMap) Source() string { return firstOf(m.SourceCanonical, m.SourceURI) }

// Target is the value set the map translates to.
func (m *ConceptMap) Target() string { return firstOf(m.TargetCanonical, m.TargetURI) }

// MapGroup maps the codes of one source system to one target system.
type MapGroup struct {
	Source        string       `json:"source,omitempty"`
	SourceVersion string       `json:"sourceVersion,omitempty"`
	Target        string       `json:"target,omitempty"`
	TargetVersion string       `json:"targetVersion,omitempty"`
	Element       []MapElement `json:"element,omitempty"`
	Unmapped      *Unmapped    `json:"unmapped,omitempty"`
}

// MapElement maps one source code.
type MapElement struct {
	Code    string      `json:"code,omitempty"`
	Display string      `json:"display,omitempty"`
	Target  []MapTarget `json:"target,omitempty"`
}

// MapTarget is one target of a source code, with how well it matches.
type MapTarget struct {
	Code        string `json:"code,omitempty"`
	Display     string `json:"display,omitempty"`
	Equivalence string `json:"equivalence,omitempty"`
	Comment     string `json:"comment,omitempty"`
}

// Unmapped says what a group maps a code without an element to.
type Unmapped struct {
	Mode    string `json:"mode"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
	URL     string `json:"url,omitempty"`
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
