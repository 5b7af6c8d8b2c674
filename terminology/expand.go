package terminology

import (
	"fmt"
	"strings"
)

// ExpandOptions narrow and page an expansion.
type ExpandOptions struct {
	// Filter keeps the codes whose code or display contains it, ignoring case.
	Filter string
	// Offset skips that many codes of the (filtered) expansion.
	Offset int
	// Count returns at most that many codes; 0 means all.
	Count int
}

// expansion is a value set's whole expansion, or why there is none.
type expansion struct {
	contains []Contains
	err      error
}

// Expand returns the value set of canonical with an expansion: its codes (system, code,
// display), filtered and paged by opts, expansion.total counting the filtered codes.
// ErrNotFound: no such value set. ErrUnsupported: the server cannot expand it (it draws on
// a code system the server does not hold, by filter or whole, or uses a filter this server
// does not implement); it never answers such a value set with a partial expansion.
func (r *Registry) Expand(canonical string, opts ExpandOptions) (*ValueSet, error) {
	vs := r.ValueSet(canonical)
	if vs == nil {
		return nil, fmt.Errorf("%w: value set %q is not known to this server", ErrNotFound, canonical)
	}
	return r.page(vs, r.cachedExpansion(vs, 0), opts)
}

// ExpandValueSet is Expand for a value set given whole (one not registered, such as a
// request's); value sets it includes resolve in r.
func (r *Registry) ExpandValueSet(vs *ValueSet, opts ExpandOptions) (*ValueSet, error) {
	return r.page(vs, r.expand(vs, 0), opts)
}

// Codes returns every code of the value set of canonical, as Expand would.
func (r *Registry) Codes(canonical string) ([]Contains, error) {
	vs := r.ValueSet(canonical)
	if vs == nil {
		return nil, fmt.Errorf("%w: value set %q is not known to this server", ErrNotFound, canonical)
	}
	e := r.cachedExpansion(vs, 0)
	return e.contains, e.err
}

// page builds the answer of $expand from an expansion.
func (r *Registry) page(vs *ValueSet, e *expansion, opts ExpandOptions) (*ValueSet, error) {
	if e.err != nil {
		return nil, e.err
	}
	if opts.Offset < 0 || opts.Count < 0 {
		return nil, fmt.Errorf("%w: offset and count cannot be negative", ErrInvalid)
	}
	codes := e.contains
	if opts.Filter != "" {
		needle := strings.ToLower(opts.Filter)
		codes = nil
		for _, c := range e.contains {
			if strings.Contains(strings.ToLower(c.Code), needle) || strings.Contains(strings.ToLower(c.Display), needle) {
				codes = append(codes, c)
			}
		}
	}
	total := len(codes)
	codes = codes[min(opts.Offset, total):]
	if opts.Count > 0 && opts.Count < len(codes) {
		codes = codes[:opts.Count]
	}
	offset := opts.Offset
	return &ValueSet{
		ResourceType: "ValueSet",
		URL:          vs.URL,
		Version:      vs.Version,
		Name:         vs.Name,
		Title:        vs.Title,
		Status:       vs.Status,
		Expansion: &Expansion{
			Identifier: "urn:fhirgate:expansion:" + canonical(vs.URL, vs.Version),
			Total:      &total,
			Offset:     &offset,
			Contains:   append([]Contains{}, codes...),
		},
	}, nil
}

// cachedExpansion expands a registered value set once per registry state.
func (r *Registry) cachedExpansion(vs *ValueSet, depth int) *expansion {
	r.mu.RLock()
	e, ok := r.expansions[vs]
	r.mu.RUnlock()
	if ok {
		return e
	}
	e = r.expand(vs, depth)
	r.mu.Lock()
	r.expansions[vs] = e
	r.mu.Unlock()
	return e
}

