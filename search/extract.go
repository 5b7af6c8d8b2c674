package search

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/fhirgate/fhirgate/fhirpath"
	"github.com/fhirgate/fhirgate/internal/jsontree"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/storage/layout"
)

// Version names the extraction rules. Documents indexed under another version are
// re-indexed when a datastore opens; bump it whenever extraction changes.
const Version = "2"

// Index is what extraction stores beside a resource's current version.
type Index struct {
	// Entries holds one document per indexed value: {p: <param code>, ...} with fields
	// by parameter type (see the field names below). Queries match them with $elemMatch.
	Entries []bson.D
	// Asc and Desc hold each parameter's lowest and highest sort key, for _sort.
	Asc, Desc bson.D
}

// Field names inside an index entry: package layout's, under the names extraction and
// the filters use.
const (
	fParam  = layout.Param
	fSystem = layout.System
	fCode   = layout.Code
	fText   = layout.Text
	fTypeS  = layout.TypeSystem
	fTypeC  = layout.TypeCode
	fNorm   = layout.Norm
	fExact  = layout.Exact
	fRef    = layout.Ref
	fRefT   = layout.RefType
	fRefID  = layout.RefID
	fLo     = layout.Lo
	fHi     = layout.Hi
	fUnit   = layout.Unit
	fLat    = layout.Lat
	fLon    = layout.Lon
	fComp   = layout.Comp
)

// Document fields that hold the index and the sort keys (see package layout).
const (
	FieldIndex   = layout.Entries
	FieldAsc     = layout.Asc
	FieldDesc    = layout.Desc
	FieldVersion = layout.Version
)

// compiled caches the compiled expressions of each type's parameters.
var compiled sync.Map // type -> []compiledParam

type compiledParam struct {
	model.SearchParam
	expr  *fhirpath.Expr
	comps []*fhirpath.Expr
	ctype []string // each component's parameter type
}

func paramsOf(typ string) []compiledParam {
	if v, ok := compiled.Load(typ); ok {
		return v.([]compiledParam)
	}
	var out []compiledParam
	for _, p := range model.SearchParams(typ) {
		if p.Expression == "" {
			continue
		}
		cp := compiledParam{SearchParam: p, expr: fhirpath.MustCompile(p.Expression)}
		for _, c := range p.Components {
			cp.comps = append(cp.comps, fhirpath.MustCompile(c.Expression))
			cp.ctype = append(cp.ctype, paramType(typ, c.Code))
		}
		out = append(out, cp)
	}
	compiled.Store(typ, out)
	return out
}

func paramType(typ, code string) string {
	if p := lookup(typ, code); p != nil {
		return p.Type
	}
	return ""
}

// lookup finds a search parameter of typ by its code.
func lookup(typ, code string) *model.SearchParam {
	ps := model.SearchParams(typ)
	i := sort.Search(len(ps), func(i int) bool { return ps[i].Code >= code })
	if i < len(ps) && ps[i].Code == code {
		return &ps[i]
	}
	return nil
}

// Extract computes the search index of a resource of type typ from its JSON. Values
// that cannot be normalised (an unparseable date in an extension, say) are skipped:
// extraction never refuses a resource that model validation accepted.
func Extract(typ string, raw []byte) (*Index, error) {
	res, err := jsontree.DecodeObject(raw)
	if err != nil {
		return nil, fmt.Errorf("search: index %s: %w", typ, err)
	}
	ix := &Index{Entries: []bson.D{}, Asc: bson.D{}, Desc: bson.D{}}
	for _, p := range paramsOf(typ) {
		vals, err := p.expr.Eval(res)
		if err != nil {
			continue // the data breaks the expression's cardinality; nothing to index
		}
		var entries []bson.D
		if p.Type == "composite" {
			entries = compositeEntries(p, vals)
		} else {
			for _, v := range vals {
				entries = append(entries, entriesFor(p.Type, v)...)
			}
		}
		addSortKeys(ix, p.Code, p.Type, entries)
		for _, e := range entries {
			ix.Entries = append(ix.Entries, append(bson.D{{Key: fParam, Value: p.Code}}, e...))
		}
	}
	return ix, nil
}

// compositeEntries pairs every value of each component with every value of the
// others, within one item of the composite's base expression.
func compositeEntries(p compiledParam, items []fhirpath.Value) []bson.D {
	var out []bson.D
	for _, item := range items {
		m, ok := item.Data.(map[string]any)
		if !ok {
			continue
		}
		combos := []bson.D{{}}
		for i, ce := range p.comps {
			vals, err := ce.Eval(m)
			if err != nil {
				combos = nil
				break
			}
			var parts []bson.D
			for _, v := range vals {
				parts = append(parts, entriesFor(p.ctype[i], v)...)
			}
			var next []bson.D
			for _, c := range combos {
				for _, part := range parts {
					next = append(next, append(append(bson.D{}, c...), bson.E{Key: fComp + strconv.Itoa(i), Value: part}))
				}
			}
			combos = next
		}
		out = append(out, combos...)
	}
	return out
}

