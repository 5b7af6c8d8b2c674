package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/fhirgate/fhirgate/validate"
)

// _summary and _elements: a resource cut to part of its elements, labelled SUBSETTED in
// meta.tag as FHIR asks. Which elements are in the summary comes from the specification's
// isSummary flags (validate's definitions); mandatory ones from their minimum cardinality.

const subsettedSystem = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"

var subsettedTag = json.RawMessage(`{"system":"` + subsettedSystem + `","code":"SUBSETTED","display":"subsetted"}`)

// elementRule says which elements of one object to keep.
type elementRule struct {
	keep func(key string) bool
	// below returns the rule for the children of a kept element, nil to keep it whole.
	below func(key string) *elementRule
}

// subset cuts a resource (JSON) of type typ to the call's _summary or _elements; it returns
// raw itself when neither applies.
func (c *restCall) subset(typ string, raw []byte) ([]byte, error) {
	var rule *elementRule
	switch {
	case len(c.elements) > 0:
		rule = elementsRule(typ, c.elements)
	case c.summary == "true":
		rule = summaryRule(typ, typ)
	case c.summary == "text":
		mandatory := mandatoryElements(typ)
		rule = &elementRule{keep: func(k string) bool { return k == "text" || mandatory[baseName(k)] }}
	case c.summary == "data":
		rule = &elementRule{keep: func(k string) bool { return k != "text" }}
	default:
		return raw, nil
	}
	out, cut, err := cutObject(raw, rule, true)
	if err != nil || !cut {
		return raw, err
	}
	return out, nil
}

// elementsRule keeps the named top-level elements ("name" or "Patient.name").
func elementsRule(typ string, names []string) *elementRule {
	want := map[string]bool{}
	for _, n := range names {
		n = strings.TrimPrefix(n, typ+".")
		if i := strings.IndexByte(n, '.'); i >= 0 { // deeper paths keep their top element
			n = n[:i]
		}
		want[n] = true
	}
	return &elementRule{keep: func(k string) bool { return want[baseName(k)] || choiceOf(k, want) }}
}

// choiceOf reports whether key is a choice element (valueQuantity) of a wanted name (value).
func choiceOf(key string, want map[string]bool) bool {
	for n := range want {
		if len(key) > len(n) && strings.HasPrefix(key, n) && key[len(n)] >= 'A' && key[len(n)] <= 'Z' {
			return true
		}
	}
	return false
}

// baseName strips the "_" of a primitive's extensions, which go with the primitive.
func baseName(key string) string { return strings.TrimPrefix(key, "_") }

// summaryIndex holds, per element path of every type (Patient.link), whether it is a
// summary element, and which paths are backbone elements with children of their own.
type summaryIndex struct {
	summary   map[string]bool // path -> isSummary; choice paths end in [x]
	mandatory map[string]bool // top-level "Type.name" -> min > 0
	parent    map[string]bool // paths that have child paths in their type's definition
}

var summaries = sync.OnceValue(func() *summaryIndex {
	ix := &summaryIndex{summary: map[string]bool{}, mandatory: map[string]bool{}, parent: map[string]bool{}}
	for _, t := range validate.Base().Types {
		for _, e := range t.Elements {
			ix.summary[e.Path] = e.Summary
			if strings.Count(e.Path, ".") == 1 && e.Min > 0 {
				ix.mandatory[e.Path] = true
			}
			if i := strings.LastIndexByte(e.Path, '.'); i > 0 {
				ix.parent[e.Path[:i]] = true
			}
		}
	}
	return ix
})

// mandatoryElements returns the names of typ's top-level elements of minimum cardinality 1.
func mandatoryElements(typ string) map[string]bool {
	out := map[string]bool{}
	for p := range summaries().mandatory {
		if name, ok := strings.CutPrefix(p, typ+"."); ok {
			out[strings.TrimSuffix(name, "[x]")] = true
		}
	}
	return out
}

