package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/storage/embedded"
)

// The suite runs against the embedded engine, or against MONGODB_URI when it is set.
// With STORAGE_TEST_VIA_URI=1 and no MONGODB_URI, it starts FerretDB in-process and
// connects to it by URI, which runs the MongoDB code paths (one round-trip $in, range
// reads of the journal, conditional filters) without a MongoDB server.
var (
	testClient *Client
	testURI    = os.Getenv("MONGODB_URI")
	testRun    = randomHex(3) // keeps datastores of runs against one MongoDB apart
	storeSeq   atomic.Int64

	commandsMu sync.Mutex
	commands   = map[string]int{}
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "storage-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()

	if testURI == "" && os.Getenv("STORAGE_TEST_VIA_URI") != "" {
		eng := embedded.New(dir)
		uri, err := eng.Start(ctx, slog.New(slog.DiscardHandler))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer eng.Stop()

		testURI = uri
	}

	c, err := Open(ctx, testConfig(dir))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close(ctx)

	// Dead commits are a test scenario here, not a rare accident: the tests move the
	// client's clock past the gap timeout instead of waiting a minute for it.
	c.now = testClock.now
	testClient = c

	return m.Run()
}

// testClock is the suite client's clock: the wall clock plus the time the running test
// skipped.
var testClock skewClock

type skewClock struct{ skew atomic.Int64 }

func (c *skewClock) now() time.Time { return time.Now().Add(time.Duration(c.skew.Load())) }

func (c *skewClock) advance(d time.Duration) { c.skew.Add(int64(d)) }

func testConfig(dir string) Config {
	return Config{URI: testURI, Engine: embedded.New(dir), OnCommand: countCommand}
}

func countCommand(name string) {
	commandsMu.Lock()
	commands[name]++
	commandsMu.Unlock()
}

// countCommands returns the commands, by name, that the driver sent while f ran.
// Tests that use it do not run in parallel.
func countCommands(f func()) map[string]int {
	commandsMu.Lock()
	before := make(map[string]int, len(commands))
	for k, v := range commands {
		before[k] = v
	}
	commandsMu.Unlock()

	f()

	commandsMu.Lock()
	defer commandsMu.Unlock()

	out := map[string]int{}
	for k, v := range commands {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}

	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)

	return hex.EncodeToString(b)
}

// newStoreName returns a datastore name unique to this run.
func newStoreName() string {
	return fmt.Sprintf("t%s_%d", testRun, storeSeq.Add(1))
}

// newTestStore returns a fresh datastore on the shared client, dropped after the test.
func newTestStore(t testing.TB) *Store {
	t.Helper()

	return openStore(t, testClient, newStoreName())
}

func openStore(t testing.TB, c *Client, name string) *Store {
	t.Helper()

	s, err := c.Datastore(context.Background(), name)
	if err != nil {
		t.Fatalf("Datastore(%q): %v", name, err)
	}

	if !c.Embedded() {
		t.Cleanup(func() { _ = s.db.Drop(context.Background()) })
	}

	return s
}

// openOwnClient opens a client of its own: on the embedded engine, over dir; on
// MongoDB, a second connection standing for another process.
func openOwnClient(t *testing.T, dir string) *Client {
	t.Helper()

	c, err := Open(context.Background(), testConfig(dir))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}

	c.gapTimeout = 0 // the previous "process" is dead

	return c
}

// testResource is a resource as the model package would produce it: JSON bytes that
// must come back unchanged, plus server-stamped meta.
type testResource struct {
	body        string // a JSON object without meta
	versionID   string
	lastUpdated time.Time
}

func res(body string) *testResource { return &testResource{body: body} }

func (r *testResource) StampMeta(versionID string, lastUpdated time.Time) {
	r.versionID, r.lastUpdated = versionID, lastUpdated
}

func (r *testResource) MarshalJSON() ([]byte, error) {
	return []byte(r.withMeta(r.versionID, r.lastUpdated)), nil
}

func (r *testResource) withMeta(v string, ts time.Time) string {
	return strings.TrimSuffix(r.body, "}") +
		`,"meta":{"versionId":"` + v + `","lastUpdated":"` + ts.Format("2006-01-02T15:04:05.000Z07:00") + `"}}`
}

func patient(id, family string) *testResource {
	return res(`{"resourceType":"Patient","id":"` + id + `","name":[{"family":"` + family + `"}]}`)
}

func mustCommit(t testing.TB, s *Store, writes ...Write) []*Record {
	t.Helper()

	recs, err := s.Commit(context.Background(), writes)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}

	if len(recs) != len(writes) {
		t.Fatalf("Commit returned %d records for %d writes", len(recs), len(writes))
	}

	return recs
}

func putW(typ, id string, r Resource) Write { return Write{Op: OpPut, Type: typ, ID: id, Resource: r} }

func mustPut(t testing.TB, s *Store, typ, id string, r Resource) *Record {
	t.Helper()

	return mustCommit(t, s, putW(typ, id, r))[0]
}

func mustRead(t testing.TB, s *Store, typ, id string) *Record {
	t.Helper()

	rec, err := s.Read(context.Background(), typ, id)
	if err != nil {
		t.Fatalf("Read(%s/%s): %v", typ, id, err)
	}

	return rec
}

func wantErr(t testing.TB, what string, err, want error) {
	t.Helper()

	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

// versions returns the version ids of recs.
func versions(recs []*Record) []int64 {
	out := make([]int64, len(recs))
	for i, r := range recs {
		out[i] = r.VersionID
	}

	return out
}

// allChanges reads the whole feed after seq.
func allChanges(t testing.TB, s *Store, after int64) []Change {
	t.Helper()

	var out []Change

	for {
		page, err := s.Changes(context.Background(), after, 100)
		if err != nil {
			t.Fatalf("Changes(%d): %v", after, err)
		}

		if len(page) == 0 {
			return out
		}

		out = append(out, page...)
		after = page[len(page)-1].Seq
	}
}

// countDocs counts the documents of a collection of s, bypassing storage's API.
func countDocs(t testing.TB, s *Store, coll string) int64 {
	t.Helper()

	n, err := s.db.Collection(coll).CountDocuments(context.Background(), map[string]any{})
	if err != nil {
		t.Fatalf("count %s: %v", coll, err)
	}

	return n
}

// pendingLeft counts the pending records of commits that did not finish, after
// removing those of finished commits that the embedded engine keeps for a batch.
func pendingLeft(t testing.TB, s *Store) int64 {
	t.Helper()

	if err := s.flushFinished(context.Background()); err != nil {
		t.Fatal(err)
	}

	return countDocs(t, s, pendingColl)
}
