package api

import (
	"bytes"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/fhirgate/fhirgate/graph"
	"github.com/fhirgate/fhirgate/rewrite"
)

var testSchema = graph.NewExecutableSchema(graph.Config{}).Schema()

func schemaForTest() *ast.Schema { return testSchema }

// measureQuery validates query against the schema and measures its one operation, returning
// the depth, cost and number of selections visited.
func measureQuery(t *testing.T, query string) (depth, cost, visits int) {
	t.Helper()
	schema := schemaForTest()
	doc, errs := gqlparser.LoadQuery(schema, query)
	if len(errs) > 0 {
		t.Fatalf("invalid query %s: %v", truncateQuery(query), errs)
	}
	m := newLimitsExtension(Limits{ListGuess: 10}, 20, 0, schema).measurer(nil)
	depth, cost, err := m.operation(doc.Operations[0])
	if err != nil {
		t.Fatalf("measure %s: %v", truncateQuery(query), err)
	}
	return depth, cost, m.visits
}

func truncateQuery(q string) string {
	if len(q) > 200 {
		return q[:200] + "…"
	}
	return q
}

// selections counts the selections written in a document: each fragment once, however often
// it is spread.
func selections(doc *ast.QueryDocument) int {
	var count func(ast.SelectionSet) int
	count = func(set ast.SelectionSet) int {
		n := 0
		for _, sel := range set {
			n++
			switch s := sel.(type) {
			case *ast.Field:
				n += count(s.SelectionSet)
			case *ast.InlineFragment:
				n += count(s.SelectionSet)
			}
		}
		return n
	}
	n := 0
	for _, op := range doc.Operations {
		n += count(op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		n += count(f.SelectionSet)
	}
	return n
}

// randomFragments builds a query of k fragments on Patient, fragment i spreading the one
// before it and random earlier ones, one to three times each, directly or under references to resources, and
// the same query with every spread written out in place as an inline fragment.
func randomFragments(r *rand.Rand, k int) (named, expanded string) {
	bodies := make([]string, k)
	var doc strings.Builder
	for i := range k {
		parts := []string{[]string{"id", "gender", "name { family given }", "birthDate"}[r.Intn(4)]}
		inline := []string{parts[0]}
		for j := 0; j < i; j++ {
			if j < i-1 && r.Intn(3) != 0 {
				continue // every fragment spreads the one before it, so that all are used
			}
			for range 1 + r.Intn(3) {
				spread, body := "...F"+fmt.Sprint(j), "... on Patient { "+bodies[j]+" }"
				if r.Intn(2) == 0 {
					wrap := []string{"generalPractitioner { resource { %s } }", "link { other { resource { %s } } }"}[r.Intn(2)]
					spread, body = fmt.Sprintf(wrap, spread), fmt.Sprintf(wrap, body)
				}
				parts, inline = append(parts, spread), append(inline, body)
			}
		}
		bodies[i] = strings.Join(inline, " ")
		fmt.Fprintf(&doc, "fragment F%d on Patient { %s }\n", i, strings.Join(parts, " "))
	}
	op := fmt.Sprintf("{ PatientList(_count: 3) { ...F%d } }", k-1)
	return doc.String() + op, fmt.Sprintf("{ PatientList(_count: 3) { %s } }", bodies[k-1])
}

// TestMeasureVisitsEachSelectionOnce is a property over random fragment graphs: the measure
// visits exactly the selections written in the query (linear in its size, however often
// fragments spread each other), and finds the same depth and cost as on the query with
// every fragment written out in place.
func TestMeasureVisitsEachSelectionOnce(t *testing.T) {
	r := rand.New(rand.NewSource(15))
	checked := 0
	for trial := 0; trial < 200; trial++ {
		named, expanded := randomFragments(r, 2+r.Intn(6))
		doc, errs := gqlparser.LoadQuery(schemaForTest(), named)
		if len(errs) > 0 {
			t.Fatalf("invalid query %s: %v", named, errs)
		}
		depth, cost, visits := measureQuery(t, named)
		if want := selections(doc); visits != want {
			t.Fatalf("visited %d selections of a query that has %d:\n%s", visits, want, named)
		}
		if len(expanded) > 200_000 {
			continue // written out, too large to check against
		}
		wantDepth, wantCost, _ := measureQuery(t, expanded)
		if depth != wantDepth || cost != wantCost {
			t.Fatalf("depth %d cost %d, written out: depth %d cost %d\n%s", depth, cost, wantDepth, wantCost, named)
		}
		checked++
	}
	t.Logf("%d random fragment graphs checked against their written-out queries", checked)
	if checked < 100 {
		t.Errorf("only %d of 200 graphs were small enough to write out", checked)
	}
}

// TestMeasureLinearInQuerySize: fragment-doubling queries and alias floods of growing size are
// measured in a number of steps that grows exactly linearly with the query, while the cost they
// describe doubles per level (and saturates).
func TestMeasureLinearInQuerySize(t *testing.T) {
	for _, levels := range []int{5, 10, 20, 40, 80} {
		var b strings.Builder
		b.WriteString("fragment F0 on Patient { id }\n")
		for i := 1; i <= levels; i++ {
			fmt.Fprintf(&b, "fragment F%d on Patient { ...F%d ...F%d }\n", i, i-1, i-1)
		}
		fmt.Fprintf(&b, "{ Patient(id: \"x\") { ...F%d } }", levels)
		_, cost, visits := measureQuery(t, b.String())
		// The operation's field and spread, F0's field, two spreads per level.
		if want := 3 + 2*levels; visits != want {
			t.Errorf("%d levels: %d visits, want %d", levels, visits, want)
		}
		want := costCap
		if levels < 40 {
			want = readCost + 1<<levels
		}
		if cost != want {
			t.Errorf("%d levels: cost %d, want %d", levels, cost, want)
		}
	}
	for _, n := range []int{10, 100, 1000, 3000} {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			fmt.Fprintf(&b, " a%d: __typename", i)
		}
		_, cost, visits := measureQuery(t, b.String()+" }")
		if visits != n || cost != n {
			t.Errorf("%d aliases: %d visits, cost %d, want %d and %d", n, visits, cost, n, n)
		}
	}
}

