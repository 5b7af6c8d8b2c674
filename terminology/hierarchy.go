package terminology

import "fmt"

// Descendants returns code and every code below it in the is-a hierarchy of system's code
// system (just code when the code system is flat). ErrUnsupported or ErrNotFound when the
// server does not hold that code system (see Lookup).
func (r *Registry) Descendants(system, code string) ([]string, error) {
	cs, err := r.codeSystemFor(system)
	if err != nil {
		return nil, err
	}
	return closure(code, cs.idx().children), nil
}

// Ancestors returns code and every code above it in the is-a hierarchy of system's code
// system, as Descendants does.
func (r *Registry) Ancestors(system, code string) ([]string, error) {
	cs, err := r.codeSystemFor(system)
	if err != nil {
		return nil, err
	}
	return closure(code, cs.idx().parents), nil
}

// HasHierarchy reports whether the server holds system's code system and it has an is-a
// hierarchy (some code has a parent).
func (r *Registry) HasHierarchy(system string) bool {
	cs := r.CodeSystem(system)
	return cs != nil && cs.hasHierarchy()
}

// Subsumption is the outcome of $subsumes.
type Subsumption string

// The outcomes of $subsumes.
const (
	Equivalent  Subsumption = "equivalent"
	Subsumes    Subsumption = "subsumes"
	SubsumedBy  Subsumption = "subsumed-by"
	NotSubsumed Subsumption = "not-subsumed"
)

// Subsumes tests the relation of codeA to codeB in system's is-a hierarchy. Both codes must
// be in the code system (ErrInvalid otherwise).
func (r *Registry) Subsumes(system, codeA, codeB string) (Subsumption, error) {
	cs, err := r.codeSystemFor(system)
	if err != nil {
		return "", err
	}
	for _, c := range []string{codeA, codeB} {
		if c == "" {
			return "", fmt.Errorf("%w: $subsumes needs codeA and codeB", ErrInvalid)
		}
		if cs.concept(c) == nil {
			return "", fmt.Errorf("%w: code %q is not in code system %q", ErrInvalid, c, cs.URL)
		}
	}
	switch {
	case codeA == codeB:
		return Equivalent, nil
	case cs.subsumes(codeA, codeB):
		return Subsumes, nil
	case cs.subsumes(codeB, codeA):
		return SubsumedBy, nil
	}
	return NotSubsumed, nil
}
