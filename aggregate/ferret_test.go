package aggregate

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/storage/embedded"
	"github.com/fhirgate/fhirgate/storage/layout"
)

// ferretPipeliner runs the pipeline plan's pipelines through the driver on the embedded
// FerretDB engine, over a collection holding the search index as MongoDB stores it (the
// embedded store keeps it packed, so no pipeline reads it there). It keeps what the engine
// refused.
type ferretPipeliner struct {
	coll    *mongo.Collection
	refused []string
}

func (f *ferretPipeliner) Pipelines() bool { return true }

func (f *ferretPipeliner) Aggregate(ctx context.Context, _ string, filter bson.D, stages []bson.D, each func(bson.Raw) error) error {
	if filter == nil {
		filter = bson.D{}
	}
	pipeline := bson.A{bson.D{{Key: "$match", Value: filter}}}
	for _, st := range stages {
		pipeline = append(pipeline, st)
	}
	cur, err := f.coll.Aggregate(ctx, pipeline)
	if err != nil {
		f.refused = append(f.refused, err.Error())
		return fmt.Errorf("%w: %v", storage.ErrNoPipeline, err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		if err := each(cur.Current); err != nil {
			return err
		}
	}
	return cur.Err()
}

// TestPipelineOnFerretDB forces the pipeline plan onto the embedded engine (FerretDB, through
// the driver) and compares its answers with the stream plan's over the same Observations;
// it logs what the engine refuses. The embedded store itself never runs the pipeline plan
// (storage.Store.Pipelines is false there): this finds out whether it could.
func TestPipelineOnFerretDB(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two embedded engines")
	}
	ctx := context.Background()
	c, err := storage.Open(ctx, storage.Config{Engine: embedded.New(t.TempDir()), Indexer: search.Indexer{}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	store, err := c.Datastore(ctx, storage.DefaultDatastore)
	if err != nil {
		t.Fatal(err)
	}
	coll := ferretCollection(t, "Observation")

	// 240 Observations: 4 codes (one in 2 codings), 3 years of dates, kg and lb, some without value.
	var writes []storage.Write
	var docs []any
	for i := range 240 {
		value := fmt.Sprintf(`,"valueQuantity":{"value":%d.5,"unit":"%s","system":"http://unitsofmeasure.org","code":"%s"}`, 40+i%60, []string{"kg", "lb"}[i%2], []string{"kg", "[lb_av]"}[i%2])
		if i%7 == 0 {
			value = ""
		}
		coding := fmt.Sprintf(`{"system":"http://loinc.org","code":"c%d"}`, i%4)
		if i%4 == 3 {
			coding += `,{"system":"http://snomed.info/sct","code":"s1"}`
		}
		raw := fmt.Sprintf(`{"resourceType":"Observation","id":"o%d","status":"final","code":{"coding":[%s]},"subject":{"reference":"Patient/p%d"},"effectiveDateTime":"%d-%02d-%02dT10:00:00Z"%s}`,
			i, coding, i%9, 2021+i%3, 1+i%12, 1+i%28, value)
		res, err := model.Unmarshal([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		writes = append(writes, storage.Write{Op: storage.OpPut, Type: "Observation", ID: res.ResourceID(), Resource: res})
		ix, err := search.Indexer{}.Index("Observation", []byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, bson.D{{Key: "_id", Value: res.ResourceID()}, {Key: layout.Entries, Value: ix.Entries}})
	}
	if _, err := store.Commit(ctx, writes); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}

	param := func(name string) *model.SearchParam { return search.ParamOf("Observation", name) }
	where := func(args map[string]any) *search.Query {
		q, err := search.Parse("Observation", args)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	vq := []Measure{{Name: "v", Param: param("value-quantity")}}
	cases := []struct {
		name string
		req  Request
	}{
		{"by code", Request{Query: where(nil), Keys: []Key{{Name: "code", Param: param("code")}}}},
		{"by subject", Request{Query: where(nil), Keys: []Key{{Name: "s", Param: param("subject")}}}},
		{"by date", Request{Query: where(nil), Keys: []Key{{Name: "d", Param: param("date")}}}},
		{"by code and month", Request{Query: where(nil), Keys: []Key{{Name: "code", Param: param("code")}, {Name: "m", Param: param("date"), Bucket: Month}}}},
		{"by week", Request{Query: where(nil), Keys: []Key{{Name: "w", Param: param("date"), Bucket: Week}}}},
		{"by year where code", Request{Query: where(map[string]any{"code": "http://loinc.org|c1"}), Keys: []Key{{Name: "y", Param: param("date"), Bucket: Year}}}},
		{"stats", Request{Query: where(nil), Measures: vq}},
		{"by code with stats", Request{Query: where(nil), Keys: []Key{{Name: "code", Param: param("code")}}, Measures: vq}},
	}
	ran := 0
	for _, tc := range cases {
		ferret := &ferretPipeliner{coll: coll}
		sr := &search.Runner{Store: store}
		want, err := (&Runner{Search: sr, Stream: store}).Run(ctx, &tc.req)
		if err != nil || want.Plan != "stream" {
			t.Fatalf("%s: stream plan: %v %+v", tc.name, err, want)
		}
		got, err := (&Runner{Search: sr, Stream: store, Pipelines: ferret}).Run(ctx, &tc.req)
		if err != nil {
			t.Errorf("%s: pipeline plan: %v", tc.name, err)
			continue
		}
		if got.Plan == "pipeline" {
			ran++
		} else if len(ferret.refused) == 0 {
			t.Errorf("%s: plan %s, though the engine refused nothing", tc.name, got.Plan)
		} else {
			t.Logf("%s: FerretDB refused the pipeline, the stream plan answered: %s", tc.name, strings.Join(ferret.refused, "; "))
		}
		if diff := compareResults(got, want); diff != "" {
			t.Errorf("%s: %s plan and stream plan differ: %s", tc.name, got.Plan, diff)
		}
	}
	t.Logf("FerretDB ran %d of %d pipelines; the others fell back to the stream plan with the same answers", ran, len(cases))
}

// compareResults describes how two answers differ: count, groups (keys and counts), and
// statistics (up to rounding of sums).
func compareResults(got, want *Result) string {
	if got.Count != want.Count {
		return fmt.Sprintf("count %d, want %d", got.Count, want.Count)
	}
	if len(got.Groups) != len(want.Groups) {
		return fmt.Sprintf("%d groups, want %d", len(got.Groups), len(want.Groups))
	}
	for i := range want.Groups {
		g, w := got.Groups[i], want.Groups[i]
		if compareKeys(g.Key, w.Key) != 0 || g.Count != w.Count {
			return fmt.Sprintf("group %d: %s %d, want %s %d", i, keyText(g.Key), g.Count, keyText(w.Key), w.Count)
		}
		if d := compareStats(g.Stats, w.Stats); d != "" {
			return fmt.Sprintf("group %s: %s", keyText(w.Key), d)
		}
	}
	return compareStats(got.Stats, want.Stats)
}

func compareStats(got, want []Stats) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d statistics, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if fmt.Sprint(g.Unit) != fmt.Sprint(w.Unit) && (g.Unit == nil || w.Unit == nil || *g.Unit != *w.Unit) ||
			g.Count != w.Count || g.Min != w.Min || g.Max != w.Max || math.Abs(g.Sum-w.Sum) > 1e-9*math.Abs(w.Sum) {
			return fmt.Sprintf("statistics %+v, want %+v", g, w)
		}
	}
	return ""
}

func keyText(k []*string) string {
	var out []string
	for _, s := range k {
		if s == nil {
			out = append(out, "null")
		} else {
			out = append(out, *s)
		}
	}
	return strings.Join(out, ",")
}

// ferretCollection starts an embedded engine of its own, stopped when t ends, and returns
// one of its collections through the driver.
func ferretCollection(t *testing.T, name string) *mongo.Collection {
	t.Helper()
	ctx := context.Background()
	eng := embedded.New(t.TempDir())
	uri, err := eng.Start(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Stop() })
	mc, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mc.Disconnect(ctx) })
	return mc.Database("test").Collection(name)
}

