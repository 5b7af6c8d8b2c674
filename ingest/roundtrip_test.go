package ingest

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/export"
	"github.com/fhirgate/fhirgate/internal/datasets"
	"github.com/fhirgate/fhirgate/storage"
)

// TestExportImportRoundTrip exports everything of a datastore holding the Synthea NDJSON and
// the official examples (a system-level export through package export, every stored type),
// imports the NDJSON files into a fresh datastore, and compares every resource of every type
// field for field. The only field that differs is meta.lastUpdated: the import stamps the
// time of its own commit (FHIR's lastUpdated is when the server stored the version). Version
// ids are equal, at 1 on both sides, since each side holds first versions.
func TestExportImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := newStore(t)
	examples := t.TempDir()
	for _, f := range datasets.Files(t, datasets.FHIRExamples, "*.json") {
		if err := os.WriteFile(filepath.Join(examples, f.Name), f.Data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The examples' Bundles are stored as resources, so that they travel as resources too.
	im := &Importer{Store: src, Bundles: StoreBundles, OnError: func(LineError) {}}
	if err := im.Import(ctx, []string{syntheaDir(t), examples}); err != nil {
		t.Fatal(err)
	}
	stored := im.Stats().Written

	out := t.TempDir()
	plan, err := export.NewPlan(ctx, src, export.Request{Level: export.System}, func(context.Context, string) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	outputs, err := plan.Write(ctx, src, out, func(_ context.Context, _ string, raw []byte) ([]byte, error) { return raw, nil }, func(string, int, int) {})
	if err != nil {
		t.Fatal(err)
	}
	var exported int64
	for _, o := range outputs {
		exported += int64(o.Count)
	}
	if exported != stored {
		t.Fatalf("exported %d resources of %d types, %d stored", exported, len(outputs), stored)
	}

	dst := newStore(t)
	var log errorLog
	re := &Importer{Store: dst, OnError: log.add}
	if err := re.Import(ctx, []string{out}); err != nil {
		t.Fatal(err)
	}
	for _, e := range log.all() {
		t.Errorf("re-import refused %s", e)
	}

	types, err := src.Types(ctx)
	if err != nil {
		t.Fatal(err)
	}
	compared, lastUpdated := 0, 0
	for _, typ := range types {
		want, got := all(t, src, typ), all(t, dst, typ)
		if len(got) != len(want) {
			t.Errorf("%s: %d resources after the round trip, %d before", typ, len(got), len(want))
		}
		for id, w := range want {
			g, ok := got[id]
			if !ok {
				t.Errorf("%s/%s lost in the round trip", typ, id)
				continue
			}
			compared++
			wm, gm := decode(t, w.JSON), decode(t, g.JSON)
			if w.VersionID != g.VersionID || metaField(wm, "versionId") != metaField(gm, "versionId") {
				t.Errorf("%s/%s: version %d (%v) after the round trip, %d (%v) before", typ, id, g.VersionID, metaField(gm, "versionId"), w.VersionID, metaField(wm, "versionId"))
			}
			if metaField(wm, "lastUpdated") != metaField(gm, "lastUpdated") {
				lastUpdated++
			}
			if a, b := withoutMeta(gm, "lastUpdated"), withoutMeta(wm, "lastUpdated"); !reflect.DeepEqual(a, b) {
				t.Errorf("%s/%s differs after the round trip:\n got  %.300s\n want %.300s", typ, id, mustJSON(a), mustJSON(b))
			}
		}
	}
	if int64(compared) != stored || len(types) < 100 {
		t.Errorf("compared %d resources of %d types, %d stored", compared, len(types), stored)
	}
	t.Logf("compared %d resources of %d types field for field; meta.lastUpdated differs in %d (the re-import's commit time)", compared, len(types), lastUpdated)
}

// all returns the current resources of typ in s by id.
func all(t *testing.T, s *storage.Store, typ string) map[string]*storage.Record {
	t.Helper()
	out := map[string]*storage.Record{}
	if err := s.Each(context.Background(), typ, nil, time.Time{}, func(r *storage.Record) error {
		out[r.ID] = r
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func metaField(m map[string]any, k string) any {
	meta, _ := m["meta"].(map[string]any)
	return meta[k]
}
