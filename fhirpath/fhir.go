package fhirpath

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"strings"

	"github.com/fhirgate/fhirgate/model"
)

// The FHIR additions to FHIRPath (http://hl7.org/fhir/R4/fhirpath.html#functions).

func fhirFunctions() map[string]funcSpec {
	return map[string]funcSpec{
		"extension":  fnArgs(1, 1, fnExtension),
		"hasValue":   fn(fnHasValue),
		"getValue":   fn(fnGetValue),
		"htmlChecks": fn(fnHTMLChecks),
		"resolve":    fn(fnResolve),
		"memberOf":   fnArgs(1, 1, fnMemberOf),
		"conformsTo": fnArgs(1, 1, fnConformsTo),
		"type":       fn(fnType),
	}
}

// fnExtension returns the extensions with the given url of each item: of a complex element
// its extension array, of a primitive the extension array of its _name companion.
func fnExtension(e *env, c *callNode, in []Value) ([]Value, error) {
	url, ok, err := stringArg(e, c, 0)
	if err != nil || !ok {
		return nil, err
	}
	var out []Value
	for _, v := range in {
		m, isMap := v.Data.(map[string]any)
		if !isMap {
			m = v.ext
		}
		exts, _ := m["extension"].([]any)
		for _, x := range exts {
			if xm, ok := x.(map[string]any); ok && xm["url"] == url {
				out = append(out, Value{Data: xm, Type: "Extension", fhir: true})
			}
		}
	}
	return out, nil
}

// isPrimitiveValue reports whether v holds a primitive value (not only extensions).
func isPrimitiveValue(v Value) bool {
	switch v.Data.(type) {
	case string, bool, json.Number:
		return true
	}
	return false
}

// fnHasValue is true when the input is a single primitive that has a value.
func fnHasValue(_ *env, _ *callNode, in []Value) ([]Value, error) {
	return boolResult(len(in) == 1 && isPrimitiveValue(in[0])), nil
}

// fnGetValue returns the value of a single primitive as a System value, else empty.
func fnGetValue(_ *env, _ *callNode, in []Value) ([]Value, error) {
	if len(in) != 1 || !isPrimitiveValue(in[0]) {
		return nil, nil
	}
	v := in[0]
	v.ext, v.fhir = nil, false
	return []Value{v}, nil
}

// fnHTMLChecks applies the narrative rules of FHIR (http://hl7.org/fhir/R4/narrative.html)
// to a single xhtml value: well-formed XHTML rooted at a div, only the permitted elements
// and attributes, no event handlers and no script URLs. Like the reference implementation
// for R4 it does not require content: official examples have empty narratives.
func fnHTMLChecks(_ *env, _ *callNode, in []Value) ([]Value, error) {
	v, ok, err := singleton(in, "htmlChecks()")
	if err != nil || !ok {
		return nil, err
	}
	s, isStr := v.Data.(string)
	return boolResult(isStr && SafeXHTML(s) == nil), nil
}

