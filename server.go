// Command fhirgate is a FHIR R4 health data platform whose primary API is GraphQL: it stores
// resources with full version history in MongoDB (an embedded MongoDB-compatible engine by
// default) and serves them as a typed graph generated from the FHIR specification.
package main

import (
	"cmp"
	"context"
	"encoding/hex"
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
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/audit"
	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/enrich"
	"github.com/fhirgate/fhirgate/fhirsub"
	"github.com/fhirgate/fhirgate/metrics"
	"github.com/fhirgate/fhirgate/notify"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/storage/embedded"
	"github.com/fhirgate/fhirgate/validate"
)

//go:generate go run ./gen/fhirgen -root .
//go:generate go tool gqlgen generate
//go:generate go run ./gen/execshape graph/generated.go

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

	auth                   string // "on" or "off"
	jwks, issuer, audience string
	hmacSecretFile         string
	policyFile, modelFile  string
	roleMaxBody            string
	roleMaxBundleBody      string
	minCellRoles           string
	auditBuffer            int
	cursorKeyFile          string
	validation             string
	packages               []string // FHIR package files (.tgz) to load
	replay                 time.Duration
	endpoints              string // --subscription-endpoints
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
	fs.StringVar(&c.auth, "auth", env("FHIRGATE_AUTH", "on"), "on, or off to serve everyone as an admin: local experiments only (FHIRGATE_AUTH)")
	fs.StringVar(&c.jwks, "jwks", env("FHIRGATE_JWKS", ""), "JWKS file or https URL of an external token issuer's keys (FHIRGATE_JWKS)")
	fs.StringVar(&c.issuer, "issuer", env("FHIRGATE_ISSUER", ""), "iss required of external tokens (FHIRGATE_ISSUER)")
	fs.StringVar(&c.api.Auth.SMART.AuthorizationEndpoint, "smart-authorize-url", env("FHIRGATE_SMART_AUTHORIZE_URL", ""), "OAuth authorization endpoint of the token issuer, for /fhir/.well-known/smart-configuration (FHIRGATE_SMART_AUTHORIZE_URL)")
	fs.StringVar(&c.api.Auth.SMART.TokenEndpoint, "smart-token-url", env("FHIRGATE_SMART_TOKEN_URL", ""), "OAuth token endpoint of the token issuer, for /fhir/.well-known/smart-configuration (FHIRGATE_SMART_TOKEN_URL)")
	fs.StringVar(&c.audience, "audience", env("FHIRGATE_AUDIENCE", ""), "aud required of external tokens (FHIRGATE_AUDIENCE)")
	fs.StringVar(&c.hmacSecretFile, "hs256-secret-file", env("FHIRGATE_HS256_SECRET_FILE", ""), "file holding a secret that also accepts HS256 tokens (FHIRGATE_HS256_SECRET_FILE)")
	fs.StringVar(&c.policyFile, "policy", env("FHIRGATE_POLICY", ""), "Casbin policy file replacing the default; reloaded on SIGHUP (FHIRGATE_POLICY)")
	fs.StringVar(&c.modelFile, "policy-model", env("FHIRGATE_POLICY_MODEL", ""), "Casbin model file replacing the default (FHIRGATE_POLICY_MODEL)")
	fs.Float64Var(&c.api.Auth.Limits.Rate, "rate-limit", float64(envInt("FHIRGATE_RATE_LIMIT", 100)), "requests per second per principal; 0 for none (FHIRGATE_RATE_LIMIT)")
	fs.IntVar(&c.api.Auth.Limits.Burst, "rate-burst", envInt("FHIRGATE_RATE_BURST", 200), "requests a principal may make at once (FHIRGATE_RATE_BURST)")
	fs.Float64Var(&c.api.Auth.Limits.UnauthenticatedRate, "unauthenticated-rate-limit", float64(envInt("FHIRGATE_UNAUTHENTICATED_RATE_LIMIT", 5)), "requests per second without a valid token per client address; 0 for none (FHIRGATE_UNAUTHENTICATED_RATE_LIMIT)")
	fs.IntVar(&c.api.Auth.Limits.UnauthenticatedBurst, "unauthenticated-rate-burst", envInt("FHIRGATE_UNAUTHENTICATED_RATE_BURST", 20), "requests without a valid token a client address may make at once (FHIRGATE_UNAUTHENTICATED_RATE_BURST)")
	fs.Int64Var(&c.api.Auth.Limits.MaxBodyBytes, "principal-max-body", int64(envInt("FHIRGATE_PRINCIPAL_MAX_BODY", 1<<20)), "largest request body in bytes per principal (FHIRGATE_PRINCIPAL_MAX_BODY)")
	fs.Int64Var(&c.api.MaxBundleBytes, "max-bundle-body", int64(envInt("FHIRGATE_MAX_BUNDLE_BODY", int(def.MaxBundleBytes))), "largest batch or transaction Bundle body in bytes, POST /fhir (FHIRGATE_MAX_BUNDLE_BODY)")
	fs.IntVar(&c.api.MaxBundleEntries, "max-bundle-entries", envInt("FHIRGATE_MAX_BUNDLE_ENTRIES", def.MaxBundleEntries), "most entries of a batch or transaction Bundle (FHIRGATE_MAX_BUNDLE_ENTRIES)")
	fs.StringVar(&c.roleMaxBundleBody, "role-max-bundle-body", env("FHIRGATE_ROLE_MAX_BUNDLE_BODY", "admin=67108864,clinician=67108864"), "per-role limits of a Bundle body posted to /fhir, role=bytes,...; other roles' bundles get their --principal-max-body (FHIRGATE_ROLE_MAX_BUNDLE_BODY)")
	fs.IntVar(&c.api.MinCellSize, "min-cell-size", envInt("FHIRGATE_MIN_CELL_SIZE", 0), "smallest group an aggregate reports to de-identified callers (smaller ones are suppressed, and fewer matches refused); 0 is off (FHIRGATE_MIN_CELL_SIZE)")
	fs.StringVar(&c.minCellRoles, "min-cell-roles", env("FHIRGATE_MIN_CELL_ROLES", ""), "roles --min-cell-size applies to, comma-separated; empty: every caller from whom the policy hides some field of the aggregated type, such as analyst (FHIRGATE_MIN_CELL_ROLES)")
	fs.StringVar(&c.roleMaxBody, "role-max-body", env("FHIRGATE_ROLE_MAX_BODY", "admin=4194304,clinician=4194304"), "per-role overrides of --principal-max-body, role=bytes,... (FHIRGATE_ROLE_MAX_BODY)")
	fs.IntVar(&c.auditBuffer, "audit-buffer", envInt("FHIRGATE_AUDIT_BUFFER", 4096), "AuditEvents buffered before requests wait for the audit writer (FHIRGATE_AUDIT_BUFFER)")
	fs.StringVar(&c.api.ImportDir, "import-dir", env("FHIRGATE_IMPORT_DIR", ""), "the only directory $import reads files from (NDJSON, JSON, Synthea bundles); empty: $import is off (FHIRGATE_IMPORT_DIR)")
	fs.StringVar(&c.api.ExportDir, "export-dir", env("FHIRGATE_EXPORT_DIR", ""), "directory of bulk export files; empty: exports under the data directory (FHIRGATE_EXPORT_DIR)")
	fs.StringVar(&c.validation, "validation", env("FHIRGATE_VALIDATION", string(validate.Strict)), "checks of every write against the base FHIR R4 specification: strict refuses resources with errors, warn stores them and reports the issues, off (FHIRGATE_VALIDATION)")
	fs.BoolVar(&c.api.NLP.Auto, "nlp-auto", env("FHIRGATE_NLP_AUTO", "") == "true", "analyse every DocumentReference created or updated with clinical NLP and write its enrichment in the same commit; --demo turns it on (FHIRGATE_NLP_AUTO=true)")
	fs.IntVar(&c.api.NLP.MaxChars, "nlp-max-chars", envInt("FHIRGATE_NLP_MAX_CHARS", enrich.DefaultMaxChars), "longest note clinical NLP analyses, in characters of all its attachments together (FHIRGATE_NLP_MAX_CHARS)")
	fs.IntVar(&c.api.Subscriptions.PerConnection, "subscriptions-per-connection", envInt("FHIRGATE_SUBSCRIPTIONS_PER_CONNECTION", api.DefaultSubscriptionsPerConnection), "live GraphQL subscriptions one websocket connection may hold (FHIRGATE_SUBSCRIPTIONS_PER_CONNECTION)")
	fs.IntVar(&c.api.Subscriptions.PerPrincipal, "subscriptions-per-principal", envInt("FHIRGATE_SUBSCRIPTIONS_PER_PRINCIPAL", api.DefaultSubscriptionsPerPrincipal), "live GraphQL subscriptions one principal may hold on this process (FHIRGATE_SUBSCRIPTIONS_PER_PRINCIPAL)")
	fs.DurationVar(&c.api.Subscriptions.KeepAlive, "subscription-keepalive", envDuration(getenv, "FHIRGATE_SUBSCRIPTION_KEEPALIVE", api.DefaultKeepAlive), "interval of keep-alive pings on idle subscription connections (FHIRGATE_SUBSCRIPTION_KEEPALIVE)")
	fs.DurationVar(&c.replay, "subscription-replay", envDuration(getenv, "FHIRGATE_SUBSCRIPTION_REPLAY", notify.DefaultRetention), "how far back a subscription's resume token (since) may reach; older tokens are refused (FHIRGATE_SUBSCRIPTION_REPLAY)")
	fs.StringVar(&c.endpoints, "subscription-endpoints", env("FHIRGATE_SUBSCRIPTION_ENDPOINTS", ""), "comma-separated URL prefixes FHIR Subscription rest-hooks may post to; empty refuses every rest-hook (FHIRGATE_SUBSCRIPTION_ENDPOINTS)")
	fs.StringVar(&c.cursorKeyFile, "cursor-key-file", env("FHIRGATE_CURSOR_KEY_FILE", ""), "file holding the 32-byte key (64 hex digits) that seals connection cursors, shared by processes behind one load balancer; empty: a key per process (FHIRGATE_CURSOR_KEY_FILE)")
	fs.Int64Var(&c.api.SQL.MemoryBytes, "sql-memory", int64(envInt("FHIRGATE_SQL_MEMORY", int(def.SQL.MemoryBytes))), "bytes of memory one $sqlquery-run query may use, its tables included (FHIRGATE_SQL_MEMORY)")
	fs.DurationVar(&c.api.SQL.Timeout, "sql-timeout", def.SQL.Timeout, "time limit of one $sqlquery-run query, after its views are loaded")
	fs.IntVar(&c.api.SQL.MaxRows, "sql-max-rows", envInt("FHIRGATE_SQL_MAX_ROWS", def.SQL.MaxRows), "most rows a $sqlquery-run answer may hold (FHIRGATE_SQL_MAX_ROWS)")
	fs.IntVar(&c.api.SQL.MaxRead, "sql-max-read", envInt("FHIRGATE_SQL_MAX_READ", def.SQL.MaxRead), "most stored resources the views of one $sqlquery-run query may read (FHIRGATE_SQL_MAX_READ)")
	if v := getenv("FHIRGATE_PACKAGES"); v != "" {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				c.packages = append(c.packages, p)
			}
		}
	}
	fs.Func("package", "a FHIR package (.tgz, as the FHIR package registry serves it) whose profiles, extension definitions and terminology are loaded; repeatable (FHIRGATE_PACKAGES, comma-separated)", func(p string) error {
		c.packages = append(c.packages, p)
		return nil
	})
	if err := fs.Parse(args[1:]); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.demo {
		c.api.NLP.Auto = true // the demo's notes are enriched, and so are those written later
	}
	if c.api.NLP.MaxChars <= 0 {
		return nil, fmt.Errorf("--nlp-max-chars: want a positive number of characters, not %d", c.api.NLP.MaxChars)
	}
	switch c.auth {
	case "on":
	case "off":
		c.api.Auth.Off = true
	default:
		return nil, fmt.Errorf("--auth: want on or off, not %q", c.auth)
	}
	mode, err := validate.ParseMode(c.validation)
	if err != nil {
		return nil, fmt.Errorf("--validation: %w", err)
	}
	c.api.Validation = mode
	if c.api.MinCellSize < 0 {
		return nil, fmt.Errorf("--min-cell-size: want 0 (off) or a positive number, not %d", c.api.MinCellSize)
	}
	for _, r := range strings.Split(c.minCellRoles, ",") {
		if r = strings.TrimSpace(r); r != "" {
			c.api.MinCellRoles = append(c.api.MinCellRoles, r)
		}
	}
	byRole, err := parseRoleBytes(c.roleMaxBody)
	if err != nil {
		return nil, fmt.Errorf("--role-max-body: %w", err)
	}
	c.api.Auth.Limits.ByRole = byRole
	if c.api.Auth.Limits.BundleByRole, err = parseRoleBytes(c.roleMaxBundleBody); err != nil {
		return nil, fmt.Errorf("--role-max-bundle-body: %w", err)
	}
	if c.api.MaxBundleEntries <= 0 {
		return nil, fmt.Errorf("--max-bundle-entries: want a positive number, not %d", c.api.MaxBundleEntries)
	}
	if c.api.ExportDir == "" {
		c.api.ExportDir = filepath.Join(c.dataDir, "exports")
	}
	if c.api.Subscriptions.Endpoints, err = fhirsub.ParseEndpoints(c.endpoints); err != nil {
		return nil, fmt.Errorf("--subscription-endpoints: %w", err)
	}
	if c.cursorKeyFile != "" {
		if c.api.Cursors, err = readCursorKey(c.cursorKeyFile); err != nil {
			return nil, fmt.Errorf("--cursor-key-file: %w", err)
		}
	}
	return c, nil
}

