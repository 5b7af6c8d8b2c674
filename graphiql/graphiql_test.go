package graphiql_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/fhirgate/fhirgate/graphiql"
)

// get runs one request through h in-process.
func get(t *testing.T, h http.Handler, method, target string, header http.Header) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func readBody(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return b
}

var (
	metaEndpoint = regexp.MustCompile(`<meta name="fhirgate-graphql-endpoint" content="([^"]*)">`)
	srcOrHref    = regexp.MustCompile(`(?i)\b(?:src|href)\s*=\s*"([^"]*)"`)
)

// pageAssets returns the URLs of the page's <script src> and <link href>,
// resolved against the page URL "/".
func pageAssets(t *testing.T, page []byte) []string {
	t.Helper()
	var urls []string
	base, _ := url.Parse("http://fhirgate.test/")
	for _, m := range srcOrHref.FindAllSubmatch(page, -1) {
		ref, err := url.Parse(html.UnescapeString(string(m[1])))
		if err != nil {
			t.Fatalf("page links to unparseable URL %q: %v", m[1], err)
		}
		if ref.Scheme != "" || ref.Host != "" {
			t.Errorf("page links to %q, not a local asset", m[1])
			continue
		}
		urls = append(urls, base.ResolveReference(ref).RequestURI())
	}
	return urls
}

func TestIndexInsertsEndpoint(t *testing.T) {
	for _, endpoint := range []string{"/$graphql", "/fhir/r4/$graphql", "https://api.example.org/fhir/$graphql"} {
		h := graphiql.Handler(endpoint)
		for _, path := range []string{"/", "/index.html"} {
			resp := get(t, h, http.MethodGet, path, nil)
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: status %d, want 200", path, resp.StatusCode)
			}
			if got, want := resp.Header.Get("Content-Type"), "text/html; charset=utf-8"; got != want {
				t.Errorf("GET %s: Content-Type %q, want %q", path, got, want)
			}
			if got, want := resp.Header.Get("Cache-Control"), "no-cache"; got != want {
				t.Errorf("GET %s: Cache-Control %q, want %q", path, got, want)
			}
			m := metaEndpoint.FindSubmatch(body)
			if m == nil {
				t.Fatalf("GET %s: no endpoint <meta> in\n%s", path, body)
			}
			if got := html.UnescapeString(string(m[1])); got != endpoint {
				t.Errorf("GET %s: endpoint in page %q, want %q", path, got, endpoint)
			}
		}
	}
}

func TestIndexDefaultEndpoint(t *testing.T) {
	body := readBody(t, get(t, graphiql.Handler(""), http.MethodGet, "/", nil))
	m := metaEndpoint.FindSubmatch(body)
	if m == nil || html.UnescapeString(string(m[1])) != graphiql.DefaultEndpoint {
		t.Errorf("Handler(\"\") page endpoint = %q, want %q", m, graphiql.DefaultEndpoint)
	}
}

func TestIndexEscapesEndpoint(t *testing.T) {
	const evil = `/x"></script><script>alert(1)</script><meta x="` + "'&<>"
	body := readBody(t, get(t, graphiql.Handler(evil), http.MethodGet, "/", nil))
	for _, bad := range []string{"<script>alert(1)", `"></script>`, `x="'&`} {
		if bytes.Contains(body, []byte(bad)) {
			t.Errorf("page contains unescaped %q:\n%s", bad, body)
		}
	}
	if n := bytes.Count(body, []byte("<script")); n != 1 {
		t.Errorf("page has %d <script> tags, want 1 (the bundle):\n%s", n, body)
	}
	m := metaEndpoint.FindSubmatch(body)
	if m == nil {
		t.Fatalf("no endpoint <meta> in\n%s", body)
	}
	if got := html.UnescapeString(string(m[1])); got != evil {
		t.Errorf("endpoint in page decodes to %q, want %q", got, evil)
	}
}

