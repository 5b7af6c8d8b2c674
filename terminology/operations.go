package terminology

import (
	"fmt"
	"strings"
)

// LookupResult is the answer of CodeSystem $lookup.
type LookupResult struct {
	// Name is the code system's name, Version its version.
	Name, Version string
	// Display and Definition are the concept's.
	Display, Definition string
	Designation         []Designation
	// Property lists the concept's parents and children (code "parent" and "child") and its
	// own properties (status, notSelectable, ...).
	Property []ConceptProperty
}

// Lookup returns what the server knows of system|code. ErrNotFound: no such code in the
// code system, or an unknown code system. ErrUnsupported: a code system the server knows
// of but does not hold (SNOMED CT, LOINC).
func (r *Registry) Lookup(system, code string) (*LookupResult, error) {
	cs, err := r.codeSystemFor(system)
	if err != nil {
		return nil, err
	}
	c := cs.concept(code)
	if c == nil {
		if !cs.complete() {
			return nil, fmt.Errorf("%w: code %q is not in the part of code system %q this server holds", ErrUnsupported, code, cs.URL)
		}
		return nil, fmt.Errorf("%w: code %q is not in code system %q", ErrNotFound, code, cs.URL)
	}
	x := cs.idx()
	out := &LookupResult{Name: firstOf(cs.Name, cs.Title), Version: cs.Version, Display: c.Display, Definition: c.Definition, Designation: c.Designation}
	for _, p := range x.parents[code] {
		out.Property = append(out.Property, ConceptProperty{Code: "parent", Type: "Code", Value: p})
	}
	for _, ch := range x.children[code] {
		out.Property = append(out.Property, ConceptProperty{Code: "child", Type: "Code", Value: ch})
	}
	for _, p := range c.Property {
		if p.Code != "parent" && p.Code != "child" {
			out.Property = append(out.Property, p)
		}
	}
	return out, nil
}

// Validation is the answer of $validate-code.
type Validation struct {
	Result bool
	// Message says why the code is not valid, or warns of a display that does not match.
	Message string
	// Display is the code's display, where the server knows it.
	Display string
}

// ValidateCode checks system|code (and display, when given) against a value set. The code
// is valid when it is in the value set and the display, if any, is one of the concept's.
// When the server cannot tell (see Member) it answers the error, never a guess.
func (r *Registry) ValidateCode(vs *ValueSet, system, code, display string) (*Validation, error) {
	if code == "" {
		return nil, fmt.Errorf("%w: $validate-code needs a code", ErrInvalid)
	}
	m, err := r.MemberOf(vs, system, code)
	if err != nil {
		return nil, err
	}
	if m == NotIn {
		return &Validation{Message: fmt.Sprintf("The code %q is not in the value set %q.", systemCode(system, code), vs.URL)}, nil
	}
	return r.checkDisplay(system, code, display, r.displayIn(vs, system, code)), nil
}

// ValidateCodeInSystem checks system|code (and display, when given) against a code system.
func (r *Registry) ValidateCodeInSystem(system, code, display string) (*Validation, error) {
	if code == "" {
		return nil, fmt.Errorf("%w: $validate-code needs a code", ErrInvalid)
	}
	cs, err := r.codeSystemFor(system)
	if err != nil {
		return nil, err
	}
	c := cs.concept(code)
	if c == nil {
		if !cs.complete() {
			return nil, fmt.Errorf("%w: code system %q is not complete on this server, so a code it lacks may still be valid", ErrUnsupported, cs.URL)
		}
		return &Validation{Message: fmt.Sprintf("The code %q is not in the code system %q.", code, cs.URL)}, nil
	}
	return r.checkDisplay(cs.URL, code, display, c.Display), nil
}

// displayIn returns the display of the code as the value set or its code system gives it.
func (r *Registry) displayIn(vs *ValueSet, system, code string) string {
	if system != "" {
		if cs := r.CodeSystem(system); cs != nil {
			if c := cs.concept(code); c != nil {
				return c.Display
			}
		}
	}
	if vs.Compose != nil {
		for _, set := range vs.Compose.Include {
			if system != "" && set.System != system {
				continue
			}
			for _, c := range set.Concept {
				if c.Code == code && c.Display != "" {
					return c.Display
				}
			}
			if cs := r.CodeSystem(set.System); cs != nil && set.System != "" {
				if c := cs.concept(code); c != nil {
					return c.Display
				}
			}
		}
	}
	return ""
}

