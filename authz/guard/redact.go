package guard

import (
	"bytes"
	"context"
	"strings"
	"sync"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/model"
)

// The security label Redact puts in meta.security of a resource it removed elements from,
// so that clients know the resource is not whole.
const (
	RedactedSystem = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
	RedactedCode   = "REDACTED"
)

var redactedCoding = []byte(`{"system":"` + RedactedSystem + `","code":"` + RedactedCode + `","display":"redacted"}`)

// Redact returns raw, a resource of type typ as FHIR JSON, without the elements the caller in
// ctx may not read: the same decisions the GraphQL field middleware makes on the same
// elements, within contained resources and the resources of a Bundle's entries (a nested
// resource of a type the caller may not read goes whole). resourceType, id and meta stay; a
// resource with something removed carries the security label REDACTED (see RedactedSystem).
// When nothing is hidden it returns raw itself, and what it keeps it copies byte for byte.
// A context without a caller (authentication off) reads everything. It fails with a
// Forbidden error when the caller may not read typ at all, and on malformed JSON.
func Redact(ctx context.Context, typ string, raw []byte) ([]byte, error) {
	a := accessFrom(ctx)
	if a == nil {
		return raw, nil
	}
	if !a.allowsType(typ, authz.ActRead) {
		return nil, forbidden("not permitted to read %s", typ)
	}
	if !a.mayHide(typ, raw) {
		return raw, nil
	}
	r := redactor{a: a, b: raw}
	out, end, removed, err := r.resource(make([]byte, 0, len(raw)+len(redactedCoding)+32), skipWS(raw, 0), typ, true, 0)
	if err != nil {
		return nil, err
	}
	if skipWS(raw, end) != len(raw) {
		return nil, jsonErr(end, "trailing data")
	}
	if !removed {
		return raw, nil
	}
	return out, nil
}

// mayHide reports whether raw may hold something the caller may not read: the name of an
// element its role hides somewhere below typ, or a nested resource of a type it may not
// read. A cheap test on the bytes: a false alarm only costs the full walk.
func (a *access) mayHide(typ string, raw []byte) bool {
	for _, n := range a.v.hiddenKeys(typ) {
		if bytes.Contains(raw, n) {
			return true
		}
	}
	return bytes.Count(raw, resourceTypeKey) > 1 && !a.everyType()
}

var resourceTypeKey = []byte(`"resourceType"`)

// everyType reports, once per request, whether the caller may read resources of every type.
func (a *access) everyType() bool {
	a.everyOnce.Do(func() { a.every = a.readsEveryType() })
	return a.every
}

// hiddenKeys returns the needles mayHide looks for: each hidden name below typ followed by
// its closing quote, which finds the element ("name") and its primitive extension ("_name").
func (v *roleView) hiddenKeys(typ string) [][]byte {
	if k, ok := v.keys.Load(typ); ok {
		return k.([][]byte)
	}
	var out [][]byte
	for n := range v.hiddenNames(typ) {
		out = append(out, []byte(n+`"`))
	}
	v.keys.Store(typ, out)
	return out
}

// elemKind is how Redact treats an element's value.
type elemKind uint8

const (
	kindPrimitive elemKind = iota // kept as it is
	kindComplex                   // a data type or backbone element: walked
	kindResource                  // a resource of any type (contained, Bundle.entry.resource)
)

// elemPlan is what one role does with one element of one type.
type elemPlan struct {
	hide      bool
	kind      elemKind
	typ       string // the schema type of a complex element
	contained bool   // resources contained in a resource, which its label covers
}

// typePlan holds the plans of a type's elements, by JSON name. An element it does not list
// is not in the schema: Redact removes it.
type typePlan map[string]elemPlan

// plan returns the role's plan for the elements of typ, computed once per policy generation.
func (v *roleView) plan(typ string) typePlan {
	if p, ok := v.plans.Load(typ); ok {
		return p.(typePlan)
	}
	p := typePlan{}
	if def := v.g.schema.Types[typ]; def != nil && def.Kind == ast.Object {
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") || f.Name == "_reverse" || f.Name == "_reverseConnection" || graphQLOnly[coordinate{typ, f.Name}] {
				continue
			}
			ep := elemPlan{hide: !v.field(typ, f.Name).ok, contained: f.Name == "contained"}
			if vd := v.g.schema.Types[f.Type.Name()]; vd != nil {
				switch vd.Kind {
				case ast.Object:
					ep.kind, ep.typ = kindComplex, vd.Name
					if model.IsResourceType(vd.Name) { // Bundle.entry.response.outcome
						ep.kind = kindResource
					}
				case ast.Interface, ast.Union:
					ep.kind = kindResource
				}
			}
			p[f.Name] = ep
		}
	}
	v.plans.Store(typ, p)
	return p
}

