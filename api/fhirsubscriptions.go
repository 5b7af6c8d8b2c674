package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/authz/guard"
	"github.com/fhirgate/fhirgate/fhirsub"
	"github.com/fhirgate/fhirgate/graph"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/notify"
	"github.com/fhirgate/fhirgate/resolvers"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
)

// FHIR R4 Subscription resources are written like any resource (GraphQL, /fhir); the server
// takes them in hand on the way to storage (subscriptionWrites): it refuses criteria it cannot
// serve or a type the writer may not subscribe to, sets the status (requested, or error when
// the rest-hook endpoint is not allowed), and records the writer as the Subscription's owner,
// whose policy every notification follows. A fhirsub.Manager (started by the command) then
// activates and delivers them; websocket-channel clients bind to them at /fhir/websocket.

// subscriptionWrites is a server's store with Subscription writes taken in hand.
type subscriptionWrites struct {
	resolvers.Store
	states    fhirsub.States
	endpoints fhirsub.Endpoints
}

// Commit checks and stamps the Subscriptions among writes, records their owner, and commits.
// The owner is recorded first: the deliverer may see the Subscription as soon as it commits.
func (s subscriptionWrites) Commit(ctx context.Context, writes []storage.Write) ([]*storage.Record, error) {
	p := authz.PrincipalFrom(ctx)
	for _, w := range writes {
		sub, ok := w.Resource.(*model.Subscription)
		if w.Type != "Subscription" || w.Op == storage.OpDelete || !ok {
			continue
		}
		if err := s.prepare(ctx, sub); err != nil {
			return nil, err
		}
		if p == nil {
			continue
		}
		if err := s.checkOwner(ctx, w, p); err != nil {
			return nil, err
		}
		tagOwner(sub, p)
		if err := fhirsub.SaveOwner(ctx, s.states, w.ID, fhirsub.OwnerOf(p)); err != nil {
			return nil, fmt.Errorf("record the owner of Subscription/%s: %w", w.ID, err)
		}
	}
	return s.Store.Commit(ctx, writes)
}

// checkOwner refuses, before the owner is recorded, an update of a Subscription that p may
// not write (another's): storage's scope would refuse the commit, but only after the owner
// record had changed hands. It answers as storage does, as if the Subscription did not exist.
func (s subscriptionWrites) checkOwner(ctx context.Context, w storage.Write, p *authz.Principal) error {
	if w.Op == storage.OpCreate || authz.SeesAllSubscriptions(p) {
		return nil
	}
	if _, err := s.Store.Read(ctx, "Subscription", w.ID); err != nil {
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrDeleted) {
			return fmt.Errorf("storage: write Subscription/%s: %w", w.ID, storage.ErrNotFound)
		}
		return err
	}
	return nil
}

// tagOwner marks sub as p's (see authz.SubscriptionScope), replacing any owner tag it came
// with: the writer of a Subscription owns it.
func tagOwner(sub *model.Subscription, p *authz.Principal) {
	if sub.Meta == nil {
		sub.Meta = &model.Meta{}
	}
	tags := sub.Meta.Tag[:0:0]
	for _, t := range sub.Meta.Tag {
		if t == nil || t.System == nil || string(*t.System) != authz.SubscriptionOwnerSystem {
			tags = append(tags, t)
		}
	}
	system, code := model.URI(authz.SubscriptionOwnerSystem), model.Code(authz.SubscriptionOwnerKey(p))
	sub.Meta.Tag = append(tags, &model.Coding{System: &system, Code: &code})
}

// prepare refuses a Subscription the server cannot serve for the caller, and sets its status:
// off stays off; anything else is requested (the server activates it), or error when its
// endpoint is not allowed.
func (s subscriptionWrites) prepare(ctx context.Context, sub *model.Subscription) error {
	plan, err := fhirsub.NewPlan(sub)
	if err != nil {
		return err
	}
	if err := guard.CheckSubscribe(ctx, plan.Type); err != nil {
		return err
	}
	if plan.Status == fhirsub.StatusOff {
		return nil
	}
	status, why := model.Code(fhirsub.StatusRequested), ""
	if err := plan.Check(s.endpoints); err != nil {
		status, why = fhirsub.StatusError, err.Error()
	}
	sub.Status, sub.Error = &status, nil
	if why != "" {
		sub.Error = &why
	}
	return nil
}

