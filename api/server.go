// Package api is fhirgate's HTTP surface: the routes, the GraphQL handler with its limits and
// error policy, the instance-level endpoint, health and GraphiQL.
package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/klauspost/compress/gzhttp"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/fhirgate/fhirgate/authz/guard"
	"github.com/fhirgate/fhirgate/bundle"
	"github.com/fhirgate/fhirgate/enrich"
	"github.com/fhirgate/fhirgate/export"
	"github.com/fhirgate/fhirgate/fhirpath"
	"github.com/fhirgate/fhirgate/fhirsub"
	"github.com/fhirgate/fhirgate/flatten"
	"github.com/fhirgate/fhirgate/graph"
	"github.com/fhirgate/fhirgate/graphiql"
	"github.com/fhirgate/fhirgate/ingest"
	"github.com/fhirgate/fhirgate/introspect"
	"github.com/fhirgate/fhirgate/metrics"
	"github.com/fhirgate/fhirgate/notify"
	"github.com/fhirgate/fhirgate/operation"
	"github.com/fhirgate/fhirgate/resolvers"
	"github.com/fhirgate/fhirgate/rewrite"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/sqlquery"
	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/validate"
)

// Config is what the HTTP surface needs.
type Config struct {
	// Store is the datastore GraphQL reads and writes.
	Store resolvers.Store
	// Ready reports whether storage can serve requests; /healthz answers 503 until it does.
	Ready func(ctx context.Context) error
	// Logger receives request failures; it never receives resource bodies.
	Logger *slog.Logger
	// Limits bound each GraphQL operation.
	Limits Limits
	// ListLimit is the most resources a list returns before it is an error.
	ListLimit int
	// PageSize is a connection's page size when _count is absent.
	PageSize int
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64
	// MaxBundleBytes bounds the body of a Bundle posted to /fhir, instead of MaxBodyBytes:
	// a transaction of thousands of entries is larger than any other request.
	MaxBundleBytes int64
	// MaxBundleEntries is the most entries a batch or transaction may hold.
	MaxBundleEntries int
	// Timeout bounds the handling of one request.
	Timeout time.Duration
	// Reads bound what one request may read from storage and how many storage calls it, and
	// all requests together, may have in flight.
	Reads resolvers.ReadLimits
	// Auth authenticates and authorises requests. Its zero value refuses every GraphQL
	// request: authentication is off only when Auth.Off says so.
	Auth Auth
	// Audit receives an AuditEvent for every GraphQL request; nil records none.
	Audit AuditSink
	// Cursors seals connection cursors; nil uses a key of this process.
	Cursors *search.Sealer
	// Metrics counts requests and reports cache sizes, and is served at /metrics without a
	// token (its labels carry no PHI); nil serves no metrics.
	Metrics *metrics.Metrics
	// WarmIntrospection builds, in the background when the server starts and after each
	// policy reload, each policy role's view of the schema, so that the first introspection
	// of a role (GraphiQL, codegen) does not wait for it.
	WarmIntrospection bool
	// Validation is what writes are checked with against the base FHIR R4 specification:
	// strict (the default) refuses a resource with errors, warn stores it and reports its
	// issues, off checks nothing. NewServer sets it on Store when Store takes a validator.
	Validation validate.Mode
	// Profiles are the profiles of the FHIR packages loaded at startup (--package): writes
	// naming them in meta.profile and $validate check against them, as against the
	// StructureDefinitions stored in Store. Nil: stored ones only.
	Profiles *validate.ProfileSet

	// NLP configures clinical NLP (analyzeText, DocumentReferenceAnalyze, --nlp-auto).
	NLP NLPConfig

	// Subscriptions configures GraphQL subscriptions and the FHIR websocket channel.
	Subscriptions SubscriptionConfig

	// profiles finds profiles for validation: Profiles, then the store's. NewServer sets it.
	profiles validate.ProfileSource
	// ImportDir is the only directory $import reads files from; empty: no $import.
	ImportDir string
	// ExportDir holds the files of bulk export jobs, a directory per datastore; empty is a
	// directory under the system's temporary directory.
	ExportDir string

	// SQL configures $sqlquery-run.
	SQL SQLConfig

	// Catalog, when set, serves every datastore of the deployment under /ds/{name}/ and
	// lets admins create and delete them; Store is the default datastore's.
	Catalog Catalog

	// MinCellSize, when positive, is the minimum cell size of aggregates: smaller groups are
	// left out (and counted in suppressed), and an aggregate of fewer matches is refused,
	// for the callers in MinCellRoles, or, when MinCellRoles is empty, for the callers who
	// read the aggregated type de-identified (the policy hides some of its fields from them).
	MinCellSize  int
	MinCellRoles []string
	// pipelines is Store as storage gives it, when its engine runs aggregation pipelines.
	// NewServer sets it.
	pipelines search.Pipeliner

	// nlp analyses notes and writes their enrichment. NewServer sets it.
	nlp *enrich.Enricher
	// feed is Store's change feed, which type and system history read. NewServer sets it.
	feed changeFeed
	// bundles runs the batches and transactions of REST and GraphQL. NewServer sets it.
	bundles *bundle.Processor
	// datastores administers the catalog's datastores. NewServer sets it.
	datastores resolvers.Datastores
	// limiters are the principals' rate limits, shared by every datastore's server.
	limiters *limiters
	// sql runs $sqlquery-run's queries, its bound on queries at once shared by every
	// datastore's server. NewServer sets it.
	sql *sqlquery.Engine
	// prefix is the path the datastore is served under: "" or /ds/{name}.
	prefix string
	// exportStore is Store as storage gives it, unmetered: bulk export streams whole types,
	// beyond any one request's read limits. NewServer sets it.
	exportStore export.Store
	// streams are the open websocket connections and event streams of every datastore,
	// closed on shutdown. NewServer sets it.
	streams *streams
	// importStore is Store as storage gives it, unmetered: $import writes whole files.
	importStore ingest.Store
}

