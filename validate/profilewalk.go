package validate

import (
	"bytes"
	"context"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/fhirgate/fhirgate/internal/jsontree"
)

// ValidateProfiles checks one resource (JSON) against the base specification, then against
// each profile its meta.profile names and each of profiles, found in src; and it checks
// every extension of the resource against its own definition when src knows its URL. An
// unknown profile named by the caller is an error; one named by meta.profile, and an unknown
// extension, are warnings, as the HL7 validator reports them.
func (v *Validator) ValidateProfiles(ctx context.Context, data []byte, src ProfileSource, profiles ...string) *Outcome {
	res, err := jsontree.DecodeObject(data)
	if err != nil || res == nil {
		return v.Validate(data)
	}
	out := v.ValidateMap(res)
	if src == nil {
		return out
	}
	w := &walker{v: v, out: out, resources: []map[string]any{res}}
	pw := &pwalk{w: w, ctx: ctx, src: src, checked: map[string]bool{}}
	rt, _ := res["resourceType"].(string)
	seen := map[string]bool{}
	apply := func(url string, named bool) {
		if seen[url] {
			return
		}
		seen[url] = true
		p, err := src.Profile(ctx, url)
		switch {
		case err != nil:
			w.issue(SeverityError, "exception", rt, "The profile %s could not be looked up.", truncate(url))
		case p == nil && named:
			w.issue(SeverityError, "not-found", rt, "The profile %s is not known to this server.", truncate(url))
		case p == nil:
			w.issue(SeverityWarning, "not-found", rt+".meta.profile", "The profile %s is not known to this server; the resource was not checked against it.", truncate(url))
		case p.Type != rt:
			w.issue(SeverityError, "structure", rt, "The profile %s constrains %s, not %s.", truncate(url), p.Type, rt)
		default:
			pw.apply(res, p, rt)
		}
	}
	for _, url := range profiles {
		apply(url, true)
	}
	if meta, ok := res["meta"].(map[string]any); ok {
		list, _ := meta["profile"].([]any)
		for _, u := range list {
			if s, ok := u.(string); ok {
				apply(s, false)
			}
		}
	}
	pw.extensions(res, rt)
	return out
}

// pwalk is one walk of a resource against profiles. It reports through the base walker.
type pwalk struct {
	w   *walker
	ctx context.Context
	src ProfileSource
	p   *Profile // the profile being walked, for the messages
	// checked holds the locations of the extensions already checked against their
	// definitions through a profile's slices.
	checked map[string]bool
	depth   int
}

// maxProfileDepth bounds profiles applied within profiles (an extension's definition inside a
// profile): a definition that refers to itself ends here.
const maxProfileDepth = 8

// pitem is one value of an element: its JSON, its FHIR type and its location.
type pitem struct {
	val any
	typ string
	loc string
}

// from is the suffix naming the profile of a finding.
func (pw *pwalk) from() string {
	if pw.p == nil {
		return ""
	}
	ref := pw.p.URL
	if pw.p.Version != "" {
		ref += "|" + pw.p.Version
	}
	return " (from " + ref + ")"
}

func (pw *pwalk) issue(sev, code, loc, format string, args ...any) {
	pw.w.issue(sev, code, loc, format+"%s", append(args, pw.from())...)
}

// object checks the properties of obj, an instance of the profile element n whose base
// element path is base (a type name, or a backbone element's path).
func (pw *pwalk) object(obj map[string]any, n *pnode, base, loc string) {
	for _, c := range n.children {
		bel := pw.w.v.baseElement(base, c.name)
		items := pw.values(obj, c, bel, loc)
		pw.element(items, c, bel, loc)
	}
}

// baseElement returns the base specification's element name below the element (or type)
// at path base, or nil.
func (v *Validator) baseElement(base, name string) *ElementDef {
	typ, _, _ := strings.Cut(base, ".")
	ix := v.types[typ]
	if ix == nil {
		return nil
	}
	return ix.byPath[base+"."+name]
}

