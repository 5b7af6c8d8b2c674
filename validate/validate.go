// Package validate checks FHIR R4 resources, as JSON, against StructureDefinitions: the
// base specification's (Base), and profiles (Profile: a StructureDefinition snapshot, from a
// loaded FHIR package or stored on the server, found through a ProfileSource). It reports
// every issue it finds in one Outcome, each with its FHIRPath location, the way the HL7
// reference validator does: cardinality, unknown elements, JSON kinds and primitive
// formats, fixed and pattern values, value-set bindings (required: error; extensible and
// preferred: warning; only for value sets the server's terminology can evaluate), reference
// target types, narrative safety, and every invariant (constraint.expression, evaluated by
// an Engine).
//
// A profile is walked on top of the base checks and reports only what it adds: stricter
// cardinality, fixed and pattern values, bindings, type and target restrictions, its own
// invariants, slicing (value, pattern, type, profile and exists discriminators; slice
// cardinality; closed, ordered and openAtEnd rules), extensions against their own
// definitions (an unknown extension URL is a warning), and must-support elements that are
// absent (information). Profiles given only as a differential are not supported: there is
// no snapshot generation (ErrNoSnapshot).
//
// Writes are validated in storage.Store.Commit (a Guard is the store's Validator), the one
// place every write passes through; a resource naming profiles in meta.profile is checked
// against them too (an unknown one is a warning).
package validate

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/fhirgate/fhirgate/fhirpath"
	"github.com/fhirgate/fhirgate/internal/jsontree"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/terminology"
)

// Terminology answers value-set membership for bindings and memberOf().
type Terminology interface {
	// Contains reports whether code is in the value set (canonical URL, optionally with
	// |version): in system, or, when system is "", in any of its systems (a bare code
	// element). known is false when it cannot tell (a value set drawing on SNOMED CT or
	// LOINC by filter, an unknown one): the binding is then not checked.
	Contains(valueSet, system, code string) (in, known bool)
}

// Validator checks resources. It is safe for concurrent use.
type Validator struct {
	types  map[string]*typeIndex
	consts []Constraint
	terms  Terminology
	inv    []invariant // by constraint index
	regex  map[string]*regexp.Regexp
	// unevaluable lists the constraints the engine could not compile, with the reason.
	unevaluable map[string]string
	// backbones maps a backbone element's path to its type name (Observation.referenceRange
	// is ObservationReferenceRange), the focus type of its invariants.
	backbones map[string]string
}

// Option configures a Validator.
type Option func(*config)

type config struct {
	terms  Terminology
	engine Engine
}

// WithTerminology makes the validator check bindings with t instead of the server's
// registry (terminology.Default()).
func WithTerminology(t Terminology) Option { return func(c *config) { c.terms = t } }

// WithEngine makes the validator evaluate invariants with e.
func WithEngine(e Engine) Option { return func(c *config) { c.engine = e } }

// New builds a validator for defs (Base() for the base specification).
func New(defs *Definitions, opts ...Option) (*Validator, error) {
	cfg := config{}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.terms == nil {
		cfg.terms = registryTerms{terminology.Default()}
	}
	if cfg.engine == nil {
		cfg.engine = fhirpathEngine{terms: cfg.terms}
	}
	v := &Validator{types: map[string]*typeIndex{}, consts: defs.Constraints, terms: cfg.terms,
		regex: map[string]*regexp.Regexp{}, unevaluable: map[string]string{}, backbones: map[string]string{}}
	for name, td := range defs.Types {
		ix, err := buildIndex(name, td)
		if err != nil {
			return nil, err
		}
		v.types[name] = ix
		if td.Kind == "primitive-type" && td.Regex != "" {
			re, err := regexp.Compile(`^(?:` + td.Regex + `)$`)
			if err != nil {
				return nil, fmt.Errorf("validate: %s format: %w", name, err)
			}
			v.regex[name] = re
		}
	}
	for _, ix := range v.types {
		for _, m := range ix.children {
			for _, c := range m {
				if c.inner != "" {
					if t, ok := fhirpath.PathType(c.inner); ok && t != "" {
						v.backbones[c.inner] = t
					} else {
						v.backbones[c.inner] = "BackboneElement"
					}
				}
			}
		}
	}
	v.inv = make([]invariant, len(defs.Constraints))
	for i, c := range defs.Constraints {
		v.inv[i] = compileInvariant(cfg.engine, c)
		if v.inv[i].err != nil {
			v.unevaluable[c.Key] = v.inv[i].err.Error()
		}
	}
	return v, nil
}

