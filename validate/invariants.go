package validate

import (
	"errors"
	"fmt"

	"github.com/fhirgate/fhirgate/fhirpath"
)

// Engine compiles invariant expressions (FHIRPath).
type Engine interface {
	Compile(expr string) (Expression, error)
}

// Expression is a compiled invariant expression.
type Expression interface {
	// Eval evaluates the expression with focus as its context: an element (a JSON object
	// or primitive value) of resource, the innermost enclosing resource (%resource), inside
	// root (%rootResource). It returns the result collection as JSON values.
	// focusType is the focus's FHIR type (Period, Reference, Patient).
	Eval(focus any, focusType string, resource, root map[string]any) ([]any, error)
}

// invariant is a compiled constraint, or why it cannot be evaluated.
type invariant struct {
	c      Constraint
	expr   Expression
	native bool // checked by Go code (ele-1, ext-1, htmlChecks), not the engine
	err    error
}

// nativeKeys are the invariants checked natively, for speed: TestNativeInvariantsAgree
// shows they agree with their expressions on the official examples.
var nativeKeys = map[string]bool{"ele-1": true, "ext-1": true}

func compileInvariant(e Engine, c Constraint) invariant {
	if nativeKeys[c.Key] || c.Expression == "htmlChecks()" {
		return invariant{c: c, native: true}
	}
	x, err := e.Compile(c.Expression)
	return invariant{c: c, expr: x, err: err}
}

// EvalErrors, when set (by tests), receives the errors of invariant evaluations; they are
// otherwise not reported, as the data alone cannot be blamed for them.
var EvalErrors func(key, loc string, err error)

// invariants evaluates the constraints on focus at loc. A constraint holds unless its
// expression yields false; an empty result or an evaluation error is not a finding (many R4
// expressions are empty when an optional element is absent: ref-1 on a display-only
// Reference).
func (w *walker) invariants(focus any, idx []int, focusType, loc string) {
	for _, i := range idx {
		w.invariant(&w.v.inv[i], focus, focusType, loc, "")
	}
}

// invariant evaluates one constraint on focus at loc; from, when not empty, names the
// profile that adds it.
func (w *walker) invariant(inv *invariant, focus any, focusType, loc, from string) {
	if inv.native || inv.expr == nil {
		return
	}
	var res, root map[string]any
	if n := len(w.resources); n > 0 {
		res, root = w.resources[n-1], w.resources[0]
	}
	out, err := safeEval(inv.expr, focus, focusType, res, root)
	if err != nil {
		if EvalErrors != nil {
			EvalErrors(inv.c.Key, loc, err)
		}
		return
	}
	if len(out) == 1 && out[0] == false {
		sev := SeverityError
		if inv.c.Severity == "warning" {
			sev = SeverityWarning
		}
		w.out.Issues = append(w.out.Issues, Issue{Severity: sev, Code: "invariant", Expression: loc, Key: inv.c.Key,
			Diagnostics: inv.c.Key + ": " + inv.c.Human + from})
	}
}

// fhirpathEngine evaluates invariants with package fhirpath; memberOf() asks terms.
type fhirpathEngine struct{ terms Terminology }

type fhirpathExpr struct {
	x     *fhirpath.Expr
	terms fhirpath.Terminology
}

func (e fhirpathEngine) Compile(expr string) (Expression, error) {
	x, err := fhirpath.Compile(expr)
	if err != nil {
		return nil, err
	}
	return fhirpathExpr{x: x, terms: e.terms}, nil
}

func (e fhirpathExpr) Eval(focus any, focusType string, resource, root map[string]any) ([]any, error) {
	if resource == nil {
		return nil, errNoResource
	}
	opts := &fhirpath.Options{Context: &fhirpath.Value{Data: focus, Type: focusType}, RootResource: root, Terminology: e.terms}
	vals, err := e.x.EvalOptions(resource, opts)
	if err != nil {
		return nil, err
	}
	out := make([]any, len(vals))
	for i, v := range vals {
		out[i] = v.Data
	}
	return out, nil
}

// errNoResource reports an invariant evaluated outside any resource.
var errNoResource = errors.New("validate: invariant evaluated outside a resource")

// safeEval evaluates an invariant, turning a panic of the engine into an error: a write is
// never lost to a bug in one expression's evaluation.
func safeEval(x Expression, focus any, focusType string, res, root map[string]any) (out []any, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("validate: invariant evaluation panicked: %v", r)
		}
	}()
	return x.Eval(focus, focusType, res, root)
}
