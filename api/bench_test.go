package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/audit"
	"github.com/fhirgate/fhirgate/authz"
)

// The benchmarks compare the GraphQL path (in-process handler, no network) with the raw MongoDB
// driver on the same store, and report round trips per operation. Run:
//
//	go test ./api/ -run '^$' -bench . -benchtime 2s
//
// What each side does. graphql: parse and validate the query, authorise (off here), read
// through storage (on the embedded engine a SQL statement on SQLite's read-only connection,
// which storage owns; on MongoDB a find), decode the resource JSON into the model once,
// resolve the selected fields and write the JSON answer. raw-*: the official driver sends the
// find to the same store (FerretDB over the same SQLite file, or MongoDB) and decodes each
// stored document into a bson.M, whose resource JSON it leaves a string: less work than the
// graphql side at the application end, the wire and FerretDB's conversion more. On the
// embedded engine the ratio therefore compares fhirgate's read path with the driver's, not
// the GraphQL layer alone; round trips count SQL statements and driver commands alike.

// rawCollection connects the official driver straight to the store behind env e.
func rawCollection(b *testing.B, e *env, coll string) *mongo.Collection {
	b.Helper()
	mc, err := mongo.Connect(options.Client().ApplyURI(client.URI()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { mc.Disconnect(context.Background()) })
	return mc.Database("fhirgate_" + e.name).Collection(coll)
}

// serve runs one GraphQL request through the handler in-process and fails on GraphQL errors.
func serve(b *testing.B, h http.Handler, query string, vars map[string]any) []byte {
	return serveAs(b, h, "", query, vars)
}

func BenchmarkReadByID(b *testing.B) {
	e := newEnv(b)
	seedObservations(e, 1000)
	b.Run("graphql", func(b *testing.B) {
		before := commands.Load()
		for i := range b.N {
			serve(b, e.handler, `query($id: ID!) { Patient(id: $id) { id gender birthDate } }`, map[string]any{"id": fmt.Sprintf("p%d", i%1000)})
		}
		b.ReportMetric(float64(commands.Load()-before)/float64(b.N), "roundtrips/op")
	})
	b.Run("raw-FindOne", func(b *testing.B) {
		coll := rawCollection(b, e, "Patient")
		for i := range b.N {
			var doc bson.M
			if err := coll.FindOne(context.Background(), bson.D{{Key: "_id", Value: fmt.Sprintf("p%d", i%1000)}}).Decode(&doc); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkResolve1000References(b *testing.B) {
	e := newEnv(b)
	seedObservations(e, 1000)
	b.Run("graphql", func(b *testing.B) {
		before := commands.Load()
		for range b.N {
			serve(b, e.handler, `{ ObservationList(_count: 1000) { subject { resource { ... on Patient { id birthDate } } } } }`, nil)
		}
		b.ReportMetric(float64(commands.Load()-before)/float64(b.N), "roundtrips/op")
	})
	// One $in on a raw driver connection (not monitored: it is one round trip by construction).
	b.Run("raw-$in", func(b *testing.B) {
		coll := rawCollection(b, e, "Patient")
		ids := make([]string, 1000)
		for i := range ids {
			ids[i] = fmt.Sprintf("p%d", i)
		}
		for range b.N {
			cur, err := coll.Find(context.Background(), bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
			if err != nil {
				b.Fatal(err)
			}
			var docs []bson.M
			if err := cur.All(context.Background(), &docs); err != nil || len(docs) != 1000 {
				b.Fatalf("%d docs, %v", len(docs), err)
			}
		}
	})
}

func BenchmarkCreate(b *testing.B) {
	e := newEnv(b)
	res := map[string]any{"resourceType": "Patient", "gender": "female", "birthDate": "1970-01-01", "name": []any{map[string]any{"family": "Bench", "given": []any{"A"}}}}
	b.Run("graphql", func(b *testing.B) {
		for range b.N {
			serve(b, e.handler, `mutation($r: PatientInput!) { PatientCreate(res: $r) { id } }`, map[string]any{"r": res})
		}
	})
	b.Run("raw-InsertOne", func(b *testing.B) {
		coll := rawCollection(b, e, "RawPatient")
		raw, _ := json.Marshal(res)
		run := newRunID()
		for i := range b.N {
			if _, err := coll.InsertOne(context.Background(), bson.D{{Key: "_id", Value: fmt.Sprintf("%s-%d", run, i)}, {Key: "res", Value: string(raw)}}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

var runSeq int

// newRunID names one benchmark run, so repeated runs do not collide on _id.
func newRunID() string {
	runSeq++
	return fmt.Sprintf("run%d", runSeq)
}

// BenchmarkReverseReferences1000: 1,000 patients, each with its observations through
// the reverse reference ObservationList(_reference: subject), in one query.
func BenchmarkReverseReferences1000(b *testing.B) {
	e := newEnv(b)
	seedObservations(e, 1000)
	q := `{ PatientList(_count: 1000) { id ObservationList(_reference: subject) { id valueQuantity { value } } } }`
	b.ResetTimer()
	before := commands.Load()
	for range b.N {
		serve(b, e.handler, q, nil)
	}
	b.ReportMetric(float64(commands.Load()-before)/float64(b.N), "roundtrips/op")
}

// BenchmarkSearchPage10k: the first page (20) of a token (:text) + quantity search over
// 10,000 Observations through GraphQL.
func BenchmarkSearchPage10k(b *testing.B) {
	e := newEnv(b)
	seedObservations(e, 10000)
	q := `{ ObservationConnection(code: {text: "weight"}, value_quantity: "ge95", _count: 20) { edges { resource { id } } } }`
	b.ResetTimer()
	before := commands.Load()
	for range b.N {
		serve(b, e.handler, q, nil)
	}
	b.ReportMetric(float64(commands.Load()-before)/float64(b.N), "roundtrips/op")
}

// BenchmarkAuthorization1000Fields runs one query resolving 1,000 fields (100 Observations
// of 10 fields) as an admin, through authentication, the per-field policy checks and the
// audit trail, and with authentication off (audit trail kept): the ratio is the cost of
// authorisation. Goal: within 1.2x.
func BenchmarkAuthorization1000Fields(b *testing.B) {
	a := newAuthEnv(b, authz.VerifierConfig{})
	seedObservations(a.env, 100)
	const query = `{ ObservationList(_count: 100) { id status resourceType code { text } valueQuantity { value unit } subject { reference } } }`
	cfg := api.DefaultConfig()
	cfg.Store, cfg.Auth.Off = a.store, true
	offAudit := audit.NewWriter(a.store, 1024, nil)
	b.Cleanup(func() { offAudit.Close(context.Background()) })
	cfg.Audit = offAudit
	off := api.NewServer(cfg)
	admin := a.token(b, "admin", "")
	if n := bytes.Count(serveAs(b, a.handler, admin, query, nil), []byte(`"value"`)); n != 100 {
		b.Fatalf("%d observations", n)
	}
	// The two run alternately, so the store's drift (the audit trail grows) weighs on both alike.
	var offTime, adminTime time.Duration
	for range b.N {
		start := time.Now()
		serveAs(b, off, "", query, nil)
		mid := time.Now()
		serveAs(b, a.handler, admin, query, nil)
		offTime, adminTime = offTime+mid.Sub(start), adminTime+time.Since(mid)
	}
	b.ReportMetric(float64(offTime.Microseconds())/1000/float64(b.N), "ms-off/op")
	b.ReportMetric(float64(adminTime.Microseconds())/1000/float64(b.N), "ms-admin/op")
	b.ReportMetric(float64(adminTime)/float64(offTime), "admin/off")
}

// serveAs is serve with a bearer token, when token is not empty.
func serveAs(b *testing.B, h http.Handler, token, query string, vars map[string]any) []byte {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req := httptest.NewRequest(http.MethodPost, "/$graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || bytes.Contains(rec.Body.Bytes(), []byte(`"errors"`)) {
		b.Fatalf("status %d: %s", rec.Code, truncate(rec.Body.String(), 300))
	}
	return rec.Body.Bytes()
}