// checkDisplay returns a valid code's validation, false when display is given and is none
// of the concept's displays (the specification's display or a designation), ignoring case.
func (r *Registry) checkDisplay(system, code, display, want string) *Validation {
	v := &Validation{Result: true, Display: want}
	if display == "" || want == "" || strings.EqualFold(display, want) {
		return v
	}
	if cs := r.CodeSystem(system); cs != nil {
		if c := cs.concept(code); c != nil {
			for _, d := range c.Designation {
				if strings.EqualFold(display, d.Value) {
					return v
				}
			}
		}
	}
	v.Result = false
	v.Message = fmt.Sprintf("The display %q is not a display of the code %q; it should be %q.", display, systemCode(system, code), want)
	return v
}

func systemCode(system, code string) string {
	if system == "" {
		return code
	}
	return system + "|" + code
}

// TranslateRequest names what $translate maps: a code of a system, through one concept
// map (ConceptMap) or every map between a source and a target value set.
type TranslateRequest struct {
	ConceptMap     string
	Source, Target string
	System, Code   string
	// TargetSystem keeps only matches in that system.
	TargetSystem string
	// Reverse maps from the maps' targets back to their sources.
	Reverse bool
}

// Translation is the answer of $translate.
type Translation struct {
	Result  bool
	Message string
	Matches []Match
}

// Match is one translation of the code.
type Match struct {
	// Equivalence is the map's (equivalent, wider, narrower, inexact, unmatched, ...).
	Equivalence string
	Concept     Coding
	// Source is the canonical URL of the concept map that gave the match.
	Source string
}

// Translate maps a code through concept maps. Result is true when some match is not
// "unmatched" or "disjoint". ErrNotFound: the concept map named, or any map between the
// source and target, is not known.
func (r *Registry) Translate(req TranslateRequest) (*Translation, error) {
	if req.Code == "" || req.System == "" {
		return nil, fmt.Errorf("%w: $translate needs a system and a code", ErrInvalid)
	}
	maps, err := r.selectMaps(req)
	if err != nil {
		return nil, err
	}
	out := &Translation{}
	for _, m := range maps {
		for _, g := range m.Group {
			out.Matches = append(out.Matches, groupMatches(m, g, req)...)
		}
	}
	for _, m := range out.Matches {
		if m.Equivalence != "unmatched" && m.Equivalence != "disjoint" {
			out.Result = true
		}
	}
	if !out.Result {
		out.Message = fmt.Sprintf("No translation of %q was found.", systemCode(req.System, req.Code))
	}
	return out, nil
}

// selectMaps returns the maps a request names.
func (r *Registry) selectMaps(req TranslateRequest) ([]*ConceptMap, error) {
	if req.ConceptMap != "" {
		m := r.ConceptMap(req.ConceptMap)
		if m == nil {
			return nil, fmt.Errorf("%w: concept map %q is not known to this server", ErrNotFound, req.ConceptMap)
		}
		return []*ConceptMap{m}, nil
	}
	same := func(want, have string) bool {
		w, _ := splitCanonical(want)
		h, _ := splitCanonical(have)
		return w == "" || w == h
	}
	var out []*ConceptMap
	for _, m := range r.allConceptMaps() {
		src, tgt := m.Source(), m.Target()
		if req.Reverse {
			src, tgt = tgt, src
		}
		if same(req.Source, src) && same(req.Target, tgt) {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no concept map from %q to %q is known to this server", ErrNotFound, req.Source, req.Target)
	}
	// Deterministic order: by URL.
	sortMaps(out)
	return out, nil
}

// groupMatches returns one group's matches of the request's code.
func groupMatches(m *ConceptMap, g MapGroup, req TranslateRequest) []Match {
	var out []Match
	if !req.Reverse {
		if g.Source != req.System || (req.TargetSystem != "" && g.Target != req.TargetSystem) {
			return nil
		}
		for _, e := range g.Element {
			if e.Code != req.Code {
				continue
			}
			for _, t := range e.Target {
				out = append(out, Match{Equivalence: t.Equivalence, Concept: Coding{System: g.Target, Code: t.Code, Display: t.Display}, Source: m.URL})
			}
		}
		return out
	}
	if g.Target != req.System || (req.TargetSystem != "" && g.Source != req.TargetSystem) {
		return nil
	}
	for _, e := range g.Element {
		for _, t := range e.Target {
			if t.Code == req.Code {
				out = append(out, Match{Equivalence: reverseEquivalence(t.Equivalence), Concept: Coding{System: g.Source, Code: e.Code, Display: e.Display}, Source: m.URL})
			}
		}
	}
	return out
}

// reverseEquivalence is the equivalence read from the target's side.
func reverseEquivalence(e string) string {
	switch e {
	case "wider":
		return "narrower"
	case "narrower":
		return "wider"
	case "subsumes":
		return "specializes"
	case "specializes":
		return "subsumes"
	}
	return e
}