// values returns the values of element c in obj. A value of a choice element whose type the
// profile does not allow is reported here.
func (pw *pwalk) values(obj map[string]any, c *pnode, bel *ElementDef, loc string) []pitem {
	var out []pitem
	add := func(key, typ, iloc string) {
		v, ok := obj[key]
		if !ok {
			if _, comp := obj["_"+key]; !comp {
				return
			}
		}
		if list, ok := v.([]any); ok {
			for i, it := range list {
				out = append(out, pitem{val: it, typ: typ, loc: iloc + "[" + strconv.Itoa(i) + "]"})
			}
			return
		}
		out = append(out, pitem{val: v, typ: typ, loc: iloc})
	}
	name, choice := strings.CutSuffix(c.name, "[x]")
	if !choice {
		add(name, pw.typeOf(c, bel), loc+"."+name)
		return out
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		suffix, ok := strings.CutPrefix(k, name)
		if !ok || suffix == "" || suffix[0] < 'A' || suffix[0] > 'Z' {
			continue
		}
		code := pw.choiceType(suffix, bel)
		if code == "" {
			continue // the base walk reports unknown elements
		}
		iloc := loc + "." + name + ".ofType(" + code + ")"
		if !c.allows(code) {
			pw.issue(SeverityError, "structure", iloc, "The type %s is not allowed for %s; the profile allows %s", code, c.id, c.typeList())
			continue
		}
		add(k, code, iloc)
	}
	return out
}

// choiceType is the type code a choice key's suffix names (Quantity, string), or "".
func (pw *pwalk) choiceType(suffix string, bel *ElementDef) string {
	if bel == nil {
		return ""
	}
	for _, t := range bel.Types {
		if upperFirst(t.Code) == suffix {
			return t.Code
		}
	}
	return ""
}

// typeOf is the FHIR type of a non-choice element's values.
func (pw *pwalk) typeOf(c *pnode, bel *ElementDef) string {
	if len(c.types) == 1 {
		return c.types[0].Code
	}
	if bel != nil && len(bel.Types) == 1 {
		return bel.Types[0].Code
	}
	return ""
}

func (n *pnode) allows(code string) bool {
	if len(n.types) == 0 {
		return true
	}
	for _, t := range n.types {
		if t.Code == code {
			return true
		}
	}
	return false
}

func (n *pnode) typeList() string {
	var s []string
	for _, t := range n.types {
		s = append(s, t.Code)
	}
	return strings.Join(s, " | ")
}

// element checks the values of one element: cardinality, must-support, slices, and each value.
func (pw *pwalk) element(items []pitem, c *pnode, bel *ElementDef, loc string) {
	eloc := loc + "." + strings.TrimSuffix(c.name, "[x]")
	pw.cardinality(len(items), c, bel, eloc)
	if len(c.slices) > 0 && c.slicing != nil {
		pw.sliced(items, c, bel, eloc)
		return
	}
	for _, it := range items {
		pw.item(it, c, bel)
	}
}

// cardinality reports the count of an element's (or a slice's) values outside what the
// profile allows, when the profile is stricter than the base (the base walk reports the rest),
// and a must-support element that is absent, as information.
func (pw *pwalk) cardinality(n int, c *pnode, bel *ElementDef, loc string) {
	baseMin, baseMax := 0, "*"
	if bel != nil {
		baseMin, baseMax = bel.Min, bel.Max
	}
	isSlice := strings.Contains(c.id[strings.LastIndexByte(c.id, '.')+1:], ":")
	if n < c.min && (c.min > baseMin || isSlice) {
		pw.issue(SeverityError, "required", loc, "%s: minimum required = %d, but only found %d", c.id, c.min, n)
	}
	if c.max != "*" && c.max != "" && (c.max != baseMax || isSlice) {
		if m, err := strconv.Atoi(c.max); err == nil && n > m {
			pw.issue(SeverityError, "structure", loc, "%s: maximum allowed = %d, but found %d", c.id, m, n)
		}
	}
	if n == 0 && c.must && c.min == 0 {
		pw.issue(SeverityInformation, "informational", loc, "mustSupport element %s is absent", c.id)
	}
}