// readCursorKey reads a cursor key written as 64 hex digits.
func readCursorKey(path string) (*search.Sealer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("want 64 hex digits: %w", err)
	}
	return search.NewSealer(key)
}

// envDuration reads a duration from the environment variable name, def when unset or malformed.
func envDuration(getenv func(string) string, name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(getenv(name)); err == nil {
		return d
	}
	return def
}

func parseRoleBytes(s string) (map[string]int64, error) {
	out := map[string]int64{}
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		role, n, ok := strings.Cut(part, "=")
		v, err := strconv.ParseInt(n, 10, 64)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("%q: want role=bytes", part)
		}
		out[role] = v
	}
	return out, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 1 {
		switch args[1] {
		case "token":
			return token(args[1:], getenv, stdout, stderr)
		case "export":
			return exportCmd(ctx, args[1:], getenv, stdout, stderr)
		case "datastore":
			return datastoreCmd(ctx, args[1:], getenv, stdout, stderr)
		case "view":
			return viewCmd(ctx, args[1:], getenv, stdout, stderr)
		case "import":
			return importCmd(ctx, args[1:], getenv, stdout, stderr)
		case "version":
			return version(stdout, debug.ReadBuildInfo)
		}
	}
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, stdout, stderr)
}

// version is the `fhirgate version` command: it prints the module's version (a release tag, a
// pseudo-version, or "(devel)" for a build from a checkout), the VCS revision when the build
// recorded one, and the Go version and platform the binary was built with.
func version(stdout io.Writer, buildInfo func() (*debug.BuildInfo, bool)) error {
	v, goVersion := "(unknown)", runtime.Version()
	if bi, ok := buildInfo(); ok {
		v, goVersion = cmp.Or(bi.Main.Version, v), cmp.Or(bi.GoVersion, goVersion)
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		if rev := settings["vcs.revision"]; rev != "" {
			v += " " + rev[:min(len(rev), 12)]
			if settings["vcs.modified"] == "true" {
				v += "+modified"
			}
		}
	}
	_, err := fmt.Fprintf(stdout, "fhirgate %s %s %s/%s\n", v, goVersion, runtime.GOOS, runtime.GOARCH)
	return err
}