// NLPConfig configures clinical NLP.
type NLPConfig struct {
	// MaxChars is the note size limit in characters (Unicode code points) of a document's
	// attachments together, and of analyzeText's text; zero is enrich.DefaultMaxChars.
	MaxChars int
	// Auto analyses every DocumentReference that a write through the server's store
	// creates or replaces, and commits its enrichment with it.
	Auto bool
}

// DefaultConfig returns the limits fhirgate runs with unless configured otherwise.
func DefaultConfig() Config {
	return Config{
		Limits:       Limits{MaxDepth: 15, MaxCost: 1_000_000, ListGuess: 10, MaxTokens: 15_000, MaxSameName: 100},
		ListLimit:    1000,
		PageSize:     20,
		MaxBodyBytes: 4 << 20,
		// About 10,000 entries of Synthea's size.
		MaxBundleBytes:   64 << 20,
		MaxBundleEntries: bundle.DefaultMaxEntries,
		Timeout:          30 * time.Second,
		// Ten full lists; the bytes bound the memory of a request whose resources are large.
		Reads:      resolvers.ReadLimits{MaxRows: 10_000, MaxBytes: 64 << 20, Concurrency: 2, SharedConcurrency: 64},
		Validation: validate.Strict,
		SQL:        DefaultSQLConfig(),
	}
}

// NewServer returns the HTTP handler with every route of fhirgate: the default datastore's
// at the root, and, with a Catalog, each datastore's under /ds/{name}/.
func NewServer(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	lim := newLimiters(cfg.Auth.Limits)
	cfg.limiters = &lim
	cfg.sql = sqlquery.New(cfg.SQL.Limits)
	cfg.streams = newStreams(cfg.Subscriptions.Stopping)
	if cfg.Catalog == nil {
		return newServer(cfg)
	}
	router := &datastoreRouter{catalog: cfg.Catalog, servers: map[string]http.Handler{}}
	cfg.datastores = datastoreAdmin{catalog: cfg.Catalog, router: router}
	router.cfg = cfg
	router.def = newServer(cfg)
	return router
}