// summaryRule keeps the summary elements of the object at path (a type, or a backbone
// element of it): its backbone elements are cut the same way, data types kept whole.
func summaryRule(typ, path string) *elementRule {
	ix := summaries()
	elemPath := func(k string) (string, bool) {
		name := baseName(k)
		if _, ok := ix.summary[path+"."+name]; ok {
			return path + "." + name, true
		}
		for i := len(name) - 1; i > 0; i-- { // a choice: valueQuantity is value[x]
			if name[i] >= 'A' && name[i] <= 'Z' {
				if _, ok := ix.summary[path+"."+name[:i]+"[x]"]; ok {
					return path + "." + name[:i] + "[x]", true
				}
			}
		}
		return "", false
	}
	return &elementRule{
		keep: func(k string) bool {
			p, ok := elemPath(k)
			return ok && ix.summary[p]
		},
		below: func(k string) *elementRule {
			if p, ok := elemPath(k); ok && ix.parent[p] {
				return summaryRule(typ, p)
			}
			return nil
		},
	}
}

// cutObject keeps the members of the JSON object raw that rule keeps, in their order; at the
// top (a resource) resourceType, id and meta stay, and meta gets the SUBSETTED tag. It
// reports whether anything was cut.
func cutObject(raw []byte, rule *elementRule, top bool) ([]byte, bool, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false, fmt.Errorf("api: subset: not a JSON object")
	}
	var out bytes.Buffer
	out.WriteByte('{')
	n, cut := 0, false
	var meta json.RawMessage
	write := func(k string, v []byte) {
		if n > 0 {
			out.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		out.Write(kb)
		out.WriteByte(':')
		out.Write(v)
		n++
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, false, fmt.Errorf("api: subset: %w", err)
		}
		k, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false, fmt.Errorf("api: subset: %w", err)
		}
		switch {
		case top && k == "meta":
			meta = v
		case top && (k == "resourceType" || k == "id"):
			write(k, v)
		case !rule.keep(k):
			cut = true
		case rule.below != nil && rule.below(k) != nil:
			sub, c, err := cutValue(v, rule.below(k))
			if err != nil {
				return nil, false, err
			}
			cut = cut || c
			write(k, sub)
		default:
			write(k, v)
		}
	}
	if top && cut {
		m, err := tagged(meta)
		if err != nil {
			return nil, false, err
		}
		write("meta", m)
	} else if meta != nil {
		write("meta", meta)
	}
	out.WriteByte('}')
	return out.Bytes(), cut, nil
}

// cutValue applies rule to an object or to each object of an array.
func cutValue(v json.RawMessage, rule *elementRule) ([]byte, bool, error) {
	t := bytes.TrimSpace(v)
	if len(t) == 0 {
		return v, false, nil
	}
	switch t[0] {
	case '{':
		return cutObject(t, rule, false)
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(t, &items); err != nil {
			return nil, false, fmt.Errorf("api: subset: %w", err)
		}
		cut := false
		for i, it := range items {
			out, c, err := cutValue(it, rule)
			if err != nil {
				return nil, false, err
			}
			items[i], cut = out, cut || c
		}
		b, err := marshalRaw(items)
		return b, cut, err
	}
	return v, false, nil
}

// tagged returns meta with the SUBSETTED tag added once.
func tagged(meta json.RawMessage) ([]byte, error) {
	m := map[string]json.RawMessage{}
	if len(meta) > 0 {
		if err := json.Unmarshal(meta, &m); err != nil {
			return nil, fmt.Errorf("api: subset: meta: %w", err)
		}
	}
	var tags []json.RawMessage
	if t, ok := m["tag"]; ok {
		if err := json.Unmarshal(t, &tags); err != nil {
			return nil, fmt.Errorf("api: subset: meta.tag: %w", err)
		}
	}
	if !slices.ContainsFunc(tags, func(t json.RawMessage) bool { return bytes.Contains(t, []byte(`"SUBSETTED"`)) }) {
		tags = append(tags, subsettedTag)
	}
	b, err := marshalRaw(tags)
	if err != nil {
		return nil, err
	}
	m["tag"] = b
	return marshalRaw(m)
}

// marshalRaw encodes without HTML escaping, so raw JSON inside keeps its bytes.
func marshalRaw(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
