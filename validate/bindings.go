package validate

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"

	"github.com/fhirgate/fhirgate/terminology"
)

// registryTerms answers bindings from a terminology registry (the specification's code
// systems and value sets, and what packages add).
type registryTerms struct{ r *terminology.Registry }

var _ Terminology = registryTerms{}

func (t registryTerms) Contains(vs, system, code string) (in, known bool) {
	m, _ := t.r.Member(vs, system, code)
	return m == terminology.In, m != terminology.CannotTell
}

func versionless(url string) string {
	url, _, _ = strings.Cut(url, "|")
	return url
}

// bindingSeverity is the severity of a code outside the bound value set, or "" when the
// binding is not checked (example bindings).
func (w *walker) bindingSeverity(el *ElementDef) string {
	b := el.Binding
	if b == nil || b.ValueSet == "" {
		return ""
	}
	switch b.Strength {
	case "required":
		return SeverityError
	case "extensible", "preferred":
		return SeverityWarning
	}
	return ""
}

// bindCode checks a bare code (a code, uri or string element) against the binding.
func (w *walker) bindCode(el *ElementDef, system, code, loc string) {
	sev := w.bindingSeverity(el)
	if sev == "" {
		return
	}
	// A value set the terminology cannot evaluate (SNOMED CT, LOINC, unknown) is not checked.
	if in, known := w.v.terms.Contains(el.Binding.ValueSet, system, code); in || !known {
		return
	}
	w.issue(sev, "code-invalid", loc, "The value %q is not in the value set %s (%s binding).", truncate(code), versionless(el.Binding.ValueSet), el.Binding.Strength)
}

// binding checks a Coding or a CodeableConcept against the element's binding. A
// CodeableConcept conforms when one of its codings is in the value set; one with only text
// is not checked.
func (w *walker) binding(obj map[string]any, code string, el *ElementDef, loc string) {
	sev := w.bindingSeverity(el)
	if sev == "" {
		return
	}
	var codings []map[string]any
	if code == "Coding" {
		codings = append(codings, obj)
	} else {
		list, _ := obj["coding"].([]any)
		for _, c := range list {
			if m, ok := c.(map[string]any); ok {
				codings = append(codings, m)
			}
		}
	}
	if len(codings) == 0 {
		return
	}
	var shown []string
	for _, c := range codings {
		system, _ := c["system"].(string)
		code, _ := c["code"].(string)
		if code == "" {
			shown = append(shown, truncate(system)+"#")
			continue
		}
		// A coding without a system is matched as a bare code, in any system of the value set.
		in, known := w.v.terms.Contains(el.Binding.ValueSet, system, code)
		if in || !known {
			return
		}
		shown = append(shown, truncate(system)+"#"+truncate(code))
	}
	w.issue(sev, "code-invalid", loc, "None of the codes (%s) is in the value set %s (%s binding).", strings.Join(shown, ", "), versionless(el.Binding.ValueSet), el.Binding.Strength)
}

// fixedPattern checks fixed[x] (the value is exactly it) and pattern[x] (the value holds
// at least what it holds).
func (w *walker) fixedPattern(val any, el *ElementDef, loc string) {
	if len(el.Fixed) > 0 {
		if want, ok := decodeJSON(el.Fixed); ok && !reflect.DeepEqual(val, want) {
			w.issue(SeverityError, "value", loc, "The value must be exactly %s.", string(el.Fixed))
		}
	}
	if len(el.Pattern) > 0 {
		if want, ok := decodeJSON(el.Pattern); ok && !matchesPattern(val, want) {
			w.issue(SeverityError, "value", loc, "The value must match the pattern %s.", string(el.Pattern))
		}
	}
}

func decodeJSON(raw json.RawMessage) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil, false
	}
	return v, true
}

// matchesPattern reports whether v holds everything pattern holds: every property of an
// object pattern, and for an array pattern, each item matched by some item of v.
func matchesPattern(v, pattern any) bool {
	switch p := pattern.(type) {
	case map[string]any:
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		for k, pv := range p {
			if !matchesPattern(m[k], pv) {
				return false
			}
		}
		return true
	case []any:
		list, ok := v.([]any)
		if !ok {
			return false
		}
		for _, pi := range p {
			found := false
			for _, it := range list {
				if matchesPattern(it, pi) {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(v, pattern)
}