// FHIRSubscriptionAccess returns how a fhirsub.Manager acts for a Subscription's owner under
// cfg's authentication and policy: with the owner's principal, field policy and compartment,
// after checking that the owner may subscribe to the criteria; and how it redacts payloads.
func FHIRSubscriptionAccess(cfg Config) (fhirsub.Authorize, fhirsub.Redact) {
	var (
		once sync.Once
		g    *guard.Guard
	)
	authorize := func(ctx context.Context, o fhirsub.Owner, q *search.Query) (context.Context, error) {
		if cfg.Auth.Off {
			return authz.WithPrincipal(ctx, anonymous), nil
		}
		if cfg.Auth.Policy == nil {
			return nil, errors.New("authorisation is not configured")
		}
		once.Do(func() { g = guard.New(cfg.Auth.Policy, graph.NewExecutableSchema(graph.Config{}).Schema()) })
		ctx = admit(ctx, g, o.Principal())
		if err := guard.CheckSubscribe(ctx, q.Type); err != nil {
			return nil, err
		}
		if err := g.CheckSearch(ctx, q); err != nil {
			return nil, err
		}
		return ctx, nil
	}
	return authorize, guard.Redact
}

// fhirWebsocket serves the R4 websocket channel: a client sends "bind <id>" for a Subscription
// with a websocket channel that it may read, the server answers "bound <id>" and then sends
// "ping <id>" for every change the Subscription's criteria select, within the client's own
// policy and compartment. Authentication is by the upgrade's Authorization header.
func fhirWebsocket(cfg Config) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cfg.Subscriptions.Changes == nil {
			writeFHIROutcome(w, http.StatusNotImplemented, "not-supported", "This server does not serve subscriptions.")
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return // Accept answered
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		defer cfg.streams.track(cancel)()
		b := &binding{c: c, hub: cfg.Subscriptions.Changes, store: cfg.Store}
		if p := authz.PrincipalFrom(ctx); p != nil && !p.Expires.IsZero() {
			ctx, cancel = context.WithDeadline(ctx, p.Expires)
			defer cancel()
		}
		go b.keepAlive(ctx, cfg.Subscriptions.KeepAlive)
		// The connection closes with a code that says why: shutdown (1001) or an expired
		// token (1008), or the client left.
		done := make(chan struct{})
		go func() {
			select {
			case <-ctx.Done():
				code, why := websocket.StatusGoingAway, "server shutting down"
				if errors.Is(ctx.Err(), context.DeadlineExceeded) {
					code, why = websocket.StatusPolicyViolation, "token expired"
				}
				c.Close(code, why)
			case <-done:
			}
		}()
		b.serve(context.WithoutCancel(ctx), ctx)
		close(done)
		c.Close(websocket.StatusNormalClosure, "")
	})
}

// binding is one client of the websocket channel.
type binding struct {
	c     *websocket.Conn
	hub   *notify.Hub
	store resolvers.Store

	mu    sync.Mutex // serialises writes
	bound map[string]bool
}

// serve reads the client's commands until the connection closes; the subscriptions it binds
// end with ctx.
func (b *binding) serve(readCtx, ctx context.Context) {
	b.bound = map[string]bool{}
	for {
		kind, data, err := b.c.Read(readCtx)
		if err != nil {
			return
		}
		cmd, id, _ := strings.Cut(strings.TrimSpace(string(data)), " ")
		if kind != websocket.MessageText || cmd != "bind" || !model.ValidID(id) {
			b.send(ctx, "error unknown command: send \"bind <Subscription id>\"")
			continue
		}
		if b.bound[id] {
			b.send(ctx, "bound "+id)
			continue
		}
		if err := b.bind(ctx, id); err != nil {
			b.send(ctx, "error "+id+" "+err.Error())
			continue
		}
		b.bound[id] = true
		b.send(ctx, "bound "+id)
	}
}

// bind starts pinging the client for Subscription id.
func (b *binding) bind(ctx context.Context, id string) error {
	rec, err := b.store.Read(ctx, "Subscription", id)
	if err != nil {
		return errors.New("no such Subscription")
	}
	sub, err := model.UnmarshalAs[*model.Subscription](rec.JSON)
	if err != nil {
		return errors.New("the Subscription cannot be read")
	}
	plan, err := fhirsub.NewPlan(sub)
	switch {
	case err != nil:
		return err
	case plan.Channel != fhirsub.Websocket:
		return errors.New("the Subscription's channel is not websocket")
	case plan.Status != fhirsub.StatusActive && plan.Status != fhirsub.StatusRequested:
		return fmt.Errorf("the Subscription is %s", plan.Status)
	}
	if err := guard.CheckSubscribe(ctx, plan.Type); err != nil {
		return errors.New("not permitted to subscribe to " + plan.Type)
	}
	s, err := b.hub.Subscribe(ctx, notify.Request{Type: plan.Type, Query: plan.Query})
	if err != nil {
		return err
	}
	go func() {
		defer s.Close()
		for {
			if _, err := s.Next(ctx); err != nil {
				return
			}
			b.send(ctx, "ping "+id)
		}
	}()
	return nil
}

func (b *binding) send(ctx context.Context, msg string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = b.c.Write(wctx, websocket.MessageText, []byte(msg))
}

// keepAlive pings the client every interval, so that idle connections stay open.
func (b *binding) keepAlive(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultKeepAlive
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, every)
			_ = b.c.Ping(pctx)
			cancel()
		}
	}
}
