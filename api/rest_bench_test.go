package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/authz"
)

// The REST benchmarks run each REST request in-process (no network) alternately with the raw
// driver reading the same documents from the same store, and report both times and their
// ratio. Run: go test ./api/ -run '^$' -bench REST -benchtime 2s

func serveREST(b *testing.B, h http.Handler, token, path string) {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("%s: status %d: %s", path, rec.Code, truncate(rec.Body.String(), 300))
	}
}

func reportRatio(b *testing.B, name string, rest, raw time.Duration) {
	b.ReportMetric(float64(rest.Microseconds())/float64(b.N), "µs-"+name+"/op")
	b.ReportMetric(float64(raw.Microseconds())/float64(b.N), "µs-raw/op")
	b.ReportMetric(float64(rest)/float64(raw), name+"/raw")
}

// BenchmarkRESTRead: GET /fhir/Patient/{id} (authentication off, and as an analyst, whose
// answer is redacted) against the driver's FindOne of the same document.
func BenchmarkRESTRead(b *testing.B) {
	a := newAuthEnv(b, authz.VerifierConfig{})
	seedObservations(a.env, 1000)
	off := newEnvOn(b, a.env)
	coll := rawCollection(b, a.env, "Patient")
	for _, tc := range []struct{ name, token string }{{"rest", ""}, {"rest-analyst", a.token(b, "analyst", "")}} {
		b.Run(tc.name, func(b *testing.B) {
			h := a.handler
			if tc.token == "" {
				h = off
			}
			b.ResetTimer()
			var restT, rawT time.Duration
			for i := range b.N {
				id := fmt.Sprintf("p%d", i%1000)
				start := time.Now()
				serveREST(b, h, tc.token, "/fhir/Patient/"+id)
				mid := time.Now()
				var doc bson.M
				if err := coll.FindOne(context.Background(), bson.D{{Key: "_id", Value: id}}).Decode(&doc); err != nil {
					b.Fatal(err)
				}
				restT, rawT = restT+mid.Sub(start), rawT+time.Since(mid)
			}
			reportRatio(b, tc.name, restT, rawT)
		})
	}
}

// BenchmarkRESTSearch: GET /fhir/Observation?_count=20 (a page, links and total) against the
// driver's find of 20 documents of the same collection.
func BenchmarkRESTSearch(b *testing.B) {
	e := newEnv(b)
	seedObservations(e, 1000)
	coll := rawCollection(b, e, "Observation")
	b.ResetTimer()
	var restT, rawT time.Duration
	for range b.N {
		start := time.Now()
		serveREST(b, e.handler, "", "/fhir/Observation?_count=20&_total=none")
		mid := time.Now()
		cur, err := coll.Find(context.Background(), bson.D{}, options.Find().SetLimit(20).SetSort(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			b.Fatal(err)
		}
		var docs []bson.M
		if err := cur.All(context.Background(), &docs); err != nil || len(docs) != 20 {
			b.Fatal(err, len(docs))
		}
		restT, rawT = restT+mid.Sub(start), rawT+time.Since(mid)
	}
	reportRatio(b, "rest", restT, rawT)
}

// newEnvOn returns a server with authentication off over e's store.
func newEnvOn(b *testing.B, e *env) http.Handler {
	cfg := api.DefaultConfig()
	cfg.Store, cfg.Auth.Off = e.store, true
	return api.NewServer(cfg)
}