func TestIndexLinksOnlyLocalAssets(t *testing.T) {
	h := graphiql.Handler("/$graphql")
	body := readBody(t, get(t, h, http.MethodGet, "/", nil))
	if bytes.Contains(body, []byte("http://")) || bytes.Contains(body, []byte("https://")) {
		t.Errorf("page mentions an absolute URL:\n%s", body)
	}
	urls := pageAssets(t, body)
	want := map[string]string{
		"graphiql.js":              "text/javascript; charset=utf-8",
		"graphiql.css":             "text/css; charset=utf-8",
		"THIRD_PARTY_LICENSES.txt": "text/plain; charset=utf-8",
	}
	if len(urls) != len(want) {
		t.Errorf("page links to %q, want one URL for each of %d assets", urls, len(want))
	}
	for _, u := range urls {
		name := u[strings.LastIndex(u, "/")+1:]
		ct, ok := want[name]
		if !ok {
			t.Errorf("page links to unexpected %q", u)
			continue
		}
		if !strings.HasPrefix(u, "/graphiql/") {
			t.Errorf("page links to %q, want it under /graphiql/", u)
		}
		resp := get(t, h, http.MethodGet, u, nil)
		b := readBody(t, resp)
		if resp.StatusCode != http.StatusOK || len(b) == 0 {
			t.Errorf("GET %s: status %d, %d bytes; want 200 and a body", u, resp.StatusCode, len(b))
		}
		if got := resp.Header.Get("Content-Type"); got != ct {
			t.Errorf("GET %s: Content-Type %q, want %q", u, got, ct)
		}
		if got, want := resp.Header.Get("Cache-Control"), "public, max-age=31536000, immutable"; got != want {
			t.Errorf("GET %s: Cache-Control %q, want %q", u, got, want)
		}
	}
}

// versionedDir is the directory the page loads its script from; the script
// loads the Monaco workers from the same directory.
func versionedDir(t *testing.T, h http.Handler) string {
	t.Helper()
	for _, u := range pageAssets(t, readBody(t, get(t, h, http.MethodGet, "/", nil))) {
		if strings.HasSuffix(u, "/graphiql.js") {
			return strings.TrimSuffix(u, "graphiql.js")
		}
	}
	t.Fatal("page loads no graphiql.js")
	return ""
}

func TestAssets(t *testing.T) {
	h := graphiql.Handler("/$graphql")
	dir := versionedDir(t, h)
	tests := []struct {
		name, contentType string
		minSize           int
		contains          string
	}{
		{"graphiql.js", "text/javascript; charset=utf-8", 100_000, "fhirgate-graphql-endpoint"},
		{"graphiql.css", "text/css; charset=utf-8", 10_000, ".graphiql-container"},
		{"editor.worker.js", "text/javascript; charset=utf-8", 10_000, ""},
		{"json.worker.js", "text/javascript; charset=utf-8", 10_000, ""},
		{"graphql.worker.js", "text/javascript; charset=utf-8", 10_000, ""},
		{"THIRD_PARTY_LICENSES.txt", "text/plain; charset=utf-8", 1_000, "graphiql@"},
	}
	for _, tt := range tests {
		for _, u := range []string{"/graphiql/" + tt.name, dir + tt.name} {
			resp := get(t, h, http.MethodGet, u, nil)
			b := readBody(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s: status %d, want 200", u, resp.StatusCode)
				continue
			}
			if len(b) < tt.minSize {
				t.Errorf("GET %s: %d bytes, want at least %d", u, len(b), tt.minSize)
			}
			if !bytes.Contains(b, []byte(tt.contains)) {
				t.Errorf("GET %s: body lacks %q", u, tt.contains)
			}
			if got := resp.Header.Get("Content-Type"); got != tt.contentType {
				t.Errorf("GET %s: Content-Type %q, want %q", u, got, tt.contentType)
			}
			if resp.Header.Get("ETag") == "" {
				t.Errorf("GET %s: no ETag", u)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("GET %s: X-Content-Type-Options %q, want nosniff", u, got)
			}
		}
		if got, want := get(t, h, http.MethodGet, "/graphiql/"+tt.name, nil).Header.Get("Cache-Control"), "no-cache"; got != want {
			t.Errorf("GET /graphiql/%s: Cache-Control %q, want %q", tt.name, got, want)
		}
	}
}

