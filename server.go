// Command fhirgate is a FHIR R4 health data platform whose primary API is GraphQL: it stores
// resources with full version history in MongoDB (an embedded MongoDB-compatible engine by
// default) and serves them as a typed graph generated from the FHIR specification.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
)

//go:generate go run ./gen/fhirgen -root .
//go:generate go tool gqlgen generate

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fhirgate:", err)
		os.Exit(1)
	}
}

// config is the server's configuration, from flags with FHIRGATE_* environment equivalents.
type config struct {
	addr       string
	dataDir    string
	mongoURI   string
	demo       bool
	logLevel   string
	api        api.Config
	onListen   func(addr string) // tests learn the chosen port through it
	shutdownIn time.Duration
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet(filepath.Base(args[0]), flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	envInt := func(name string, def int) int {
		if n, err := strconv.Atoi(getenv(name)); err == nil {
			return n
		}
		return def
	}
	def := api.DefaultConfig()
	c := &config{api: def, shutdownIn: 10 * time.Second}
	fs.StringVar(&c.addr, "addr", env("FHIRGATE_ADDR", "localhost:8080"), "listen address (FHIRGATE_ADDR)")
	fs.StringVar(&c.dataDir, "data", env("FHIRGATE_DATA", "data"), "directory of the embedded store (FHIRGATE_DATA)")
	fs.StringVar(&c.mongoURI, "mongodb-uri", env("MONGODB_URI", getenv("FHIRGATE_MONGODB_URI")), "MongoDB URI; empty runs the embedded engine (MONGODB_URI)")
	fs.BoolVar(&c.demo, "demo", env("FHIRGATE_DEMO", "") == "true", "load a synthetic population into an empty datastore (FHIRGATE_DEMO=true)")
	fs.StringVar(&c.logLevel, "log-level", env("FHIRGATE_LOG_LEVEL", "info"), "debug, info, warn or error (FHIRGATE_LOG_LEVEL)")
	fs.IntVar(&c.api.Limits.MaxDepth, "max-depth", envInt("FHIRGATE_MAX_DEPTH", def.Limits.MaxDepth), "deepest GraphQL selection nesting allowed (FHIRGATE_MAX_DEPTH)")
	fs.IntVar(&c.api.Limits.MaxCost, "max-cost", envInt("FHIRGATE_MAX_COST", def.Limits.MaxCost), "highest estimated GraphQL query cost allowed (FHIRGATE_MAX_COST)")
	fs.IntVar(&c.api.ListLimit, "list-limit", envInt("FHIRGATE_LIST_LIMIT", def.ListLimit), "most resources a list returns before it is an error (FHIRGATE_LIST_LIMIT)")
	fs.Int64Var(&c.api.MaxBodyBytes, "max-body", int64(envInt("FHIRGATE_MAX_BODY", int(def.MaxBodyBytes))), "largest request body in bytes (FHIRGATE_MAX_BODY)")
	fs.DurationVar(&c.api.Timeout, "timeout", def.Timeout, "time limit of one request")
	if err := fs.Parse(args[1:]); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return c, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, stderr)
}

func serve(ctx context.Context, cfg *config, stderr io.Writer) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		return fmt.Errorf("log level: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	client, err := storage.Open(ctx, storage.Config{URI: cfg.mongoURI, DataDir: cfg.dataDir, Logger: logger, Indexer: search.Indexer{}})
	if err != nil {
		return fmt.Errorf("open storage: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownIn)
		defer cancel()
		if err := client.Close(closeCtx); err != nil {
			logger.Error("close storage", "error", err)
		}
	}()
	store, err := client.Datastore(ctx, storage.DefaultDatastore)
	if err != nil {
		return err
	}
	// Search fields written by another version of the extraction are recomputed before serving.
	if n, err := store.Reindex(ctx); err != nil {
		return fmt.Errorf("reindex: %w", err)
	} else if n > 0 {
		logger.Info("search index migrated", "resources", n)
	}
	if cfg.demo {
		n, err := loadDemo(ctx, store)
		if err != nil {
			return fmt.Errorf("load demo data: %w", err)
		}
		logger.Info("demo data", "loaded", n)
	}

	apiCfg := cfg.api
	apiCfg.Store = store
	apiCfg.Ready = client.Ping
	apiCfg.Logger = logger
	srv := &http.Server{
		Handler:           api.NewServer(apiCfg),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	logger.Info("fhirgate serving", "addr", ln.Addr().String(), "graphiql", "http://"+ln.Addr().String()+"/", "embedded", client.Embedded())
	if cfg.onListen != nil {
		cfg.onListen(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownIn)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