// Unevaluable returns the invariants (by key) whose expressions the engine cannot
// evaluate, with the reason; they are skipped.
func (v *Validator) Unevaluable() map[string]string { return v.unevaluable }

// Validate checks one resource given as JSON.
func (v *Validator) Validate(data []byte) *Outcome {
	res, err := jsontree.Decode(data)
	if err != nil {
		return &Outcome{Issues: []Issue{{Severity: SeverityError, Code: "structure", Diagnostics: "The resource is not valid JSON: " + err.Error()}}}
	}
	m, ok := res.(map[string]any)
	if !ok {
		return &Outcome{Issues: []Issue{{Severity: SeverityError, Code: "structure", Diagnostics: "A resource is a JSON object."}}}
	}
	return v.ValidateMap(m)
}

// ValidateMap checks one resource decoded with encoding/json (numbers as json.Number).
func (v *Validator) ValidateMap(res map[string]any) *Outcome {
	w := &walker{v: v, out: &Outcome{}}
	rt, _ := res["resourceType"].(string)
	w.resource(res, rt, rt)
	return w.out
}

// walker holds the state of one validation.
type walker struct {
	v   *Validator
	out *Outcome
	// stack of enclosing resources: the innermost is %resource, the outermost %rootResource.
	resources []map[string]any
	// visit, set by tests, sees each complex node with the invariants that apply to it and
	// the kinds of node it is (ty:Period, el:Observation.referenceRange).
	visit func(node map[string]any, constraints []int, kinds []string)
}

func (w *walker) issue(sev, code, loc, format string, args ...any) {
	w.out.Issues = append(w.out.Issues, Issue{Severity: sev, Code: code, Expression: loc, Diagnostics: fmt.Sprintf(format, args...)})
}

// resource checks a resource at loc (its type name at the root, Bundle.entry[0].resource
// inside another).
func (w *walker) resource(res map[string]any, rt, loc string) {
	ix := w.v.types[rt]
	if rt == "" || ix == nil || ix.def.Kind != "resource" || ix.def.Abstract {
		w.issue(SeverityError, "structure", loc, "Unknown resource type %q.", rt)
		return
	}
	w.resources = append(w.resources, res)
	defer func() { w.resources = w.resources[:len(w.resources)-1] }()
	w.object(res, ix, rt, loc, true)
	if w.visit != nil {
		w.visit(res, ix.root.Constraints, []string{"ty:" + rt})
	}
	w.invariants(res, ix.root.Constraints, rt, loc)
}

// object checks the properties of a JSON object whose element path in ix is path.
func (w *walker) object(obj map[string]any, ix *typeIndex, path, loc string, isResource bool) {
	children := ix.children[path]
	seen := map[*ElementDef]string{}
	for key, val := range obj {
		if key == "resourceType" && isResource {
			continue
		}
		name := key
		companion := false
		if strings.HasPrefix(key, "_") {
			name, companion = key[1:], true
		}
		c := children[name]
		if c == nil {
			w.issue(SeverityError, "structure", loc+"."+key, "unknown element %q.", key)
			continue
		}
		if companion && !w.isPrimitive(c.typ.Code) {
			w.issue(SeverityError, "structure", loc+"."+key, "unknown element %q: %s is not a primitive.", key, name)
			continue
		}
		if prev, dup := seen[c.el]; dup && prev != name && c.choice {
			w.issue(SeverityError, "structure", loc+"."+c.name, "Only one of %s and %s may be present.", prev, name)
			continue
		}
		seen[c.el] = name
		if companion {
			continue // visited with its value below
		}
		w.property(obj, key, val, c, ix, loc)
	}
	// Companions without a value.
	for key := range obj {
		if strings.HasPrefix(key, "_") {
			if _, ok := obj[key[1:]]; !ok {
				if c := children[key[1:]]; c != nil && w.isPrimitive(c.typ.Code) {
					w.property(obj, key[1:], nil, c, ix, loc)
				}
			}
		}
	}
	for _, el := range ix.elements[path] {
		if el.Min == 0 {
			continue
		}
		if _, ok := seen[el]; ok {
			continue
		}
		name := el.Path[strings.LastIndexByte(el.Path, '.')+1:]
		name = strings.TrimSuffix(name, "[x]")
		w.issue(SeverityError, "required", loc+"."+name, "%s: minimum required = %d, but only found 0.", el.Path, el.Min)
	}
}

