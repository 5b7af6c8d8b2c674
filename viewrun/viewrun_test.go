package viewrun

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/storage/embedded"
	"github.com/fhirgate/fhirgate/view"
)

// newStore returns a fresh datastore on the embedded engine, closed when the test ends, holding
// a Patient and Observations of it written in the order of ids.
func newStore(t *testing.T, ids ...string) *storage.Store {
	t.Helper()
	ctx := context.Background()
	c, err := storage.Open(ctx, storage.Config{Engine: embedded.New(t.TempDir()), Indexer: search.Indexer{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	s, err := c.Datastore(ctx, storage.DefaultDatastore)
	if err != nil {
		t.Fatal(err)
	}
	put := func(raw string) {
		res, err := model.Unmarshal([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Commit(ctx, []storage.Write{{Op: storage.OpPut, Type: res.TypeName(), ID: res.ResourceID(), Resource: res}}); err != nil {
			t.Fatal(err)
		}
	}
	put(`{"resourceType":"Patient","id":"p1"}`)
	for i, id := range ids {
		put(fmt.Sprintf(`{"resourceType":"Observation","id":%q,"status":"final","code":{"text":"w"},"valueQuantity":{"value":%d},"subject":{"reference":"Patient/p1"}}`, id, i))
	}
	return s
}

// reversed streams a store's resources in the reverse of the order the store reads them in,
// as an engine without an order of its own (MongoDB's natural order) may.
type reversed struct{ *storage.Store }

func (r reversed) Each(ctx context.Context, typ string, filter search.Filter, since time.Time, each func(*storage.Record) error) error {
	var recs []*storage.Record
	if err := r.Store.Each(ctx, typ, filter, since, func(rec *storage.Record) error { recs = append(recs, rec); return nil }); err != nil {
		return err
	}
	slices.Reverse(recs)
	for _, rec := range recs {
		if err := each(rec); err != nil {
			return err
		}
	}
	return nil
}

// countingStore counts the resources streamed through it.
type countingStore struct {
	Store
	read int
}

func (c *countingStore) Each(ctx context.Context, typ string, filter search.Filter, since time.Time, each func(*storage.Record) error) error {
	return c.Store.Each(ctx, typ, filter, since, func(rec *storage.Record) error { c.read++; return each(rec) })
}

var errTooMany = errors.New("too many rows")

func obsView(t *testing.T) *view.View {
	t.Helper()
	v, err := view.Parse([]byte(`{"resource":"Observation","select":[{"column":[{"name":"id","path":"id"}]},{"forEach":"subject","column":[{"name":"p","path":"reference"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func ids(rows []view.Row) string {
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprint(r[0]))
	}
	return strings.Join(out, " ")
}

// TestCollectOrdersByID: Collect answers rows in resource id order whatever order storage
// streams them in, with or without a compartment filter; Run gives them as streamed.
func TestCollectOrdersByID(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, "o3", "o1", "o4", "o2")
	r := &Runner{Store: reversed{s}}
	for _, patient := range []string{"", "p1"} {
		rows, err := r.Collect(ctx, &Request{View: obsView(t), Patient: patient}, 10, func() error { return errTooMany })
		if err != nil || ids(rows) != "o1 o2 o3 o4" {
			t.Errorf("patient %q: Collect %q %v", patient, ids(rows), err)
		}
	}
	var streamed []view.Row
	if err := r.Run(ctx, &Request{View: obsView(t)}, func(row view.Row) error { streamed = append(streamed, row); return nil }); err != nil {
		t.Fatal(err)
	}
	if got := ids(streamed); got != "o4 o3 o2 o1" {
		t.Errorf("Run streamed %q, want the store's (reversed) order", got)
	}
	if _, err := r.Collect(ctx, &Request{View: obsView(t)}, 3, func() error { return errTooMany }); !errors.Is(err, errTooMany) {
		t.Errorf("4 rows, at most 3: %v", err)
	}
}

// TestRunReadsOnce: a run reads each resource once, stops at its Limit, and is refused past
// MaxRead: before its first row with CountFirst, as it streams without.
func TestRunReadsOnce(t *testing.T) {
	ctx := context.Background()
	var obs []string
	for i := range 600 {
		obs = append(obs, fmt.Sprintf("o%03d", i))
	}
	s := newStore(t, obs...)
	count := func(r *Runner, req *Request) (rows, read int, err error) {
		c := &countingStore{Store: s}
		r.Store = c
		err = r.Run(ctx, req, func(view.Row) error { rows++; return nil })
		return rows, c.read, err
	}
	if rows, read, err := count(&Runner{}, &Request{View: obsView(t)}); rows != 600 || read != 600 || err != nil {
		t.Errorf("whole type: %d rows, %d read, %v", rows, read, err)
	}
	if rows, read, err := count(&Runner{}, &Request{View: obsView(t), Limit: 5}); rows != 5 || read != 5 || err != nil {
		t.Errorf("_limit 5: %d rows, %d read, %v", rows, read, err)
	}
	rows, read, err := count(&Runner{MaxRead: 100, CountFirst: true}, &Request{View: obsView(t)})
	if rows != 0 || read != 0 || !errors.Is(err, search.ErrTooMany) || !strings.Contains(err.Error(), "would read 600 Observation resources, more than the 100") {
		t.Errorf("counted first: %d rows, %d read, %v", rows, read, err)
	}
	rows, read, err = count(&Runner{MaxRead: 100}, &Request{View: obsView(t)})
	if rows != 100 || read != 101 || !errors.Is(err, search.ErrTooMany) {
		t.Errorf("streamed past the budget: %d rows, %d read, %v", rows, read, err)
	}
	if rows, _, err := count(&Runner{MaxRead: 100, CountFirst: true}, &Request{View: obsView(t), Limit: 50}); rows != 50 || err != nil {
		t.Errorf("_limit under the budget: %d rows, %v", rows, err)
	}
}
