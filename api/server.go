// Package api is fhirgate's HTTP surface: the routes, the GraphQL handler with its limits and
// error policy, the instance-level endpoint, health and GraphiQL.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/fhirgate/fhirgate/graph"
	"github.com/fhirgate/fhirgate/graphiql"
	"github.com/fhirgate/fhirgate/resolvers"
)

var errBadArgument = errors.New("bad argument")

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
	// Timeout bounds the handling of one request.
	Timeout time.Duration
}

// DefaultConfig returns the limits fhirgate runs with unless configured otherwise.
func DefaultConfig() Config {
	return Config{
		Limits:       Limits{MaxDepth: 15, MaxCost: 1_000_000, ListGuess: 10},
		ListLimit:    1000,
		PageSize:     20,
		MaxBodyBytes: 4 << 20,
		Timeout:      30 * time.Second,
	}
}

// NewServer returns the HTTP handler with every route of fhirgate.
func NewServer(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	gql := newGraphQL(cfg)
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
	mux.Handle("/$graphql", gql)
	mux.Handle("/{type}/{id}/$graphql", &instanceHandler{gql: gql})
	mux.Handle("/", graphiql.Handler("/$graphql"))
	return mux
}

// newGraphQL builds the GraphQL handler: transports, limits, error policy and per-request loaders.
func newGraphQL(cfg Config) http.Handler {
	es := graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{
		Store:       cfg.Store,
		ListLimit:   cfg.ListLimit,
		PageSize:    cfg.PageSize,
		FHIRVersion: "4.0.1",
	}})
	srv := handler.New(es)
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.Use(extension.Introspection{})
	srv.Use(newResourceSelections(es.Schema()))
	srv.Use(limitsExtension{cfg.Limits})
	srv.AroundFields(listArguments)
	srv.SetErrorPresenter(presentError(cfg.Logger))
	srv.SetRecoverFunc(func(ctx context.Context, v any) error {
		cfg.Logger.ErrorContext(ctx, "graphql panic", "panic", fmt.Sprint(v), "path", graphql.GetPath(ctx).String(), "stack", string(debug.Stack()))
		return errors.New("internal server error")
	})
	return bodyLimit(cfg.MaxBodyBytes, withRequestContext(cfg, srv))
}

// withRequestContext gives each request its own loaders and a deadline.
func withRequestContext(cfg Config, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := resolvers.WithLoaders(r.Context(), cfg.Store)
		if cfg.Timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, cfg.Timeout)
			defer cancel()
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