// property checks one property: its cardinality, then each item.
func (w *walker) property(obj map[string]any, key string, val any, c *child, ix *typeIndex, loc string) {
	ploc := loc + "." + c.name
	if c.choice {
		ploc = loc + "." + c.name + ".ofType(" + c.typ.Code + ")"
	}
	if w.visit != nil && w.isPrimitive(c.typ.Code) {
		// A primitive's invariants are tried by changing it in its parent.
		w.visit(obj, c.el.Constraints, []string{"el:" + c.el.Path[:strings.LastIndexByte(c.el.Path, '.')]})
	}
	comp := obj["_"+key]
	items, ok := val.([]any)
	compItems, compOK := comp.([]any)
	switch {
	case val == nil && comp == nil:
		w.issue(SeverityError, "structure", ploc, "%s is null; omit empty elements.", key)
		return
	case c.many && (val != nil && !ok || comp != nil && !compOK):
		w.issue(SeverityError, "structure", ploc, "%s repeats: it must be a JSON array.", key)
		return
	case !c.many && (ok || compOK):
		w.issue(SeverityError, "structure", ploc, "%s does not repeat: it must not be a JSON array.", key)
		return
	}
	if !c.many {
		w.item(val, comp, c, ix, ploc)
		return
	}
	n := max(len(items), len(compItems))
	if val != nil && comp != nil && len(items) != len(compItems) {
		w.issue(SeverityError, "structure", ploc, "%s and _%s have different lengths.", key, key)
	}
	if n == 0 {
		w.issue(SeverityError, "structure", ploc, "%s is an empty array; omit empty elements.", key)
		return
	}
	if c.el.Max != "*" {
		if m, err := strconv.Atoi(c.el.Max); err == nil && n > m {
			w.issue(SeverityError, "structure", ploc, "%s: maximum allowed = %d, but found %d.", c.el.Path, m, n)
		}
	}
	for i := 0; i < n; i++ {
		var it, ct any
		if i < len(items) {
			it = items[i]
		}
		if i < len(compItems) {
			ct = compItems[i]
		}
		iloc := ploc + "[" + strconv.Itoa(i) + "]"
		if it == nil && ct == nil {
			w.issue(SeverityError, "structure", iloc, "Null items are only allowed where the companion _%s holds the item.", key)
			continue
		}
		w.item(it, ct, c, ix, iloc)
	}
}

