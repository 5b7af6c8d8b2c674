// Package graphiql serves the GraphiQL IDE for fhirgate's GraphQL endpoint.
//
// The page, its script and stylesheet, and the Monaco editor's web workers are
// embedded in the binary from dist/, so the IDE works on machines without
// internet access, and the page's Content-Security-Policy forbids every
// third-party origin.
//
// dist/ is generated from pinned npm packages (build/package-lock.json) by
// `go generate ./graphiql`, which needs Node.js and the npm registry. The
// output is committed, so building and testing the Go code needs neither.
package graphiql

//go:generate npm ci --prefix build --ignore-scripts --no-audit --no-fund
//go:generate node build/build.mjs

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultEndpoint is the GraphQL endpoint the page talks to when Handler is
// given an empty one: the path the FHIR specification gives the GraphQL
// operation on a server's base URL.
const DefaultEndpoint = "/$graphql"

// assetPrefix is the directory, relative to the page, under which the assets
// are served: /graphiql/NAME (revalidated through the ETag) and
// /graphiql/VERSION/NAME (cached as immutable; the page links to these).
const assetPrefix = "graphiql"

//go:embed dist/graphiql.js dist/graphiql.css dist/editor.worker.js dist/json.worker.js dist/graphql.worker.js dist/THIRD_PARTY_LICENSES.txt
var distFS embed.FS

//go:embed index.html
var indexHTML string

//go:embed examples.json
var examplesJSON []byte

var indexTemplate = template.Must(template.New("index.html").Parse(indexHTML))

// contentTypes maps the extensions found in dist/ to their media types; an
// asset with another extension is a build change that needs a line here.
var contentTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".txt": "text/plain; charset=utf-8",
}

// asset is one embedded file, with its gzip encoding made on first demand.
type asset struct {
	contentType string
	body        []byte
	etag        string

	gzipOnce sync.Once
	gzipBody []byte // nil when gzip does not make the file smaller
	gzipETag string
}

// assetSet is every embedded asset by file name, and the version that names
// this set in immutable URLs.
type assetSet struct {
	byName  map[string]*asset
	version string
}

// loadAssets reads dist/ once per process; all handlers share the result,
// including the lazily compressed bodies.
var loadAssets = sync.OnceValue(func() *assetSet {
	entries, err := distFS.ReadDir("dist")
	if err != nil {
		panic("graphiql: reading embedded dist: " + err.Error())
	}
	set := &assetSet{byName: make(map[string]*asset)}
	all := sha256.New()
	for _, e := range entries { // ReadDir sorts by name, so the version is stable
		name := e.Name()
		body, err := distFS.ReadFile("dist/" + name)
		if err != nil {
			panic("graphiql: reading embedded " + name + ": " + err.Error())
		}
		ct, ok := contentTypes[path.Ext(name)]
		if !ok {
			panic("graphiql: no content type for embedded " + name)
		}
		set.byName[name] = &asset{contentType: ct, body: body, etag: etagOf(body, "")}
		all.Write([]byte(name))
		all.Write([]byte{0})
		all.Write(body)
	}
	set.version = hex.EncodeToString(all.Sum(nil))[:16]
	return set
})

func etagOf(body []byte, suffix string) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:])[:32] + suffix + `"`
}

// gzipped returns the gzip encoding of a and its ETag, or nil when gzip does
// not shrink it.
func (a *asset) gzipped() ([]byte, string) {
	a.gzipOnce.Do(func() {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // the level is valid
		zw.Write(a.body)                                         // writes to a bytes.Buffer do not fail
		zw.Close()
		if buf.Len() < len(a.body) {
			a.gzipBody = buf.Bytes()
			a.gzipETag = strings.TrimSuffix(a.etag, `"`) + `-gzip"`
		}
	})
	return a.gzipBody, a.gzipETag
}

type handler struct {
	assets    *assetSet
	index     []byte
	indexETag string
	csp       string
}

var _ http.Handler = (*handler)(nil)

// Options configure the page.
type Options struct {
	// Endpoint is the GraphQL endpoint the page talks to (DefaultEndpoint when empty): a URL
	// reference resolved against the page's URL, usually an absolute path such as
	// "/$graphql"; a full URL on another origin is allowed, and the page's
	// Content-Security-Policy then lets the browser connect to that origin only.
	Endpoint string
	// AuthOff tells the page that the server serves everyone without a token, so it loads
	// the schema at once; otherwise it waits for a token before it asks for anything.
	AuthOff bool
}

// Handler returns New(Options{Endpoint: endpoint}).
func Handler(endpoint string) http.Handler { return New(Options{Endpoint: endpoint}) }

