package view

import (
	"errors"
	"fmt"
	"slices"

	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/fhirpath"
)

// Expression is one FHIRPath expression of a view, as an authorisation policy sees it.
type Expression struct {
	// Label names it in the ViewDefinition: select[0].column[1].path, where[0].path,
	// select[1].forEach, select[0].repeat.
	Label string
	// Column is the column's name for a column's path, else "".
	Column string
	Expr   *fhirpath.Expr
	// Returned is true for a column's path: its values reach the caller as they are. The
	// other expressions only choose resources (where) or nodes (forEach, repeat).
	Returned bool
}

// Checker checks an expression evaluated on nodes of type focus inside a resource of the
// view's type, and returns the types of the nodes it yields, the focus of the expressions
// below a forEach, forEachOrNull or repeat ("" for a type only evaluation tells; nil checks
// nothing below). A fault.Forbidden error refuses the view; any other error says that the
// expression does not apply to focus, which is an error only when it applies to none of the
// types it is evaluated on (below a repeat, nodes have several types).
type Checker func(e Expression, focus string) (results []string, err error)

// Check calls check with every expression of the view, the where clauses first, and every
// type of node it is evaluated on, and returns the first refusal.
func (v *View) Check(check Checker) error {
	c := &checking{check: check}
	for _, w := range v.where {
		if _, err := c.all(Expression{Label: w.label + ".path", Expr: w.expr}, []string{v.Resource}); err != nil {
			return err
		}
	}
	return c.selection(v.root, []string{v.Resource})
}

type checking struct{ check Checker }

func (c *checking) selection(s *selection, foci []string) error {
	inner := foci
	var err error
	switch s.iter {
	case iterForEach, iterForEachOrNull:
		inner, err = c.all(Expression{Label: s.iterLabel, Expr: s.iterExprs[0]}, foci)
	case iterRepeat:
		inner, err = c.repeat(s, foci)
	}
	if err != nil {
		return err
	}
	for _, col := range s.columns {
		if _, err := c.all(Expression{Label: col.label, Column: col.name, Expr: col.expr, Returned: true}, inner); err != nil {
			return err
		}
	}
	for _, sub := range append(slices.Clip(s.selects), s.unionAll...) {
		if err := c.selection(sub, inner); err != nil {
			return err
		}
	}
	return nil
}

// all checks e on nodes of each type of foci and returns the types of what it yields.
func (c *checking) all(e Expression, foci []string) ([]string, error) {
	var out []string
	var firstErr error
	applies := len(foci) == 0
	for _, f := range foci {
		types, err := c.check(e, f)
		if errors.Is(err, fault.Forbidden) {
			return nil, err
		}
		if err != nil {
			firstErr = cmpOr(firstErr, err)
			continue
		}
		applies = true
		for _, t := range types {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	if !applies {
		return nil, firstErr
	}
	return out, nil
}

// repeat checks s's repeat paths on the nodes they reach, round after round until no new type
// appears; each path must apply to one of them.
func (c *checking) repeat(s *selection, foci []string) ([]string, error) {
	var reached []string
	errs := make([]error, len(s.iterExprs))
	applies := make([]bool, len(s.iterExprs))
	frontier := foci
	for round := 0; len(frontier) > 0; round++ {
		if round == maxRepeatTypes {
			return nil, fmt.Errorf("%w: %s: the paths reach values of ever more types", ErrInvalid, s.iterLabel)
		}
		var next []string
		for i, e := range s.iterExprs {
			types, err := c.all(Expression{Label: fmt.Sprintf("%s[%d]", s.iterLabel, i), Expr: e}, frontier)
			if errors.Is(err, fault.Forbidden) {
				return nil, err
			}
			if err != nil {
				errs[i] = cmpOr(errs[i], err)
				continue
			}
			applies[i] = true
			for _, t := range types {
				if !slices.Contains(reached, t) {
					reached = append(reached, t)
					next = append(next, t)
				}
			}
		}
		frontier = next
	}
	for i, err := range errs {
		if !applies[i] && err != nil {
			return nil, err
		}
	}
	return reached, nil
}

// cmpOr returns a unless it is nil, else b.
func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