// item checks one value (and, for primitives, its companion object) of a property.
func (w *walker) item(val, comp any, c *child, ix *typeIndex, loc string) {
	code := c.typ.Code
	switch {
	case c.inner != "":
		obj, ok := val.(map[string]any)
		if !ok {
			w.issue(SeverityError, "structure", loc, "%s must be a JSON object.", c.el.Path)
			return
		}
		w.object(obj, ix, c.inner, loc, false)
		w.ele1(obj, loc)
		cs := c.el.Constraints
		if c.el.ContentRef != "" {
			cs = mergeConstraints(cs, ix.byPath[c.inner].Constraints)
		}
		if w.visit != nil {
			w.visit(obj, cs, []string{"el:" + c.inner})
		}
		w.invariants(obj, cs, w.v.backbones[c.inner], loc)
	case code == "Resource" || code == "DomainResource" || w.v.types[code] != nil && w.v.types[code].def.Kind == "resource":
		obj, ok := val.(map[string]any)
		if !ok {
			w.issue(SeverityError, "structure", loc, "%s must be a resource (a JSON object).", c.el.Path)
			return
		}
		rt, _ := obj["resourceType"].(string)
		w.resource(obj, rt, loc)
	case w.isPrimitive(code):
		w.primitive(val, comp, code, c, loc)
	default:
		tix := w.v.types[code]
		obj, ok := val.(map[string]any)
		if tix == nil {
			w.issue(SeverityError, "structure", loc, "Unknown type %s.", code)
			return
		}
		if !ok {
			w.issue(SeverityError, "structure", loc, "%s is a %s: it must be a JSON object.", c.el.Path, code)
			return
		}
		w.object(obj, tix, code, loc, false)
		w.ele1(obj, loc)
		w.fixedPattern(val, c.el, loc)
		switch code {
		case "Extension":
			w.ext1(obj, loc)
		case "Reference":
			w.reference(obj, c, loc)
		case "Coding", "CodeableConcept":
			w.binding(obj, code, c.el, loc)
		case "Narrative":
			// txt-1 and txt-2 are checked on the div (native htmlChecks).
		}
		cs := mergeConstraints(c.el.Constraints, tix.root.Constraints)
		if w.visit != nil {
			w.visit(obj, cs, []string{"el:" + c.el.Path, "ty:" + code})
		}
		w.invariants(obj, cs, code, loc)
	}
}

func mergeConstraints(a, b []int) []int {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := append([]int(nil), a...)
	for _, x := range b {
		dup := false
		for _, y := range a {
			if x == y {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, x)
		}
	}
	return out
}

func (w *walker) isPrimitive(code string) bool {
	if code == "xhtml" {
		return true
	}
	t := w.v.types[code]
	return t != nil && t.def.Kind == "primitive-type"
}

// primitive checks a primitive value's JSON kind and format, its companion, binding and
// fixed or pattern value.
func (w *walker) primitive(val, comp any, code string, c *child, loc string) {
	if comp != nil {
		obj, ok := comp.(map[string]any)
		if !ok {
			w.issue(SeverityError, "structure", loc, "The companion of a primitive must be a JSON object.")
		} else if tix := w.v.types[code]; tix != nil {
			w.object(obj, tix, code, loc, false)
			if val == nil && len(obj) == 0 || val == nil && obj["extension"] == nil {
				w.ele1Issue(loc)
			}
		}
	}
	if val == nil {
		return
	}
	if msg := w.checkPrimitive(val, code); msg != "" {
		key := c.name
		if c.choice {
			key += upperFirst(code)
		}
		w.issue(SeverityError, "value", loc, "%s: %s", key, msg)
		return
	}
	if code == "xhtml" {
		if s, ok := val.(string); ok {
			for _, p := range htmlProblems(s) {
				w.out.Issues = append(w.out.Issues, Issue{Severity: SeverityError, Code: "invariant", Expression: loc, Key: p.key,
					Diagnostics: p.key + ": " + p.what + "."})
			}
		}
		return
	}
	w.fixedPattern(val, c.el, loc)
	w.invariants(val, c.el.Constraints, code, loc)
	if s, ok := val.(string); ok && (code == "code" || code == "uri" || code == "string" || code == "canonical") {
		w.bindCode(c.el, "", s, loc)
	}
}

