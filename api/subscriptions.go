package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/fhirgate/fhirgate/audit"
	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/authz/guard"
	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/fhirsub"
	"github.com/fhirgate/fhirgate/graph"
	"github.com/fhirgate/fhirgate/notify"
	"github.com/fhirgate/fhirgate/resolvers"
	"github.com/fhirgate/fhirgate/storage"
)

// SubscriptionConfig configures GraphQL subscriptions (over websockets with the
// graphql-transport-ws protocol or the legacy graphql-ws one, and over Server-Sent Events)
// and the FHIR websocket channel.
type SubscriptionConfig struct {
	// Changes fans the datastore's change feed out to subscriptions. Nil: NewServer makes one
	// over Store when Store can feed it (a *storage.Store), else subscriptions are refused.
	Changes *notify.Hub
	// PerConnection bounds the live subscriptions of one websocket connection, and
	// PerPrincipal those of one principal (token subject and client) on this process;
	// a subscription over either is refused with TOO_MANY_SUBSCRIPTIONS. Zero: the defaults.
	PerConnection, PerPrincipal int
	// KeepAlive is how often an idle connection is pinged (graphql-transport-ws ping,
	// graphql-ws ka, an SSE comment). Zero: the default.
	KeepAlive time.Duration
	// InitTimeout bounds the wait for connection_init. Zero: the default.
	InitTimeout time.Duration
	// Endpoints are the URL prefixes FHIR Subscriptions' rest-hooks may post to; none
	// refuses every rest-hook (the Subscription's status is error).
	Endpoints fhirsub.Endpoints
	// Hubs, when set, gives each datastore other than the default its Hub (the default's is
	// Changes), shared with the FHIR Subscriptions of the process.
	Hubs *notify.Hubs
	// Watcher, when set, hears of the datastores created and deleted through the API
	// (datastoreCreate, datastoreDelete); fhirsub.Fleet is one, which delivers the FHIR
	// Subscriptions of every datastore.
	Watcher DatastoreWatcher
	// Stopping, when closed, ends every subscription: websocket connections close with
	// 1001 (going away), event streams end. The server closes it when it begins to shut
	// down (http.Server.RegisterOnShutdown): Shutdown does not close hijacked connections.
	Stopping <-chan struct{}
}

// DatastoreWatcher hears of the datastores created and deleted through the API.
type DatastoreWatcher interface {
	// Created is called after datastore name is created.
	Created(name string)
	// Deleting is called before datastore name is dropped, and returns once the watcher has
	// stopped writing to it.
	Deleting(name string)
}

var _ DatastoreWatcher = (*fhirsub.Fleet)(nil)

// Defaults of SubscriptionConfig.
const (
	DefaultSubscriptionsPerConnection = 100
	DefaultSubscriptionsPerPrincipal  = 1000
	DefaultKeepAlive                  = 15 * time.Second
	DefaultInitTimeout                = 10 * time.Second
)

// Websocket close codes of the graphql-transport-ws protocol, and RFC 6455's going away.
const (
	closeGoingAway       = 1001
	closeBadMessage      = 4400
	closeUnauthorized    = 4401
	closeForbidden       = 4403
	closeInitTimeout     = 4408
	closeDuplicateID     = 4409
	closeTooManyInitReqs = 4429
)

// errTooManySubscriptions refuses a subscription over a connection's or a principal's bound.
var errTooManySubscriptions = fault.New(fault.TooMany, "too many subscriptions")

// subscriptions serves GraphQL subscriptions: it authenticates websocket connections,
// bounds and audits subscriptions, gives each event fresh loaders and read limits, tells a
// subscriber why its stream ended, and closes everything on shutdown.
type subscriptions struct {
	cfg     SubscriptionConfig
	auth    Auth
	guard   *guard.Guard
	lim     limiters
	audit   AuditSink
	store   resolvers.Store
	reads   resolvers.ReadLimits
	timeout time.Duration
	log     *slog.Logger
	present graphql.ErrorPresenterFunc

	streams *streams
	shared  *sharedAnswers

	mu          sync.Mutex
	byPrincipal map[string]int
}

func newSubscriptions(cfg Config, g *guard.Guard, lim limiters) *subscriptions {
	sc := cfg.Subscriptions
	if sc.PerConnection <= 0 {
		sc.PerConnection = DefaultSubscriptionsPerConnection
	}
	if sc.PerPrincipal <= 0 {
		sc.PerPrincipal = DefaultSubscriptionsPerPrincipal
	}
	if sc.KeepAlive <= 0 {
		sc.KeepAlive = DefaultKeepAlive
	}
	if sc.InitTimeout <= 0 {
		sc.InitTimeout = DefaultInitTimeout
	}
	s := &subscriptions{
		cfg: sc, auth: cfg.Auth, guard: g, lim: lim, audit: cfg.Audit, store: cfg.Store, reads: cfg.Reads, timeout: cfg.Timeout,
		log: cfg.Logger, present: presentError(cfg.Logger), streams: cfg.streams, shared: newSharedAnswers(), byPrincipal: map[string]int{},
	}
	if s.streams == nil {
		s.streams = newStreams(nil)
	}
	return s
}

