package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/validate"
)

// TestRunServesDemoAndShutsDown starts the real server with --demo on the embedded engine, waits
// for /healthz, queries the demo population over HTTP, and shuts down through the context.
func TestRunServesDemoAndShutsDown(t *testing.T) {
	var stdout, stderr syncBuffer
	data := t.TempDir()
	cfg, err := parseConfig([]string{"fhirgate", "--addr", "127.0.0.1:0", "--data", data, "--demo"}, func(string) string { return "" }, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	cfg.onListen = func(a string) { addr <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, &stdout, &stderr) }()

	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("server stopped before listening: %v\n%s", err, stderr.String())
	case <-time.After(2 * time.Minute):
		t.Fatal("server did not start")
	}
	resp, err := http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}

	body := `{"query":"{ PatientList(_count: 100) { id } DocumentReferenceList(_count: 1) { content { attachment { contentType } } subject { resource { ... on Patient { id } } } } }"}`
	// Authentication is on by default: no token, no data.
	resp, err = http.Post(base+"/$graphql", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusUnauthorized || bytes.Contains(b, []byte("pat-")) {
		t.Fatalf("request without a token: status %d, body %s", resp.StatusCode, b)
	}
	resp.Body.Close()
	// --demo printed an admin token.
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	tok := lines[len(lines)-1]
	req, _ := http.NewRequest(http.MethodPost, base+"/$graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Data struct {
			PatientList           []struct{ ID string }
			DocumentReferenceList []struct {
				Content []struct{ Attachment struct{ ContentType string } }
				Subject struct{ Resource struct{ ID string } }
			}
		}
		Errors []any
	}
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if len(out.Errors) > 0 || len(out.Data.PatientList) < 50 {
		t.Fatalf("demo patients: %d, errors %v", len(out.Data.PatientList), out.Errors)
	}
	doc := out.Data.DocumentReferenceList[0]
	if doc.Content[0].Attachment.ContentType != "text/plain" || !strings.HasPrefix(doc.Subject.Resource.ID, "pat-") {
		t.Errorf("demo note: %+v", doc)
	}

	// Writes are validated (strict by default): the Patient is refused.
	mut := `{"query":"mutation { PatientCreate(res: {resourceType: \"Patient\", gender: \"blah\"}) { id } }"}`
	req, _ = http.NewRequest(http.MethodPost, base+"/$graphql", strings.NewReader(mut))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(b, []byte(`"BAD_USER_INPUT"`)) || !bytes.Contains(b, []byte(`"Patient.gender"`)) {
		t.Errorf("invalid Patient: %s", b)
	}

	page, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	html, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if page.StatusCode != http.StatusOK || !bytes.Contains(html, []byte("graphiql")) {
		t.Errorf("GraphiQL page: status %d", page.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server did not shut down")
	}
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(line, "Chalmers") || strings.Contains(line, `"birthDate"`) {
			t.Errorf("log line carries resource content: %s", line)
		}
	}
	if !strings.Contains(stderr.String(), `"msg":"shutting down"`) {
		t.Errorf("no shutdown log:\n%s", stderr.String())
	}
}