// TestBundleLoadsWorkersItServes guards the contract between build/main.jsx,
// which names the worker files, and the handler, which serves them.
func TestBundleLoadsWorkersItServes(t *testing.T) {
	h := graphiql.Handler("")
	js := readBody(t, get(t, h, http.MethodGet, "/graphiql/graphiql.js", nil))
	for _, w := range []string{"editor.worker.js", "json.worker.js", "graphql.worker.js"} {
		if !bytes.Contains(js, []byte(`"`+w+`"`)) {
			t.Errorf("graphiql.js does not name %q", w)
		}
	}
}

// TestNoCDN checks the committed bundle for the CDNs GraphiQL and Monaco
// would otherwise load code, fonts or workers from.
func TestNoCDN(t *testing.T) {
	cdn := regexp.MustCompile(`https?://(esm\.sh|unpkg\.com|cdn\.jsdelivr\.net|cdnjs\.cloudflare\.com|fonts\.googleapis\.com|fonts\.gstatic\.com|ga\.jspm\.io|cdn\.skypack\.dev)`)
	remoteCSS := regexp.MustCompile(`(url\(\s*['"]?|@import\s+['"]?)(https?:)?//`)
	h := graphiql.Handler("")
	for _, name := range []string{"graphiql.js", "graphiql.css", "editor.worker.js", "json.worker.js", "graphql.worker.js"} {
		b := readBody(t, get(t, h, http.MethodGet, "/graphiql/"+name, nil))
		if m := cdn.Find(b); m != nil {
			t.Errorf("%s references CDN %s", name, m)
		}
		if strings.HasSuffix(name, ".css") {
			if m := remoteCSS.Find(b); m != nil {
				t.Errorf("%s loads a remote resource: %s", name, m)
			}
		}
	}
}

func TestConditionalAndHead(t *testing.T) {
	h := graphiql.Handler("")
	for _, u := range []string{"/", "/graphiql/graphiql.css"} {
		first := get(t, h, http.MethodGet, u, nil)
		body := readBody(t, first)
		etag := first.Header.Get("ETag")

		resp := get(t, h, http.MethodGet, u, http.Header{"If-None-Match": {etag}})
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s If-None-Match %s: status %d, want 304", u, etag, resp.StatusCode)
		}

		resp = get(t, h, http.MethodHead, u, nil)
		if b := readBody(t, resp); resp.StatusCode != http.StatusOK || len(b) != 0 {
			t.Errorf("HEAD %s: status %d, %d body bytes; want 200 and none", u, resp.StatusCode, len(b))
		}
		if got, want := resp.ContentLength, int64(len(body)); got != want {
			t.Errorf("HEAD %s: Content-Length %d, want %d", u, got, want)
		}
	}
}

func TestGzip(t *testing.T) {
	h := graphiql.Handler("")
	plainResp := get(t, h, http.MethodGet, "/graphiql/graphiql.js", nil)
	plain := readBody(t, plainResp)
	if got := plainResp.Header.Get("Content-Encoding"); got != "" {
		t.Errorf("no Accept-Encoding: Content-Encoding %q, want none", got)
	}

	resp := get(t, h, http.MethodGet, "/graphiql/graphiql.js", http.Header{"Accept-Encoding": {"br, gzip;q=0.8"}})
	if got := resp.Header.Get("Content-Encoding"); got != "gzip" {
		t.Fatalf("Accept-Encoding gzip: Content-Encoding %q, want gzip", got)
	}
	if !strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding") {
		t.Errorf("gzip response: Vary %q lacks Accept-Encoding", resp.Header.Get("Vary"))
	}
	if resp.Header.Get("ETag") == plainResp.Header.Get("ETag") {
		t.Errorf("gzip and identity responses share ETag %s", resp.Header.Get("ETag"))
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatalf("gzip response: %v", err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gzip response: %v", err)
	}
	if !bytes.Equal(unzipped, plain) {
		t.Errorf("gzip response decodes to %d bytes that differ from the %d plain ones", len(unzipped), len(plain))
	}

	for _, ae := range []string{"gzip;q=0", "br", "identity", "gzip; q=0.000"} {
		resp := get(t, h, http.MethodGet, "/graphiql/graphiql.js", http.Header{"Accept-Encoding": {ae}})
		if got := resp.Header.Get("Content-Encoding"); got != "" {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want none", ae, got)
		}
	}
}

