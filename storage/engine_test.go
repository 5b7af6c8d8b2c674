package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/storage/embedded"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func skipUnlessEmbedded(t testing.TB) {
	t.Helper()

	if !testClient.Embedded() {
		t.Skip("embedded engine only")
	}
}

// explainFind returns FerretDB's plan for find {_id: "x"} on coll, through the wire
// protocol: FerretDB runs EXPLAIN QUERY PLAN on the very SQL it would execute.
func explainFind(t *testing.T, s *Store, coll string) string {
	t.Helper()

	var out struct {
		QueryPlanner struct {
			Plan []string `bson:"Plan"`
		} `bson:"queryPlanner"`
		FilterPushdown bool `bson:"filterPushdown"`
	}

	cmd := bson.D{{Key: "explain", Value: bson.D{
		{Key: "find", Value: coll},
		{Key: "filter", Value: bson.D{{Key: "_id", Value: "x"}}},
	}}}
	if err := s.db.RunCommand(context.Background(), cmd).Decode(&out); err != nil {
		t.Fatalf("explain find on %s: %v", coll, err)
	}

	if !out.FilterPushdown {
		t.Fatalf("explain find on %s: filter not pushed down to SQL", coll)
	}

	return strings.Join(out.QueryPlanner.Plan, "\n")
}

func TestEmbeddedIDLookupUsesIndex(t *testing.T) {
	skipUnlessEmbedded(t)

	s := newTestStore(t)
	ctx := context.Background()

	mustPut(t, s, "Patient", "p1", patient("p1", "A"))

	// Every collection storage creates, the protocol's own included.
	for _, coll := range []string{"Patient", "Patient_history", countersColl, pendingColl, journalColl} {
		plan := explainFind(t, s, coll)
		if !strings.Contains(plan, "SEARCH") || !strings.Contains(plan, "USING INDEX") ||
			!strings.Contains(plan, embedded.IDIndexSuffix) || strings.Contains(plan, "SCAN") {
			t.Errorf("find {_id} on %s: plan %q, want SEARCH ... USING INDEX ..%s", coll, plan, embedded.IDIndexSuffix)
		}

		sqlPlan, err := testClient.eng.(*embedded.Engine).ExplainIDLookup(ctx, s.db.Name(), coll)
		if err != nil {
			t.Fatal(err)
		}

		if !strings.Contains(sqlPlan, "USING INDEX") || strings.Contains(sqlPlan, "SCAN") {
			t.Errorf("SQL plan on %s: %q, want an index search", coll, sqlPlan)
		}
	}

	// The control: a collection created behind storage's back scans, which is what
	// the index exists to prevent.
	if err := s.db.CreateCollection(ctx, "Unindexed"); err != nil {
		t.Fatal(err)
	}

	if plan := explainFind(t, s, "Unindexed"); !strings.Contains(plan, "SCAN") || strings.Contains(plan, "USING INDEX") {
		t.Errorf("control collection: plan %q, want a SCAN", plan)
	}
}

func TestEmbeddedDataDirIsLockedAndPersistent(t *testing.T) {
	skipUnlessEmbedded(t)

	ctx := context.Background()
	dir := t.TempDir()

	c, err := Open(ctx, Config{Engine: embedded.New(dir)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}

	if _, err := Open(ctx, Config{Engine: embedded.New(dir)}); err == nil {
		t.Fatal("second Open of the same data directory succeeded")
	}

	s, err := c.Datastore(ctx, DefaultDatastore)
	if err != nil {
		t.Fatal(err)
	}

	want := mustPut(t, s, "Patient", "p1", patient("p1", "A"))

	if err := c.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}

	if err := c.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	c, err = Open(ctx, Config{Engine: embedded.New(dir)})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer c.Close(ctx)

	s, err = c.Datastore(ctx, DefaultDatastore)
	if err != nil {
		t.Fatal(err)
	}

	got := mustRead(t, s, "Patient", "p1")
	if string(got.JSON) != string(want.JSON) || got.Seq != want.Seq {
		t.Fatalf("after reopen: %+v, want %+v", got, want)
	}

	// Sequence numbers continue after a restart.
	if rec := mustPut(t, s, "Patient", "p1", patient("p1", "B")); rec.Seq != want.Seq+1 || rec.VersionID != 2 {
		t.Fatalf("put after reopen: seq %d version %d, want seq %d version 2", rec.Seq, rec.VersionID, want.Seq+1)
	}
}

