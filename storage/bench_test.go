package storage

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// seed stores n current versions r0..r<n-1> of type typ directly, 1,000 per insert:
// the read paths only need them to exist, and Commit would make setup slow.
func seed(t testing.TB, s *Store, typ string, n int) { seedPadded(t, s, typ, n, 0) }

// seedPadded is seed with resources about pad bytes longer, in a text with quotes to escape.
func seedPadded(t testing.TB, s *Store, typ string, n, pad int) {
	t.Helper()
	const unit = `a \"quoted\" word `
	text := ""
	if pad > 0 {
		text = `,"text":"` + strings.Repeat(unit, (pad+len(unit)-1)/len(unit)) + `"`
	}

	ctx := context.Background()

	tc, err := s.colls(ctx, typ)
	if err != nil {
		t.Fatal(err)
	}

	ts := time.Now().UTC().Truncate(time.Millisecond)

	for start := 0; start < n; start += 1000 {
		var docs []any

		for i := start; i < min(start+1000, n); i++ {
			id := fmt.Sprintf("r%d", i)
			docs = append(docs, versionDoc{Key: id, V: 1, TS: ts, Seq: 1,
				JSON: `{"resourceType":"` + typ + `","id":"` + id + `","value":1.50` + text + `}`})
		}

		if _, err := tc.cur.InsertMany(ctx, docs); err != nil {
			t.Fatalf("seed %s: %v", typ, err)
		}
	}
}

func nowNanos() int64 { return time.Now().UnixNano() }

// benchDocs is the collection size for the read benchmarks: big enough that a scan
// would show.
const benchDocs = 10000

var (
	benchOnce  sync.Once
	benchStore *Store
)

func benchSetup(b *testing.B) *Store {
	b.Helper()

	benchOnce.Do(func() {
		benchStore = openStore(b, testClient, newStoreName())
		seed(b, benchStore, "Patient", benchDocs)
	})

	return benchStore
}

// BenchmarkEach10000 compares Each over 10,000 resources of 1.5 KB with the raw driver's
// find of the whole collection, decoded to the same fields.
func BenchmarkEach10000(b *testing.B) {
	s := openStore(b, testClient, newStoreName())
	seedPadded(b, s, "Observation", benchDocs, 1500)
	ctx := context.Background()

	b.Run("storage", func(b *testing.B) {
		for b.Loop() {
			n := 0
			if err := s.Each(ctx, "Observation", nil, time.Time{}, func(*Record) error { n++; return nil }); err != nil || n != benchDocs {
				b.Fatalf("Each: %d records, %v", n, err)
			}
		}
	})

	b.Run("raw-find", func(b *testing.B) {
		coll := s.db.Collection("Observation")
		for b.Loop() {
			cur, err := coll.Find(ctx, bson.D{})
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for cur.Next(ctx) {
				var d versionDoc
				if err := cur.Decode(&d); err != nil {
					b.Fatal(err)
				}
				n++
			}
			if err := cur.Close(ctx); err != nil || n != benchDocs {
				b.Fatalf("find: %d documents, %v", n, err)
			}
		}
	})
}

// BenchmarkRead compares Read with the raw driver's FindOne by _id on the same
// collection.
func BenchmarkRead(b *testing.B) {
	s := benchSetup(b)
	ctx := context.Background()
	coll := s.db.Collection("Patient")

	b.Run("storage", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := s.Read(ctx, "Patient", fmt.Sprintf("r%d", i%benchDocs)); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("raw-FindOne", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			var d bson.Raw
			if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("r%d", i%benchDocs)}}).Decode(&d); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkReadMany1000 compares ReadMany of 1,000 ids with the raw driver's $in.