// redactor writes the redacted copy of one resource's JSON.
type redactor struct {
	a *access
	b []byte
}

// resourceKeys are the members of a resource Redact always keeps.
var resourceKeys = map[string]bool{"resourceType": true, "id": true, "meta": true}

// resource appends the redacted resource of type typ at b[i] to out. It returns the index
// after the resource in b and whether anything was removed; mark labels the resource when
// something was (contained resources are not labelled: their container is).
func (r *redactor) resource(out []byte, i int, typ string, mark bool, depth int) ([]byte, int, bool, error) {
	metaAt, metaEnd := -1, -1
	out, end, removed, _, err := r.object(out, i, typ, depth, func(out []byte, m member) ([]byte, int, bool, error) {
		if !resourceKeys[string(m.key)] {
			return out, 0, false, nil
		}
		e, err := skipValue(r.b, m.start, depth+1)
		if err != nil {
			return nil, 0, false, err
		}
		if string(m.key) == "meta" {
			metaAt, metaEnd = len(out), len(out)+e-m.start
		}
		return append(out, r.b[m.start:e]...), e, true, nil
	})
	if err != nil || !removed || !mark {
		return out, end, removed, err
	}
	if metaAt < 0 {
		out = out[:len(out)-1] // its '}'
		if out[len(out)-1] != '{' {
			out = append(out, ',')
		}
		out = append(out, `"meta":{"security":[`...)
		out = append(append(out, redactedCoding...), "]}}"...)
		return out, end, true, nil
	}
	meta, err := labelled(out[metaAt:metaEnd])
	if err != nil {
		return nil, 0, false, err
	}
	rest := append([]byte(nil), out[metaEnd:]...)
	out = append(append(out[:metaAt], meta...), rest...)
	return out, end, true, nil
}

// keepFunc lets resource keep a member whole: it reports whether it wrote the member's
// value to out, and the index after the value.
type keepFunc func(out []byte, m member) ([]byte, int, bool, error)

// object appends the redacted object of type typ at b[i] to out. It returns the index after
// the object in b, whether anything was removed, and whether the object kept no member.
func (r *redactor) object(out []byte, i int, typ string, depth int, keep keepFunc) ([]byte, int, bool, bool, error) {
	plan := r.a.v.plan(typ)
	start := len(out)
	out = append(out, '{')
	n, total, removed, divGone := 0, 0, false, false
	end, err := eachMember(r.b, i, depth, func(m member) (int, error) {
		total++
		mark := len(out)
		if n > 0 {
			out = append(out, ',')
		}
		keyEnd := m.keyAt + len(m.key) + 2
		out = append(append(out, r.b[m.keyAt:keyEnd]...), ':')
		if keep != nil {
			o, e, kept, err := keep(out, m)
			if err != nil {
				return 0, err
			}
			if kept {
				out = o
				n++
				return e, nil
			}
		}
		p, known := plan[string(m.key)]
		if !known || p.hide {
			out, removed = out[:mark], true
			divGone = divGone || string(m.key) == "div"
			return skipValue(r.b, m.start, depth+1)
		}
		o, e, rm, empty, err := r.value(out, m.start, p, m.key[0] == '_', depth+1)
		if err != nil {
			return 0, err
		}
		removed = removed || rm
		if empty {
			out = out[:mark]
			return e, nil
		}
		out = o
		n++
		return e, nil
	})
	if err != nil {
		return nil, 0, false, false, err
	}
	// A narrative without its div is not a narrative: it goes whole. A resource stays.
	if keep == nil && ((n == 0 && total > 0) || (typ == "Narrative" && divGone)) {
		return out[:start], end, true, true, nil
	}
	return append(out, '}'), end, removed, false, nil
}

