package validate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/internal/datasets"
)

// corpusResource is a resource of the test corpus, decoded, with its size.
type corpusResource struct {
	name string
	res  map[string]any
	size int
}

func decodeCorpus(t testing.TB) []corpusResource {
	var out []corpusResource
	add := func(name string, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, corpusResource{name, m, len(data)})
	}
	for _, f := range datasets.Files(t, datasets.FHIRExamples, "*.json") {
		if _, bad := knownInvalidExamples[f.Name]; !bad {
			add(f.Name, f.Data)
		}
	}
	for i, r := range syntheaResources(t) {
		add(fmt.Sprintf("synthea-%d", i), r)
	}
	return out
}

// occurrence is a node of a corpus resource on which an invariant is evaluated.
type occurrence struct {
	r     *corpusResource
	node  map[string]any
	kinds []string
}

// mutation changes a node and returns how to undo it.
type mutation struct {
	desc  string
	apply func(node map[string]any) (undo func())
}

func setKey(key string, val any) mutation {
	return mutation{fmt.Sprintf("set %s", key), func(n map[string]any) func() {
		old, had := n[key]
		n[key] = val
		return func() {
			if had {
				n[key] = old
			} else {
				delete(n, key)
			}
		}
	}}
}

func removeKey(key string) mutation {
	return mutation{"remove " + key, func(n map[string]any) func() {
		old, had := n[key]
		delete(n, key)
		return func() {
			if had {
				n[key] = old
			}
		}
	}}
}

func swapKeys(a, b string) mutation {
	return mutation{"swap " + a + " " + b, func(n map[string]any) func() {
		n[a], n[b] = n[b], n[a]
		return func() { n[a], n[b] = n[b], n[a] }
	}}
}

var clearNode = mutation{"clear", func(n map[string]any) func() {
	saved := map[string]any{}
	for k, v := range n {
		if k != "resourceType" {
			saved[k] = v
			delete(n, k)
		}
	}
	return func() {
		for k, v := range saved {
			n[k] = v
		}
	}
}}

// poison are values that break common rules, tried on every relevant property.
var poison = []any{
	"", "#no-such-id", "http://example.org/x", `<div xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></div>`,
	`<div xmlns="http://www.w3.org/1999/xhtml"> </div>`, "*", "-3", "x",
	json.Number("-1"), json.Number("0"), json.Number("1.5"), true, false, map[string]any{}, []any{},
}

var identRE = regexp.MustCompile(`[A-Za-z][A-Za-z0-9]*`)

// relevant reports whether a JSON key is named by one of the expression's identifiers (a
// choice key valueQuantity by value).
func relevant(key string, idents map[string]bool) bool {
	key = strings.TrimPrefix(key, "_")
	if idents[key] {
		return true
	}
	for id := range idents {
		if strings.HasPrefix(key, id) && len(key) > len(id) && key[len(id)] >= 'A' && key[len(id)] <= 'Z' {
			return true
		}
	}
	return false
}

// mutations lists the candidate single mutations of a node for an expression: remove each
// relevant key, set it from donors and poison values, swap pairs, clear the node.
func mutations(node map[string]any, donors map[string][]any, expr string) []mutation {
	idents := map[string]bool{}
	for _, id := range identRE.FindAllString(expr, -1) {
		idents[id] = true
	}
	keys := map[string]bool{}
	for k := range node {
		keys[k] = true
	}
	for k := range donors {
		keys[k] = true
	}
	var rel []string
	for k := range keys {
		if k != "resourceType" && relevant(k, idents) {
			rel = append(rel, k)
		}
	}
	if len(rel) == 0 {
		for k := range keys {
			if k != "resourceType" {
				rel = append(rel, k)
			}
		}
	}
	sort.Strings(rel)
	out := []mutation{clearNode}
	for _, k := range rel {
		if _, ok := node[k]; ok {
			out = append(out, removeKey(k))
		}
		for _, v := range donors[k] {
			out = append(out, setKey(k, v))
		}
		for _, v := range poison {
			out = append(out, setKey(k, v))
		}
	}
	for i, a := range rel {
		for _, b := range rel[i+1:] {
			if _, ok := node[a]; ok {
				if _, ok := node[b]; ok {
					out = append(out, swapKeys(a, b))
				}
			}
		}
	}
	return out
}

// untrippable are the invariants no mutation of a valid resource can break, with why.
var untrippable = map[string]string{
	"cid-0":   "it reads ChargeItemDefinition.name, which R4 ChargeItemDefinition does not define: empty for any valid resource",
	"inv-0":   "it is declared on MetadataResource, an abstract type no resource instantiates in R4",
	"dom-r4b": "it applies to SubscriptionStatus.contained resources of R4B types (Citation, Evidence, ...) that R4 does not define",
	"eld-11":  "type.select(code = 'code' or ...) yields booleans, false included, so .exists() is true for any typed element: the expression cannot be false",
}