// newServer returns the routes of one datastore, cfg.Store.
func newServer(cfg Config) http.Handler {
	cfg.exportStore, _ = cfg.Store.(export.Store)
	if p, ok := cfg.Store.(search.Pipeliner); ok && p.Pipelines() {
		cfg.pipelines = p
	}
	cfg.importStore, _ = cfg.Store.(ingest.Store)
	if cfg.ExportDir == "" {
		cfg.ExportDir = filepath.Join(os.TempDir(), "fhirgate-exports")
	}
	// One change-feed reader per datastore and process.
	if src, ok := cfg.Store.(notify.Source); ok && cfg.Subscriptions.Changes == nil {
		cfg.Subscriptions.Changes = notify.NewHub(src, notify.Options{Logger: cfg.Logger})
	}
	raw := cfg.Store
	if cfg.Store != nil {
		cfg.feed, _ = cfg.Store.(changeFeed)
		cfg.profiles = validate.Sources{cfg.Profiles, &resolvers.StoredProfiles{Store: cfg.Store}}
		installValidator(cfg)
		cfg.Store = resolvers.NewMeteredStore(cfg.Store, cfg.Reads)
		// The enricher writes through the store without automatic analysis, so that its own
		// writes of a document are not analysed again.
		cfg.nlp = &enrich.Enricher{Store: cfg.Store, MaxChars: cfg.NLP.MaxChars, Check: guard.CheckType}
		if cfg.NLP.Auto {
			cfg.Store = autoEnrichStore{Store: cfg.Store, nlp: cfg.nlp, logger: cfg.Logger}
		}
		if states, ok := raw.(fhirsub.States); ok {
			cfg.Store = subscriptionWrites{Store: cfg.Store, states: states, endpoints: cfg.Subscriptions.Endpoints}
		}
	}
	// Bundles read through the REST handler, which serves bundles: the reader learns it last.
	reads := &restReader{}
	cfg.bundles = newBundles(cfg, reads)
	system, instance, guarded := newGraphQL(cfg)
	rest := newREST(cfg)
	reads.h = rest
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if cfg.Ready != nil {
			if err := cfg.Ready(r.Context()); err != nil {
				http.Error(w, "storage not ready", http.StatusServiceUnavailable)
				return
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", cfg.Metrics.Handler())
		cfg.Metrics.GaugeFunc(cacheEntries, cacheEntriesHelp, map[string]string{"cache": "fhirpath"}, func() float64 { return float64(rewrite.CachedExpressions()) })
	}
	compressed := gzhttp.GzipHandler(system)
	mux.Handle("/$graphql", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case isWebsocket(r):
			serveUpgrade(system, w, r, cfg.Logger)
			return
		case isEventStream(r): // nothing to compress whole
			system.ServeHTTP(w, r)
			return
		}
		compressed.ServeHTTP(w, r)
	}))
	fhir := gzhttp.GzipHandler(fhirAnswers(guarded(rest)))
	mux.Handle("/fhir/", fhir)
	mux.Handle("/fhir/websocket", guarded(fhirWebsocket(cfg)))
	mux.Handle("POST /fhir", fhir) // batches and transactions at the FHIR base
	// Public: clients read them before they authenticate.
	public := &restAPI{cfg: cfg}
	mux.Handle("GET /fhir/metadata", gzhttp.GzipHandler(http.HandlerFunc(public.metadata)))
	mux.HandleFunc("GET /fhir/.well-known/smart-configuration", public.smartConfiguration)
	// A mux of its own, below /fhir/ in precedence: /fhir/x/$graphql would match both.
	root := http.NewServeMux()
	root.Handle("/{type}/{id}/$graphql", gzhttp.GzipHandler(instance))
	root.Handle("/", graphiql.New(graphiql.Options{Endpoint: cfg.prefix + "/$graphql", AuthOff: cfg.Auth.Off}))
	mux.Handle("/", root)
	return mux
}

// cacheEntries is the gauge of the sizes of the server's caches, by cache.
const (
	cacheEntries     = "fhirgate_cache_entries"
	cacheEntriesHelp = "Entries in the server's caches: compiled fhirpath arguments, introspection answers (all role sets), role sets' views of the schema."
)

// ObjectGroups returns the object groups the policy needs (see authz.PolicyConfig): the
// schema's resource types and its other object types.
func ObjectGroups() map[string][]string {
	return guard.ObjectGroups(graph.NewExecutableSchema(graph.Config{}).Schema())
}