// value appends the redacted value of an element planned p at b[i]: a single value or an
// array of them. ext marks a primitive's extensions (_given), whose arrays keep their
// positions with null. It reports whether the value kept nothing.
func (r *redactor) value(out []byte, i int, p elemPlan, ext bool, depth int) ([]byte, int, bool, bool, error) {
	if p.kind == kindPrimitive || i >= len(r.b) {
		e, err := skipValue(r.b, i, depth)
		if err != nil {
			return nil, 0, false, false, err
		}
		return append(out, r.b[i:e]...), e, false, false, nil
	}
	switch r.b[i] {
	case '[':
		start := len(out)
		out = append(out, '[')
		n, total, kept, removed := 0, 0, 0, false
		end, err := eachElement(r.b, i, depth, func(j int) (int, error) {
			total++
			mark := len(out)
			if n > 0 {
				out = append(out, ',')
			}
			o, e, rm, empty, err := r.one(out, j, p, depth+1)
			if err != nil {
				return 0, err
			}
			removed = removed || rm
			switch {
			case empty && ext: // keeps its position
				out = append(o, "null"...)
			case empty:
				out = out[:mark]
				return e, nil
			default:
				out = o
				if r.b[j] != 'n' {
					kept++
				}
			}
			n++
			return e, nil
		})
		if err != nil {
			return nil, 0, false, false, err
		}
		if kept == 0 && total > 0 {
			return out[:start], end, true, true, nil
		}
		return append(out, ']'), end, removed, false, nil
	}
	return r.one(out, i, p, depth)
}

// one appends one redacted value of an element planned p at b[i].
func (r *redactor) one(out []byte, i int, p elemPlan, depth int) ([]byte, int, bool, bool, error) {
	if i >= len(r.b) || r.b[i] != '{' {
		e, err := skipValue(r.b, i, depth)
		if err != nil {
			return nil, 0, false, false, err
		}
		return append(out, r.b[i:e]...), e, false, false, nil
	}
	if p.kind == kindComplex {
		return r.object(out, i, p.typ, depth, nil)
	}
	typ, err := r.resourceType(i, depth)
	if err != nil {
		return nil, 0, false, false, err
	}
	if !model.IsResourceType(typ) || !r.a.allowsType(typ, authz.ActRead) {
		e, err := skipValue(r.b, i, depth)
		return out, e, true, true, err
	}
	o, e, rm, err := r.resource(out, i, typ, !p.contained, depth)
	return o, e, rm, false, err
}

// resourceType reads the resourceType of the resource at b[i].
func (r *redactor) resourceType(i, depth int) (string, error) {
	typ := ""
	_, err := eachMember(r.b, i, depth, func(m member) (int, error) {
		e, err := skipValue(r.b, m.start, depth+1)
		if err == nil && string(m.key) == "resourceType" {
			typ, _ = stringValue(r.b[m.start:e])
		}
		return e, err
	})
	return typ, err
}

// labelled returns meta (a JSON object) with the REDACTED label in meta.security, once.
func labelled(meta []byte) ([]byte, error) {
	secAt, secEnd, members := -1, -1, 0
	end, err := eachMember(meta, 0, 0, func(m member) (int, error) {
		members++
		e, err := skipValue(meta, m.start, 1)
		if string(m.key) == "security" {
			secAt, secEnd = m.start, e
		}
		return e, err
	})
	if err != nil {
		return nil, err
	}
	if end != len(meta) {
		return nil, jsonErr(end, "trailing data in meta")
	}
	out := make([]byte, 0, len(meta)+len(redactedCoding)+16)
	switch {
	case secAt >= 0 && meta[secAt] == '[':
		if bytes.Contains(meta[secAt:secEnd], []byte(`"`+RedactedCode+`"`)) {
			return meta, nil
		}
		out = append(out, meta[:secEnd-1]...)
		if skipWS(meta, secAt+1) != secEnd-1 {
			out = append(out, ',')
		}
		out = append(append(append(out, redactedCoding...), ']'), meta[secEnd:]...)
	case secAt >= 0:
		return nil, jsonErr(secAt, "meta.security is not an array")
	default:
		out = append(out, meta[:len(meta)-1]...)
		if members > 0 {
			out = append(out, ',')
		}
		out = append(append(append(out, `"security":[`...), redactedCoding...), "]}"...)
	}
	return out, nil
}

// redactState is the per-role cache of Redact's plans: held by roleView.
type redactState struct {
	plans sync.Map // type -> typePlan
	keys  sync.Map // type -> [][]byte
}