// syncBuffer is a bytes.Buffer safe for the server's and the test's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestParseConfigFromEnvironment(t *testing.T) {
	env := map[string]string{"FHIRGATE_ADDR": ":9999", "MONGODB_URI": "mongodb://db:27017", "FHIRGATE_MAX_DEPTH": "7", "FHIRGATE_DEMO": "true"}
	cfg, err := parseConfig([]string{"fhirgate"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.addr != ":9999" || cfg.mongoURI != "mongodb://db:27017" || cfg.api.Limits.MaxDepth != 7 || !cfg.demo {
		t.Errorf("config from env: %+v", cfg)
	}
	cfg, _ = parseConfig([]string{"fhirgate", "--addr", ":1", "--max-depth", "3"}, func(k string) string { return env[k] }, io.Discard)
	if cfg.addr != ":1" || cfg.api.Limits.MaxDepth != 3 {
		t.Errorf("flags must override env: %+v", cfg)
	}
	if _, err := parseConfig([]string{"fhirgate", "--bogus"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Error("unknown flag accepted")
	}
}

// TestValidationFlag: --validation (FHIRGATE_VALIDATION) is strict by default, takes warn
// and off, and refuses anything else.
func TestValidationFlag(t *testing.T) {
	none := func(string) string { return "" }
	for _, c := range []struct {
		args []string
		env  string
		want validate.Mode
	}{
		{nil, "", validate.Strict},
		{[]string{"--validation", "warn"}, "", validate.Warn},
		{nil, "off", validate.Off},
		{[]string{"--validation", "strict"}, "off", validate.Strict},
	} {
		getenv := none
		if c.env != "" {
			getenv = func(k string) string {
				if k == "FHIRGATE_VALIDATION" {
					return c.env
				}
				return ""
			}
		}
		cfg, err := parseConfig(append([]string{"fhirgate"}, c.args...), getenv, io.Discard)
		if err != nil || cfg.api.Validation != c.want {
			t.Errorf("%v env %q: mode %v (%v), want %v", c.args, c.env, cfg.api.Validation, err, c.want)
		}
	}
	if _, err := parseConfig([]string{"fhirgate", "--validation", "lenient"}, none, io.Discard); err == nil {
		t.Error("--validation lenient accepted")
	}
}

// TestTokenCommand: `fhirgate token` prints a token signed with the data directory's key,
// one the server accepts with the role and patient asked for; bad requests are refused.
func TestTokenCommand(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	args := []string{"fhirgate", "token", "--data", dir, "--role", "patient", "--patient", "pat-0001", "--scope", "patient/*.rs", "--ttl", "1h"}
	if err := run(context.Background(), args, func(string) string { return "" }, &out, &errOut); err != nil {
		t.Fatalf("token: %v %s", err, errOut.String())
	}
	key, err := authz.LoadLocalKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	v, err := authz.NewVerifier(context.Background(), authz.VerifierConfig{Local: key})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(context.Background(), strings.TrimSpace(out.String()))
	if err != nil || p.Subject != "Patient/pat-0001" || p.Patient != "pat-0001" || !p.HasRole("patient") || len(p.Scopes) != 1 {
		t.Errorf("printed token: %+v, %v", p, err)
	}
	for _, bad := range [][]string{
		{"fhirgate", "token", "--data", dir},                                               // no role
		{"fhirgate", "token", "--data", dir, "--role", "patient"},                          // patient without id
		{"fhirgate", "token", "--data", dir, "--role", "admin", "--scope", "user/Nope.rs"}, // bad scope
	} {
		out.Reset()
		if err := run(context.Background(), bad, func(string) string { return "" }, &out, io.Discard); err == nil || out.Len() > 0 {
			t.Errorf("%v: printed %q, error %v", bad[3:], out.String(), err)
		}
	}
}

// TestAuthOffIsExplicitAndLoud: authentication is on unless --auth=off, which warns.
func TestAuthOffIsExplicitAndLoud(t *testing.T) {
	cfg, err := parseConfig([]string{"fhirgate"}, func(string) string { return "" }, io.Discard)
	if err != nil || cfg.api.Auth.Off {
		t.Fatalf("default: off=%v, %v", cfg.api.Auth.Off, err)
	}
	if _, err := parseConfig([]string{"fhirgate", "--auth", "maybe"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Error("--auth=maybe accepted")
	}
	cfg, _ = parseConfig([]string{"fhirgate", "--auth=off"}, func(string) string { return "" }, io.Discard)
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	if key, err := authSetup(context.Background(), cfg, logger); err != nil || key != nil || !cfg.api.Auth.Off {
		t.Fatalf("auth off: key %v, %v", key, err)
	}
	if !strings.Contains(logs.String(), "AUTHENTICATION IS OFF") || !strings.Contains(logs.String(), `"level":"WARN"`) {
		t.Errorf("no warning: %s", logs.String())
	}
}
