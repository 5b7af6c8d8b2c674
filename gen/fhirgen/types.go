package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Kind says what a generated type stands for.
type Kind int

const (
	KindResource Kind = iota
	KindDatatype
	KindBackbone
)

// Type is one FHIR complex type, resource or backbone element, ready for emission.
type Type struct {
	Name   string
	Kind   Kind
	Path   string // FHIR path of the element that defines it ("Patient.contact"); equals Name for top-level types
	Short  string
	Fields []*Field
}

// Field is one JSON property of a Type. A choice element value[x] becomes one Field per allowed type.
type Field struct {
	JSON       string // JSON property name: "valueQuantity"
	Type       string // FHIR type code ("date", "HumanName") or the name of a generated backbone Type
	Primitive  bool   // FHIR primitive: gets a "_name" extension sibling unless Attribute
	Attribute  bool   // XML attribute in FHIR (Element.id, Extension.url): no "_name" sibling
	ResourceID bool   // Resource.id
	List       bool
	Choice     string // the choice element's base name ("value") when from value[x]
	Short      string
}

// Primitive describes a FHIR primitive datatype.
type Primitive struct {
	Name  string
	Regex string
}

// Defs holds everything the emitters need.
type Defs struct {
	Resources  []*Type // sorted by name
	Datatypes  []*Type // complex datatypes, sorted by name
	Backbones  []*Type // backbone types, in definition order per owner
	Primitives []Primitive
	ByName     map[string]*Type
	Search     []SearchParam
}

type structureDefinition struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Abstract    bool   `json:"abstract"`
	Derivation  string `json:"derivation"`
	Type        string `json:"type"`
	Description string `json:"description"`
	Snapshot    struct {
		Element []elementDefinition `json:"element"`
	} `json:"snapshot"`
}

type elementDefinition struct {
	ID               string   `json:"id"`
	Path             string   `json:"path"`
	Short            string   `json:"short"`
	Max              string   `json:"max"`
	ContentReference string   `json:"contentReference"`
	Representation   []string `json:"representation"`
	Base             struct {
		Path string `json:"path"`
	} `json:"base"`
	Type []struct {
		Code      string `json:"code"`
		Extension []struct {
			URL         string `json:"url"`
			ValueURL    string `json:"valueUrl"`
			ValueString string `json:"valueString"`
		} `json:"extension"`
	} `json:"type"`
}

type bundle struct {
	Entry []struct {
		Resource json.RawMessage `json:"resource"`
	} `json:"entry"`
}

func readBundle(dir, name string) (*bundle, error) {
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	var b bundle
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &b, nil
}

func readStructureDefinitions(dir, name string) ([]*structureDefinition, error) {
	b, err := readBundle(dir, name)
	if err != nil {
		return nil, err
	}
	var out []*structureDefinition
	for _, e := range b.Entry {
		var head struct {
			ResourceType string `json:"resourceType"`
		}
		if err := json.Unmarshal(e.Resource, &head); err != nil {
			return nil, err
		}
		if head.ResourceType != "StructureDefinition" {
			continue
		}
		var sd structureDefinition
		if err := json.Unmarshal(e.Resource, &sd); err != nil {
			return nil, err
		}
		out = append(out, &sd)
	}
	return out, nil
}

// loadDefs reads the R4 StructureDefinitions and SearchParameters.
func loadDefs(dir string) (*Defs, error) {
	types, err := readStructureDefinitions(dir, "profiles-types.json")
	if err != nil {
		return nil, err
	}
	resources, err := readStructureDefinitions(dir, "profiles-resources.json")
	if err != nil {
		return nil, err
	}
	d := &Defs{ByName: map[string]*Type{}}
	// Constrained datatypes (SimpleQuantity, MoneyQuantity) share their base type's shape.
	for _, sd := range types {
		switch {
		case sd.Kind == "primitive-type":
			d.Primitives = append(d.Primitives, Primitive{Name: sd.Name, Regex: primitiveRegex(sd)})
		case sd.Kind == "complex-type" && sd.Derivation == "specialization" && !sd.Abstract:
			t, err := d.build(sd, KindDatatype)
			if err != nil {
				return nil, err
			}
			d.Datatypes = append(d.Datatypes, t)
		}
	}
	for _, sd := range resources {
		if sd.Kind != "resource" || sd.Derivation != "specialization" || sd.Abstract {
			continue
		}
		t, err := d.build(sd, KindResource)
		if err != nil {
			return nil, err
		}
		d.Resources = append(d.Resources, t)
	}
	sort.Slice(d.Primitives, func(i, j int) bool { return d.Primitives[i].Name < d.Primitives[j].Name })
	sort.Slice(d.Datatypes, func(i, j int) bool { return d.Datatypes[i].Name < d.Datatypes[j].Name })
	sort.Slice(d.Resources, func(i, j int) bool { return d.Resources[i].Name < d.Resources[j].Name })
	if d.Search, err = loadSearchParams(dir, d); err != nil {
		return nil, err
	}
	return d, nil
}

