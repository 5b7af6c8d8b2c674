package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/storage/embedded"
)

// The package's tests share one storage engine (embedded FerretDB, or MONGODB_URI when set);
// each test gets its own datastore.
var (
	client   *storage.Client
	commands atomic.Int64 // MongoDB commands sent, for round-trip counting
	cmdMu    sync.Mutex
	cmdNames map[string]int // commands by name since the last resetCommands
	dsSeq    atomic.Int64
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fhirgate-api-test")
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	client, err = storage.Open(ctx, storage.Config{
		URI:     os.Getenv("MONGODB_URI"),
		Engine:  embedded.New(dir),
		Indexer: search.Indexer{},
		OnCommand: func(name string) {
			commands.Add(1)
			cmdMu.Lock()
			if cmdNames != nil {
				cmdNames[name]++
			}
			cmdMu.Unlock()
		},
	})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "open storage:", err)
		os.Exit(1)
	}
	code := m.Run()
	client.Close(context.Background())
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is one test's server over its own datastore, reached over real HTTP.
type env struct {
	t       testing.TB
	name    string // datastore name; its database is "fhirgate_" + name
	store   *storage.Store
	srv     *httptest.Server
	handler http.Handler
}

func newEnv(t testing.TB, mutate ...func(*api.Config)) *env {
	t.Helper()
	name := fmt.Sprintf("t%d_%d", time.Now().UnixNano()%1e9, dsSeq.Add(1))
	store, err := client.Datastore(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return newEnvOver(t, name, store, mutate...)
}

// newEnvOver is newEnv over a given datastore.
func newEnvOver(t testing.TB, name string, store *storage.Store, mutate ...func(*api.Config)) *env {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Store = store
	// These tests are about the graph; auth_test.go runs it with authentication on.
	cfg.Auth.Off = true
	for _, m := range mutate {
		m(&cfg)
	}
	h := api.NewServer(cfg)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, name: name, store: store, srv: srv, handler: h}
}

// gqlResponse is a GraphQL answer with its HTTP status.
type gqlResponse struct {
	Status int
	Data   map[string]json.RawMessage `json:"data"`
	Errors []gqlError                 `json:"errors"`
	// Extensions are the response's extensions (validation issues beside a result).
	Extensions map[string]any `json:"extensions"`
	header     http.Header
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// post sends a GraphQL request to path (default /$graphql) and decodes the answer.
func (e *env) post(path, query string, vars map[string]any) *gqlResponse {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return e.raw(http.MethodPost, path, "application/json", body)
}

func (e *env) raw(method, path, contentType string, body []byte) *gqlResponse {
	e.t.Helper()
	if path == "" {
		path = "/$graphql"
	}
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := &gqlResponse{Status: resp.StatusCode}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		e.t.Fatalf("%s %s: status %d, undecodable body %q", method, path, resp.StatusCode, truncate(string(b), 300))
	}
	out.Status = resp.StatusCode
	return out
}

// mustData fails the test on any GraphQL error and returns data[field].
func (r *gqlResponse) mustData(t testing.TB, field string) json.RawMessage {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("unexpected errors (status %d): %+v", r.Status, r.Errors)
	}
	return r.Data[field]
}

// outcomeIssue returns the first OperationOutcome issue code of an error, failing when absent.
func outcomeIssue(t testing.TB, e gqlError) string {
	t.Helper()
	res, ok := e.Extensions["resource"].(map[string]any)
	if !ok || res["resourceType"] != "OperationOutcome" {
		t.Fatalf("error %q carries no OperationOutcome: %+v", e.Message, e.Extensions)
	}
	issues, _ := res["issue"].([]any)
	if len(issues) == 0 {
		t.Fatalf("OperationOutcome without issues: %+v", res)
	}
	code, _ := issues[0].(map[string]any)["code"].(string)
	return code
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func has(s, sub string) bool { return strings.Contains(s, sub) }

// recordCommands counts the commands sent while f runs, by name.
func recordCommands(f func()) (total int64, byName map[string]int) {
	cmdMu.Lock()
	cmdNames = map[string]int{}
	cmdMu.Unlock()
	before := commands.Load()
	f()
	cmdMu.Lock()
	defer cmdMu.Unlock()
	byName, cmdNames = cmdNames, nil
	return commands.Load() - before, byName
}