func TestNotFoundAndMethods(t *testing.T) {
	h := graphiql.Handler("")
	for _, u := range []string{"/nope", "/graphiql/", "/graphiql/nope.js", "/graphiql/0123456789abcdef/graphiql.js", "/graphiql.js", "/graphiql/../graphiql.go"} {
		if got := get(t, h, http.MethodGet, u, nil).StatusCode; got != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", u, got)
		}
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions} {
		resp := get(t, h, m, "/", nil)
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s /: status %d, want 405", m, resp.StatusCode)
		}
		if got, want := resp.Header.Get("Allow"), "GET, HEAD"; got != want {
			t.Errorf("%s /: Allow %q, want %q", m, got, want)
		}
	}
}

// cspDirectives parses a Content-Security-Policy header into its directives.
func cspDirectives(csp string) map[string][]string {
	d := make(map[string][]string)
	for part := range strings.SplitSeq(csp, ";") {
		fields := strings.Fields(part)
		if len(fields) > 0 {
			d[fields[0]] = fields[1:]
		}
	}
	return d
}

func TestContentSecurityPolicy(t *testing.T) {
	tests := []struct {
		endpoint string
		connect  []string
	}{
		{"/$graphql", []string{"'self'"}},
		{"https://api.example.org/fhir/$graphql", []string{"'self'", "https://api.example.org"}},
		{"http://127.0.0.1:8080/$graphql", []string{"'self'", "http://127.0.0.1:8080"}},
		{"//api.example.org/$graphql", []string{"'self'", "api.example.org"}},
		{"javascript:alert(1)", []string{"'self'"}},
		{"https://evil.example;script-src *@x/", []string{"'self'"}},
	}
	for _, tt := range tests {
		resp := get(t, graphiql.Handler(tt.endpoint), http.MethodGet, "/", nil)
		csp := resp.Header.Get("Content-Security-Policy")
		d := cspDirectives(csp)
		if got := strings.Join(d["connect-src"], " "); got != strings.Join(tt.connect, " ") {
			t.Errorf("endpoint %q: connect-src %q, want %q", tt.endpoint, got, tt.connect)
		}
		want := map[string]string{
			"default-src":     "'none'",
			"script-src":      "'self'",
			"worker-src":      "'self'",
			"style-src":       "'self' 'unsafe-inline'",
			"font-src":        "'self' data:",
			"img-src":         "'self' data:",
			"base-uri":        "'none'",
			"frame-ancestors": "'none'",
		}
		for k, v := range want {
			if got := strings.Join(d[k], " "); got != v {
				t.Errorf("endpoint %q: %s %q, want %q (CSP %q)", tt.endpoint, k, got, v, csp)
			}
		}
		for k, vs := range d {
			for _, v := range vs {
				if v == "*" || strings.HasPrefix(v, "https:") && k != "connect-src" || v == "'unsafe-eval'" {
					t.Errorf("endpoint %q: %s allows %s", tt.endpoint, k, v)
				}
			}
		}
	}
}

// TestMountedUnderPrefix checks that the relative asset links work when the
// handler sits below a path prefix.
func TestMountedUnderPrefix(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/ui/", http.StripPrefix("/ui", graphiql.Handler("/$graphql")))
	body := readBody(t, get(t, mux, http.MethodGet, "/ui/", nil))
	base, _ := url.Parse("http://fhirgate.test/ui/")
	for _, m := range srcOrHref.FindAllSubmatch(body, -1) {
		ref, _ := url.Parse(html.UnescapeString(string(m[1])))
		u := base.ResolveReference(ref).RequestURI()
		if got := get(t, mux, http.MethodGet, u, nil).StatusCode; got != http.StatusOK {
			t.Errorf("GET %s under /ui/: status %d, want 200", u, got)
		}
	}
}

