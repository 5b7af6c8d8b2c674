package terminology

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// Membership is the answer to whether a code is in a value set.
type Membership int

const (
	// CannotTell: the value set cannot be evaluated from what the server holds (it draws
	// on SNOMED CT or LOINC by filter, names an unknown value set, or uses a filter this
	// server does not implement), so the code may or may not be in it.
	CannotTell Membership = iota
	// In: the code is in the value set.
	In
	// NotIn: the code is not in the value set.
	NotIn
)

// String returns "in", "not in" or "cannot tell".
func (m Membership) String() string {
	switch m {
	case In:
		return "in"
	case NotIn:
		return "not in"
	}
	return "cannot tell"
}

// and combines the answers to "in every one": one NotIn decides.
func and(a, b Membership) Membership {
	if a == NotIn || b == NotIn {
		return NotIn
	}
	if a == CannotTell || b == CannotTell {
		return CannotTell
	}
	return In
}

// or combines the answers to "in any one": one In decides.
func or(a, b Membership) Membership {
	if a == In || b == In {
		return In
	}
	if a == CannotTell || b == CannotTell {
		return CannotTell
	}
	return NotIn
}

// maxDepth bounds value sets that include value sets, against cycles.
const maxDepth = 16

// Member reports whether system|code is in the value set of canonical (url or url|version).
// An empty system matches the code in any system the value set draws from (a FHIR code
// element carries no system). err is non-nil only with CannotTell and says why, for the
// client: ErrNotFound for an unknown value set, ErrUnsupported for one the server cannot
// evaluate. It evaluates the definition for the one code, so it does not expand the value set.
func (r *Registry) Member(canonical, system, code string) (Membership, error) {
	vs := r.ValueSet(canonical)
	if vs == nil {
		return CannotTell, fmt.Errorf("%w: value set %q is not known to this server", ErrNotFound, canonical)
	}
	return r.MemberOf(vs, system, code)
}

// MemberOf is Member for a value set given whole (one not registered, such as a request's).
func (r *Registry) MemberOf(vs *ValueSet, system, code string) (Membership, error) {
	m := r.member(vs, system, code, 0)
	if m == CannotTell {
		return m, fmt.Errorf("%w: value set %q cannot be evaluated from the terminology this server holds", ErrUnsupported, vs.URL)
	}
	return m, nil
}

func (r *Registry) member(vs *ValueSet, system, code string, depth int) Membership {
	if depth > maxDepth {
		return CannotTell
	}
	if vs.Compose == nil || len(vs.Compose.Include) == 0 {
		return storedMember(vs, system, code)
	}
	in := NotIn
	for _, set := range vs.Compose.Include {
		if in = or(in, r.setMember(set, system, code, depth)); in == In {
			break
		}
	}
	if in == NotIn {
		return NotIn
	}
	for _, set := range vs.Compose.Exclude {
		switch r.setMember(set, system, code, depth) {
		case In:
			return NotIn
		case CannotTell:
			in = CannotTell
		}
	}
	return in
}

// storedMember answers from a value set's own expansion, when it carries one.
func storedMember(vs *ValueSet, system, code string) Membership {
	if vs.Expansion == nil {
		return CannotTell
	}
	found := false
	walkContains(vs.Expansion.Contains, func(c Contains) {
		if c.Code == code && (system == "" || c.System == system) {
			found = true
		}
	})
	if found {
		return In
	}
	if vs.Expansion.Total != nil && *vs.Expansion.Total > countContains(vs.Expansion.Contains) {
		return CannotTell // a page of a larger expansion
	}
	return NotIn
}

// setMember evaluates one include or exclude for the code.
func (r *Registry) setMember(set ConceptSet, system, code string, depth int) Membership {
	m := In
	if set.System != "" {
		m = r.systemMember(set, system, code)
	}
	for _, url := range set.ValueSet {
		if m == NotIn {
			return NotIn
		}
		vs := r.ValueSet(url)
		if vs == nil {
			m = and(m, CannotTell)
			continue
		}
		m = and(m, r.member(vs, system, code, depth+1))
	}
	return m
}

