package fhirsub

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/notify"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
)

// Store is the datastore a Manager serves; *storage.Store is one.
type Store interface {
	States
	Read(ctx context.Context, typ, id string) (*storage.Record, error)
	Commit(ctx context.Context, writes []storage.Write) ([]*storage.Record, error)
	Search(ctx context.Context, typ string, q storage.Query) ([]*storage.Record, error)
}

var _ Store = (*storage.Store)(nil)

// Changes starts subscriptions to the datastore's changes; *notify.Hub is one.
type Changes interface {
	Subscribe(ctx context.Context, req notify.Request) (*notify.Subscription, error)
}

// Authorize returns ctx acting for owner: its principal, its field policy (guard.Redact reads
// it) and its storage scope. It fails when owner may not subscribe to q's changes.
type Authorize func(ctx context.Context, owner Owner, q *search.Query) (context.Context, error)

// Redact removes from a resource's JSON what the caller in ctx may not read (guard.Redact).
type Redact func(ctx context.Context, typ string, raw []byte) ([]byte, error)

// Options configure a Manager. Zero values take the defaults.
type Options struct {
	// Endpoints are where rest-hooks may post; none refuses every rest-hook.
	Endpoints Endpoints
	// Authorize and Redact apply the owner's policy; both are required.
	Authorize Authorize
	Redact    Redact
	// Client posts the notifications; nil is a client with a 10-second timeout that does not
	// follow redirects (a redirect could leave the allowed endpoints).
	Client *http.Client
	// Holder names this process in the lease; empty is host, pid and a random suffix.
	Holder string
	// LeaseTTL is how long a term of the delivery lease lasts; it is renewed a third of it
	// before it ends. Default 15 s.
	LeaseTTL time.Duration
	// Backoff is the wait after a first failed delivery, doubled after each further one up to
	// MaxBackoff; after MaxAttempts failures in a row the Subscription's status becomes error,
	// and delivery goes on trying at MaxBackoff until it succeeds. Defaults 1 s, 5 min, 5.
	Backoff, MaxBackoff time.Duration
	MaxAttempts         int
	// Logger receives delivery failures, without resource contents.
	Logger *slog.Logger
	// Now is the clock of the lease; nil is time.Now.
	Now func() time.Time
}

// Manager delivers a datastore's FHIR Subscriptions while it holds the delivery lease.
type Manager struct {
	store   Store
	changes Changes
	opt     Options
	log     *slog.Logger
	lease   *lease

	// leaseEnd is the end of this process's lease term, in Unix nanoseconds; deliveries stop
	// once it has passed.
	leaseEnd atomic.Int64

	mu      sync.Mutex
	workers map[string]*worker
}

// New returns the Manager of store, reading its changes from changes.
func New(store Store, changes Changes, opt Options) *Manager {
	if opt.Client == nil {
		opt.Client = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if opt.Holder == "" {
		opt.Holder = defaultHolder()
	}
	if opt.LeaseTTL <= 0 {
		opt.LeaseTTL = 15 * time.Second
	}
	if opt.Backoff <= 0 {
		opt.Backoff = time.Second
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = 5 * time.Minute
	}
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = 5
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{
		store: store, changes: changes, opt: opt, log: log, workers: map[string]*worker{},
		lease: &lease{st: store, name: "fhir-subscriptions", holder: opt.Holder, ttl: opt.LeaseTTL, now: opt.Now},
	}
}

// defaultHolder names this process in leases: host, pid and a random suffix.
func defaultHolder() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), rand.Text()[:8])
}

// Run delivers while this process holds the lease, and waits for it otherwise, until ctx
// ends.
func (m *Manager) Run(ctx context.Context) error {
	var lead *leadership
	defer func() { lead.stop() }()
	for {
		held, err := m.lease.acquire(ctx)
		if err != nil && ctx.Err() == nil {
			m.log.Warn("fhir subscriptions: lease", "error", err)
		}
		if held {
			m.leaseEnd.Store(m.lease.until.UnixNano())
		}
		switch {
		case held && lead == nil:
			lead = m.startLeading(ctx)
		case !held && lead != nil:
			lead.stop()
			lead = nil
		}
		if !sleep(ctx, m.opt.LeaseTTL/3) {
			return nil
		}
	}
}

// leadership is this process's turn at delivering.
type leadership struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (m *Manager) startLeading(ctx context.Context) *leadership {
	ctx, cancel := context.WithCancel(ctx)
	l := &leadership{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		m.lead(ctx)
	}()
	return l
}

// stop ends the turn and waits for its workers.
func (l *leadership) stop() {
	if l != nil {
		l.cancel()
		<-l.done
	}
}

// leading reports whether this process's lease term is still running.
func (m *Manager) leading() bool { return m.opt.Now().UnixNano() < m.leaseEnd.Load() }

