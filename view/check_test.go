package view

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/fault"
)

// typesChecker records each check and types the expression with the R4 definitions.
type typesChecker struct {
	seen   []string
	refuse string // a column refused as a policy would
}

func (c *typesChecker) check(e Expression, focus string) ([]string, error) {
	c.seen = append(c.seen, fmt.Sprintf("%s@%s returned=%t", e.Label, focus, e.Returned))
	if e.Column != "" && e.Column == c.refuse {
		return nil, fmt.Errorf("%w: column %s", fault.Forbidden, e.Column)
	}
	return e.Expr.ResultTypes("QuestionnaireResponse", focus)
}

// TestCheck: every expression is checked on the types of the nodes it is evaluated on, the
// where clauses first; repeat's paths on every type they reach; a refusal stops the check.
func TestCheck(t *testing.T) {
	v, err := Parse([]byte(`{"resource":"QuestionnaireResponse","where":[{"path":"status = 'completed'"}],"select":[
		{"column":[{"name":"id","path":"id"}]},
		{"forEach":"item","column":[{"name":"link","path":"linkId"}],"unionAll":[{"column":[{"name":"t","path":"text"}]},{"column":[{"name":"t","path":"definition"}]}]},
		{"repeat":["item","answer.item"],"column":[{"name":"deep","path":"linkId"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	c := &typesChecker{}
	if err := v.Check(c.check); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"where[0].path@QuestionnaireResponse returned=false",
		"select[0].column[0].path@QuestionnaireResponse returned=true",
		"select[1].forEach@QuestionnaireResponse returned=false",
		"select[1].column[0].path@QuestionnaireResponseItem returned=true",
		"select[1].unionAll[0].column[0].path@QuestionnaireResponseItem returned=true",
		"select[1].unionAll[1].column[0].path@QuestionnaireResponseItem returned=true",
		// repeat: both paths on the resource (answer.item does not apply there), then on
		// the items they reach, until no new type appears.
		"select[2].repeat[0]@QuestionnaireResponse returned=false",
		"select[2].repeat[1]@QuestionnaireResponse returned=false",
		"select[2].repeat[0]@QuestionnaireResponseItem returned=false",
		"select[2].repeat[1]@QuestionnaireResponseItem returned=false",
		"select[2].column[0].path@QuestionnaireResponseItem returned=true",
	}
	if !slices.Equal(c.seen, want) {
		t.Errorf("checks\n got %s\nwant %s", strings.Join(c.seen, "\n     "), strings.Join(want, "\n     "))
	}
	c = &typesChecker{refuse: "link"}
	if err := v.Check(c.check); !errors.Is(err, fault.Forbidden) || !strings.Contains(err.Error(), "column link") {
		t.Errorf("refused column: %v", err)
	}
	if last := c.seen[len(c.seen)-1]; !strings.HasPrefix(last, "select[1].column[0]") {
		t.Errorf("checked on after a refusal: %s", last)
	}
}
