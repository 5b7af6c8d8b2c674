package export_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/fhirgate/fhirgate/export"
	"github.com/fhirgate/fhirgate/ingest"
	"github.com/fhirgate/fhirgate/internal/datasets"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/storage/embedded"
)

// BenchmarkExportSynthea exports the 7,160 Synthea resources, imported beforehand into a
// datastore on the embedded engine, as a system-level export does (every stored type, one
// NDJSON file each, through export.Plan), and in the same run reads the same current
// documents with the raw driver (a find per type, the resource JSON only) into the same
// files. It reports resources and megabytes per second of each, and the export's ratio to
// the raw read.
func BenchmarkExportSynthea(b *testing.B) {
	ctx := context.Background()
	c, err := storage.Open(ctx, storage.Config{Engine: embedded.New(b.TempDir()), Indexer: search.Indexer{}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	store, err := c.Datastore(ctx, storage.DefaultDatastore)
	if err != nil {
		b.Fatal(err)
	}
	src := b.TempDir()
	for _, f := range datasets.Files(b, datasets.Synthea, "*.000.ndjson") {
		if err := os.WriteFile(filepath.Join(src, f.Name), f.Data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	im := &ingest.Importer{Store: store}
	if err := im.Import(ctx, []string{src}); err != nil || im.Stats().Written != 7160 {
		b.Fatalf("import: %v, %+v", err, im.Stats())
	}
	mc, err := mongo.Connect(options.Client().ApplyURI(c.URI()))
	if err != nil {
		b.Fatal(err)
	}
	defer mc.Disconnect(ctx)
	raw := mc.Database("fhirgate_" + storage.DefaultDatastore)

	var exportTime, rawTime time.Duration
	var resources, bytes int64
	for b.Loop() {
		dir := b.TempDir()
		start := time.Now()
		plan, err := export.NewPlan(ctx, store, export.Request{Level: export.System}, func(context.Context, string) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		outputs, err := plan.Write(ctx, store, dir, func(_ context.Context, _ string, raw []byte) ([]byte, error) { return raw, nil }, func(string, int, int) {})
		if err != nil {
			b.Fatal(err)
		}
		exportTime += time.Since(start)
		var n int64
		for _, o := range outputs {
			n += int64(o.Count)
		}
		if n != 7160 {
			b.Fatalf("exported %d resources, want 7160", n)
		}
		resources += n
		bytes += dirSize(b, dir)

		start = time.Now()
		if got := rawExport(b, raw, plan.Types, b.TempDir()); got != 7160 {
			b.Fatalf("raw read %d resources, want 7160", got)
		}
		rawTime += time.Since(start)
	}
	b.ReportMetric(float64(resources)/exportTime.Seconds(), "export_res/s")
	b.ReportMetric(float64(bytes)/(1<<20)/exportTime.Seconds(), "export_MB/s")
	b.ReportMetric(float64(resources)/rawTime.Seconds(), "raw_res/s")
	b.ReportMetric(rawTime.Seconds()/exportTime.Seconds(), "ratio_to_raw")
}

// rawExport writes the resource JSON of every current document of types into one NDJSON
// file per type in dir, read with the raw driver, and returns how many it wrote.
func rawExport(b *testing.B, db *mongo.Database, types []string, dir string) int {
	b.Helper()
	ctx := context.Background()
	n := 0
	for _, typ := range types {
		f, err := os.Create(filepath.Join(dir, typ+".ndjson"))
		if err != nil {
			b.Fatal(err)
		}
		w := bufio.NewWriterSize(f, 256<<10)
		cur, err := db.Collection(typ).Find(ctx, bson.D{{Key: "del", Value: bson.D{{Key: "$ne", Value: true}}}},
			options.Find().SetProjection(bson.D{{Key: "json", Value: 1}}))
		if err != nil {
			b.Fatal(err)
		}
		for cur.Next(ctx) {
			w.WriteString(cur.Current.Lookup("json").StringValue())
			w.WriteByte('\n')
			n++
		}
		if err := cur.Err(); err != nil {
			b.Fatal(err)
		}
		cur.Close(ctx)
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	return n
}

func dirSize(b *testing.B, dir string) int64 {
	b.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			b.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}