// entriesFor normalises one value selected by a parameter of type ptype.
func entriesFor(ptype string, v fhirpath.Value) []bson.D {
	switch ptype {
	case "token":
		return tokenEntries(v)
	case "string":
		return stringEntries(v)
	case "reference":
		return referenceEntries(v)
	case "date":
		if lo, hi, ok := dateRange(v); ok {
			return []bson.D{{{Key: fLo, Value: lo}, {Key: fHi, Value: hi}}}
		}
	case "number":
		return numberEntries(v)
	case "quantity":
		return quantityEntries(v)
	case "uri":
		if s, ok := v.Data.(string); ok {
			return []bson.D{{{Key: fExact, Value: s}}}
		}
	case "special":
		if m, ok := v.Data.(map[string]any); ok {
			lat, ok1 := number(m["latitude"])
			lon, ok2 := number(m["longitude"])
			if ok1 && ok2 {
				return []bson.D{{{Key: fLat, Value: lat}, {Key: fLon, Value: lon}}}
			}
		}
	}
	return nil
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func tokenEntries(v fhirpath.Value) []bson.D {
	switch d := v.Data.(type) {
	case string:
		return []bson.D{{{Key: fSystem, Value: ""}, {Key: fCode, Value: d}}}
	case bool:
		return []bson.D{{{Key: fSystem, Value: ""}, {Key: fCode, Value: strconv.FormatBool(d)}}}
	case json.Number:
		return []bson.D{{{Key: fSystem, Value: ""}, {Key: fCode, Value: string(d)}}}
	case map[string]any:
		if codings, ok := d["coding"].([]any); ok || d["text"] != nil {
			// CodeableConcept: one entry per coding, each carrying the concept's text.
			text := str(d, "text")
			var out []bson.D
			for _, c := range codings {
				cm, ok := c.(map[string]any)
				if !ok {
					continue
				}
				out = append(out, coding(cm, strings.TrimSpace(text+" "+str(cm, "display"))))
			}
			if len(out) == 0 && text != "" {
				out = append(out, bson.D{{Key: fText, Value: Normalize(text)}})
			}
			return out
		}
		if _, ok := d["code"]; ok || d["system"] != nil && d["value"] == nil {
			return []bson.D{coding(d, str(d, "display"))} // Coding
		}
		if val, ok := d["value"].(string); ok {
			if isContactPoint(d) {
				return []bson.D{{{Key: fSystem, Value: ""}, {Key: fCode, Value: val}}}
			}
			// Identifier: system|value, with its type codings for :of-type.
			base := bson.D{{Key: fSystem, Value: str(d, "system")}, {Key: fCode, Value: val}}
			if t, ok := d["type"].(map[string]any); ok {
				if txt := str(t, "text"); txt != "" {
					base = append(base, bson.E{Key: fText, Value: Normalize(txt)})
				}
				var out []bson.D
				codings, _ := t["coding"].([]any)
				for _, c := range codings {
					if cm, ok := c.(map[string]any); ok {
						out = append(out, append(append(bson.D{}, base...),
							bson.E{Key: fTypeS, Value: str(cm, "system")}, bson.E{Key: fTypeC, Value: str(cm, "code")}))
					}
				}
				if len(out) > 0 {
					return out
				}
			}
			return []bson.D{base}
		}
	}
	return nil
}

func coding(c map[string]any, text string) bson.D {
	e := bson.D{{Key: fSystem, Value: str(c, "system")}, {Key: fCode, Value: str(c, "code")}}
	if text != "" {
		e = append(e, bson.E{Key: fText, Value: Normalize(text)})
	}
	return e
}

var contactSystems = map[string]bool{"phone": true, "fax": true, "email": true, "pager": true, "url": true, "sms": true, "other": true}

// isContactPoint tells a ContactPoint from an Identifier: both have a value, but a
// ContactPoint's system is one of a few codes, an Identifier's a URI.
func isContactPoint(m map[string]any) bool {
	s, has := m["system"].(string)
	if has {
		return contactSystems[s]
	}
	_, use := m["use"].(string)
	_, rank := m["rank"]
	return rank || use && m["type"] == nil && m["assigner"] == nil
}

func stringEntries(v fhirpath.Value) []bson.D {
	var parts []string
	collectStrings(v.Data, &parts)
	out := make([]bson.D, 0, len(parts))
	for _, s := range parts {
		out = append(out, bson.D{{Key: fNorm, Value: Normalize(s)}, {Key: fExact, Value: s}})
	}
	return out
}

// collectStrings gathers the text of a string value or of the string parts of a
// complex one (HumanName: family, given, prefix, suffix, text; Address: line, city, ...).
func collectStrings(x any, out *[]string) {
	switch d := x.(type) {
	case string:
		if d != "" {
			*out = append(*out, d)
		}
	case []any:
		for _, e := range d {
			collectStrings(e, out)
		}
	case map[string]any:
		keys := make([]string, 0, len(d))
		for k := range d {
			switch k {
			case "extension", "id", "use", "type", "period", "_family", "_given":
				continue
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if _, isStr := d[k].(string); isStr || isStringList(d[k]) {
				collectStrings(d[k], out)
			}
		}
	}
}

func isStringList(x any) bool {
	l, ok := x.([]any)
	if !ok || len(l) == 0 {
		return false
	}
	_, ok = l[0].(string)
	return ok
}

func referenceEntries(v fhirpath.Value) []bson.D {
	switch d := v.Data.(type) {
	case string: // canonical or uri
		url, _, _ := strings.Cut(d, "|")
		return []bson.D{{{Key: fRef, Value: url}, {Key: fExact, Value: d}}}
	case map[string]any:
		var out []bson.D
		if ref := str(d, "reference"); ref != "" && !strings.HasPrefix(ref, "#") {
			e := bson.D{{Key: fRef, Value: ref}}
			if r, ok := model.ParseReference(ref); ok {
				e = bson.D{{Key: fRef, Value: r.Relative()}, {Key: fRefT, Value: r.Type}, {Key: fRefID, Value: r.ID}}
				if ref != r.Relative() {
					e = append(e, bson.E{Key: fExact, Value: ref})
				}
			}
			out = append(out, e)
		}
		if id, ok := d["identifier"].(map[string]any); ok {
			if val := str(id, "value"); val != "" {
				out = append(out, bson.D{{Key: fSystem, Value: str(id, "system")}, {Key: fCode, Value: val}})
			}
		}
		if len(out) == 0 && v.Type != "" && d["resourceType"] == nil {
			return nil
		}
		return out
	}
	return nil
}

func number(x any) (float64, bool) {
	n, ok := x.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	return f, err == nil && !math.IsInf(f, 0)
}

func numberEntries(v fhirpath.Value) []bson.D {
	if f, ok := number(v.Data); ok {
		return []bson.D{{{Key: fLo, Value: f}, {Key: fHi, Value: f}}}
	}
	if m, ok := v.Data.(map[string]any); ok { // Range or Quantity used as a number
		return quantityEntries(fhirpath.Value{Data: m})
	}
	return nil
}

func quantityEntries(v fhirpath.Value) []bson.D {
	m, ok := v.Data.(map[string]any)
	if !ok {
		return nil
	}
	if f, ok := number(m["value"]); ok { // Quantity, Age, Duration, Money, ...
		e := bson.D{{Key: fLo, Value: f}, {Key: fHi, Value: f}}
		system, code := str(m, "system"), str(m, "code")
		if cur := str(m, "currency"); cur != "" { // Money
			system, code = "urn:iso:std:iso:4217", cur
		}
		e = append(e, bson.E{Key: fSystem, Value: system}, bson.E{Key: fCode, Value: code})
		if u := str(m, "unit"); u != "" {
			e = append(e, bson.E{Key: fUnit, Value: Normalize(u)})
		}
		return []bson.D{e}
	}
	low, _ := m["low"].(map[string]any)
	high, _ := m["high"].(map[string]any)
	if low == nil && high == nil {
		return nil
	}
	// Range: the span from low to high, an open end unbounded.
	lo, hi := -math.MaxFloat64, math.MaxFloat64 // not ±Inf: JSON-backed engines cannot store those
	var unitOf map[string]any
	if f, ok := number(low["value"]); ok {
		lo, unitOf = f, low
	}
	if f, ok := number(high["value"]); ok {
		hi, unitOf = f, high
	}
	if unitOf == nil {
		return nil
	}
	e := bson.D{{Key: fLo, Value: lo}, {Key: fHi, Value: hi},
		{Key: fSystem, Value: str(unitOf, "system")}, {Key: fCode, Value: str(unitOf, "code")}}
	if u := str(unitOf, "unit"); u != "" {
		e = append(e, bson.E{Key: fUnit, Value: Normalize(u)})
	}
	return []bson.D{e}
}

// addSortKeys records the lowest and highest sort key of a parameter's entries.
func addSortKeys(ix *Index, code, ptype string, entries []bson.D) {
	var lo, hi any
	for _, e := range entries {
		a, b := sortKey(ptype, e)
		if a == nil {
			continue
		}
		if lo == nil || less(a, lo) {
			lo = a
		}
		if hi == nil || less(hi, b) {
			hi = b
		}
	}
	if lo != nil {
		ix.Asc = append(ix.Asc, bson.E{Key: code, Value: lo})
		ix.Desc = append(ix.Desc, bson.E{Key: code, Value: hi})
	}
}

func sortKey(ptype string, e bson.D) (lo, hi any) {
	get := func(k string) any {
		for _, f := range e {
			if f.Key == k {
				return f.Value
			}
		}
		return nil
	}
	var k any
	switch ptype {
	case "string":
		k = get(fNorm)
	case "token":
		k = get(fCode)
	case "reference":
		k = get(fRef)
	case "uri":
		k = get(fExact)
	case "date", "number", "quantity":
		return get(fLo), get(fHi)
	}
	return k, k
}

func less(a, b any) bool {
	switch a := a.(type) {
	case string:
		b, ok := b.(string)
		return ok && a < b
	case int64:
		b, ok := b.(int64)
		return ok && a < b
	case float64:
		b, ok := b.(float64)
		return ok && a < b
	}
	return false
}