// dyingEngine is an embedded engine that stops right after it started, before the client
// has connected.
type dyingEngine struct{ *embedded.Engine }

func (e dyingEngine) Start(ctx context.Context, log *slog.Logger) (string, error) {
	uri, err := e.Engine.Start(ctx, log)
	if err == nil {
		err = e.Engine.Stop()
	}
	return uri, err
}

// TestOpenFailsAtOnceWhenTheEngineDies: an engine that dies while the client connects fails
// Open at once, saying so, rather than after the driver's 10-second server selection, and
// leaves its data directory free for the next start.
func TestOpenFailsAtOnceWhenTheEngineDies(t *testing.T) {
	ctx := context.Background() // no deadline: nothing else bounds the wait
	dir := t.TempDir()

	start := time.Now()
	c, err := Open(ctx, Config{Engine: dyingEngine{embedded.New(dir)}})
	if took := time.Since(start); !errors.Is(err, errEngineStopped) || took > 5*time.Second {
		t.Errorf("Open over an engine that died: %v after %v; want %q within seconds", err, took, errEngineStopped)
	}
	if err == nil {
		c.Close(ctx)
	}

	c, err = Open(ctx, Config{Engine: embedded.New(dir)})
	if err != nil {
		t.Fatalf("the data directory of the dead engine: %v", err)
	}
	c.Close(ctx)
}

func TestOpenRequiresURIOrEngine(t *testing.T) {
	_, err := Open(context.Background(), Config{})
	wantErr(t, "Open without URI or engine", err, ErrInvalid)
	if _, err := Open(context.Background(), Config{Engine: embedded.New("")}); err == nil || !strings.Contains(err.Error(), "data directory is required") {
		t.Errorf("Open with an engine without a data directory: %v, want a clear error", err)
	}
}

// TestEmbeddedIDLookupDoesNotGrow checks the index in time as well as in plan: a
// point lookup in a collection 20 times larger must not be anywhere near 20 times
// slower, as it would be with a scan.
func TestEmbeddedIDLookupDoesNotGrow(t *testing.T) {
	skipUnlessEmbedded(t)

	if testing.Short() {
		t.Skip("seeds 4,200 resources")
	}

	s := newTestStore(t)
	ctx := context.Background()

	seed(t, s, "Small", 200)
	seed(t, s, "Large", 4000)

	// Alternate the two, so that both see the same load on a shared machine, and compare
	// medians: a mean lets a few reads descheduled by other work decide the ratio.
	var small, large []int64

	for i := range 400 {
		for _, c := range []struct {
			typ   string
			n     int
			times *[]int64
		}{{"Small", 200, &small}, {"Large", 4000, &large}} {
			start := nowNanos()
			if _, err := s.Read(ctx, c.typ, fmt.Sprintf("r%d", i*7%c.n)); err != nil {
				t.Fatal(err)
			}

			if i >= 50 { // after warming up
				*c.times = append(*c.times, nowNanos()-start)
			}
		}
	}

	ms, ml := median(small), median(large)
	t.Logf("Read by id (median): %d µs at 200 documents, %d µs at 4,000", ms/1e3, ml/1e3)

	if ml > 4*ms {
		t.Fatalf("lookup cost grew %.1fx for 20x the documents: scanning?", float64(ml)/float64(ms))
	}
}

// median returns the middle of ns, which it sorts.
func median(ns []int64) int64 {
	slices.Sort(ns)
	return ns[len(ns)/2]
}