func BenchmarkReadMany1000(b *testing.B) {
	s := benchSetup(b)
	ctx := context.Background()
	coll := s.db.Collection("Patient")

	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprintf("r%d", i*benchDocs/len(ids))
	}

	b.Run("storage", func(b *testing.B) {
		for b.Loop() {
			got, err := s.ReadMany(ctx, "Patient", ids)
			if err != nil || len(got) != len(ids) {
				b.Fatalf("ReadMany: %d records, %v", len(got), err)
			}
		}
	})

	b.Run("raw-$in", func(b *testing.B) {
		for b.Loop() {
			cur, err := coll.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
			if err != nil {
				b.Fatal(err)
			}

			var docs []bson.Raw
			if err := cur.All(ctx, &docs); err != nil || len(docs) != len(ids) {
				b.Fatalf("$in: %d documents, %v", len(docs), err)
			}
		}
	})
}

// BenchmarkCommitPut compares a one-resource Commit with the raw driver's InsertOne.
func BenchmarkCommitPut(b *testing.B) {
	s := benchSetup(b)
	ctx := context.Background()

	if _, err := s.colls(ctx, "Observation"); err != nil {
		b.Fatal(err)
	}

	raw := s.db.Collection("RawInsert")
	if err := s.createCollection(ctx, raw.Name()); err != nil {
		b.Fatal(err)
	}

	body := `{"resourceType":"Observation","status":"final","valueQuantity":{"value":1.50}}`
	run := fmt.Sprint(nowNanos())

	b.Run("storage-new", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			id := fmt.Sprintf("b%s-%d", run, i)
			if _, err := s.Commit(ctx, []Write{putW("Observation", id, res(body))}); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("storage-update", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Commit(ctx, []Write{putW("Observation", "hot", res(body))}); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("raw-InsertOne", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			doc := bson.D{{Key: "_id", Value: fmt.Sprintf("b%s-%d", run, i)}, {Key: "json", Value: body}}
			if _, err := raw.InsertOne(ctx, doc); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSearchPage200 compares an unfiltered page of 200 in _id order (a list without
// parameters) with the raw driver's sorted, limited find.
func BenchmarkSearchPage200(b *testing.B) {
	s := benchSetup(b)
	ctx := context.Background()
	coll := s.db.Collection("Patient")

	b.Run("storage", func(b *testing.B) {
		for b.Loop() {
			recs, err := s.Search(ctx, "Patient", Query{Limit: 200})
			if err != nil || len(recs) != 200 {
				b.Fatalf("Search: %d records, %v", len(recs), err)
			}
		}
	})

	b.Run("raw-find", func(b *testing.B) {
		opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(200).SetBatchSize(201)
		for b.Loop() {
			cur, err := coll.Find(ctx, bson.D{}, opts)
			if err != nil {
				b.Fatal(err)
			}
			var docs []bson.Raw
			if err := cur.All(ctx, &docs); err != nil || len(docs) != 200 {
				b.Fatalf("find: %d documents, %v", len(docs), err)
			}
		}
	})
}

// BenchmarkCommitBatch1000 compares a commit of 1,000 new resources with the raw driver's
// InsertMany of the same JSON as {_id, json} documents.
func BenchmarkCommitBatch1000(b *testing.B) {
	s := benchSetup(b)
	ctx := context.Background()
	raw := s.db.Collection("RawInsertMany")
	if err := s.createCollection(ctx, raw.Name()); err != nil {
		b.Fatal(err)
	}
	body := `{"resourceType":"Observation","status":"final","valueQuantity":{"value":1.50}}`
	run := fmt.Sprint(nowNanos())

	b.Run("storage", func(b *testing.B) {
		for n := 0; b.Loop(); n++ {
			writes := make([]Write, 1000)
			for i := range writes {
				writes[i] = putW("Observation", fmt.Sprintf("c%s-%d-%d", run, n, i), res(body))
			}
			if _, err := s.Commit(ctx, writes); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "resources/s")
	})

	b.Run("raw-InsertMany", func(b *testing.B) {
		for n := 0; b.Loop(); n++ {
			docs := make([]any, 1000)
			for i := range docs {
				docs[i] = bson.D{{Key: "_id", Value: fmt.Sprintf("c%s-%d-%d", run, n, i)}, {Key: "json", Value: body}}
			}
			if _, err := raw.InsertMany(ctx, docs); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "resources/s")
	})
}