// TestIndexTellsWhetherAuthIsOn: the page waits for a token unless the server serves
// everyone without one.
func TestIndexTellsWhetherAuthIsOn(t *testing.T) {
	auth := regexp.MustCompile(`<meta name="fhirgate-auth" content="([^"]*)">`)
	for _, tt := range []struct {
		off  bool
		want string
	}{{false, "required"}, {true, "off"}} {
		body := readBody(t, get(t, graphiql.New(graphiql.Options{AuthOff: tt.off}), http.MethodGet, "/", nil))
		if m := auth.FindSubmatch(body); m == nil || string(m[1]) != tt.want {
			t.Errorf("AuthOff %v: fhirgate-auth %q, want %q", tt.off, m, tt.want)
		}
	}
}

// TestExamples: the saved queries the page offers are well formed: the welcome query first,
// unique ids, each query a GraphQL document of one named operation, variables JSON objects,
// and the same list the bundle carries.
func TestExamples(t *testing.T) {
	examples := graphiql.Examples()
	if len(examples) < 4 || examples[0].ID != "welcome" {
		t.Fatalf("%d examples, the first %q", len(examples), examples[0].ID)
	}
	js := readBody(t, get(t, graphiql.Handler(""), http.MethodGet, "/graphiql/graphiql.js", nil))
	seen := map[string]bool{}
	for _, ex := range examples {
		if seen[ex.ID] || ex.ID == "" || ex.Title == "" || ex.Description == "" {
			t.Errorf("example %q: duplicate or incomplete", ex.ID)
		}
		seen[ex.ID] = true
		doc, err := parser.ParseQuery(&ast.Source{Input: ex.Query})
		if err != nil {
			t.Errorf("example %s: %v", ex.ID, err)
		} else if len(doc.Operations) != 1 || doc.Operations[0].Name == "" {
			t.Errorf("example %s: %d operations, want one named operation", ex.ID, len(doc.Operations))
		}
		if ex.Variables != "" {
			var vars map[string]any
			if err := json.Unmarshal([]byte(ex.Variables), &vars); err != nil {
				t.Errorf("example %s: variables: %v", ex.ID, err)
			}
		}
		if !bytes.Contains(js, []byte(strconv.Quote(ex.Description))) {
			t.Errorf("example %s is not in the bundle: regenerate it (go generate ./graphiql)", ex.ID)
		}
	}
}

// TestIDEModules runs the unit tests of the page's own modules (build/ide.test.mjs) with
// Node's test runner: the table view's shapes, CSV, exact numbers, the storage without
// headers, the custom scalars' schemas. They import the pinned packages, so the test skips
// without Node.js or build/node_modules (go generate ./graphiql installs them), and fails
// there where FHIRGATE_REQUIRE_BROWSER=1 says they were installed.
func TestIDEModules(t *testing.T) {
	missing := t.Skip
	if os.Getenv("FHIRGATE_REQUIRE_BROWSER") == "1" {
		missing = t.Fatal
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("IDE modules: node is not on PATH")
	}
	if _, err := os.Stat(filepath.Join("build", "node_modules", "graphiql", "package.json")); err != nil {
		missing("IDE modules: run `go generate ./graphiql` (npm ci in graphiql/build)")
	}
	args := []string{"--test", "ide.test.mjs"}
	// JSON.parse source text access, which keeps decimals exact, ships in Node 21 and is
	// behind a flag in Node 20's V8 (browsers have it: Chrome 114, Firefox 135, Safari 18.4).
	if exec.Command(node, "-e", "process.exit(typeof JSON.rawJSON === 'function' ? 0 : 1)").Run() != nil {
		args = append([]string{"--harmony-json-parse-with-source"}, args...)
	}
	cmd := exec.Command(node, args...)
	cmd.Dir = "build"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	pass := regexp.MustCompile(`(?m)^# pass (\d+)$`).FindSubmatch(out)
	if pass == nil || string(pass[1]) == "0" {
		t.Fatalf("no test passed:\n%s", out)
	}
	t.Logf("%s IDE module tests passed", pass[1])
}