// token is the `fhirgate token` command: it prints a token the server accepts, signed with
// the local key in the data directory.
func token(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fhirgate token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", cmp.Or(getenv("FHIRGATE_DATA"), "data"), "the server's data directory, which holds its signing key (FHIRGATE_DATA)")
	role := fs.String("role", "", "role(s) the token grants, comma-separated: admin, clinician, analyst, partner, patient")
	patient := fs.String("patient", "", "id of the Patient the token is bound to (required with --role patient)")
	scope := fs.String("scope", "", `SMART scopes, space-separated, e.g. "patient/Observation.rs user/*.read"; none means the role decides`)
	subject := fs.String("subject", "", "the token's subject (default: the role, or patient/<id>)")
	datastores := fs.String("datastores", "", "datastores the token may be used with, comma-separated; none means any")
	ttl := fs.Duration("ttl", 12*time.Hour, "how long the token is valid")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *role == "" {
		return errors.New("token: --role is required")
	}
	key, err := authz.LoadLocalKey(*dataDir)
	if err != nil {
		return err
	}
	req := authz.TokenRequest{Subject: *subject, Roles: strings.Split(*role, ","), Patient: *patient, Scopes: strings.Fields(*scope), TTL: *ttl}
	if *datastores != "" {
		req.Datastores = strings.Split(*datastores, ",")
	}
	if req.Subject == "" {
		req.Subject = *role
		if *patient != "" {
			req.Subject = "Patient/" + *patient
		}
	}
	tok, err := key.Sign(req, time.Now())
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

// authSetup builds the authenticator and the policy, and reloads the policy on SIGHUP until ctx ends.
func authSetup(ctx context.Context, cfg *config, logger *slog.Logger) (*authz.LocalKey, error) {
	if cfg.api.Auth.Off {
		logger.Warn("AUTHENTICATION IS OFF: every request is served as an anonymous admin. Use --auth=off for local experiments only.")
		return nil, nil
	}
	key, err := authz.LoadLocalKey(cfg.dataDir)
	if err != nil {
		return nil, err
	}
	vc := authz.VerifierConfig{Local: key, Issuer: cfg.issuer, Audience: cfg.audience}
	if strings.HasPrefix(cfg.jwks, "https://") || strings.HasPrefix(cfg.jwks, "http://") {
		vc.JWKSURL = cfg.jwks
	} else {
		vc.JWKSFile = cfg.jwks
	}
	if cfg.hmacSecretFile != "" {
		secret, err := os.ReadFile(cfg.hmacSecretFile)
		if err != nil {
			return nil, fmt.Errorf("hs256 secret: %w", err)
		}
		if vc.HMACSecret = []byte(strings.TrimSpace(string(secret))); len(vc.HMACSecret) < 32 {
			return nil, errors.New("hs256 secret: want at least 32 bytes")
		}
	}
	verifier, err := authz.NewVerifier(ctx, vc)
	if err != nil {
		return nil, err
	}
	policy, err := authz.NewPolicy(authz.PolicyConfig{ModelFile: cfg.modelFile, PolicyFile: cfg.policyFile, Groups: api.ObjectGroups()})
	if err != nil {
		return nil, err
	}
	cfg.api.Auth.Authenticator, cfg.api.Auth.Policy = verifier, policy
	cfg.api.Auth.SMART.Issuer, cfg.api.Auth.SMART.JWKSURL = cfg.issuer, vc.JWKSURL
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := policy.Reload(); err != nil {
					logger.Error("policy reload failed; the previous policy stays in force", "error", err)
				} else {
					logger.Info("policy reloaded")
				}
			}
		}
	}()
	return key, nil
}