// checkPrimitive returns what is wrong with a primitive value, or "".
func (w *walker) checkPrimitive(val any, code string) string {
	switch code {
	case "boolean":
		if _, ok := val.(bool); !ok {
			return fmt.Sprintf("A boolean must be JSON true or false, not %s.", describeJSON(val))
		}
		return ""
	case "integer", "positiveInt", "unsignedInt", "decimal":
		n, ok := val.(json.Number)
		if !ok {
			return fmt.Sprintf("A %s must be a JSON number, not %s.", code, describeJSON(val))
		}
		if code == "decimal" {
			if re := w.v.regex[code]; re != nil && !re.MatchString(string(n)) {
				return fmt.Sprintf("%q is not a valid decimal.", n)
			}
			return ""
		}
		i, err := strconv.ParseInt(string(n), 10, 32)
		switch {
		case err != nil:
			return fmt.Sprintf("%q is not a valid %s (a 32-bit integer).", n, code)
		case code == "positiveInt" && i < 1:
			return fmt.Sprintf("%d is not a valid positiveInt (it must be 1 or more).", i)
		case code == "unsignedInt" && i < 0:
			return fmt.Sprintf("%d is not a valid unsignedInt (it must be 0 or more).", i)
		}
		return ""
	}
	s, ok := val.(string)
	if !ok {
		return fmt.Sprintf("A %s must be a JSON string, not %s.", code, describeJSON(val))
	}
	if s == "" {
		return fmt.Sprintf("A %s must not be empty; omit the element instead.", code)
	}
	if re := w.v.regex[code]; re != nil && !re.MatchString(s) {
		return fmt.Sprintf("%q is not a valid %s.", truncate(s), code)
	}
	return ""
}

func describeJSON(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return "null"
}

func truncate(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// ele1 is the invariant ele-1 for complex elements, natively: an element has children
// other than its id. (hasValue() is false for a complex element, and children() counts
// every property; TestNativeInvariantsAgree compares the two.)
func (w *walker) ele1(obj map[string]any, loc string) {
	for k := range obj {
		if k != "id" {
			return
		}
	}
	w.ele1Issue(loc)
}

func (w *walker) ele1Issue(loc string) {
	w.out.Issues = append(w.out.Issues, Issue{Severity: SeverityError, Code: "invariant", Expression: loc, Key: "ele-1",
		Diagnostics: "ele-1: All FHIR elements must have a @value or children."})
}

// ext1 is the invariant ext-1 natively: an extension has either extensions or a value.
func (w *walker) ext1(obj map[string]any, loc string) {
	_, hasExt := obj["extension"]
	hasValue := false
	for k := range obj {
		if strings.HasPrefix(k, "value") {
			hasValue = true
			break
		}
	}
	if hasExt == hasValue {
		w.out.Issues = append(w.out.Issues, Issue{Severity: SeverityError, Code: "invariant", Expression: loc, Key: "ext-1",
			Diagnostics: "ext-1: Must have either extensions or value[x], not both."})
	}
}

// reference checks that a literal reference points at a type the element allows.
func (w *walker) reference(obj map[string]any, c *child, loc string) {
	targets := c.typ.Targets
	if len(targets) == 0 {
		return
	}
	for _, t := range targets {
		if t == "Resource" {
			return
		}
	}
	allowed := func(t string) bool {
		for _, a := range targets {
			if a == t {
				return true
			}
		}
		return false
	}
	if t, ok := obj["type"].(string); ok && model.IsResourceType(t) && !allowed(t) {
		w.issue(SeverityError, "structure", loc+".type", "The type %s is not allowed here; %s may refer to %s.", t, c.el.Path, strings.Join(targets, " | "))
	}
	ref, _ := obj["reference"].(string)
	var typ string
	if id, ok := strings.CutPrefix(ref, "#"); ok && id != "" {
		typ = w.containedType(id)
	} else if r, ok := model.ParseReference(ref); ok {
		typ = r.Type
	}
	if typ != "" && !allowed(typ) {
		w.issue(SeverityError, "structure", loc+".reference", "A reference to a %s is not allowed here; %s may refer to %s.", typ, c.el.Path, strings.Join(targets, " | "))
	}
}

// containedType returns the type of the contained resource with id in the enclosing
// resources, or "".
func (w *walker) containedType(id string) string {
	for i := len(w.resources) - 1; i >= 0; i-- {
		list, _ := w.resources[i]["contained"].([]any)
		for _, c := range list {
			if m, ok := c.(map[string]any); ok && m["id"] == id {
				t, _ := m["resourceType"].(string)
				return t
			}
		}
	}
	return ""
}