// fnResolve resolves each reference of the input (see resolve).
func fnResolve(e *env, _ *callNode, in []Value) ([]Value, error) {
	var out []Value
	for _, v := range in {
		if r, ok := resolve(e, v); ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// resolve turns a Reference (or a canonical/uri string) into the resource it names: a
// "#id" reference yields the contained resource of %resource (or of %rootResource); a
// reference to an entry of a Bundle being evaluated yields the entry's resource; any other
// literal reference is read through the Resolver, or without one yields a stub
// {"resourceType": Type, "id": id}. Logical, conditional and urn: references that match
// no entry resolve to nothing.
func resolve(e *env, v Value) (Value, bool) {
	var ref string
	switch d := v.Data.(type) {
	case string:
		ref = d
	case map[string]any:
		ref, _ = d["reference"].(string)
	}
	if ref == "" {
		return Value{}, false
	}
	if id, ok := strings.CutPrefix(ref, "#"); ok {
		for _, root := range []Value{e.root, e.rootResource} {
			if r, ok := containedByID(root, id); ok {
				return r, true
			}
		}
		return Value{}, false
	}
	for _, root := range []Value{e.root, e.rootResource} {
		if r, ok := bundleEntry(root, ref); ok {
			return r, true
		}
	}
	if strings.ContainsAny(ref, "?") || strings.HasPrefix(ref, "urn:") {
		return Value{}, false
	}
	if e.opts.Resolver != nil {
		r, ok := e.opts.Resolver.Resolve(ref)
		if !ok {
			return Value{}, false
		}
		return resourceValue(r), true
	}
	if i := strings.IndexByte(ref, '|'); i >= 0 { // canonical version
		ref = ref[:i]
	}
	r, ok := model.ParseReference(ref)
	if !ok {
		return Value{}, false
	}
	return Value{Data: map[string]any{"resourceType": r.Type, "id": r.ID}, Type: r.Type, fhir: true}, true
}

func resourceValue(m map[string]any) Value {
	t, _ := m["resourceType"].(string)
	return Value{Data: m, Type: t, fhir: true}
}

func containedByID(root Value, id string) (Value, bool) {
	rm, _ := root.Data.(map[string]any)
	contained, _ := rm["contained"].([]any)
	for _, c := range contained {
		if cm, ok := c.(map[string]any); ok && cm["id"] == id {
			return resourceValue(cm), true
		}
	}
	return Value{}, false
}

// bundleEntry finds the entry of Bundle root that ref names: by fullUrl, or by type and id.
func bundleEntry(root Value, ref string) (Value, bool) {
	rm, _ := root.Data.(map[string]any)
	if rm["resourceType"] != "Bundle" {
		return Value{}, false
	}
	entries, _ := rm["entry"].([]any)
	parsed, relative := model.ParseReference(ref)
	for _, en := range entries {
		em, _ := en.(map[string]any)
		res, _ := em["resource"].(map[string]any)
		if res == nil {
			continue
		}
		if full, _ := em["fullUrl"].(string); full != "" && full == ref {
			return resourceValue(res), true
		}
		if relative && res["resourceType"] == parsed.Type && res["id"] == parsed.ID {
			return resourceValue(res), true
		}
	}
	return Value{}, false
}

// fnMemberOf asks the caller's Terminology whether the code, Coding or CodeableConcept (any
// of its codings) is in the value set; empty when there is no Terminology or it cannot tell.
func fnMemberOf(e *env, c *callNode, in []Value) ([]Value, error) {
	vs, ok, err := stringArg(e, c, 0)
	if err != nil || !ok {
		return nil, err
	}
	v, ok, err := singleton(in, "memberOf()")
	if err != nil || !ok || e.opts.Terminology == nil {
		return nil, err
	}
	var codings [][2]string
	switch d := v.Data.(type) {
	case string:
		codings = append(codings, [2]string{"", d})
	case map[string]any:
		if cs, ok := d["coding"].([]any); ok {
			for _, x := range cs {
				if cm, ok := x.(map[string]any); ok {
					codings = append(codings, codingOf(cm))
				}
			}
		} else if _, ok := d["code"]; ok {
			codings = append(codings, codingOf(d))
		}
	}
	unknown := false
	for _, sc := range codings {
		if sc[1] == "" {
			continue
		}
		in, known := e.opts.Terminology.Contains(vs, sc[0], sc[1])
		if known && in {
			return boolResult(true), nil
		}
		unknown = unknown || !known
	}
	if unknown {
		return nil, nil
	}
	return boolResult(false), nil
}

func codingOf(m map[string]any) [2]string {
	s, _ := m["system"].(string)
	c, _ := m["code"].(string)
	return [2]string{s, c}
}

// fnConformsTo asks the caller's Profiles whether the single input conforms to a profile;
// empty when there are no Profiles or they cannot tell.
func fnConformsTo(e *env, c *callNode, in []Value) ([]Value, error) {
	url, ok, err := stringArg(e, c, 0)
	if err != nil || !ok {
		return nil, err
	}
	v, ok, err := singleton(in, "conformsTo()")
	if err != nil || !ok || e.opts.Profiles == nil {
		return nil, err
	}
	conforms, known := e.opts.Profiles.ConformsTo(v, url)
	if !known {
		return nil, nil
	}
	return boolResult(conforms), nil
}

// systemNames maps the types of computed values to their FHIRPath System type names.
var systemNames = map[string]string{
	"boolean": "Boolean", "integer": "Integer", "decimal": "Decimal", "string": "String",
	"date": "Date", "dateTime": "DateTime", "time": "Time", "Quantity": "Quantity",
}

// fnType returns the type of each item as the specification's reflection describes it: an
// object with namespace (FHIR for values read from a resource, System for computed ones)
// and name.
func fnType(_ *env, _ *callNode, in []Value) ([]Value, error) {
	out := make([]Value, 0, len(in))
	for _, v := range in {
		ns, name := "FHIR", typeOf(v)
		if !v.fhir {
			ns = "System"
			if s, ok := systemNames[name]; ok {
				name = s
			}
		}
		if name == "" {
			continue
		}
		out = append(out, Value{Data: map[string]any{"namespace": ns, "name": name}, Type: "TypeInfo"})
	}
	return out, nil
}

// xhtmlNS is the namespace of FHIR narrative.
const xhtmlNS = "http://www.w3.org/1999/xhtml"

// narrativeElements are the XHTML elements FHIR narrative may use.
var narrativeElements = setOf("a abbr acronym address area b bdo big blockquote br caption cite code col colgroup " +
	"dd dfn div dl dt em h1 h2 h3 h4 h5 h6 hr i img kbd li map ol p pre q samp small span strong sub sup " +
	"table tbody td tfoot th thead tr tt ul var")

// narrativeAttributes are the attributes narrative elements may carry: presentation and
// linking, never event handlers (on*).
var narrativeAttributes = setOf("abbr accesskey align alt axis bgcolor border cellhalign cellpadding cellspacing " +
	"cellvalign char charoff charset class colspan compact coords dir frame headers height href hreflang hspace id " +
	"lang longdesc name nowrap rel rev rowspan rules scope shape span src start style summary tabindex target title " +
	"type usemap valign value vspace width xmlns")

func setOf(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}

// htmlError is why a narrative fails SafeXHTML.
type htmlError string

func (e htmlError) Error() string { return string(e) }

// SafeXHTML checks a narrative div under FHIR's rules: well-formed XHTML whose root is a div
// in the XHTML namespace, only the permitted elements and attributes (so no script, object,
// iframe, form or event handler), href and src not javascript:, vbscript: or data: other
// than images. It returns the first violation.
func SafeXHTML(div string) error {
	d := xml.NewDecoder(strings.NewReader(div))
	d.Strict, d.Entity = true, xml.HTMLEntity
	depth := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return htmlError("narrative is not well-formed XHTML")
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 && (t.Name.Local != "div" || t.Name.Space != xhtmlNS) {
				return htmlError("narrative must be a div in the XHTML namespace")
			}
			if !narrativeElements[t.Name.Local] || t.Name.Space != xhtmlNS {
				return htmlError("narrative element " + t.Name.Local + " is not permitted")
			}
			for _, a := range t.Attr {
				if err := checkAttr(a); err != nil {
					return err
				}
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && strings.TrimSpace(string(t)) != "" {
				return htmlError("narrative has text outside its div")
			}
		case xml.ProcInst, xml.Directive:
			return htmlError("narrative may not hold processing instructions or declarations")
		}
	}
	return nil
}

func checkAttr(a xml.Attr) error {
	name := a.Name.Local
	switch a.Name.Space {
	case "", xhtmlNS:
	case "xmlns", "http://www.w3.org/XML/1998/namespace", "xml":
		return nil // namespace declarations, xml:lang
	default:
		return htmlError("narrative attribute " + name + " is not permitted")
	}
	if !narrativeAttributes[name] {
		return htmlError("narrative attribute " + name + " is not permitted")
	}
	if name == "style" {
		if st := strings.ToLower(a.Value); strings.Contains(st, "javascript:") || strings.Contains(st, "expression(") {
			return htmlError("narrative style may not hold script")
		}
	}
	if name == "href" || name == "src" || name == "longdesc" || name == "usemap" {
		u := strings.ToLower(strings.Map(func(r rune) rune {
			if r <= ' ' {
				return -1 // browsers ignore control characters and spaces in schemes
			}
			return r
		}, a.Value))
		if strings.HasPrefix(u, "javascript:") || strings.HasPrefix(u, "vbscript:") ||
			strings.HasPrefix(u, "data:") && !strings.HasPrefix(u, "data:image/") {
			return htmlError("narrative " + name + " may not hold a script URL")
		}
	}
	return nil
}
