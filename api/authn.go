package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/authz/guard"
	"github.com/fhirgate/fhirgate/storage"
)

// Authenticator turns a bearer token into a principal; its errors wrap
// authz.ErrUnauthenticated with a reason fit to show the caller.
type Authenticator interface {
	Verify(ctx context.Context, raw string) (*authz.Principal, error)
}

// Auth is how requests are authenticated and authorised.
type Auth struct {
	// Off serves every request as an anonymous admin, without checks: for local
	// experiments only. When Off is false, Authenticator and Policy are required.
	Off bool
	// Authenticator verifies bearer tokens.
	Authenticator Authenticator
	// Policy decides what each role may do.
	Policy *authz.Policy
	// Limits bound what each principal may send.
	Limits PrincipalLimits
	// SMART is what /fhir/.well-known/smart-configuration tells clients of the token issuer.
	SMART SMARTEndpoints
}

// SMARTEndpoints describe the authorization server that issues the tokens the server accepts.
type SMARTEndpoints struct {
	// Issuer is the iss of its tokens; JWKSURL where its public keys are.
	Issuer, JWKSURL string
	// AuthorizationEndpoint and TokenEndpoint are its OAuth 2.0 endpoints, when it has them.
	AuthorizationEndpoint, TokenEndpoint string
}

// PrincipalLimits bound each principal's traffic. Zero values mean no limit.
type PrincipalLimits struct {
	// Rate is the sustained number of requests per second a principal may make, and Burst
	// how many it may make at once.
	Rate  float64
	Burst int
	// MaxBodyBytes bounds a principal's request body, under the server's own bound;
	// ByRole overrides it for the roles it names (a principal gets its most generous role).
	MaxBodyBytes int64
	ByRole       map[string]int64
	// BundleByRole bounds, for the roles it names, the body of a Bundle posted to /fhir
	// (a principal gets its most generous role); other principals' bundles get their
	// MaxBodyBytes.
	BundleByRole map[string]int64
	// UnauthenticatedRate is the sustained number of requests per second without a valid
	// token that one client address may make, and UnauthenticatedBurst how many at once;
	// past them such requests are refused with 429 before their token is even checked.
	UnauthenticatedRate  float64
	UnauthenticatedBurst int
	// Now is the clock the rates are measured by; nil is time.Now. Tests stop it.
	Now func() time.Time
}

// anonymous is the principal of every request when authentication is off.
var anonymous = &authz.Principal{Subject: "anonymous", Roles: []string{authz.RoleAdmin}, Anonymous: true}

// authenticate puts the caller's principal, its authorisation state and, for a principal
// bound to a patient, the storage scope of that patient's compartment into the request
// context. A request without a valid token is refused with 401 before anything is read,
// except, where upgrades is set, a websocket upgrade without an Authorization header:
// browsers cannot send one, so the GraphQL websocket transport authenticates the connection
// by its connection_init message before it runs anything (subscriptions.initConnection).
func authenticate(cfg Config, g *guard.Guard, lim limiters, upgrades bool, next http.Handler) http.Handler {
	// The handler only calls next, with a small frame: a websocket connection's read loop
	// runs below it for the connection's life (see serveUpgrade).
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r := authenticated(&cfg, g, &lim, upgrades, w, r); r != nil {
			next.ServeHTTP(w, r)
		}
	})
}