// TestRewriteTokensCountedWithoutPrinting: the rewrite of untyped selections shares fields
// between the fragments it makes, and counts the tokens of the query it will print without
// printing it: the count on the shared form equals the count on the printed query parsed
// again, and the tokens outside selections are the same before and after.
func TestRewriteTokensCountedWithoutPrinting(t *testing.T) {
	r := rewrite.NewSelections(schemaForTest())
	queries := []string{
		`{ ObservationList(_count: 1) { subject { resource { id text { div } } } } }`,
		`query Q($n: Int) { ObservationList(_count: $n) { subject { resource { id meta { versionId } status code { text } } } } }`,
		`{ ObservationList { subject { resource { subject { resource { text { div } } } } } } }`,
		`{ Patient(id: "p") { ObservationList(_reference: subject, status: "final", _count: 2) { id } } }`,
		`fragment S on Reference { resource { id status } }
		 { ConditionList(code: {text: ["x"]}) { subject { ...S } asserter @include(if: true) { ...S } } }`,
	}
	for _, q := range queries {
		doc, err := parser.ParseQuery(&ast.Source{Input: q})
		if err != nil {
			t.Fatal(err)
		}
		before := rewrite.SelectionTokens(doc)
		if !r.Rewrite(doc) {
			t.Fatalf("%s: nothing to rewrite", q)
		}
		counted := rewrite.SelectionTokens(doc)
		var buf bytes.Buffer
		formatter.NewFormatter(&buf).FormatQueryDocument(doc)
		printed := buf.String()
		again, err := parser.ParseQuery(&ast.Source{Input: printed})
		if err != nil {
			t.Fatalf("%s: rewritten query does not parse: %v", q, err)
		}
		if got := rewrite.SelectionTokens(again); got != counted {
			t.Errorf("%s: counted %d tokens in the shared form, %d printed", q, counted, got)
		}
		outside, outsideAfter := countTokens(q, 1<<30)-before, countTokens(printed, 1<<30)-counted
		// The printer spells out the "query" of an anonymous operation.
		if outsideAfter != outside && outsideAfter != outside+1 {
			t.Errorf("%s: %d tokens outside selections, %d after the rewrite", q, outside, outsideAfter)
		}
		t.Logf("%d tokens, %d once rewritten", countTokens(q, 1<<30), countTokens(printed, 1<<30))
	}
}
