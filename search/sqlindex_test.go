package search

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/storage"
)

// obsDay is the effective day of synthetic observation i (see observation).
func obsDay(i int) time.Time {
	return time.Date(2015, 1, 1, 8, 0, 0, 0, time.UTC).AddDate(0, 0, i%3650)
}

// indexCase is a search with the ids of the synthetic observations 0..n-1 it matches.
type indexCase struct {
	args  map[string]any
	want  func(i int) bool
	exact bool // the index query expresses the whole search
}

func indexCases() []indexCase {
	since := time.Date(2023, 6, 1, 0, 0, 0, 0, time.UTC)
	day := obsDay(1007)
	return []indexCase{
		{map[string]any{"code": "http://loinc.org|code-7"}, func(i int) bool { return i%50 == 7 }, true},
		{map[string]any{"code": "code-7"}, func(i int) bool { return i%50 == 7 }, true},
		{map[string]any{"code": "http://loinc.org|code-7", "date": map[string]any{"ge": "2023-06"}},
			func(i int) bool { return i%50 == 7 && !obsDay(i).Before(since) }, true},
		{map[string]any{"subject": "Patient/p7"}, func(i int) bool { return i%1000 == 7 }, true},
		{map[string]any{"patient": "Patient/p7", "code": "code-7"}, func(i int) bool { return i%1000 == 7 }, true},
		{map[string]any{"date": day.Format("2006-01-02")}, func(i int) bool { return i%3650 == 1007 }, true},
		{map[string]any{"code": []any{"code-7", "code-8"}}, func(i int) bool { return i%50 == 7 || i%50 == 8 }, true},
		// Conditions SQL leaves to Go: the index narrows, the check in Go decides.
		{map[string]any{"code": "code-7", "value_quantity": map[string]any{"gt": "60"}},
			func(i int) bool { return i%50 == 7 && 40+i%60 >= 60 }, true},
		{map[string]any{"code": "code-7", "status": map[string]any{"not": "final"}}, func(int) bool { return false }, false},
		{map[string]any{"code": "code-7", "combo_code": map[string]any{"text": "Test 7"}}, func(i int) bool { return i%50 == 7 }, false},
	}
}

// TestIndexTableServesSearches: on the embedded engine, the searches of indexCases run as
// SQLite index searches (no scan of the index table), find exactly the expected
// resources, count them in SQL when the translation is exact, and page in order.
func TestIndexTableServesSearches(t *testing.T) {
	if !testClient.Embedded() {
		t.Skip("the index table belongs to the embedded engine")
	}
	ctx := context.Background()
	s := newStore(t)
	const n = 3000
	seed(t, s, n)

	checked := 0
	for _, c := range indexCases() {
		name := fmt.Sprint(c.args)
		q, err := Parse("Observation", c.args)
		if err != nil {
			t.Fatal(err)
		}
		f, err := q.Filter(ctx, StoreFinder{Store: s})
		if err != nil {
			t.Fatal(err)
		}
		plan, exact, err := s.ExplainIndex(ctx, "Observation", f, q.order(false))
		if err != nil {
			t.Fatal(err)
		}
		if plan == "" || !strings.Contains(plan, "USING") || strings.Contains(plan, "SCAN d") {
			t.Errorf("%s: plan\n%s\nwant an index search", name, plan)
		}
		if exact != c.exact {
			t.Errorf("%s: exact translation %v, want %v", name, exact, c.exact)
		}

		var want []string
		for i := 0; i < n; i++ {
			if c.want(i) {
				want = append(want, fmt.Sprintf("o%d", i))
			}
		}
		slices.Sort(want)
		got, err := ids(t, s, "Observation", c.args)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("%s: got %d ids, want %d (%v... vs %v...)", name, len(got), len(want), head(got), head(want))
		}
		cnt, err := s.Count(ctx, "Observation", storage.Query{Filter: f})
		if err != nil || cnt != int64(len(want)) {
			t.Errorf("%s: Count = %d, %v; want %d", name, cnt, err, len(want))
		}

		// A connection pages through the same matches in _id order, 7 at a time.
		args := map[string]any{"_count": 7}
		for k, v := range c.args {
			args[k] = v
		}
		var paged []string
		r := &Runner{Store: s, ListLimit: 1000, PageSize: 7}
		for cur := ""; ; {
			if cur != "" {
				args["_cursor"] = cur
			}
			q, err := Parse("Observation", args)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := r.Connection(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range conn.Edges {
				paged = append(paged, e.Resource.ResourceID())
			}
			if conn.Next == nil || len(paged) > len(want) {
				break
			}
			cur = *conn.Next
		}
		if !slices.Equal(paged, want) && !(len(paged) == 0 && len(want) == 0) {
			t.Errorf("%s: paged %d ids, want %d", name, len(paged), len(want))
		}
		checked++
	}
	// _sort on an indexed parameter, both ways, through the index table.
	for _, sortArg := range []string{"date", "-date"} {
		args := map[string]any{"code": "http://loinc.org|code-7", "_sort": sortArg}
		q, err := Parse("Observation", args)
		if err != nil {
			t.Fatal(err)
		}
		f, _ := q.Filter(ctx, StoreFinder{Store: s})
		if plan, _, err := s.ExplainIndex(ctx, "Observation", f, q.order(false)); err != nil || !strings.Contains(plan, "USING") {
			t.Errorf("_sort %s: plan %q, %v; want an index search", sortArg, plan, err)
		}
		got, err := ids(t, s, "Observation", args)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for i := 7; i < n; i += 50 { // days grow with i below 3,650
			want = append(want, fmt.Sprintf("o%d", i))
		}
		if sortArg[0] == '-' {
			slices.Reverse(want)
		}
		if !slices.Equal(got, want) {
			t.Errorf("_sort %s: %v..., want %v...", sortArg, head(got), head(want))
		}
		checked++
	}

	t.Logf("%d searches checked against %d observations", checked, n)
	if checked != len(indexCases())+2 {
		t.Fatalf("checked %d searches", checked)
	}
}

func head(s []string) []string { return s[:min(len(s), 5)] }

// TestIndexTableFollowsWrites: a search through the index table sees the write that
// preceded it: a new resource, a changed code, a deletion.
func TestIndexTableFollowsWrites(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	put(t, s, observation(7), observation(57))
	find := func() string {
		got, err := ids(t, s, "Observation", map[string]any{"code": "http://loinc.org|code-7"})
		if err != nil {
			t.Fatal(err)
		}
		return join(got)
	}
	if got := find(); got != "o57,o7" {
		t.Fatalf("after create: %q, want o57,o7", got)
	}
	put(t, s, strings.Replace(observation(57), `"code-7"`, `"code-8"`, 1))
	if got := find(); got != "o7" {
		t.Fatalf("after update: %q, want o7", got)
	}
	if _, err := s.Commit(ctx, []storage.Write{{Op: storage.OpDelete, Type: "Observation", ID: "o7"}}); err != nil {
		t.Fatal(err)
	}
	if got := find(); got != "" {
		t.Fatalf("after delete: %q, want none", got)
	}
	put(t, s, observation(7))
	if got := find(); got != "o7" {
		t.Fatalf("after re-create: %q, want o7", got)
	}
}
