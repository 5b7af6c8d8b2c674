package ingest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/fhirgate/fhirgate/internal/datasets"
	"github.com/fhirgate/fhirgate/validate"
)

// BenchmarkImportSynthea imports the 7,160 Synthea resources into a fresh datastore on the
// embedded engine, with strict validation and search fields as the import command runs, and,
// in the same run, inserts the same resources with the raw driver's InsertMany (batches of
// 2,000 per type) into a fresh database of the same engine: as BSON documents, and as
// {_id, json} documents holding the line's JSON. It reports resources per second and the
// import's ratio to each, and the CPU time per resource of the import and of the BSON insert.
func BenchmarkImportSynthea(b *testing.B) {
	dir := syntheaDir(b)
	var lines []string
	for _, f := range datasets.Files(b, datasets.Synthea, "*.000.ndjson") {
		sc := bufio.NewScanner(bytes.NewReader(f.Data))
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			if len(bytes.TrimSpace(sc.Bytes())) > 0 {
				lines = append(lines, sc.Text())
			}
		}
	}
	ctx := context.Background()
	var importTime, docTime, jsonTime, importCPU, docCPU time.Duration
	for n := 0; b.Loop(); n++ {
		c, s := openStore(b, b.TempDir(), validate.Strict)
		start, cpu := time.Now(), processCPU()
		im := &Importer{Store: s}
		if err := im.Import(ctx, []string{dir}); err != nil || im.Stats().Written != int64(len(lines)) {
			b.Fatalf("import: %v, %+v", err, im.Stats())
		}
		importTime += time.Since(start)
		importCPU += processCPU() - cpu

		mc, err := mongo.Connect(options.Client().ApplyURI(c.URI()))
		if err != nil {
			b.Fatal(err)
		}
		cpu = processCPU()
		docTime += rawInsert(b, mc.Database(fmt.Sprintf("raw_doc_%d", n)), lines, true)
		docCPU += processCPU() - cpu
		jsonTime += rawInsert(b, mc.Database(fmt.Sprintf("raw_json_%d", n)), lines, false)
		_ = mc.Disconnect(ctx)
		_ = c.Close(ctx)
	}
	total := float64(b.N * len(lines))
	rate := func(d time.Duration) float64 { return total / d.Seconds() }
	b.ReportMetric(rate(importTime), "import_res/s")
	b.ReportMetric(rate(docTime), "raw_doc_res/s")
	b.ReportMetric(rate(jsonTime), "raw_json_res/s")
	b.ReportMetric(docTime.Seconds()/importTime.Seconds(), "ratio_to_doc")
	b.ReportMetric(jsonTime.Seconds()/importTime.Seconds(), "ratio_to_json")
	// CPU time (of the whole process, the engine's included) moves little with the load of a
	// shared machine, where wall time moves a lot.
	b.ReportMetric(float64(importCPU.Microseconds())/total, "import_cpu_us/res")
	b.ReportMetric(float64(docCPU.Microseconds())/total, "raw_doc_cpu_us/res")
}

// processCPU returns the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var typeRE = regexp.MustCompile(`"resourceType":"([A-Za-z]+)"`)
var idRE = regexp.MustCompile(`"id":"([^"]+)"`)

// rawInsert inserts lines with InsertMany, 2,000 per batch and type: as BSON documents
// converted from the JSON, or as {_id, json}. The conversion is timed too.
func rawInsert(b *testing.B, db *mongo.Database, lines []string, asDoc bool) time.Duration {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	byType := map[string][]any{}
	for _, l := range lines {
		typ := typeRE.FindStringSubmatch(l)[1]
		id := idRE.FindStringSubmatch(l)[1]
		if asDoc {
			var doc bson.D
			if err := bson.UnmarshalExtJSON([]byte(l), false, &doc); err != nil {
				b.Fatal(err)
			}
			byType[typ] = append(byType[typ], append(bson.D{{Key: "_id", Value: id}}, doc...))
		} else {
			byType[typ] = append(byType[typ], bson.D{{Key: "_id", Value: id}, {Key: "json", Value: l}})
		}
	}
	for typ, docs := range byType {
		for i := 0; i < len(docs); i += DefaultBatchResources {
			if _, err := db.Collection(typ).InsertMany(ctx, docs[i:min(i+DefaultBatchResources, len(docs))]); err != nil {
				b.Fatal(err)
			}
		}
	}
	return time.Since(start)
}

// TestWriteLargeNDJSON writes, when FHIRGATE_LARGE_NDJSON is dir:megabytes, a Synthea-shaped
// data set of about that size for the memory measurement of the import command: the
// practitioners, organizations and locations once, and the clinical resources copied with new
// ids until the size is reached, in one NDJSON file (references between copies kept
// consistent). It does nothing otherwise.
func TestWriteLargeNDJSON(t *testing.T) {
	spec := os.Getenv("FHIRGATE_LARGE_NDJSON")
	if spec == "" {
		t.Skip("set FHIRGATE_LARGE_NDJSON=dir:megabytes to write the data set")
	}
	dir, mbs, _ := strings.Cut(spec, ":")
	mb, err := strconv.Atoi(mbs)
	if err != nil {
		t.Fatal(err)
	}
	shared := map[string]bool{"Organization": true, "Location": true, "Practitioner": true, "PractitionerRole": true}
	var clinical []string
	for _, f := range datasets.Files(t, datasets.Synthea, "*.000.ndjson") {
		typ, _, _ := strings.Cut(f.Name, ".")
		if shared[typ] {
			if err := os.WriteFile(dir+"/"+f.Name, f.Data, 0o600); err != nil {
				t.Fatal(err)
			}
			continue
		}
		for _, l := range strings.Split(string(f.Data), "\n") {
			if strings.TrimSpace(l) != "" {
				clinical = append(clinical, l)
			}
		}
	}
	out, err := os.Create(dir + "/clinical.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	w := bufio.NewWriterSize(out, 1<<20)
	ref := regexp.MustCompile(`"(id|reference)":"((?:Patient|Encounter|Condition|DocumentReference|MedicationRequest|Procedure|Immunization|AllergyIntolerance|Device)/)?([0-9a-f-]{36})"`)
	var size int64
	for k := 0; size < int64(mb)<<20; k++ {
		for _, l := range clinical {
			l = ref.ReplaceAllString(l, fmt.Sprintf(`"$1":"$2${3}-%d"`, k))
			n, _ := w.WriteString(l + "\n")
			size += int64(n)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d MB of clinical resources to %s", size>>20, out.Name())
}
