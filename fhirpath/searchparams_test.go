package fhirpath

import (
	"fmt"
	"testing"

	"github.com/fhirgate/fhirgate/model"
)

type searchParam struct {
	ID         string // "<Type>-<code>", or "<Type>-<code>#<n>" for a composite's component
	Expression string
}

// loadSearchParams returns every R4 search-parameter expression from the committed table that
// fhirgen generates into package model, per resource type, composite components included.
func loadSearchParams(t testing.TB) []searchParam {
	t.Helper()
	var out []searchParam
	for _, typ := range model.ResourceTypes() {
		for _, p := range model.SearchParams(typ) {
			if p.Expression != "" {
				out = append(out, searchParam{ID: typ + "-" + p.Code, Expression: p.Expression})
			}
			for i, c := range p.Components {
				out = append(out, searchParam{ID: fmt.Sprintf("%s-%s#%d", typ, p.Code, i), Expression: c.Expression})
			}
		}
	}
	return out
}

// TestR4SearchParameterExpressionsCompile compiles every expression of the
// R4 search parameters; the whole set must be inside the supported subset.
func TestR4SearchParameterExpressionsCompile(t *testing.T) {
	params := loadSearchParams(t)
	if len(params) < 1000 {
		t.Fatalf("found %d search parameter expressions, want the full R4 set (>1000)", len(params))
	}
	ok := 0
	for _, p := range params {
		if _, err := Compile(p.Expression); err != nil {
			t.Errorf("SearchParameter %s: %v", p.ID, err)
			continue
		}
		ok++
	}
	t.Logf("compiled %d of %d R4 search parameter expressions", ok, len(params))
}

// TestR4SearchParameterExpressionsEvaluate evaluates every expression whose
// base matches an example resource and checks that none fails at run time,
// and that the common ones find data where the example has it.
func TestR4SearchParameterExpressionsEvaluate(t *testing.T) {
	params := loadSearchParams(t)
	examples := map[string]map[string]any{}
	for _, f := range []string{"Patient-example.json", "Observation-example.json", "Observation-blood-pressure.json", "Condition-example.json", "Bundle-bundle-example.json"} {
		res := loadExample(t, f)
		examples[f] = res
	}
	nonEmpty := map[string]int{}
	for _, p := range params {
		e, err := Compile(p.Expression)
		if err != nil {
			continue // reported by the compile test
		}
		for f, res := range examples {
			got, err := e.Eval(res)
			if err != nil {
				t.Errorf("%s on %s: %v", p.ID, f, err)
			}
			if len(got) > 0 {
				nonEmpty[p.ID]++
			}
		}
	}
	for _, id := range []string{
		"Patient-family", "Observation-patient", "Condition-code", "Observation-code",
		"Observation-value-quantity", "Observation-component-code",
		"Observation-combo-code", "Patient-deceased", "Bundle-composition",
	} {
		if nonEmpty[id] == 0 {
			t.Errorf("search parameter %s found nothing on the examples", id)
		}
	}
}
