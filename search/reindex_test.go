package search

import (
	"context"
	"testing"

	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/storage/embedded"
)

// TestReindexOnOpen: resources stored without search fields (or with another extraction
// version) become searchable once Reindex runs, as the server does at startup. It runs
// its own embedded engine, also when the suite runs against MONGODB_URI.
func TestReindexOnOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, err := storage.Open(ctx, storage.Config{Engine: embedded.New(dir)}) // no indexer: no search fields
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Datastore(ctx, "reindex")
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, fixtures[:4]...)
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}

	c, err = storage.Open(ctx, storage.Config{Engine: embedded.New(dir), Indexer: Indexer{}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	s, err = c.Datastore(ctx, "reindex")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ids(t, s, "Patient", map[string]any{"family": "chalmers"}); err != nil || len(got) != 0 {
		t.Fatalf("before reindex: %v, %v; want no matches (no search fields yet)", got, err)
	}
	n, err := s.Reindex(ctx)
	if err != nil || n != 4 {
		t.Fatalf("Reindex = %d, %v; want 4", n, err)
	}
	if got, err := ids(t, s, "Patient", map[string]any{"family": "chalmers"}); err != nil || join(got) != "p1,p2" {
		t.Fatalf("after reindex: %v, %v; want p1,p2", got, err)
	}
	if n, err := s.Reindex(ctx); err != nil || n != 0 {
		t.Fatalf("second Reindex = %d, %v; want 0 (all current)", n, err)
	}
}