// transports returns the subscription transports, websockets first: they must see an
// upgrade request before GET does, and SSE a POST before POST does.
func (s *subscriptions) websocket() transport.Websocket {
	// Keep-alive pings are sent by one loop for all connections (streams.keepAlive) rather
	// than by gqlgen's ticker goroutine per connection: a goroutine less per subscriber.
	return transport.Websocket{
		Implementation: wsImplementation{s: s},
		InitFunc:       s.initConnection,
		ErrorFunc: func(ctx context.Context, err error) {
			s.log.DebugContext(ctx, "websocket", "error", err)
		},
	}
}

func (s *subscriptions) sse() transport.SSE {
	return transport.SSE{KeepAlivePingInterval: s.cfg.KeepAlive}
}

// isWebsocket reports a websocket upgrade request.
func isWebsocket(r *http.Request) bool {
	return r.Header.Get("Upgrade") != ""
}

// isEventStream reports a GraphQL request over Server-Sent Events.
func isEventStream(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// streaming reports a request that stays open for a subscription: no request timeout, no
// compression of its stream.
func streaming(r *http.Request) bool { return isWebsocket(r) || isEventStream(r) }

// initConnection authenticates a websocket connection when its connection_init arrives: by
// the upgrade request's Authorization header, already checked, or else by the init payload
// ({"Authorization": "Bearer ..."} or {"token": "..."}). A refusal closes the connection with
// 4403. A token that expires closes it then, with 4403.
func (s *subscriptions) initConnection(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	conn := connFrom(ctx)
	refuse := func(msg string) (context.Context, *transport.InitPayload, error) {
		if t := trailFrom(ctx); t != nil {
			t.refused(http.StatusForbidden, msg)
		}
		return transport.WithWebsocketCloseCode(transport.AppendCloseReason(ctx, "Forbidden: "+msg), closeForbidden), nil, errors.New(msg)
	}
	p := authz.PrincipalFrom(ctx)
	if p == nil {
		if s.auth.Authenticator == nil || s.auth.Policy == nil {
			return refuse("authentication is not configured")
		}
		raw := initToken(payload)
		if raw == "" {
			return refuse("missing bearer token: send it in the upgrade's Authorization header or in connection_init's payload")
		}
		var err error
		if p, err = s.auth.Authenticator.Verify(ctx, raw); err != nil {
			msg := "invalid token"
			if errors.Is(err, authz.ErrUnauthenticated) {
				msg = err.Error()
			}
			return refuse(msg)
		}
		if t := trailFrom(ctx); t != nil {
			t.setPrincipal(p)
		}
		if name, _ := datastoreFrom(ctx); !p.DatastoreAllowed(name) {
			return refuse("this token is not valid for datastore " + name)
		}
		ctx = admit(ctx, s.guard, p)
	}
	if conn != nil && !p.Expires.IsZero() {
		conn.expireAt(p.Expires)
	}
	return ctx, nil, nil
}

// initToken returns the bearer token of a connection_init payload.
func initToken(p transport.InitPayload) string {
	if h := p.Authorization(); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	return strings.TrimSpace(p.GetString("token"))
}

// principalKey is what the per-principal bound counts by.
func principalKey(p *authz.Principal) string {
	if p == nil {
		return ""
	}
	return p.Subject + "\x00" + p.Client
}

// around is the operation middleware of subscriptions: it bounds them per connection and
// per principal, audits their start and end, gives each event its own loaders and read
// limits (an event is a request of its own for them), and tells the subscriber why a stream
// ended early, in a last response before complete.
func (s *subscriptions) around(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	if oc == nil || oc.Operation == nil || oc.Operation.Operation != ast.Subscription {
		if connFrom(ctx) == nil {
			return next(ctx)
		}
		// A query or mutation over a websocket is a request of its own: its loaders, read
		// limits and deadline (the connection has none).
		ctx = s.request(ctx)
		if s.timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, s.timeout)
			h := next(ctx)
			return func(ctx context.Context) *graphql.Response {
				resp := h(ctx)
				if resp == nil {
					cancel()
				}
				return resp
			}
		}
		return next(ctx)
	}
	p := authz.PrincipalFrom(ctx)
	conn := connFrom(ctx)
	sub := &subscriptionAudit{s: s, p: p, query: oc.RawQuery, addr: addressFrom(ctx)}
	if err := s.acquire(conn, p); err != nil {
		sub.record("subscribe", audit.MinorFailure, "too many subscriptions")
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{s.presentEnd(ctx, err)}})
	}
	sub.record("subscribe", audit.Success, "")
	var once sync.Once
	release := func(why string) {
		once.Do(func() {
			s.release(conn, p)
			sub.record("unsubscribe", audit.Success, why)
		})
	}

	var ended error
	var mu sync.Mutex
	ctx = resolvers.WithStreamEnd(ctx, func(err error) {
		mu.Lock()
		ended = err
		mu.Unlock()
	})
	ctx = storage.WithAccessLog(ctx, sub)
	events := &relayedEvents{relay: &resolvers.Relay{Events: make(chan *graph.ResourceChange)}, shared: s.shared, log: sub, request: s.request}
	events.group, events.share = groupOf(oc, p, s.auth.Policy)
	ctx = resolvers.WithRelay(ctx, events.relay)
	h := next(ctx)
	reported := false
	root := rootAlias(oc.Operation)
	finish := func(resp *graphql.Response) {
		if resp != nil {
			rootPaths(resp.Errors, root)
		}
	}
	return func(ctx context.Context) *graphql.Response {
		resp := events.next(ctx, h, finish)
		if resp != nil || reported {
			return resp
		}
		reported = true
		mu.Lock()
		err := ended
		mu.Unlock()
		if err == nil {
			// The subscriber left (gqlgen ends a stream whose context ended) or it completed.
			release("ended")
			return nil
		}
		gerr := s.presentEnd(ctx, err)
		release("ended by the server: " + fmt.Sprint(gerr.Extensions["code"]))
		return &graphql.Response{Errors: gqlerror.List{gerr}}
	}
}