// newGraphQL builds the GraphQL handlers of the system-level and the instance-level
// endpoints: audit, authentication, transports, limits, authorisation, error policy and
// per-request loaders. Both authenticate before they read the query. guarded wraps another
// handler in the same audit, authentication and body limit.
func newGraphQL(cfg Config) (system, instance http.Handler, guarded func(http.Handler) http.Handler) {
	res := &resolvers.Resolver{
		Store:       cfg.Store,
		ListLimit:   cfg.ListLimit,
		PageSize:    cfg.PageSize,
		FHIRVersion: "4.0.1",
		Cursors:     cfg.Cursors,
		NLP:         cfg.nlp,
		Datastores:  cfg.datastores,
		Bundles:     cfg.bundles,
		Pipelines:   cfg.pipelines,
		MinCell:     resolvers.MinCell{Size: cfg.MinCellSize, Roles: cfg.MinCellRoles},
	}
	if cfg.Subscriptions.Changes != nil {
		res.Changes = cfg.Subscriptions.Changes
	}
	es := graph.NewExecutableSchema(graph.Config{Resolvers: res})
	// Before anything reads the schema's directives: validation, introspection, the guard's
	// views of the schema.
	flatten.Declare(es.Schema())
	flat := flatten.New(es.Schema(), flatten.Options{CheckPath: checkSlicePath})
	var g *guard.Guard
	if !cfg.Auth.Off && cfg.Auth.Policy != nil {
		g = guard.New(cfg.Auth.Policy, es.Schema())
		res.Guard = g
		cfg.Metrics.GaugeFunc(cacheEntries, cacheEntriesHelp, map[string]string{"cache": "introspection"}, func() float64 { return float64(g.IntrospectionEntries()) })
		cfg.Metrics.GaugeFunc(cacheEntries, cacheEntriesHelp, map[string]string{"cache": "introspection_schemas"}, func() float64 { return float64(g.IntrospectionSchemas()) })
		if cfg.WarmIntrospection {
			cfg.Auth.Policy.OnReload(g.WarmIntrospection)
			go g.WarmIntrospection()
		}
	}
	subs := newSubscriptions(cfg, g, *cfg.limiters)
	srv := handler.New(es)
	// Streams first: an upgrade is a GET, an event stream a POST.
	srv.AddTransport(answered{subs.websocket()})
	srv.AddTransport(answered{subs.sse()})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(answered{transport.GET{}})
	srv.AddTransport(answered{transport.POST{}})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	// A backstop only: tokenLimit and the rewrite count first and answer QUERY_TOO_COMPLEX.
	srv.SetParserTokenLimit(2 * cfg.Limits.MaxTokens)
	srv.Use(extension.Introspection{})
	srv.SetValidationRulesFn(cappedRules)
	srv.Use(querySize{cfg.Limits.MaxTokens, cfg.Limits.MaxSameName}) // before anything parses the query
	srv.Use(newResourceSelections(es.Schema(), cfg.Limits.MaxTokens))
	srv.Use(newLimitsExtension(cfg.Limits, cfg.PageSize, noteChars(cfg), es.Schema()))
	if g != nil {
		srv.AroundFields(g.Fields) // first: a denied field is never resolved
	}
	srv.AroundFields(flat.Fields) // @first and @slice see a field's elements after its filters
	srv.AroundFields(rewrite.ListArguments)
	srv.AroundOperations(observeOperation)
	// After observeOperation: its answers are audited too.
	if g != nil {
		srv.AroundOperations(introspect.Answers(g.View))
	} else {
		srv.AroundOperations(introspect.Answers(introspect.Whole(es.Schema())))
	}
	srv.AroundOperations(subs.around)
	srv.AroundResponses(observeResponse)
	srv.Use(flat) // inside observeResponse, which notes the errors of a flattening refused
	if cfg.Validation != validate.Off {
		srv.AroundOperations(reportValidation)
	}
	srv.SetErrorPresenter(presentError(cfg.Logger))
	srv.SetRecoverFunc(recoverPanic(cfg.Logger))

	inner := withRequestContext(cfg, srv)
	guard := func(upgrades bool) func(http.Handler) http.Handler {
		return func(h http.Handler) http.Handler {
			return auditing(cfg.Audit, cfg.Metrics, authenticate(cfg, g, *cfg.limiters, upgrades, bodyLimit(cfg.bodyLimit, h))) // no body is read unauthenticated
		}
	}
	guarded = guard(false)
	return guard(true)(inner), guarded(&instanceHandler{gql: inner}), guarded
}

// bodyLimit is the most bytes r's body may hold: a bundle's own limit for a Bundle posted to
// the FHIR base.
func (cfg Config) bodyLimit(r *http.Request) int64 {
	if isBundlePost(r) && cfg.MaxBundleBytes > 0 {
		return cfg.MaxBundleBytes
	}
	return cfg.MaxBodyBytes
}