// sliced checks the values of a sliced element: each value goes to the first slice its
// discriminators match; each slice's cardinality, closed and ordered slicing are checked.
func (pw *pwalk) sliced(items []pitem, c *pnode, bel *ElementDef, loc string) {
	assigned := make([]int, len(items))
	counts := make([]int, len(c.slices))
	for i, it := range items {
		assigned[i] = -1
		for si, s := range c.slices {
			if pw.matches(it, s, c.slicing) {
				assigned[i] = si
				counts[si]++
				break
			}
		}
	}
	for si, s := range c.slices {
		pw.cardinality(counts[si], s, bel, loc)
	}
	last := -1
	for i, it := range items {
		si := assigned[i]
		if si < 0 {
			switch c.slicing.Rules {
			case "closed":
				pw.issue(SeverityError, "structure", it.loc, "This element does not match any known slice of %s, and the slicing is closed", c.id)
			case "openAtEnd":
				if i < len(items)-1 && slices.ContainsFunc(assigned[i+1:], func(x int) bool { return x >= 0 }) {
					pw.issue(SeverityError, "structure", it.loc, "This element does not match any known slice of %s, and unmatched elements must come after the slices (openAtEnd)", c.id)
				}
			}
			pw.item(it, c, bel)
			continue
		}
		if c.slicing.Ordered && si < last {
			pw.issue(SeverityError, "structure", it.loc, "The slices of %s must be in order: %s comes after %s", c.id, c.slices[si].id, c.slices[last].id)
		}
		last = max(last, si)
		pw.item(it, c.slices[si], bel)
	}
}