// lead serves every Subscription until ctx ends: it follows the Subscriptions' own changes to
// start, restart and stop their workers.
func (m *Manager) lead(ctx context.Context) {
	defer m.stopAll()
	for ctx.Err() == nil {
		// Follow the Subscriptions' changes before listing them: none is missed between.
		sub, err := m.changes.Subscribe(ctx, notify.Request{Type: "Subscription"})
		if err != nil {
			m.log.Error("fhir subscriptions: follow Subscriptions", "error", err)
			sleep(ctx, time.Second)
			continue
		}
		recs, err := m.store.Search(ctx, "Subscription", storage.Query{})
		if err != nil {
			sub.Close()
			m.log.Error("fhir subscriptions: list Subscriptions", "error", err)
			sleep(ctx, time.Second)
			continue
		}
		for _, rec := range recs {
			m.update(ctx, rec)
		}
		for {
			ev, err := sub.Next(ctx)
			if err != nil {
				break // ended or fell behind: list them again
			}
			if ev.Op == notify.Delete {
				m.drop(ev.ID)
				continue
			}
			m.update(ctx, ev.Record)
		}
		sub.Close()
	}
}

// update starts, restarts or stops the worker of the Subscription version rec.
func (m *Manager) update(ctx context.Context, rec *storage.Record) {
	sub, err := model.UnmarshalAs[*model.Subscription](rec.JSON)
	if err != nil {
		m.log.Error("fhir subscriptions: stored Subscription", "id", rec.ID, "error", err)
		return
	}
	plan, perr := NewPlan(sub)
	m.mu.Lock()
	w := m.workers[rec.ID]
	m.mu.Unlock()
	switch {
	case perr == nil && (plan.Status == StatusOff || plan.Status == ""):
		m.drop(rec.ID)
	case perr != nil:
		m.drop(rec.ID)
		if str(sub.Status) != StatusError && str(sub.Status) != StatusOff {
			m.setStatus(ctx, rec.ID, StatusError, perr.Error())
		}
	case w != nil && w.plan.key == plan.key:
		// The same deliveries: a status the worker wrote, or an edit of other elements.
	default:
		m.drop(rec.ID)
		m.start(ctx, plan, rec)
	}
}

// start runs a worker for plan.
func (m *Manager) start(ctx context.Context, plan *Plan, rec *storage.Record) {
	wctx, cancel := context.WithCancel(ctx)
	w := &worker{m: m, plan: plan, cancel: cancel, done: make(chan struct{}), created: rec.Seq}
	m.mu.Lock()
	m.workers[plan.ID] = w
	m.mu.Unlock()
	go func() {
		defer close(w.done)
		w.run(wctx)
	}()
}

// drop stops the worker of Subscription id, if any.
func (m *Manager) drop(id string) {
	m.mu.Lock()
	w := m.workers[id]
	delete(m.workers, id)
	m.mu.Unlock()
	if w != nil {
		w.cancel()
		<-w.done
	}
}

func (m *Manager) stopAll() {
	m.mu.Lock()
	ids := make([]string, 0, len(m.workers))
	for id := range m.workers {
		ids = append(ids, id)
	}
	m.mu.Unlock()
	for _, id := range ids {
		m.drop(id)
	}
}

// setStatus writes status and error (cleared when empty) on Subscription id, unless they are
// there already. It reports whether the Subscription still exists.
func (m *Manager) setStatus(ctx context.Context, id, status, why string) bool {
	for range 5 {
		rec, err := m.store.Read(ctx, "Subscription", id)
		if err != nil {
			return !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrDeleted)
		}
		sub, err := model.UnmarshalAs[*model.Subscription](rec.JSON)
		if err != nil {
			return true
		}
		if str(sub.Status) == status && (sub.Error == nil && why == "" || sub.Error != nil && *sub.Error == why) {
			return true
		}
		if str(sub.Status) == StatusOff {
			return true // the client turned it off meanwhile
		}
		code := model.Code(status)
		sub.Status = &code
		sub.Error = nil
		if why != "" {
			sub.Error = &why
		}
		_, err = m.store.Commit(ctx, []storage.Write{{Op: storage.OpPut, Type: "Subscription", ID: id, IfMatch: rec.VersionID, Resource: sub}})
		if err == nil || !errors.Is(err, storage.ErrConflict) {
			if err != nil {
				m.log.Error("fhir subscriptions: set status", "id", id, "status", status, "error", err)
			}
			return true
		}
	}
	return true
}

// sleep waits d or until ctx ends, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// cursor is a Subscription's delivery position: the token of its last acknowledged change.
type cursor struct {
	Token string `json:"token"`
}

func (m *Manager) loadCursor(ctx context.Context, id string) (*notify.Token, error) {
	v, ok, err := m.store.State(ctx, cursorKey(id))
	if err != nil || !ok {
		return nil, err
	}
	var c cursor
	if err := json.Unmarshal([]byte(v), &c); err != nil {
		return nil, err
	}
	t, err := notify.ParseToken(c.Token)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

func (m *Manager) saveCursor(ctx context.Context, id string, t notify.Token) error {
	b, _ := json.Marshal(cursor{Token: t.String()})
	return m.store.PutState(ctx, cursorKey(id), string(b))
}
