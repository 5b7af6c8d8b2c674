package search

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/fhirgate/fhirgate/storage"
)

// patients are Patient compartments reached through Observation.subject only.
func patients(ids ...string) *Owners {
	return &Owners{IDs: ids, Compartment: Compartment{Type: "Patient", Params: func(typ string) []string {
		if typ == "Observation" {
			return []string{"subject"}
		}
		return nil
	}}}
}

// TestScan pages through every match in id order, a page at a time, within compartments
// when given; ScanCount counts the same; an error of the callback stops the scan.
func TestScan(t *testing.T) {
	s := newStore(t)
	var docs []string
	for i := range 7 {
		docs = append(docs, fmt.Sprintf(`{"resourceType":"Observation","id":"o%d","status":"%s","code":{"text":"x"},"subject":{"reference":"Patient/p%d"}}`,
			i, map[bool]string{true: "final", false: "amended"}[i%2 == 0], i%3))
	}
	put(t, s, docs...)
	r := &Runner{Store: s, ListLimit: 100}
	ctx := context.Background()
	scan := func(args map[string]any, within *Owners, page int) string {
		t.Helper()
		q, err := Parse("Observation", args)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		if err := r.Scan(ctx, q, within, page, func(rec *storage.Record) error { got = append(got, rec.ID); return nil }); err != nil {
			t.Fatal(err)
		}
		n, err := r.ScanCount(ctx, q, within)
		if err != nil || int(n) != len(got) {
			t.Errorf("ScanCount %d (%v), Scan gave %d", n, err, len(got))
		}
		return fmt.Sprint(got)
	}
	cases := []struct {
		args   map[string]any
		within *Owners
		page   int
		want   string
	}{
		{nil, nil, 2, "[o0 o1 o2 o3 o4 o5 o6]"},
		{nil, nil, 7, "[o0 o1 o2 o3 o4 o5 o6]"}, // a full last page, then an empty one
		{nil, nil, 100, "[o0 o1 o2 o3 o4 o5 o6]"},
		{map[string]any{"status": "final"}, nil, 1, "[o0 o2 o4 o6]"},
		{nil, patients("p1"), 1, "[o1 o4]"},
		{nil, patients("p1", "p2"), 3, "[o1 o2 o4 o5]"},
		{map[string]any{"status": "final"}, patients("p0"), 2, "[o0 o6]"},
	}
	for _, c := range cases {
		if got := scan(c.args, c.within, c.page); got != c.want {
			t.Errorf("scan %v within %v, pages of %d: %s, want %s", c.args, c.within, c.page, got, c.want)
		}
	}
	// A type in none of the compartments yields nothing.
	q, _ := Parse("Practitioner", nil)
	calls := 0
	if err := r.Scan(ctx, q, patients("p1"), 5, func(*storage.Record) error { calls++; return nil }); err != nil || calls != 0 {
		t.Errorf("Practitioner in a patient compartment: %d calls, %v", calls, err)
	}
	q, _ = Parse("Observation", nil)
	if err := r.Scan(ctx, q, patients(), 5, func(*storage.Record) error { calls++; return nil }); err != nil || calls != 0 {
		t.Errorf("no owners: %d calls, %v", calls, err)
	}
	stop := errors.New("stop")
	q, _ = Parse("Observation", nil)
	calls = 0
	if err := r.Scan(ctx, q, nil, 2, func(*storage.Record) error { calls++; return stop }); err != stop || calls != 1 {
		t.Errorf("stopped scan: %d calls, %v", calls, err)
	}
	if err := r.Scan(ctx, q, nil, 0, nil); err == nil {
		t.Error("page size 0 accepted")
	}
}