// request returns ctx with the loaders and read limits of one request: each event of a
// subscription is a request of its own for them.
func (s *subscriptions) request(ctx context.Context) context.Context {
	return resolvers.WithReadLimits(resolvers.WithLoaders(ctx, s.store), s.reads)
}

// presentEnd presents why a subscription was refused or ended early: as the error table
// says, with a code that tells the subscriber what to do (TOO_MANY_SUBSCRIPTIONS: end one;
// SUBSCRIPTION_OVERFLOW: resubscribe from extensions.resumeToken; UNAUTHENTICATED: come back
// with a new token).
func (s *subscriptions) presentEnd(ctx context.Context, err error) *gqlerror.Error {
	gerr := s.present(ctx, err)
	var ov *notify.Overflow
	switch {
	case errors.As(err, &ov):
		gerr.Extensions["code"] = "SUBSCRIPTION_OVERFLOW"
		gerr.Extensions["resumeToken"] = ov.Resume.String()
	case errors.Is(err, notify.ErrExpired):
		gerr.Extensions["code"] = "UNAUTHENTICATED"
	case errors.Is(err, errTooManySubscriptions):
		gerr.Extensions["code"] = "TOO_MANY_SUBSCRIPTIONS"
	}
	return gerr
}

// rootAlias returns the response key of a subscription's one root field.
func rootAlias(op *ast.OperationDefinition) string {
	for _, sel := range op.SelectionSet {
		if f, ok := sel.(*ast.Field); ok {
			return f.Alias
		}
	}
	return ""
}

// rootPaths puts the root field in front of the paths of an event's errors: gqlgen resolves
// each event below the root field and leaves it out of their paths, which the response's
// data has at its top.
func rootPaths(errs gqlerror.List, root string) {
	for _, e := range errs {
		if len(e.Path) > 0 && root != "" && e.Path[0] != ast.PathName(root) {
			e.Path = append(ast.Path{ast.PathName(root)}, e.Path...)
		}
	}
}

// acquire counts a new subscription of conn (nil for an event stream, which holds one) and
// p, or refuses it over their bounds.
func (s *subscriptions) acquire(conn *wsConn, p *authz.Principal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := principalKey(p)
	if s.byPrincipal[key] >= s.cfg.PerPrincipal {
		return fmt.Errorf("%w: this token already has %d live subscriptions, the most allowed", errTooManySubscriptions, s.cfg.PerPrincipal)
	}
	if conn != nil {
		if conn.live >= s.cfg.PerConnection {
			return fmt.Errorf("%w: this connection already has %d live subscriptions, the most allowed", errTooManySubscriptions, s.cfg.PerConnection)
		}
		conn.live++
	}
	s.byPrincipal[key]++
	return nil
}

func (s *subscriptions) release(conn *wsConn, p *authz.Principal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := principalKey(p)
	if s.byPrincipal[key]--; s.byPrincipal[key] <= 0 {
		delete(s.byPrincipal, key)
	}
	if conn != nil {
		conn.live--
	}
}