// TestEveryInvariantTrips enumerates every invariant key of the base specification from the
// generated definitions and, for each, searches mutations of corpus resources (the official
// examples and Synthea) that contain its element until the validator reports that key. It
// asserts how many were tripped and lists the rest with the reason.
func TestEveryInvariantTrips(t *testing.T) {
	v := mustValidator(t)
	corpus := decodeCorpus(t)
	// Resource types no corpus resource shows get a synthesised instance.
	shown := map[string]bool{}
	for _, r := range corpus {
		shown[r.res["resourceType"].(string)] = true
	}
	synthesised := 0
	for name, ix := range v.types {
		if ix.def.Kind == "resource" && !ix.def.Abstract && !shown[name] {
			res := synthesise(v, ix, name, 4)
			data, _ := json.Marshal(res)
			corpus = append(corpus, corpusResource{"synthesised-" + name, res, len(data) * 10})
			synthesised++
		}
	}
	occ := map[int][]occurrence{}
	donors := map[string]map[string][]any{} // node kind -> key -> values seen
	for i := range corpus {
		r := &corpus[i]
		w := &walker{v: v, out: &Outcome{}}
		w.visit = func(node map[string]any, cs []int, kinds []string) {
			for _, c := range cs {
				occ[c] = append(occ[c], occurrence{r, node, kinds})
			}
			for _, k := range kinds {
				d := donors[k]
				if d == nil {
					d = map[string][]any{}
					donors[k] = d
				}
				for key, val := range node {
					addDonor(d, key, val)
				}
			}
		}
		rt, _ := r.res["resourceType"].(string)
		w.resource(r.res, rt, rt)
	}

	// Every element gets a synthesised donor value too, for those no corpus node holds.
	for kind, d := range donors {
		for key, val := range synthesisedChildren(v, kind) {
			addDonor(d, key, val)
		}
	}

	byKey := map[string][]int{}
	for i, c := range v.consts {
		byKey[c.Key] = append(byKey[c.Key], i)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	tripped, onSynthetic := 0, 0
	reasons := map[string]string{}
	byHand := 0
	for _, key := range keys {
		how, reason := tripKey(v, key, byKey[key], occ, donors)
		if how == "" && handTrips[key] != "" {
			if handTripped(v, key, handTrips[key]) {
				how = "the hand-made mutation"
				byHand++
			} else {
				reason = "the hand-made mutation does not trip it"
			}
		}
		if how != "" {
			tripped++
			if strings.Contains(how, "synthesised-") {
				onSynthetic++
			}
			if _, listed := untrippable[key]; listed {
				t.Errorf("%s is listed as untrippable but %s trips it", key, how)
			}
			continue
		}
		if r, listed := untrippable[key]; listed {
			reason = r
		}
		reasons[key] = reason
	}
	var lines []string
	for _, k := range keys {
		if r, ok := reasons[k]; ok {
			lines = append(lines, k+": "+r)
		}
	}
	t.Logf("%d invariant keys, %d tripped by a mutated resource (%d on a synthesised instance of one of %d types without a corpus resource, %d by a hand-made mutation), %d not:\n%s",
		len(keys), tripped, onSynthetic, synthesised, byHand, len(keys)-tripped, strings.Join(lines, "\n"))
	if len(keys) < 200 {
		t.Errorf("only %d invariant keys enumerated", len(keys))
	}
	if tripped != len(keys)-len(untrippable) {
		t.Errorf("%d of %d keys tripped, want all but the %d listed as untrippable", tripped, len(keys), len(untrippable))
	}
	for k, r := range reasons {
		if _, listed := untrippable[k]; !listed {
			t.Errorf("%s was not tripped (%s) and is not listed with a reason", k, r)
		}
	}
}

// tripKey searches for a mutation that makes the validator report key; it returns what
// tripped it, or why nothing did.
func tripKey(v *Validator, key string, idx []int, occ map[int][]occurrence, donors map[string]map[string][]any) (how, reason string) {
	seen := 0
	for _, i := range idx {
		if v.inv[i].err != nil {
			reason = "the engine cannot compile it: " + v.inv[i].err.Error()
			continue
		}
		list := append([]occurrence(nil), occ[i]...)
		sort.SliceStable(list, func(a, b int) bool { return list[a].r.size < list[b].r.size })
		if len(list) > 6 {
			list = list[:6]
		}
		seen += len(list)
		for _, o := range list {
			d := map[string][]any{}
			for _, k := range o.kinds {
				for key, vals := range donors[k] {
					d[key] = append(d[key], vals...)
				}
			}
			ms := mutations(o.node, d, v.consts[i].Expression)
			trips := func() bool {
				for _, is := range v.ValidateMap(o.r.res).Issues {
					if is.Key == key {
						return true
					}
				}
				return false
			}
			for _, m := range ms {
				undo := m.apply(o.node)
				ok := trips()
				undo()
				if ok {
					return fmt.Sprintf("%s on %s", m.desc, o.r.name), ""
				}
			}
			if len(ms) > 40 {
				ms = ms[:40]
			}
			for a, m1 := range ms {
				for _, m2 := range ms[a+1:] {
					u1 := m1.apply(o.node)
					u2 := m2.apply(o.node)
					ok := trips()
					u2()
					u1()
					if ok {
						return fmt.Sprintf("%s, %s on %s", m1.desc, m2.desc, o.r.name), ""
					}
				}
			}
		}
	}
	if reason != "" {
		return "", reason
	}
	if seen == 0 {
		return "", "no corpus resource holds its element"
	}
	return "", "no single or double mutation of the element's properties breaks it"
}

// samplePrimitives are valid values of each primitive type, for synthesised instances.
var samplePrimitives = map[string]any{
	"boolean": true, "integer": json.Number("1"), "decimal": json.Number("1.5"), "positiveInt": json.Number("1"),
	"unsignedInt": json.Number("0"), "string": "x", "markdown": "x", "code": "x", "id": "x1", "uri": "http://example.org/x",
	"url": "http://example.org/x", "canonical": "http://example.org/c", "oid": "urn:oid:1.2.3", "uuid": "urn:uuid:c757873d-ec9a-4326-a141-556f43239520",
	"date": "2020-01-01", "dateTime": "2020-01-01T00:00:00Z", "instant": "2020-01-01T00:00:00Z", "time": "10:00:00",
	"base64Binary": "AAAA", "xhtml": `<div xmlns="http://www.w3.org/1999/xhtml">x</div>`,
}

// synthesise builds an instance of a type holding every element down to depth (the first
// type of each choice), for the types no corpus resource shows.
func synthesise(v *Validator, ix *typeIndex, path string, depth int) map[string]any {
	out := map[string]any{}
	if ix.def.Kind == "resource" && path == ix.name {
		out["resourceType"] = ix.name
	}
	for _, el := range ix.elements[path] {
		name := el.Path[strings.LastIndexByte(el.Path, '.')+1:]
		if name == "id" || name == "extension" || name == "modifierExtension" || name == "contained" || name == "implicitRules" {
			continue
		}
		var val any
		key := name
		switch {
		case el.ContentRef != "":
			if depth <= 1 {
				continue
			}
			val = synthesise(v, ix, el.ContentRef, depth-1)
		case len(el.Types) == 0:
			continue
		default:
			code := el.Types[0].Code
			if b, ok := strings.CutSuffix(name, "[x]"); ok {
				key = b + upperFirst(code)
			}
			switch {
			case code == "BackboneElement" || code == "Element":
				if depth <= 0 {
					continue
				}
				val = synthesise(v, ix, el.Path, depth-1)
			case samplePrimitives[code] != nil:
				val = samplePrimitives[code]
			case code == "Reference":
				val = map[string]any{"reference": "Patient/x"}
			case code == "Extension":
				val = map[string]any{"url": "http://example.org/e", "valueString": "x"}
			case v.types[code] != nil && v.types[code].def.Kind == "complex-type" && depth > 0:
				val = synthesise(v, v.types[code], code, depth-1)
			default:
				continue
			}
		}
		if m, ok := val.(map[string]any); ok && len(m) == 0 {
			continue
		}
		if el.Max != "1" {
			val = []any{val}
		}
		out[key] = val
	}
	return out
}

// addDonor records val as a value seen for key, keeping a few distinct ones.
func addDonor(d map[string][]any, key string, val any) {
	if len(d[key]) >= 6 {
		return
	}
	enc, _ := json.Marshal(val)
	for _, x := range d[key] {
		if e, _ := json.Marshal(x); bytes.Equal(e, enc) {
			return
		}
	}
	d[key] = append(d[key], val)
}

// synthesisedChildren returns a synthesised value for every child of a node kind
// (ty:Period, el:Observation.referenceRange).
func synthesisedChildren(v *Validator, kind string) map[string]any {
	name, path := "", ""
	switch {
	case strings.HasPrefix(kind, "ty:"):
		name = kind[3:]
		path = name
	case strings.HasPrefix(kind, "el:"):
		path = kind[3:]
		name, _, _ = strings.Cut(path, ".")
	}
	ix := v.types[name]
	if ix == nil {
		return nil
	}
	return synthesise(v, ix, path, 2)
}

func decodeObject(t testing.TB, data []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// handTripped reports whether the validator reports key on the resource JSON.
func handTripped(v *Validator, key, resource string) bool {
	for _, is := range v.Validate([]byte(resource)).Issues {
		if is.Key == key {
			return true
		}
	}
	return false
}