// systemMember evaluates the system part of a ConceptSet: listed codes, or the code
// system's concepts that pass every filter.
func (r *Registry) systemMember(set ConceptSet, system, code string) Membership {
	if system != "" && system != set.System {
		return NotIn
	}
	if len(set.Concept) > 0 {
		for _, c := range set.Concept {
			if c.Code == code {
				return In
			}
		}
		return NotIn
	}
	cs := r.CodeSystem(canonical(set.System, set.Version))
	if cs == nil || cs.Content == "not-present" {
		return CannotTell
	}
	c := cs.concept(code)
	if c == nil {
		if cs.complete() {
			return NotIn
		}
		return CannotTell
	}
	m := In
	for _, f := range set.Filter {
		if m = and(m, filterMatch(cs, f, c)); m == NotIn {
			return NotIn
		}
	}
	return m
}

// filterMatch reports whether concept c of cs passes filter f; CannotTell for a filter this
// server does not implement or a property the code system does not define.
func filterMatch(cs *CodeSystem, f Filter, c *Concept) Membership {
	x := cs.idx()
	yes := func(b bool) Membership {
		if b {
			return In
		}
		return NotIn
	}
	switch f.Property {
	case "concept", "code":
		switch f.Op {
		case "is-a":
			return yes(cs.subsumes(f.Value, c.Code))
		case "descendent-of":
			return yes(c.Code != f.Value && cs.subsumes(f.Value, c.Code))
		case "is-not-a":
			return yes(!cs.subsumes(f.Value, c.Code))
		case "generalizes":
			return yes(cs.subsumes(c.Code, f.Value))
		case "=":
			return yes(c.Code == f.Value)
		case "in":
			return yes(inList(f.Value, c.Code))
		case "not-in":
			return yes(!inList(f.Value, c.Code))
		case "regex":
			re := compileFull(f.Value)
			if re == nil {
				return CannotTell
			}
			return yes(re.MatchString(c.Code))
		}
		return CannotTell
	case "parent", "child":
		rel := x.parents[c.Code]
		if f.Property == "child" {
			rel = x.children[c.Code]
		}
		return valuesMatch(f, rel)
	case "display":
		return valuesMatch(f, []string{c.Display})
	}
	if !x.declared[f.Property] {
		return CannotTell
	}
	var values []string
	for _, p := range c.Property {
		if p.Code == f.Property {
			values = append(values, p.Value)
		}
	}
	return valuesMatch(f, values)
}

// valuesMatch applies a filter's operator to the values a concept has for its property.
func valuesMatch(f Filter, values []string) Membership {
	anyOf := func(pred func(string) bool) Membership {
		for _, v := range values {
			if pred(v) {
				return In
			}
		}
		return NotIn
	}
	switch f.Op {
	case "=":
		return anyOf(func(v string) bool { return v == f.Value })
	case "in":
		return anyOf(func(v string) bool { return inList(f.Value, v) })
	case "not-in":
		if anyOf(func(v string) bool { return inList(f.Value, v) }) == In {
			return NotIn
		}
		return In
	case "exists":
		if (len(values) > 0) == (f.Value == "true") {
			return In
		}
		return NotIn
	case "regex":
		re := compileFull(f.Value)
		if re == nil {
			return CannotTell
		}
		return anyOf(re.MatchString)
	}
	return CannotTell
}

// regexps caches the compiled patterns of regex filters, which are evaluated once per
// concept; bounded, since a request's inline value set brings its own.
var regexps = struct {
	sync.Mutex
	m map[string]*regexp.Regexp
}{m: map[string]*regexp.Regexp{}}

// compileFull compiles a filter's pattern to match a whole value; nil if it is not valid.
func compileFull(pattern string) *regexp.Regexp {
	regexps.Lock()
	defer regexps.Unlock()
	if re, ok := regexps.m[pattern]; ok {
		return re
	}
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	if err != nil {
		re = nil
	}
	if len(regexps.m) < 256 {
		regexps.m[pattern] = re
	}
	return re
}

// inList reports whether v is one of the comma-separated codes of list.
func inList(list, v string) bool {
	for _, s := range strings.Split(list, ",") {
		if strings.TrimSpace(s) == v {
			return true
		}
	}
	return false
}

func canonical(url, version string) string {
	if version == "" {
		return url
	}
	return url + "|" + version
}

func walkContains(cs []Contains, f func(Contains)) {
	for _, c := range cs {
		f(c)
		walkContains(c.Contains, f)
	}
}

func countContains(cs []Contains) int {
	n := 0
	walkContains(cs, func(Contains) { n++ })
	return n
}
