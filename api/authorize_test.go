package api

import (
	"fmt"
	"testing"

	"github.com/fhirgate/fhirgate/graph"
	"github.com/fhirgate/fhirgate/model"
)

// TestParamFields: a search parameter reads the schema coordinates along its expression.
func TestParamFields(t *testing.T) {
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	expr := func(typ, code string) string {
		for _, p := range model.SearchParams(typ) {
			if p.Code == code {
				return p.Expression
			}
		}
		t.Fatalf("no %s.%s", typ, code)
		return ""
	}
	cases := []struct{ typ, code, want string }{
		{"Patient", "family", "[{Patient name} {HumanName family}]"},
		{"Patient", "phone", "[{Patient telecom}]"},
		{"Patient", "birthdate", "[{Patient birthDate}]"},
		{"Observation", "value-quantity", "[{Observation valueQuantity} {Observation valueSampledData}]"},
		{"Observation", "subject", "[{Observation subject}]"},
		{"Patient", "_tag", "[{Patient meta} {Meta tag}]"},
		{"Condition", "onset-date", "[{Condition onsetDateTime} {Condition onsetPeriod}]"},
	}
	for _, c := range cases {
		if got := fmt.Sprint(paramFields(schema, c.typ, expr(c.typ, c.code))); got != c.want {
			t.Errorf("%s.%s (%s): %s, want %s", c.typ, c.code, expr(c.typ, c.code), got, c.want)
		}
	}
}