// subscriptionAudit records a subscription's start and end as AuditEvents; the end lists
// the resources its events disclosed (it is the storage.AccessLog of its events).
type subscriptionAudit struct {
	s     *subscriptions
	p     *authz.Principal
	query string
	addr  string

	mu       sync.Mutex
	entities []string
	seen     map[string]bool
	more     int
}

// Accessed implements storage.AccessLog.
func (a *subscriptionAudit) Accessed(typ, id string) {
	ref := typ + "/" + id
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.seen[ref]:
	case len(a.entities) >= maxAuditEntities:
		a.more++
	default:
		if a.seen == nil {
			a.seen = map[string]bool{}
		}
		a.seen[ref] = true
		a.entities = append(a.entities, ref)
	}
}

func (a *subscriptionAudit) record(interaction, outcome, desc string) {
	if a.s.audit == nil {
		return
	}
	e := audit.Event{Time: time.Now(), Action: audit.Execute, Interaction: interaction, Outcome: outcome, OutcomeDesc: desc, Query: a.query, Address: a.addr}
	if p := a.p; p != nil {
		e.Subject, e.Roles = p.Subject, p.Roles
		if !p.Anonymous {
			e.Client, e.Patient = p.Client, p.Patient
		}
	}
	if interaction == "unsubscribe" {
		a.mu.Lock()
		e.Entities = a.entities
		if a.more > 0 {
			e.OutcomeDesc += " (more resources than listed)"
		}
		a.mu.Unlock()
	}
	a.s.audit.Record(e)
}

// streams are a server's open websocket connections and event streams, which it closes when
// it shuts down.
type streams struct {
	mu      sync.Mutex
	stopped bool
	conns   map[*wsConn]struct{}
	cancels map[*context.CancelFunc]struct{}
	pinging bool // the keep-alive loop runs
}

// newStreams returns the registry of a server that shuts down when stopping is closed
// (never when it is nil).
func newStreams(stopping <-chan struct{}) *streams {
	st := &streams{conns: map[*wsConn]struct{}{}, cancels: map[*context.CancelFunc]struct{}{}}
	if stopping != nil {
		go func() {
			<-stopping
			st.stop()
		}()
	}
	return st
}

// track registers an event stream's cancel function, to end it on shutdown; the returned
// function unregisters it.
func (st *streams) track(cancel context.CancelFunc) func() {
	if st == nil {
		return func() {}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.stopped {
		cancel()
		return func() {}
	}
	key := &cancel
	st.cancels[key] = struct{}{}
	return func() {
		st.mu.Lock()
		delete(st.cancels, key)
		st.mu.Unlock()
	}
}

// add registers a websocket connection, closing it at once after shutdown began, and keeps it
// alive with pings every interval.
func (st *streams) add(c *wsConn, interval time.Duration) {
	st.mu.Lock()
	stopped := st.stopped
	st.conns[c] = struct{}{}
	start := !st.pinging
	st.pinging = true
	st.mu.Unlock()
	if stopped {
		c.closeWith(closeGoingAway, "server shutting down")
	}
	if start {
		go st.keepAlive(interval)
	}
}

// keepAlive pings every open connection each interval (graphql-transport-ws ping, graphql-ws
// ka), and drops one that has sent nothing for two intervals although pinged: its peer is
// gone. It returns when no connection is left.
func (st *streams) keepAlive(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for range t.C {
		st.mu.Lock()
		if len(st.conns) == 0 {
			st.pinging = false
			st.mu.Unlock()
			return
		}
		conns := make([]*wsConn, 0, len(st.conns))
		for c := range st.conns {
			conns = append(conns, c)
		}
		st.mu.Unlock()
		now := time.Now()
		for _, c := range conns {
			c.keepAlive(now, interval)
		}
	}
}

func (st *streams) remove(c *wsConn) {
	st.mu.Lock()
	delete(st.conns, c)
	st.mu.Unlock()
}

// stop ends everything: websocket connections close with 1001, event streams end.
func (st *streams) stop() {
	st.mu.Lock()
	st.stopped = true
	conns := make([]*wsConn, 0, len(st.conns))
	for c := range st.conns {
		conns = append(conns, c)
	}
	cancels := make([]*context.CancelFunc, 0, len(st.cancels))
	for c := range st.cancels {
		cancels = append(cancels, c)
	}
	st.mu.Unlock()
	for _, c := range conns {
		c.closeWith(closeGoingAway, "server shutting down")
	}
	for _, cancel := range cancels {
		(*cancel)()
	}
}

type addressKey struct{}

// withAddress notes the client's address in ctx, for the audit events of subscriptions.
func withAddress(ctx context.Context, r *http.Request) context.Context {
	return context.WithValue(ctx, addressKey{}, clientAddress(r))
}

func addressFrom(ctx context.Context) string {
	a, _ := ctx.Value(addressKey{}).(string)
	return a
}