// matches reports whether a value belongs to slice s under the discriminators of sl.
func (pw *pwalk) matches(it pitem, s *pnode, sl *slicing) bool {
	if len(sl.Discriminator) == 0 {
		return false
	}
	for _, d := range sl.Discriminator {
		switch d.Type {
		case "value", "pattern":
			want, isPattern, ok := s.expected(d.Path)
			if !ok {
				// A slice told apart by a required binding: its values are in the value set.
				if !pw.inBinding(navigate(it.val, d.Path), s, d.Path) {
					return false
				}
				continue
			}
			found := false
			for _, got := range navigate(it.val, d.Path) {
				if isPattern && matchesPattern(got, want) || !isPattern && reflect.DeepEqual(got, want) {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		case "exists":
			sub := s
			if d.Path != "$this" {
				sub = s.find(d.Path)
			}
			if sub == nil {
				return false
			}
			present := len(navigate(it.val, d.Path)) > 0
			if sub.min > 0 && !present || sub.max == "0" && present {
				return false
			}
		case "type":
			if d.Path != "$this" {
				return false
			}
			typ := it.typ
			if m, ok := it.val.(map[string]any); ok && m["resourceType"] != nil {
				typ, _ = m["resourceType"].(string)
			}
			if !s.allows(typ) {
				return false
			}
		case "profile":
			if !pw.conformsToSlice(it, s, d.Path) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// expected returns the value a value or pattern discriminator at path expects of slice s:
// the fixed or pattern value of the slice's element there, or the URL of an extension
// slice's definition for "url".
func (s *pnode) expected(path string) (want any, isPattern, ok bool) {
	n := s
	if path != "$this" {
		n = s.find(path)
	}
	if n != nil {
		if len(n.fixed) > 0 {
			v, ok := decodeJSON(n.fixed)
			return v, false, ok
		}
		if len(n.pattern) > 0 {
			v, ok := decodeJSON(n.pattern)
			return v, true, ok
		}
	}
	if path == "url" && len(s.types) == 1 && s.types[0].Code == "Extension" && len(s.types[0].Profile) > 0 {
		return versionless(s.types[0].Profile[0]), false, true
	}
	return nil, false, false
}

// inBinding reports whether some value is in the value set of a required binding on the
// slice's element at path: a code, a Coding, or a CodeableConcept with such a coding.
func (pw *pwalk) inBinding(vals []any, s *pnode, path string) bool {
	n := s
	if path != "$this" {
		n = s.find(path)
	}
	if n == nil || n.binding == nil || n.binding.Strength != "required" {
		return false
	}
	in := func(system, code string) bool {
		ok, known := pw.w.v.terms.Contains(n.binding.ValueSet, system, code)
		return ok && known
	}
	for _, v := range vals {
		switch x := v.(type) {
		case string:
			if in("", x) {
				return true
			}
		case map[string]any:
			codings := []any{x}
			if list, ok := x["coding"].([]any); ok {
				codings = list
			}
			for _, c := range codings {
				m, _ := c.(map[string]any)
				system, _ := m["system"].(string)
				code, _ := m["code"].(string)
				if code != "" && in(system, code) {
					return true
				}
			}
		}
	}
	return false
}

// navigate returns the JSON values at a dotted path of element names below v ($this is v
// itself); a name also reaches a choice element's value (value: valueQuantity).
func navigate(v any, path string) []any {
	cur := []any{v}
	if path == "$this" {
		return cur
	}
	for _, seg := range strings.Split(path, ".") {
		var next []any
		for _, c := range cur {
			m, ok := c.(map[string]any)
			if !ok {
				continue
			}
			val, ok := m[seg]
			if !ok {
				for k, x := range m {
					if suffix, ok := strings.CutPrefix(k, seg); ok && suffix != "" && suffix[0] >= 'A' && suffix[0] <= 'Z' {
						val = x
						break
					}
				}
			}
			if list, ok := val.([]any); ok {
				next = append(next, list...)
			} else if val != nil {
				next = append(next, val)
			}
		}
		cur = next
	}
	return cur
}

// conformsToSlice is the profile discriminator: the value conforms to the profile the
// slice's type names.
func (pw *pwalk) conformsToSlice(it pitem, s *pnode, path string) bool {
	if path != "$this" || len(s.types) == 0 || len(s.types[0].Profile) == 0 {
		return false
	}
	obj, ok := it.val.(map[string]any)
	if !ok {
		return false
	}
	p, err := pw.src.Profile(pw.ctx, s.types[0].Profile[0])
	if err != nil || p == nil {
		return false
	}
	scratch := &walker{v: pw.w.v, out: &Outcome{}, resources: pw.w.resources}
	sub := &pwalk{w: scratch, ctx: pw.ctx, src: pw.src, checked: map[string]bool{}, depth: pw.depth + 1}
	if sub.depth > maxProfileDepth {
		return false
	}
	sub.apply(obj, p, it.loc)
	return !scratch.out.HasErrors()
}

// item checks one value against the profile element c (a slice, or the element itself).
func (pw *pwalk) item(it pitem, c *pnode, bel *ElementDef) {
	w := pw.w
	if len(c.fixed) > 0 && (bel == nil || !bytes.Equal(c.fixed, bel.Fixed)) ||
		len(c.pattern) > 0 && (bel == nil || !bytes.Equal(c.pattern, bel.Pattern)) {
		before := len(w.out.Issues)
		w.fixedPattern(it.val, &ElementDef{Fixed: c.fixed, Pattern: c.pattern}, it.loc)
		pw.tag(before)
	}
	obj, isObj := it.val.(map[string]any)
	if c.binding != nil && (bel == nil || bel.Binding == nil || *bel.Binding != *c.binding) {
		before := len(w.out.Issues)
		el := &ElementDef{Path: c.path, Binding: c.binding}
		switch {
		case isObj && (it.typ == "Coding" || it.typ == "CodeableConcept"):
			w.binding(obj, it.typ, el, it.loc)
		case isObj && it.typ == "Quantity":
			if code, ok := obj["code"].(string); ok {
				system, _ := obj["system"].(string)
				w.bindCode(el, system, code, it.loc)
			}
		default:
			if s, ok := it.val.(string); ok {
				w.bindCode(el, "", s, it.loc)
			}
		}
		pw.tag(before)
	}
	if isObj {
		pw.typeProfiles(obj, it, c, bel)
	}
	pw.invariants(c, bel, it.val, pw.focusType(it, bel), it.loc)
	if isObj && len(c.children) > 0 {
		pw.object(obj, c, pw.childBase(it, bel), it.loc)
	}
}

// tag adds the profile's name to the issues reported since before.
func (pw *pwalk) tag(before int) {
	for i := before; i < len(pw.w.out.Issues); i++ {
		pw.w.out.Issues[i].Diagnostics += pw.from()
	}
}

// childBase is the base path of a value's children: the backbone element's path, or its type.
func (pw *pwalk) childBase(it pitem, bel *ElementDef) string {
	if bel != nil {
		if bel.ContentRef != "" {
			return bel.ContentRef
		}
		if len(bel.Types) == 1 && (bel.Types[0].Code == "BackboneElement" || bel.Types[0].Code == "Element") {
			return bel.Path
		}
	}
	return it.typ
}

// focusType is the type of a value as its invariants see it.
func (pw *pwalk) focusType(it pitem, bel *ElementDef) string {
	if bel != nil {
		if t, ok := pw.w.v.backbones[pw.childBase(it, bel)]; ok {
			return t
		}
	}
	return it.typ
}

// invariants evaluates the invariants the profile adds to element c (those of the base
// element are evaluated by the base walk).
func (pw *pwalk) invariants(c *pnode, bel *ElementDef, focus any, focusType, loc string) {
	for _, key := range c.keys {
		if bel != nil && pw.baseHas(bel, key) {
			continue
		}
		inv, ok := pw.p.inv[key]
		if !ok {
			continue
		}
		pw.w.invariant(&inv, focus, focusType, loc, pw.from())
	}
}

func (pw *pwalk) baseHas(bel *ElementDef, key string) bool {
	for _, i := range bel.Constraints {
		if pw.w.v.consts[i].Key == key {
			return true
		}
	}
	// The invariants of a type hold on every element of that type (ele-1, ext-1).
	if len(bel.Types) == 1 {
		if tix := pw.w.v.types[bel.Types[0].Code]; tix != nil {
			for _, i := range tix.root.Constraints {
				if pw.w.v.consts[i].Key == key {
					return true
				}
			}
		}
	}
	return false
}

// typeProfiles checks what the element's type names: the targets a Reference may point at,
// and the definition an Extension must meet.
func (pw *pwalk) typeProfiles(obj map[string]any, it pitem, c *pnode, bel *ElementDef) {
	for _, t := range c.types {
		if t.Code != it.typ {
			continue
		}
		if it.typ == "Reference" && len(t.TargetProfile) > 0 {
			pw.targets(obj, it, c, t.TargetProfile)
		}
		if it.typ == "Extension" && len(t.Profile) > 0 {
			pw.extension(obj, t.Profile[0], it.loc, true)
		}
	}
}

// targets checks a literal reference against the types of the target profiles.
func (pw *pwalk) targets(obj map[string]any, it pitem, c *pnode, profiles []string) {
	var types []string
	for _, url := range profiles {
		if t, ok := strings.CutPrefix(versionless(url), "http://hl7.org/fhir/StructureDefinition/"); ok && pw.w.v.types[t] != nil {
			types = append(types, t)
			continue
		}
		p, err := pw.src.Profile(pw.ctx, url)
		if err != nil || p == nil {
			return // a target the server cannot resolve: not checked
		}
		types = append(types, p.Type)
	}
	before := len(pw.w.out.Issues)
	pw.w.reference(obj, &child{el: &ElementDef{Path: c.path}, typ: TypeRef{Code: "Reference", Targets: types}}, it.loc)
	pw.tag(before)
}

// extension checks an extension against the definition at url. An unknown URL is a warning.
func (pw *pwalk) extension(obj map[string]any, url, loc string, fromSlice bool) {
	pw.checked[loc] = true
	p, err := pw.src.Profile(pw.ctx, url)
	if err != nil || p == nil {
		if fromSlice {
			pw.issue(SeverityWarning, "not-found", loc, "The definition of the extension %s is not known to this server; the extension was not checked against it", truncate(url))
		} else {
			pw.w.issue(SeverityWarning, "not-found", loc, "Unknown extension %s: its definition is not known to this server, so it was not checked.", truncate(url))
		}
		return
	}
	if p.Type != "Extension" {
		pw.w.issue(SeverityError, "structure", loc, "%s is a profile of %s, not an extension definition.", truncate(url), p.Type)
		return
	}
	if pw.depth >= maxProfileDepth {
		return
	}
	sub := &pwalk{w: pw.w, ctx: pw.ctx, src: pw.src, checked: pw.checked, depth: pw.depth + 1}
	sub.apply(obj, p, loc)
}

// apply checks a resource or a data type value (an extension) at loc against p.
func (pw *pwalk) apply(obj map[string]any, p *Profile, loc string) {
	saved := pw.p
	pw.p = p
	defer func() { pw.p = saved }()
	root := pw.w.v.types[p.Type].root
	pw.invariants(p.root, root, obj, p.Type, loc)
	pw.object(obj, p.root, p.Type, loc)
}

// extensions checks every extension of the resource that no profile's slice has checked
// against its definition: known URLs against their definitions, unknown ones reported. An
// extension's own extensions belong to its definition and are not visited here.
func (pw *pwalk) extensions(v any, loc string) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			name := strings.TrimPrefix(k, "_")
			kloc := loc + "." + name
			if (name == "extension" || name == "modifierExtension") && k == name {
				list, _ := x[k].([]any)
				for i, e := range list {
					eloc := kloc + "[" + strconv.Itoa(i) + "]"
					m, ok := e.(map[string]any)
					url, _ := m["url"].(string)
					if !ok || url == "" || pw.checked[eloc] {
						continue
					}
					pw.extension(m, url, eloc, false)
				}
				continue
			}
			pw.extensions(x[k], kloc)
		}
	case []any:
		for i, e := range x {
			pw.extensions(e, loc+"["+strconv.Itoa(i)+"]")
		}
	}
}
