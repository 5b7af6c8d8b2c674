package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ValidationDefs is what the validator needs from the base StructureDefinitions: per type,
// per element path, the element's rules; the invariants once each; and the expansions of
// the value sets the elements bind to, where the specification alone can expand them.
// The shape is validate.Definitions; the two are kept in step by validate's tests.
type ValidationDefs struct {
	Types       map[string]*VType              `json:"types"`
	Constraints []VConstraint                  `json:"constraints"`
	ValueSets   map[string]map[string][]string `json:"valueSets"`
}

// VType is one StructureDefinition: a primitive, complex type or resource.
type VType struct {
	Kind     string     `json:"kind"` // primitive-type, complex-type, resource
	Abstract bool       `json:"abstract,omitempty"`
	Base     string     `json:"base,omitempty"` // name of the base type
	Regex    string     `json:"regex,omitempty"`
	Elements []VElement `json:"elements"`
}

// VElement is one element of a snapshot. Short JSON names keep the embedded file small.
type VElement struct {
	Path        string          `json:"p"`
	Min         int             `json:"n,omitempty"`
	Max         string          `json:"x"`
	Types       []VTypeRef      `json:"t,omitempty"`
	Binding     *VBinding       `json:"b,omitempty"`
	Fixed       json.RawMessage `json:"f,omitempty"`
	Pattern     json.RawMessage `json:"pt,omitempty"`
	Constraints []int           `json:"c,omitempty"`
	ContentRef  string          `json:"r,omitempty"`
	// Summary marks an element of the summary view (isSummary): what _summary=true returns.
	Summary bool `json:"s,omitempty"`
}

// VTypeRef is one allowed type of an element; Targets are the type names a Reference or
// canonical may point at (empty: any).
type VTypeRef struct {
	Code    string   `json:"c"`
	Targets []string `json:"r,omitempty"`
}

// VBinding is an element's value-set binding.
type VBinding struct {
	Strength string `json:"s"`
	ValueSet string `json:"v,omitempty"`
}

// VConstraint is one invariant.
type VConstraint struct {
	Key        string `json:"key"`
	Severity   string `json:"severity"`
	Expression string `json:"expression"`
	Human      string `json:"human"`
}

type vElementDef struct {
	Path             string `json:"path"`
	Min              int    `json:"min"`
	Max              string `json:"max"`
	ContentReference string `json:"contentReference"`
	IsSummary        bool   `json:"isSummary"`
	Base             struct {
		Path string `json:"path"`
	} `json:"base"`
	Type []struct {
		Code          string   `json:"code"`
		TargetProfile []string `json:"targetProfile"`
		Extension     []struct {
			URL      string `json:"url"`
			ValueURL string `json:"valueUrl"`
		} `json:"extension"`
	} `json:"type"`
	Binding *struct {
		Strength string `json:"strength"`
		ValueSet string `json:"valueSet"`
	} `json:"binding"`
	Constraint []VConstraint `json:"constraint"`
	raw        map[string]json.RawMessage
}

type vStructureDefinition struct {
	Name           string `json:"name"`
	Kind           string `json:"kind"`
	Abstract       bool   `json:"abstract"`
	Derivation     string `json:"derivation"`
	BaseDefinition string `json:"baseDefinition"`
	Snapshot       struct {
		Element []json.RawMessage `json:"element"`
	} `json:"snapshot"`
}

// loadValidationDefs reads the types and resources the validator checks against: every
// specialisation (constraints such as SimpleQuantity are profiles, applied where used).
func loadValidationDefs(dir string) (*ValidationDefs, error) {
	out := &ValidationDefs{Types: map[string]*VType{}}
	index := map[string]int{}
	for _, file := range []string{"profiles-types.json", "profiles-resources.json"} {
		b, err := readBundle(dir, file)
		if err != nil {
			return nil, err
		}
		for _, e := range b.Entry {
			var sd vStructureDefinition
			if err := json.Unmarshal(e.Resource, &sd); err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			if sd.Derivation != "specialization" || len(sd.Snapshot.Element) == 0 {
				continue
			}
			t := &VType{Kind: sd.Kind, Abstract: sd.Abstract, Base: lastSegment(sd.BaseDefinition)}
			for _, rawEl := range sd.Snapshot.Element {
				el, err := vElement(rawEl, index, out)
				if err != nil {
					return nil, fmt.Errorf("%s %s: %w", file, sd.Name, err)
				}
				if sd.Kind == "primitive-type" && strings.HasSuffix(el.Path, ".value") {
					t.Regex = primitiveRegexOf(rawEl)
				}
				t.Elements = append(t.Elements, el)
			}
			out.Types[sd.Name] = t
		}
	}
	return out, nil
}

func vElement(raw json.RawMessage, index map[string]int, out *ValidationDefs) (VElement, error) {
	var d vElementDef
	if err := json.Unmarshal(raw, &d); err != nil {
		return VElement{}, err
	}
	if err := json.Unmarshal(raw, &d.raw); err != nil {
		return VElement{}, err
	}
	el := VElement{Path: d.Path, Min: d.Min, Max: d.Max, ContentRef: strings.TrimPrefix(d.ContentReference, "#"), Summary: d.IsSummary}
	for _, ty := range d.Type {
		code := ty.Code
		if strings.HasPrefix(code, "http://hl7.org/fhirpath/System.") {
			// Element.id, Extension.url, Resource.id and primitives' values: their FHIR type
			// is in the fhir-type extension.
			for _, ext := range ty.Extension {
				if strings.HasSuffix(ext.URL, "structuredefinition-fhir-type") {
					code = ext.ValueURL
				}
			}
		}
		if d.Base.Path == "Resource.id" {
			code = "id" // the fhir-type extension says string; the element is an id
		}
		ref := VTypeRef{Code: code}
		for _, tp := range ty.TargetProfile {
			ref.Targets = append(ref.Targets, lastSegment(tp))
		}
		el.Types = append(el.Types, ref)
	}
	if d.Binding != nil {
		el.Binding = &VBinding{Strength: d.Binding.Strength, ValueSet: d.Binding.ValueSet}
	}
	for k, v := range d.raw {
		switch {
		case strings.HasPrefix(k, "fixed"):
			el.Fixed = v
		case strings.HasPrefix(k, "pattern"):
			el.Pattern = v
		}
	}
	for _, c := range d.Constraint {
		c.Human = strings.Join(strings.Fields(c.Human), " ")
		id := c.Key + "\x00" + c.Expression
		i, ok := index[id]
		if !ok {
			i = len(out.Constraints)
			index[id] = i
			out.Constraints = append(out.Constraints, c)
		}
		el.Constraints = append(el.Constraints, i)
	}
	sort.Ints(el.Constraints)
	return el, nil
}

func primitiveRegexOf(raw json.RawMessage) string {
	var el struct {
		Type []struct {
			Extension []struct {
				URL         string `json:"url"`
				ValueString string `json:"valueString"`
			} `json:"extension"`
		} `json:"type"`
	}
	if json.Unmarshal(raw, &el) != nil {
		return ""
	}
	for _, ty := range el.Type {
		for _, ext := range ty.Extension {
			if strings.HasSuffix(ext.URL, "/regex") {
				return ext.ValueString
			}
		}
	}
	return ""
}

func lastSegment(url string) string {
	return url[strings.LastIndexByte(url, '/')+1:]
}

// writeGzipJSON writes v as gzip'd JSON. The gzip header carries no name or time, so the
// file is byte-identical from run to run.
func writeGzipJSON(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := zw.Write(data); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