// expand computes a value set's whole expansion: the union of its includes, less its
// excludes, each code once, in definition order.
func (r *Registry) expand(vs *ValueSet, depth int) *expansion {
	if depth > maxDepth {
		return &expansion{err: fmt.Errorf("%w: value set %q includes value sets too deeply (a cycle?)", ErrUnsupported, vs.URL)}
	}
	if vs.Compose == nil || len(vs.Compose.Include) == 0 {
		if vs.Expansion != nil && (vs.Expansion.Total == nil || *vs.Expansion.Total == countContains(vs.Expansion.Contains)) {
			var out []Contains
			walkContains(vs.Expansion.Contains, func(c Contains) {
				if c.Code != "" {
					out = append(out, Contains{System: c.System, Version: c.Version, Code: c.Code, Display: c.Display, Abstract: c.Abstract, Inactive: c.Inactive})
				}
			})
			return &expansion{contains: out}
		}
		return &expansion{err: fmt.Errorf("%w: value set %q has no definition this server can expand", ErrUnsupported, vs.URL)}
	}
	var out []Contains
	seen := map[string]bool{}
	for _, set := range vs.Compose.Include {
		codes, err := r.expandSet(vs, set, depth)
		if err != nil {
			return &expansion{err: err}
		}
		for _, c := range codes {
			if k := c.System + "|" + c.Code; !seen[k] {
				seen[k] = true
				out = append(out, c)
			}
		}
	}
	if len(vs.Compose.Exclude) > 0 {
		excluded := map[string]bool{}
		for _, set := range vs.Compose.Exclude {
			codes, err := r.expandSet(vs, set, depth)
			if err != nil {
				return &expansion{err: err}
			}
			for _, c := range codes {
				excluded[c.System+"|"+c.Code] = true
			}
		}
		kept := out[:0]
		for _, c := range out {
			if !excluded[c.System+"|"+c.Code] {
				kept = append(kept, c)
			}
		}
		out = kept
	}
	return &expansion{contains: out}
}

// expandSet expands one include or exclude of vs.
func (r *Registry) expandSet(vs *ValueSet, set ConceptSet, depth int) ([]Contains, error) {
	var out []Contains
	if set.System != "" {
		codes, err := r.expandSystem(vs, set)
		if err != nil {
			return nil, err
		}
		out = codes
	}
	for i, url := range set.ValueSet {
		sub := r.ValueSet(url)
		if sub == nil {
			return nil, fmt.Errorf("%w: value set %q includes value set %q, which is not known to this server", ErrUnsupported, vs.URL, url)
		}
		e := r.cachedExpansion(sub, depth+1)
		if e.err != nil {
			return nil, e.err
		}
		if i == 0 && set.System == "" {
			out = e.contains
			continue
		}
		in := map[string]bool{}
		for _, c := range e.contains {
			in[c.System+"|"+c.Code] = true
		}
		var both []Contains
		for _, c := range out {
			if in[c.System+"|"+c.Code] {
				both = append(both, c)
			}
		}
		out = both
	}
	return out, nil
}

// expandSystem expands the system part of a ConceptSet: the listed codes, or the code
// system's concepts that pass every filter.
func (r *Registry) expandSystem(vs *ValueSet, set ConceptSet) ([]Contains, error) {
	cs := r.CodeSystem(canonical(set.System, set.Version))
	if len(set.Concept) > 0 {
		out := make([]Contains, 0, len(set.Concept))
		for _, c := range set.Concept {
			item := Contains{System: set.System, Code: c.Code, Display: c.Display}
			if cs != nil {
				if def := cs.concept(c.Code); def != nil {
					item.Display = firstOf(item.Display, def.Display)
					item.Abstract, item.Inactive = abstract(def), inactive(def)
				}
			}
			out = append(out, item)
		}
		return out, nil
	}
	if cs == nil || cs.Content == "not-present" {
		return nil, fmt.Errorf("%w: value set %q draws on code system %q, whose content this server does not hold", ErrUnsupported, vs.URL, set.System)
	}
	if !cs.complete() {
		return nil, fmt.Errorf("%w: value set %q draws on code system %q, of which this server holds only part (%s)", ErrUnsupported, vs.URL, set.System, cs.Content)
	}
	var out []Contains
	for _, c := range cs.idx().order {
		m := In
		for _, f := range set.Filter {
			if m = and(m, filterMatch(cs, f, c)); m != In {
				break
			}
		}
		switch m {
		case CannotTell:
			return nil, fmt.Errorf("%w: value set %q filters code system %q in a way this server does not implement", ErrUnsupported, vs.URL, set.System)
		case In:
			out = append(out, Contains{System: set.System, Code: c.Code, Display: c.Display, Abstract: abstract(c), Inactive: inactive(c)})
		}
	}
	return out, nil
}
