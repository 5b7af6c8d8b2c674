package search

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/storage/embedded"
)

// The tests run against the embedded engine, or against MONGODB_URI when it is set.
var (
	testClient *storage.Client
	storeSeq   atomic.Int64
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "search-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	c, err := storage.Open(ctx, storage.Config{URI: os.Getenv("MONGODB_URI"), Engine: embedded.New(dir), Indexer: Indexer{}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close(ctx)
	testClient = c
	return m.Run()
}

// newStore returns a fresh, empty datastore.
func newStore(t testing.TB) *storage.Store {
	t.Helper()
	s, err := testClient.Datastore(context.Background(), fmt.Sprintf("search%d_%d", os.Getpid()%10000, storeSeq.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// put stores resources given as JSON.
func put(t testing.TB, s *storage.Store, docs ...string) {
	t.Helper()
	var ws []storage.Write
	for _, d := range docs {
		res, err := model.Unmarshal([]byte(d))
		if err != nil {
			t.Fatalf("%v: %s", err, d)
		}
		ws = append(ws, storage.Write{Op: storage.OpPut, Type: res.TypeName(), ID: res.ResourceID(), Resource: res})
	}
	if _, err := s.Commit(context.Background(), ws); err != nil {
		t.Fatal(err)
	}
}

// ids runs a search and returns the ids found, sorted unless the search sorts.
func ids(t testing.TB, s *storage.Store, typ string, args map[string]any) ([]string, error) {
	t.Helper()
	return idsAt(t, s, nil, typ, args)
}

// idsAt is ids on a runner whose clock is now (nil: time.Now).
func idsAt(t testing.TB, s *storage.Store, now func() time.Time, typ string, args map[string]any) ([]string, error) {
	t.Helper()
	q, err := Parse(typ, args)
	if err != nil {
		return nil, err
	}
	r := &Runner{Store: s, ListLimit: 100000, PageSize: 20, Now: now}
	recs, err := r.List(context.Background(), q)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, rec := range recs {
		out = append(out, rec.ID)
	}
	if len(q.Sort) == 0 {
		sort.Strings(out)
	}
	return out, nil
}

func join(ids []string) string { return strings.Join(ids, ",") }