func primitiveRegex(sd *structureDefinition) string {
	for _, el := range sd.Snapshot.Element {
		if !strings.HasSuffix(el.Path, ".value") || len(el.Type) == 0 {
			continue
		}
		for _, ext := range el.Type[0].Extension {
			if strings.HasSuffix(ext.URL, "/regex") {
				return ext.ValueString
			}
		}
	}
	return ""
}

// build turns a StructureDefinition snapshot into a Type plus the backbone Types nested in it.
func (d *Defs) build(sd *structureDefinition, kind Kind) (*Type, error) {
	root := &Type{Name: sd.Name, Kind: kind, Path: sd.Type, Short: firstSentence(sd.Description)}
	byPath := map[string]*Type{sd.Type: root}
	if err := d.register(root); err != nil {
		return nil, err
	}
	for _, el := range sd.Snapshot.Element[1:] {
		i := strings.LastIndexByte(el.Path, '.')
		parentPath, name := el.Path[:i], el.Path[i+1:]
		parent := byPath[parentPath]
		if parent == nil {
			return nil, fmt.Errorf("%s: element %s has no parent type", sd.Name, el.Path)
		}
		list := el.Max != "1" && el.Max != "0"
		if el.Max == "0" {
			continue
		}
		short := el.Short
		if el.ContentReference != "" {
			target := byPath[strings.TrimPrefix(el.ContentReference, "#")]
			if target == nil {
				return nil, fmt.Errorf("%s: unresolved contentReference %s", el.Path, el.ContentReference)
			}
			parent.Fields = append(parent.Fields, &Field{JSON: name, Type: target.Name, List: list, Short: short})
			continue
		}
		if len(el.Type) == 1 && (el.Type[0].Code == "BackboneElement" || el.Type[0].Code == "Element") {
			bb := &Type{Name: backboneName(parent.Name, name), Kind: KindBackbone, Path: el.Path, Short: short}
			if bb.Name == sd.Name+"Input" {
				bb.Name += "Element" // Task.input: "TaskInput" names the TaskCreate argument type.
			}
			if err := d.register(bb); err != nil {
				return nil, err
			}
			d.Backbones = append(d.Backbones, bb)
			byPath[el.Path] = bb
			parent.Fields = append(parent.Fields, &Field{JSON: name, Type: bb.Name, List: list, Short: short})
			continue
		}
		if base, ok := strings.CutSuffix(name, "[x]"); ok {
			for _, ty := range el.Type {
				code := normaliseCode(ty.Code)
				parent.Fields = append(parent.Fields, &Field{
					JSON: base + upperFirst(code), Type: code, Primitive: isPrimitiveCode(code),
					List: list, Choice: base, Short: short,
				})
			}
			continue
		}
		if len(el.Type) != 1 {
			return nil, fmt.Errorf("%s: %d types on a non-choice element", el.Path, len(el.Type))
		}
		code := el.Type[0].Code
		f := &Field{JSON: name, List: list, Short: short}
		if strings.HasPrefix(code, "http://hl7.org/fhirpath/System.") {
			// Element.id, Extension.url and Resource.id: plain values without a "_x" sibling.
			f.Type, f.Primitive, f.Attribute = "string", true, true
			for _, ext := range el.Type[0].Extension {
				if strings.HasSuffix(ext.URL, "structuredefinition-fhir-type") {
					f.Type = ext.ValueURL
				}
			}
			if el.Base.Path == "Resource.id" {
				f.Type, f.ResourceID = "id", true
			}
		} else {
			f.Type = normaliseCode(code)
			f.Primitive = isPrimitiveCode(f.Type)
		}
		parent.Fields = append(parent.Fields, f)
	}
	return root, nil
}

func (d *Defs) register(t *Type) error {
	if old := d.ByName[t.Name]; old != nil {
		return fmt.Errorf("type name %s used by both %s and %s", t.Name, old.Path, t.Path)
	}
	d.ByName[t.Name] = t
	return nil
}

// backboneName follows the FHIR GraphQL naming: the owner's name plus the element name, capitalised.
func backboneName(owner, element string) string { return owner + upperFirst(element) }

func normaliseCode(code string) string {
	switch code {
	case "SimpleQuantity", "MoneyQuantity":
		return "Quantity"
	}
	return code
}

func isPrimitiveCode(code string) bool {
	return code != "" && code[0] >= 'a' && code[0] <= 'z'
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func firstSentence(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if i := strings.Index(s, ". "); i > 0 {
		s = s[:i+1]
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