// checkSlicePath refuses a @slice path that reads a field the caller may not read, as a
// fhirpath argument is refused.
func checkSlicePath(ctx context.Context, typ string, e *fhirpath.Expr) error {
	_, err := guard.CheckFHIRPathIn(ctx, typ, typ, e, true)
	return err
}

// withRequestContext gives each request its own loaders, read limits, a deadline and a log
// of the panics it recovers from. The context ends when the client goes away, and every
// storage call is made with it. A subscription's connection or event stream has no deadline
// (each of its events gets loaders and read limits of its own, see subscriptions.around), and
// ends when the server shuts down.
func withRequestContext(cfg Config, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if !isWebsocket(r) { // a websocket's operations get theirs each (subscriptions.around)
			ctx = resolvers.WithReadLimits(resolvers.WithLoaders(ctx, cfg.Store), cfg.Reads)
		}
		if cfg.profiles != nil {
			ctx = operation.WithProfiles(ctx, cfg.profiles)
		}
		switch {
		case isWebsocket(r):
			ctx = withAddress(withConnHolder(ctx), r)
		case isEventStream(r):
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(withAddress(ctx, r))
			defer cancel()
			defer cfg.streams.track(cancel)()
		case cfg.Timeout > 0:
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, cfg.Timeout)
			defer cancel()
		}
		ctx, panics := withPanicLog(ctx)
		defer panics.flush(ctx, cfg.Logger)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// validatingStore is a store that checks what it writes (storage.Store).
type validatingStore interface {
	SetValidator(storage.Validator)
}

// installValidator makes the store validate every write in cfg.Validation's mode (an empty
// mode is strict). The store is the one place all writes pass through, the server's and
// others' (audit, demo, import) alike.
func installValidator(cfg Config) {
	s, ok := cfg.Store.(validatingStore)
	if !ok {
		return
	}
	mode := cfg.Validation
	if mode == "" {
		mode = validate.Strict
	}
	if mode == validate.Off {
		s.SetValidator(nil)
		return
	}
	g, err := validate.NewGuard(mode)
	if err != nil {
		panic("api: validation definitions: " + err.Error()) // embedded at build time
	}
	g.Profiles = cfg.profiles
	s.SetValidator(g)
}

// reportValidation returns the issues of the resources an operation wrote (warnings, and
// in warn mode errors) beside its result, in extensions.validation: a list of
// {resource: "Type/id", outcome: OperationOutcome}.
func reportValidation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if oc := graphql.GetOperationContext(ctx); oc != nil && oc.Operation != nil && oc.Operation.Operation == ast.Subscription {
		return next(ctx) // a subscription writes nothing; its collector would live as long as it
	}
	ctx, c := validate.WithCollector(ctx)
	respond := next(ctx)
	return func(ctx context.Context) *graphql.Response {
		resp := respond(ctx)
		if resp == nil {
			return nil
		}
		if issues := c.JSON(); len(issues) > 0 {
			if resp.Extensions == nil {
				resp.Extensions = map[string]any{}
			}
			resp.Extensions["validation"] = issues
		}
		return resp
	}
}

// noteChars is the note size limit in force.
func noteChars(cfg Config) int {
	if cfg.nlp != nil {
		return cfg.nlp.Limit()
	}
	return enrich.DefaultMaxChars
}

// autoEnrichStore is the store of a server with automatic analysis (NLPConfig.Auto): a
// commit that creates or replaces DocumentReferences carries their enrichment too.
type autoEnrichStore struct {
	resolvers.Store
	nlp    *enrich.Enricher
	logger *slog.Logger
}

// Commit commits writes and the enrichment of the documents among them, all or nothing,
// and returns the records of writes.
func (s autoEnrichStore) Commit(ctx context.Context, writes []storage.Write) ([]*storage.Record, error) {
	extra := s.nlp.Expand(ctx, writes, s.logger)
	if len(extra) == 0 {
		return s.Store.Commit(ctx, writes)
	}
	recs, err := s.Store.Commit(ctx, append(writes[:len(writes):len(writes)], extra...))
	if err != nil {
		return nil, err
	}
	return recs[:len(writes)], nil
}
