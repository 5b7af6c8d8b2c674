package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
)

// Terminology is the specification's terminology as package terminology embeds it: the
// CodeSystems, ValueSets and ConceptMaps of the pinned definitions, trimmed to what
// terminology operations read (no narrative, contacts or extensions), and the base
// specification's required bindings, so that a test can count how many of them a server
// holding only the specification can check.
type Terminology struct {
	// Resources are FHIR JSON CodeSystems, ValueSets and ConceptMaps, in source order.
	Resources []json.RawMessage `json:"resources"`
	// RequiredBindings are the required bindings of the base resources and datatypes.
	RequiredBindings []Binding `json:"requiredBindings"`
}

// Binding is one element's binding to a value set.
type Binding struct {
	Path     string `json:"path"`
	ValueSet string `json:"valueSet"`
}

// terminologyFiles are the definition bundles holding terminology resources.
var terminologyFiles = []string{"valuesets.json", "v3-codesystems.json", "v2-tables.json", "conceptmaps.json"}

// keptFields are the elements of each resource type kept in the embedded copy.
var keptFields = map[string][]string{
	"CodeSystem": {"resourceType", "url", "version", "name", "title", "status", "content", "caseSensitive",
		"hierarchyMeaning", "valueSet", "property", "concept"},
	"ValueSet": {"resourceType", "url", "version", "name", "title", "status", "compose", "expansion"},
	"ConceptMap": {"resourceType", "url", "version", "name", "title", "status", "sourceUri", "sourceCanonical",
		"targetUri", "targetCanonical", "group"},
}

func loadTerminology(dir string) (*Terminology, error) {
	t := &Terminology{}
	seen := map[string]bool{}
	for _, name := range terminologyFiles {
		b, err := readBundle(dir, name)
		if err != nil {
			return nil, err
		}
		for _, e := range b.Entry {
			r, key, err := trimResource(e.Resource)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if r == nil || seen[key] {
				continue
			}
			seen[key] = true
			t.Resources = append(t.Resources, r)
		}
	}
	bindings, err := requiredBindings(dir)
	if err != nil {
		return nil, err
	}
	t.RequiredBindings = bindings
	return t, nil
}

// trimResource keeps the fields of keptFields, in that order; it returns nil for other
// resource types. key identifies the resource by type, URL and version.
func trimResource(raw json.RawMessage) (json.RawMessage, string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, "", err
	}
	var typ, url, version string
	json.Unmarshal(m["resourceType"], &typ)
	json.Unmarshal(m["url"], &url)
	json.Unmarshal(m["version"], &version)
	fields, ok := keptFields[typ]
	if !ok {
		return nil, "", nil
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	for _, f := range fields {
		v, ok := m[f]
		if !ok {
			continue
		}
		if buf.Len() > 1 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, "%q:", f)
		if err := json.Compact(&buf, v); err != nil {
			return nil, "", err
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), typ + " " + url + "|" + version, nil
}

// requiredBindings lists the required bindings of the base resources and datatypes, from
// their snapshots.
func requiredBindings(dir string) ([]Binding, error) {
	var out []Binding
	seen := map[Binding]bool{}
	for _, name := range []string{"profiles-types.json", "profiles-resources.json"} {
		b, err := readBundle(dir, name)
		if err != nil {
			return nil, err
		}
		for _, e := range b.Entry {
			var sd struct {
				ResourceType string `json:"resourceType"`
				Derivation   string `json:"derivation"`
				Snapshot     struct {
					Element []struct {
						Path    string `json:"path"`
						Binding struct {
							Strength string `json:"strength"`
							ValueSet string `json:"valueSet"`
						} `json:"binding"`
					} `json:"element"`
				} `json:"snapshot"`
			}
			if err := json.Unmarshal(e.Resource, &sd); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if sd.ResourceType != "StructureDefinition" || sd.Derivation == "constraint" {
				continue
			}
			for _, el := range sd.Snapshot.Element {
				bd := Binding{Path: el.Path, ValueSet: el.Binding.ValueSet}
				if el.Binding.Strength == "required" && bd.ValueSet != "" && !seen[bd] {
					seen[bd] = true
					out = append(out, bd)
				}
			}
		}
	}
	return out, nil
}

// gzipJSON encodes v as JSON and compresses it; the output depends only on v.
func gzipJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if err := json.NewEncoder(zw).Encode(v); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