func serve(ctx context.Context, cfg *config, stdout, stderr io.Writer) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		return fmt.Errorf("log level: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	m := metrics.New()
	profiles, err := loadPackages(cfg.packages, logger)
	if err != nil {
		return err
	}
	// Every write of every datastore, the demo loader's and the audit trail's too, is
	// validated in the configured mode.
	var validator storage.Validator
	if cfg.api.Validation != validate.Off {
		g, err := validate.NewGuard(cfg.api.Validation)
		if err != nil {
			return fmt.Errorf("validation: %w", err)
		}
		validator = g
	}
	client, err := storage.Open(ctx, storage.Config{URI: cfg.mongoURI, Engine: embedded.New(cfg.dataDir), Logger: logger, Indexer: search.Indexer{}, Validator: validator, OnCommand: m.StorageCommand})
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
		start := time.Now()
		n, err := loadDemo(ctx, store, cfg.api.NLP, logger)
		if err != nil {
			return fmt.Errorf("load demo data: %w", err)
		}
		logger.Info("demo data", "loaded", n, "nlp", cfg.api.NLP.Auto, "took", time.Since(start).Round(time.Millisecond).String())
	}

	key, err := authSetup(ctx, cfg, logger)
	if err != nil {
		return fmt.Errorf("authentication: %w", err)
	}
	if cfg.demo && key != nil {
		tok, err := key.Sign(authz.TokenRequest{Subject: "demo-admin", Roles: []string{authz.RoleAdmin}, TTL: 12 * time.Hour}, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Demo admin token (valid 12 h; in GraphiQL, set the header {\"Authorization\": \"Bearer <token>\"}):\n%s\n", tok)
	}

	auditor := audit.NewWriter(store, cfg.auditBuffer, logger)
	m.GaugeFunc("fhirgate_audit_buffered_events", "AuditEvents waiting in the buffer for the audit writer.", nil, func() float64 { return float64(auditor.Buffered()) })
	m.CounterFunc("fhirgate_audit_lost_events_total", "AuditEvents given up: recorded after shutdown, unwritten at the shutdown deadline, or refused by storage.", func() float64 { return float64(auditor.Lost()) })
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownIn)
		defer cancel()
		if err := auditor.Close(closeCtx); err != nil {
			logger.Error("audit", "error", err)
		}
	}()

	// One reader of the change feed for the process: GraphQL subscriptions and FHIR
	// Subscriptions share it. Shutting down the HTTP server ends the subscriptions first
	// (Shutdown leaves hijacked websocket connections alone).
	hubs := notify.NewHubs(notify.Options{Retention: cfg.replay, Logger: logger})
	hub := hubs.Of(storage.DefaultDatastore, store)
	stopping := make(chan struct{})

	apiCfg := cfg.api
	apiCfg.Store = store
	apiCfg.Subscriptions.Changes = hub
	apiCfg.Subscriptions.Stopping = stopping
	apiCfg.Subscriptions.Hubs = hubs
	apiCfg.Catalog = client
	apiCfg.Profiles = profiles
	apiCfg.Ready = client.Ping
	apiCfg.Logger = logger
	apiCfg.Audit = auditor
	apiCfg.Metrics = m
	apiCfg.WarmIntrospection = true
	// FHIR Subscriptions of every datastore, those created later included: each delivered
	// by one process at a time.
	authorize, redact := api.FHIRSubscriptionAccess(apiCfg)
	fleet := fhirsub.NewFleet(fleetCatalog{client: client, hubs: hubs}, fhirsub.Options{Endpoints: apiCfg.Subscriptions.Endpoints, Authorize: authorize, Redact: redact, Logger: logger}, 0)
	apiCfg.Subscriptions.Watcher = fleet
	srv := &http.Server{
		Handler:           api.NewServer(apiCfg),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(func() { close(stopping) })

	subsCtx, stopSubs := context.WithCancel(ctx)
	subsDone := make(chan struct{})
	go func() {
		defer close(subsDone)
		_ = fleet.Run(subsCtx)
	}()
	defer func() {
		stopSubs()
		<-subsDone
	}()
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

// fleetCatalog is the storage client's datastores as the FHIR Subscription fleet opens
// them: each with its store and the process's Hub of its changes.
type fleetCatalog struct {
	client *storage.Client
	hubs   *notify.Hubs
}

func (c fleetCatalog) Datastores(ctx context.Context) ([]string, error) {
	return c.client.Datastores(ctx)
}

func (c fleetCatalog) Open(ctx context.Context, name string) (fhirsub.Store, fhirsub.Changes, bool, error) {
	// Datastore creates what is absent: a datastore dropped since it was listed stays gone.
	ok, err := c.client.HasDatastore(ctx, name)
	if err != nil || !ok {
		return nil, nil, false, err
	}
	st, err := c.client.Datastore(ctx, name)
	if err != nil {
		return nil, nil, false, err
	}
	return st, c.hubs.Of(name, st), true, nil
}