// authenticated returns r with the caller's principal in its context, or answers it with
// its refusal and returns nil. Not inlined: its frame would be authenticate's.
//
//go:noinline
func authenticated(cfg *Config, g *guard.Guard, lim *limiters, upgrades bool, w http.ResponseWriter, r *http.Request) *http.Request {
	ctx := r.Context()
	trail := trailFrom(ctx)
	if cfg.Auth.Off {
		trail.setPrincipal(anonymous)
		return r.WithContext(authz.WithPrincipal(ctx, anonymous))
	}
	if cfg.Auth.Authenticator == nil || cfg.Auth.Policy == nil {
		refuse(w, trail, http.StatusUnauthorized, "authentication is not configured")
		return nil
	}
	// Requests that fail authentication are limited per client address; valid tokens
	// are never throttled by the address they come from.
	unauthenticated := func(msg string) {
		if wait, ok := lim.address.allow(clientAddress(r)); !ok {
			throttle(w, trail, wait, cfg.Auth.Limits.UnauthenticatedRate, "unauthenticated requests from this address")
			return
		}
		refuse(w, trail, http.StatusUnauthorized, msg)
	}
	if upgrades && isWebsocket(r) && r.Header.Get("Authorization") == "" {
		if wait, ok := lim.address.allow(clientAddress(r)); !ok {
			throttle(w, trail, wait, cfg.Auth.Limits.UnauthenticatedRate, "unauthenticated requests from this address")
			return nil
		}
		return r
	}
	raw, ok := bearer(r)
	if !ok {
		unauthenticated("missing bearer token")
		return nil
	}
	p, err := cfg.Auth.Authenticator.Verify(ctx, raw)
	if err != nil {
		msg := "invalid token"
		if errors.Is(err, authz.ErrUnauthenticated) {
			msg = err.Error()
		} else {
			cfg.Logger.ErrorContext(ctx, "token verification", "error", err)
		}
		unauthenticated(msg)
		return nil
	}
	trail.setPrincipal(p)
	if name, _ := datastoreFrom(ctx); !p.DatastoreAllowed(name) {
		refuse(w, trail, http.StatusForbidden, "this token is not valid for datastore "+name)
		return nil
	}
	if wait, ok := lim.principal.allow(p.Subject + "\x00" + p.Client); !ok {
		throttle(w, trail, wait, cfg.Auth.Limits.Rate, "requests")
		return nil
	}
	max := cfg.Auth.Limits.bodyLimit(p)
	if isBundlePost(r) {
		max = cfg.Auth.Limits.bundleLimit(p)
	}
	if max > 0 {
		if r.ContentLength > max {
			refuse(w, trail, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over this principal's limit of %d bytes", max))
			return nil
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
	}
	return r.WithContext(admit(ctx, g, p))
}

// admit returns ctx carrying p, its authorisation state and its storage scope: for a
// principal bound to a patient, that patient's compartment; for any other but an admin, the
// Subscriptions it owns (authz.SubscriptionScope).
func admit(ctx context.Context, g *guard.Guard, p *authz.Principal) context.Context {
	ctx = authz.WithPrincipal(ctx, p)
	ctx = g.WithPrincipal(ctx, p)
	switch sc := authz.SubscriptionScope(p); {
	case p.Patient != "":
		// No Subscription is in a patient's compartment: this scope confines those too.
		ctx = storage.WithScope(ctx, authz.PatientCompartment{ID: p.Patient}.Scope())
	case sc != nil:
		ctx = storage.WithScope(ctx, sc)
	}
	return ctx
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// refuse answers a request refused before any data was read, and notes the refusal in
// the request's audit trail.
func refuse(w http.ResponseWriter, trail *trail, status int, msg string) {
	trail.refused(status, msg)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="fhirgate", error="invalid_token", error_description=`+strconv.Quote(msg))
	}
	issue := map[int]string{http.StatusUnauthorized: "login", http.StatusForbidden: "forbidden", http.StatusTooManyRequests: "throttled", http.StatusRequestEntityTooLarge: "too-costly"}[status]
	writeOutcome(w, status, issue, msg)
}

// throttle refuses a request over a rate limit with 429 and a Retry-After.
func throttle(w http.ResponseWriter, trail *trail, wait time.Duration, rate float64, what string) {
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	refuse(w, trail, http.StatusTooManyRequests, fmt.Sprintf("rate limit of %g %s per second exceeded", rate, what))
}

// clientAddress is the address a request came from, without its port. Behind a proxy every
// request shares the proxy's address.
func clientAddress(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

func (l PrincipalLimits) bodyLimit(p *authz.Principal) int64 {
	max := l.MaxBodyBytes
	for _, r := range p.Roles {
		if n, ok := l.ByRole[r]; ok && (max == 0 || n > max) {
			max = n
		}
	}
	return max
}

// bundleLimit is p's limit on the body of a Bundle: its roles' bundle limit, else its limit
// on any body.
func (l PrincipalLimits) bundleLimit(p *authz.Principal) int64 {
	var max int64
	for _, r := range p.Roles {
		if n, ok := l.BundleByRole[r]; ok && n > max {
			max = n
		}
	}
	if max == 0 {
		return l.bodyLimit(p)
	}
	return max
}

// limiters are the token buckets of a server: per principal, and per client address for
// requests without a valid token.
type limiters struct {
	principal, address *limiter
}

func newLimiters(l PrincipalLimits) limiters {
	now := l.Now
	if now == nil {
		now = time.Now
	}
	return limiters{
		principal: newLimiter(l.Rate, l.Burst, now),
		address:   newLimiter(l.UnauthenticatedRate, l.UnauthenticatedBurst, now),
	}
}

// limiter holds a token bucket per key. A nil limiter allows everything.
type limiter struct {
	rate  rate.Limit
	burst int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// maxBuckets bounds a limiter's memory: when more keys than this were seen, the buckets
// start afresh (a key gains at most one burst).
const maxBuckets = 100_000

func newLimiter(r float64, burst int, now func() time.Time) *limiter {
	if r <= 0 {
		return nil
	}
	return &limiter{rate: rate.Limit(r), burst: max(burst, 1), now: now, buckets: map[string]*rate.Limiter{}}
}

func (l *limiter) bucket(key string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			clear(l.buckets)
		}
		b = rate.NewLimiter(l.rate, l.burst)
		l.buckets[key] = b
	}
	return b
}

// allow takes a token from key's bucket, or reports how long until one is there.
func (l *limiter) allow(key string) (time.Duration, bool) {
	if l == nil {
		return 0, true
	}
	now := l.now()
	res := l.bucket(key).ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d, false
	}
	return 0, true
}
