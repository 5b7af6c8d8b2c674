package fhirpath

import (
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"
)

// CompileFor compiles an expression for a context: a type (Patient, Quantity) or an element
// path (Patient.contact, Observation.component), as a StructureDefinition's invariants are
// declared. Beyond Compile's checks, every name the expression navigates must be an element
// of the type it is applied to, resolved with the R4 StructureDefinitions (a choice element
// by its base name), so a path that cannot exist is an *Error. Compiled expressions are
// cached (see Cached).
func CompileFor(context, expr string) (*Expr, error) {
	return cached(context, expr)
}

// Cached is Compile with a bounded cache of the most recently compiled expressions, for
// expressions that callers choose and repeat (query arguments, invariants, $fhirpath).
func Cached(expr string) (*Expr, error) { return cached("", expr) }

// CachedExpressions returns the number of compiled expressions in the cache.
func CachedExpressions() int { return compiled.Len() }

// compiledCacheSize bounds the compiled expressions kept; callers choose the expressions, so
// the cache keeps the most recently used, not every one ever sent.
const compiledCacheSize = 4096

type cacheKey struct{ context, expr string }

var compiled, _ = lru.New[cacheKey, *Expr](compiledCacheSize) // the size is valid

func cached(context, expr string) (*Expr, error) {
	k := cacheKey{context, expr}
	if e, ok := compiled.Get(k); ok {
		return e, nil
	}
	e, err := Compile(expr)
	if err != nil {
		return nil, err
	}
	if context != "" {
		if err := e.check(context); err != nil {
			return nil, err
		}
	}
	compiled.Add(k, e)
	return e, nil
}

// check verifies that the expression's paths exist on the context (a type or element path).
func (e *Expr) check(context string) error {
	resource, _, _ := strings.Cut(context, ".")
	if !isResourceType(resource) {
		resource = "" // a data type's invariant applies inside any resource
	}
	focus, ok := PathType(context)
	if !ok {
		return &Error{Expr: e.src, Pos: -1, Msg: "unknown context " + context}
	}
	_, _, err := e.ReadsIn(resource, focus, fhirSchema{})
	return err
}

// PathType returns the type of the element at a FHIR path (Patient.contact.name is
// HumanName; Patient.contact is the backbone element PatientContact). A choice element
// (Observation.value[x]) has no single type: its type is "" with ok true.
func PathType(path string) (string, bool) {
	parts := strings.Split(path, ".")
	t := parts[0]
	if !knownType(t) {
		return "", false
	}
	for _, p := range parts[1:] {
		if strings.HasSuffix(p, "[x]") {
			return "", true
		}
		next, known := elementType(t, p)
		if !known && !isUpper(t) {
			// A primitive's only elements are its id and extensions.
			next, known = map[string]string{"id": "string", "extension": "Extension"}[p], true
		}
		if !known || next == "" {
			return "", false
		}
		t = next
	}
	return t, true
}

// isResourceType reports whether t is a resource type (or one of the abstract Resource,
// DomainResource, MetadataResource).
func isResourceType(t string) bool { return t == "Resource" || specialises(t, "Resource") }