// New returns an http.Handler that serves GraphiQL as opts say.
//
// The handler answers GET and HEAD (405 otherwise) for:
//
//   - "/" and "/index.html": the page, with the endpoint and whether it needs a token in
//     <meta> tags.
//   - "/graphiql/NAME": an asset (graphiql.js, graphiql.css, the *.worker.js
//     Monaco workers, THIRD_PARTY_LICENSES.txt), revalidated with its ETag.
//   - "/graphiql/VERSION/NAME": the same asset, cacheable for a year as
//     immutable; the page links to these URLs, and VERSION changes whenever
//     any asset does. An old VERSION gives 404.
//
// Any other path gives 404. The page links to its assets by relative URLs,
// so the handler may be mounted under a prefix with http.StripPrefix as long
// as the page is reached with a trailing slash ("/ui/", not "/ui").
func New(opts Options) http.Handler {
	endpoint := opts.Endpoint
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	assets := loadAssets()
	var buf bytes.Buffer
	err := indexTemplate.Execute(&buf, struct {
		Endpoint, Assets string
		AuthOff          bool
	}{
		Endpoint: endpoint,
		Assets:   assetPrefix + "/" + assets.version,
		AuthOff:  opts.AuthOff,
	})
	if err != nil {
		// The template is fixed and its data are plain values, so this is a
		// bug in index.html, not a bad argument.
		panic("graphiql: rendering index.html: " + err.Error())
	}
	return &handler{
		assets:    assets,
		index:     buf.Bytes(),
		indexETag: etagOf(buf.Bytes(), ""),
		csp:       contentSecurityPolicy(endpoint),
	}
}

// Example is one of the saved queries the page offers analysts (examples.json, bundled
// into the page's script).
type Example struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Query       string `json:"query"`
	// Variables is the variables' JSON text, "" when the query has none.
	Variables string `json:"variables"`
}

// Examples returns the page's saved queries, the welcome query (ID "welcome") first.
func Examples() []Example {
	var out []Example
	if err := json.Unmarshal(examplesJSON, &out); err != nil {
		panic("graphiql: examples.json: " + err.Error()) // a build input, checked by the tests
	}
	return out
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", h.csp)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
	hdr.Set("Cross-Origin-Resource-Policy", "same-origin")

	p := r.URL.Path
	switch {
	case p == "/" || p == "/index.html":
		serve(w, r, "text/html; charset=utf-8", "no-cache", h.indexETag, h.index)
	case strings.HasPrefix(p, "/"+assetPrefix+"/"):
		h.serveAsset(w, r, strings.TrimPrefix(p, "/"+assetPrefix+"/"))
	default:
		http.NotFound(w, r)
	}
}

// serveAsset serves rest, the path below /graphiql/: either NAME or
// VERSION/NAME.
func (h *handler) serveAsset(w http.ResponseWriter, r *http.Request, rest string) {
	cacheControl := "no-cache"
	if version, name, ok := strings.Cut(rest, "/"); ok {
		if version != h.assets.version {
			http.NotFound(w, r)
			return
		}
		rest = name
		cacheControl = "public, max-age=31536000, immutable"
	}
	a, ok := h.assets.byName[rest]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Add("Vary", "Accept-Encoding")
	if acceptsGzip(r.Header.Values("Accept-Encoding")) {
		if body, etag := a.gzipped(); body != nil {
			w.Header().Set("Content-Encoding", "gzip")
			serve(w, r, a.contentType, cacheControl, etag, body)
			return
		}
	}
	serve(w, r, a.contentType, cacheControl, a.etag, a.body)
}

// serve writes body with the given headers; http.ServeContent answers
// If-None-Match with 304, HEAD without a body, and Range requests.
func serve(w http.ResponseWriter, r *http.Request, contentType, cacheControl, etag string, body []byte) {
	hdr := w.Header()
	hdr.Set("Content-Type", contentType)
	hdr.Set("Cache-Control", cacheControl)
	hdr.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// acceptsGzip reports whether the Accept-Encoding header values admit gzip:
// "gzip" or "*" listed without q=0.
func acceptsGzip(values []string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if coding != "gzip" && coding != "x-gzip" && coding != "*" {
				continue
			}
			if !qIsZero(params) {
				return true
			}
		}
	}
	return false
}

func qIsZero(params string) bool {
	for p := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return err == nil && q == 0
		}
	}
	return false
}

// hostPattern is what a host may look like to be written into the CSP
// header: a name or IPv4 address, or a bracketed IPv6 address, with an
// optional port. Anything else could smuggle in another directive.
var hostPattern = regexp.MustCompile(`^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$`)

// contentSecurityPolicy allows the page to load only its own assets and to
// connect only to its own origin and, for an absolute endpoint URL, the
// endpoint's origin. Styles may be inline because Monaco and React set
// element styles at run time; scripts may not.
func contentSecurityPolicy(endpoint string) string {
	connect := []string{"'self'"}
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" && hostPattern.MatchString(u.Host) {
		switch scheme := strings.ToLower(u.Scheme); scheme {
		case "http", "https":
			connect = append(connect, scheme+"://"+u.Host)
		case "": // scheme-relative "//host/path": the page's scheme
			connect = append(connect, u.Host)
		}
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"worker-src 'self'",
		"style-src 'self' 'unsafe-inline'",
		"font-src 'self' data:",
		"img-src 'self' data:",
		"connect-src " + strings.Join(connect, " "),
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}
