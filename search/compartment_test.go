package search

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/storage"
)

// TestCompartmentScope: a compartment given as plain data confines storage to its owner and
// the resources that refer to the owner through the named parameters, whatever the engine:
// reads, searches and counts see nothing else, and writes go through the admit rule.
func TestCompartmentScope(t *testing.T) {
	s := newStore(t)
	put(t, s,
		`{"resourceType":"Patient","id":"p1"}`,
		`{"resourceType":"Patient","id":"p2","link":[{"other":{"reference":"Patient/p1"},"type":"seealso"}]}`,
		`{"resourceType":"Patient","id":"p3"}`,
		`{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"}}`,
		`{"resourceType":"Observation","id":"o2","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p3"},"performer":[{"reference":"Patient/p1"}]}`,
		`{"resourceType":"Observation","id":"o3","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p3"}}`,
		`{"resourceType":"Practitioner","id":"dr1"}`,
	)
	params := map[string][]string{"Patient": {"link"}, "Observation": {"subject", "performer"}}
	c := Compartment{Type: "Patient", ID: "p1", Params: func(typ string) []string { return params[typ] }}
	var admitted []string
	refuse := errors.New("refused")
	ctx := storage.WithScope(context.Background(), c.Scope(func(v storage.Version) error {
		admitted = append(admitted, v.Type+"/"+v.ID)
		return refuse
	}))

	checked := 0
	for typ, want := range map[string][]string{"Patient": {"p1", "p2"}, "Observation": {"o1", "o2"}, "Practitioner": nil} {
		recs, err := s.Search(ctx, typ, storage.Query{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range recs {
			got = append(got, r.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s in the compartment: %v, want %v", typ, got, want)
		}
		if n, err := s.Count(ctx, typ, storage.Query{}); err != nil || n != int64(len(want)) {
			t.Errorf("%s count: %d, %v; want %d", typ, n, err, len(want))
		}
		checked++
	}
	if _, err := s.Read(ctx, "Observation", "o3"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("read outside the compartment: %v, want ErrNotFound", err)
	}
	res, err := model.Unmarshal([]byte(`{"resourceType":"Observation","id":"o4","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Commit(ctx, []storage.Write{{Op: storage.OpCreate, Type: "Observation", ID: "o4", Resource: res}})
	if !errors.Is(err, refuse) || !errors.Is(err, storage.ErrForbidden) || !slices.Equal(admitted, []string{"Observation/o4"}) {
		t.Errorf("write in the compartment: %v, admit asked about %v; want the admit rule's refusal", err, admitted)
	}
	t.Logf("checked %d types", checked)
}