// TestFerretDBOperators asks the embedded engine, one at a time, for each stage and operator
// the pipeline plan uses, and logs which it runs: what the pipeline plan would need from it.
func TestFerretDBOperators(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded engine")
	}
	ctx := context.Background()
	coll := ferretCollection(t, "c")
	if _, err := coll.InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: "a"}, {Key: "i", Value: bson.A{bson.D{{Key: "p", Value: "code"}, {Key: "c", Value: "x"}, {Key: "lo", Value: 1.5}}}}},
		bson.D{{Key: "_id", Value: "b"}, {Key: "i", Value: bson.A{}}},
	}); err != nil {
		t.Fatal(err)
	}
	project := func(e any) bson.A { return bson.A{bson.D{{Key: "$project", Value: bson.D{{Key: "x", Value: e}}}}} }
	probes := []struct {
		name     string
		pipeline bson.A
	}{
		{"$match", bson.A{bson.D{{Key: "$match", Value: bson.D{{Key: "i.p", Value: "code"}}}}}},
		{"$unwind", bson.A{bson.D{{Key: "$unwind", Value: "$i"}}}},
		{"$group $sum", bson.A{bson.D{{Key: "$unwind", Value: "$i"}}, bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: bson.D{{Key: "p", Value: "$i.p"}, {Key: "c", Value: "$i.c"}}}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}, {Key: "s", Value: bson.D{{Key: "$sum", Value: "$i.lo"}}}}}}}},
		{"$group $min", bson.A{bson.D{{Key: "$unwind", Value: "$i"}}, bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$i.c"}, {Key: "lo", Value: bson.D{{Key: "$min", Value: "$i.lo"}}}}}}}},
		{"$group $max", bson.A{bson.D{{Key: "$unwind", Value: "$i"}}, bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$i.c"}, {Key: "hi", Value: bson.D{{Key: "$max", Value: "$i.lo"}}}}}}}},
		{"$group by array _id", bson.A{bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: bson.A{"$_id", "$_id"}}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}}}},
		{"$count", bson.A{bson.D{{Key: "$count", Value: "n"}}}},
		{"$limit", bson.A{bson.D{{Key: "$limit", Value: 1}}}},
		{"$facet", bson.A{bson.D{{Key: "$facet", Value: bson.D{{Key: "t", Value: bson.A{bson.D{{Key: "$count", Value: "n"}}}}}}}}},
		{"$project field path", project("$i")},
		{"$filter", project(bson.D{{Key: "$filter", Value: bson.D{{Key: "input", Value: "$i"}, {Key: "as", Value: "e"}, {Key: "cond", Value: true}}}})},
		{"$map", project(bson.D{{Key: "$map", Value: bson.D{{Key: "input", Value: "$i"}, {Key: "as", Value: "e"}, {Key: "in", Value: "$$e.c"}}}})},
		{"$cond", project(bson.D{{Key: "$cond", Value: bson.A{true, 1, 2}}})},
		{"$ifNull", project(bson.D{{Key: "$ifNull", Value: bson.A{"$nope", 1}}})},
		{"$setUnion", project(bson.D{{Key: "$setUnion", Value: bson.A{"$i", bson.A{}}}})},
		{"$size", project(bson.D{{Key: "$size", Value: "$i"}})},
		{"$eq", project(bson.D{{Key: "$eq", Value: bson.A{1, 1}}})},
		{"$ne", project(bson.D{{Key: "$ne", Value: bson.A{1, 2}}})},
		{"$gt", project(bson.D{{Key: "$gt", Value: bson.A{2, 1}}})},
		{"$and", project(bson.D{{Key: "$and", Value: bson.A{true, true}}})},
		{"$type", project(bson.D{{Key: "$type", Value: "$i"}})},
		{"$strLenCP", project(bson.D{{Key: "$strLenCP", Value: "abc"}})},
		{"$toDate", project(bson.D{{Key: "$toDate", Value: int64(0)}})},
		{"$toLong", project(bson.D{{Key: "$toLong", Value: 1.0}})},
		{"$dateTrunc", project(bson.D{{Key: "$dateTrunc", Value: bson.D{{Key: "date", Value: bson.D{{Key: "$toDate", Value: int64(0)}}}, {Key: "unit", Value: "month"}}}})},
	}
	var ok, refused []string
	for _, p := range probes {
		cur, err := coll.Aggregate(ctx, p.pipeline)
		if err == nil {
			var out []bson.M
			err = cur.All(ctx, &out)
		}
		if err != nil {
			refused = append(refused, p.name)
			t.Logf("%-22s refused: %v", p.name, err)
			continue
		}
		ok = append(ok, p.name)
	}
	t.Logf("FerretDB runs %d of %d: %s", len(ok), len(probes), strings.Join(ok, ", "))
	t.Logf("FerretDB refuses %d: %s", len(refused), strings.Join(refused, ", "))
	if len(ok) == 0 {
		t.Error("the engine ran no pipeline at all: the probes are broken")
	}
}
