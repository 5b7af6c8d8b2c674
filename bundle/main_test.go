package bundle

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/storage/embedded"
	"github.com/fhirgate/fhirgate/validate"
)

// openStore opens the embedded engine over dir with search fields and strict validation, as
// the server does, and returns its default datastore.
func openStore(t testing.TB, dir string) (*storage.Client, *storage.Store) {
	t.Helper()
	g, err := validate.NewGuard(validate.Strict)
	if err != nil {
		t.Fatal(err)
	}
	c, err := storage.Open(context.Background(), storage.Config{Engine: embedded.New(dir), Indexer: search.Indexer{}, Validator: g})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Datastore(context.Background(), storage.DefaultDatastore)
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

// newStore returns a fresh datastore, closed when the test ends.
func newStore(t testing.TB) *storage.Store {
	t.Helper()
	c, s := openStore(t, t.TempDir())
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return s
}

// storeReader answers read entries from the store: a read by id, as the REST API would.
// (The api package's tests run reads through the real REST handler.)
type storeReader struct{ s *storage.Store }

func (r storeReader) Read(ctx context.Context, req Request) Response {
	typ, id, _ := strings.Cut(req.URL, "/")
	rec, err := r.s.Read(ctx, typ, id)
	if err != nil {
		return Response{Status: 404, Body: outcomeJSON("not-found", "not found", "")}
	}
	return Response{Status: 200, ETag: fmt.Sprintf(`W/"%d"`, rec.VersionID), Body: rec.JSON}
}

// run runs a bundle given as JSON text.
func run(t testing.TB, p *Processor, bundle string) (*model.Bundle, error) {
	t.Helper()
	return p.Run(context.Background(), []byte(bundle), ReturnRepresentation)
}

// mustRun runs a bundle that must succeed.
func mustRun(t testing.TB, p *Processor, bundle string) *model.Bundle {
	t.Helper()
	out, err := run(t, p, bundle)
	if err != nil {
		t.Fatalf("bundle failed: %v\noutcome: %s", err, outcomeOf(err))
	}
	return out
}

func outcomeOf(err error) string {
	if ee, ok := err.(*EntryError); ok {
		return string(ee.Outcome.Outcome)
	}
	return ""
}

// txBundle builds a transaction (or batch) bundle from entries written as JSON objects.
func txBundle(typ string, entries ...string) string {
	return `{"resourceType":"Bundle","type":"` + typ + `","entry":[` + strings.Join(entries, ",") + `]}`
}

// post, put and del build entries.
func post(fullURL, resource string, extra ...string) string {
	req := `"method":"POST","url":"` + resourceType(resource) + `"`
	for _, x := range extra {
		req += "," + x
	}
	return `{"fullUrl":"` + fullURL + `","resource":` + resource + `,"request":{` + req + `}}`
}

func put(url, resource string, extra ...string) string {
	req := `"method":"PUT","url":"` + url + `"`
	for _, x := range extra {
		req += "," + x
	}
	return `{"resource":` + resource + `,"request":{` + req + `}}`
}

func del(url string) string { return `{"request":{"method":"DELETE","url":"` + url + `"}}` }

func get(url string) string { return `{"request":{"method":"GET","url":"` + url + `"}}` }

func resourceType(resource string) string {
	var h struct{ ResourceType string }
	_ = json.Unmarshal([]byte(resource), &h)
	return h.ResourceType
}

// readJSON reads a resource's stored JSON as a map.
func readJSON(t testing.TB, s *storage.Store, typ, id string) map[string]any {
	t.Helper()
	rec, err := s.Read(context.Background(), typ, id)
	if err != nil {
		t.Fatalf("read %s/%s: %v", typ, id, err)
	}
	var m map[string]any
	if err := json.Unmarshal(rec.JSON, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// location returns the Type/id of a response entry's location.
func location(t testing.TB, e *model.BundleEntry) (typ, id string) {
	t.Helper()
	if e.Response == nil || e.Response.Location == nil {
		t.Fatalf("response entry without location: %+v", e.Response)
	}
	parts := strings.Split(string(*e.Response.Location), "/")
	return parts[0], parts[1]
}

// feedHead returns the sequence number of the newest change in the feed.
func feedHead(t testing.TB, s *storage.Store) int64 {
	t.Helper()
	var head int64
	for {
		ch, err := s.Changes(context.Background(), head, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(ch) == 0 {
			return head
		}
		head = ch[len(ch)-1].Seq
	}
}

func TestMain(m *testing.M) { os.Exit(m.Run()) }
