// Package notify delivers committed changes to subscribers: GraphQL subscriptions and FHIR
// Subscriptions. One Hub per datastore and process reads the durable change feed
// (storage.Store.Changes) and fans each change out in memory to the subscriptions it
// concerns, evaluating their criteria on the version a change wrote and on the one before.
//
// The Hub reads as soon as a commit of its own process lands (storage.Store.Committed) and
// polls for the commits of other processes that share the database, so every process
// delivers every change, whichever process wrote it. It runs only while it has live
// subscribers. A subscription that resumes from a token replays the feed from there on
// its own, then joins the Hub's live fan-out at the position it reached, with no gap and
// no duplicate at the seam.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
)

// Source is the datastore a Hub reads; *storage.Store is one. Its methods behave as the
// storage methods of the same names document.
type Source interface {
	Changes(ctx context.Context, afterSeq int64, limit int) ([]storage.Change, error)
	ReadVersion(ctx context.Context, typ, id string, v int64) (*storage.Record, error)
	FeedHead(ctx context.Context) (int64, error)
	Committed() <-chan struct{}
	search.Store
}

var _ Source = (*storage.Store)(nil)

// Defaults of Options.
const (
	// DefaultPoll is how often a Hub looks for the commits of other processes.
	DefaultPoll = 20 * time.Millisecond
	// DefaultBuffer is how many events a live subscription may have waiting for its
	// subscriber before it overflows.
	DefaultBuffer = 1000
	// DefaultRetention is how far back a resume token may reach.
	DefaultRetention = 7 * 24 * time.Hour
)

// idlePolls is how many times Poll a Hub waits at most between reads of a quiet feed: the
// first commit of another process after a quiet spell reaches subscribers within 200 ms
// at the default Poll, and every one after it within Poll.
const idlePolls = 10

// replayPage is how many commits a resuming subscription reads from the feed at a time.
const replayPage = 100

// Options configure a Hub. Zero values take the defaults.
type Options struct {
	// Poll is how often the Hub reads the feed for commits of other processes while they
	// come; its own process's commits wake it at once. A feed that stays quiet is read less
	// often, down to once every idlePolls×Poll, so that the Hubs of many idle datastores do
	// not poll the database 50 times a second each.
	Poll time.Duration
	// Buffer bounds the events a live subscription holds for a subscriber that reads them
	// slower than they come; past it, the subscription ends with an *Overflow error.
	Buffer int
	// Retention is how far back a resume token may reach: a token followed in the feed by a
	// change older than this is refused. The journal itself is kept whole; this bounds the
	// replay a client may ask for. Negative: no bound.
	Retention time.Duration
	// Logger receives the Hub's failures to read the feed; nil discards them.
	Logger *slog.Logger
	// Now is the clock of Retention; nil is time.Now.
	Now func() time.Time
}

// Errors of subscriptions.
var (
	// ErrInvalid marks a subscription request the client got wrong: a malformed or
	// out-of-range resume token, criteria that do not apply to changes.
	ErrInvalid = fault.New(fault.Invalid, "invalid subscription")
	// ErrOverflow marks a subscription ended because its subscriber fell behind (see
	// Overflow).
	ErrOverflow = fault.New(fault.TooMany, "subscriber too slow")
	// ErrExpired ends a subscription when the credentials it was made with expire
	// (Request.Until): what it would deliver next, the caller may no longer read.
	ErrExpired = fault.New(fault.Forbidden, "credentials expired")
	// ErrClosed is returned by Next after Close.
	ErrClosed = errors.New("notify: subscription closed")
)

// Overflow ends a live subscription whose subscriber fell Options.Buffer events behind. Its
// subscriber has received every event up to Resume: a new subscription with since Resume
// continues without a gap.
type Overflow struct {
	Resume Token
}

func (o *Overflow) Error() string {
	return fmt.Sprintf("%v: it fell too far behind the changes; resubscribe with since %q to continue", ErrOverflow, o.Resume)
}

func (o *Overflow) Unwrap() error { return ErrOverflow }

// Request describes a subscription.
type Request struct {
	// Type is the resource type whose changes the subscription receives.
	Type string
	// Query, when set, selects the resources of Type: a change is delivered when the
	// version it wrote matches, or when the version before matched (leaving).
	Query *search.Query
	// Ops are the kinds of change delivered; nil delivers all.
	Ops []Op
	// Since, when set, replays the changes after it before the live ones.
	Since *Token
	// Until, when set, ends the subscription with ErrExpired at that instant.
	Until time.Time
}

// Hub fans the change feed of one datastore out to the subscriptions of one process. It is
// safe for concurrent use.
type Hub struct {
	src Source
	opt Options
	log *slog.Logger

	kick chan struct{} // wakes the reader when subscriptions come or go

	mu      sync.Mutex
	running bool
	last    int64                                 // the last commit fanned out whole
	live    map[string]map[*Subscription]struct{} // live subscriptions by type
	count   int
}

// NewHub returns the Hub of src. It starts reading when it gets its first live subscription
// and stops when it has none.
func NewHub(src Source, opt Options) *Hub {
	if opt.Poll <= 0 {
		opt.Poll = DefaultPoll
	}
	if opt.Buffer <= 0 {
		opt.Buffer = DefaultBuffer
	}
	if opt.Retention == 0 {
		opt.Retention = DefaultRetention
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Hub{src: src, opt: opt, log: log, kick: make(chan struct{}, 1), live: map[string]map[*Subscription]struct{}{}}
}

// Live returns the number of live subscriptions.
func (h *Hub) Live() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.count
}

// Subscribe starts a subscription for the caller in ctx: storage's scope in ctx (a patient's
// compartment) confines what it receives, and its sub-searches. Without Since it receives the
// changes that commit from now on; with Since, those after it first. It ends when ctx ends,
// when Close is called, at Until, or on overflow; Next then returns why.
//
// Errors: ErrInvalid for a request that does not apply (an unknown type or kind of change, a
// malformed token, a token ahead of the feed or older than Options.Retention, criteria with
// paging or sorting); search's errors for criteria that do not compile.
func (h *Hub) Subscribe(ctx context.Context, req Request) (*Subscription, error) {
	return h.subscribe(ctx, req, nil)
}

// subscribe starts a subscription; prepare, when set, readies it before anything reaches it.
func (h *Hub) subscribe(ctx context.Context, req Request, prepare func(*Subscription)) (*Subscription, error) {
	if !model.IsResourceType(req.Type) {
		return nil, fmt.Errorf("%w: unknown resource type %q", ErrInvalid, clip(req.Type))
	}
	for _, op := range req.Ops {
		if op != Create && op != Update && op != Delete {
			return nil, fmt.Errorf("%w: unknown kind of change %q", ErrInvalid, clip(string(op)))
		}
	}
	crit, err := newCriteria(ctx, h.src, req)
	if err != nil {
		return nil, err
	}
	s := &Subscription{h: h, ctx: ctx, crit: crit, until: req.Until, wake: make(chan struct{}, 1)}
	if req.Since != nil {
		if err := h.checkSince(ctx, *req.Since); err != nil {
			return nil, err
		}
		s.pos, s.replaying = *req.Since, true
	}
	if prepare != nil {
		prepare(s)
	}
	if req.Since != nil {
		return s, nil
	}
	if err := h.joinNow(ctx, s); err != nil {
		return nil, err
	}
	return s, nil
}

// checkSince refuses a resume token the feed cannot honour.
func (h *Hub) checkSince(ctx context.Context, t Token) error {
	head, err := h.src.FeedHead(ctx)
	if err != nil {
		return fmt.Errorf("notify: resume: %w", err)
	}
	if t.Seq > head {
		return fmt.Errorf("%w: resume token %q is ahead of the change feed", ErrInvalid, t)
	}
	if h.opt.Retention < 0 {
		return nil
	}
	next, err := h.src.Changes(ctx, t.done(), 1)
	if err != nil {
		return fmt.Errorf("notify: resume: %w", err)
	}
	if len(next) > 0 && next[0].Time.Before(h.opt.Now().Add(-h.opt.Retention)) {
		return fmt.Errorf("%w: resume token %q is older than the %s of changes the server replays; subscribe without since and read the current state again", ErrInvalid, t, h.opt.Retention)
	}
	return nil
}

// joinNow makes s live from the Hub's current position.
func (h *Hub) joinNow(ctx context.Context, s *Subscription) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.running {
		// The reader stopped with its last subscription: start from the feed's head.
		h.mu.Unlock()
		head, err := h.src.FeedHead(ctx)
		h.mu.Lock()
		if err != nil {
			return fmt.Errorf("notify: subscribe: %w", err)
		}
		if !h.running {
			h.last = max(h.last, head)
		}
	}
	s.pos = after(h.last)
	h.add(s)
	return nil
}

// joinAt makes s, which replayed the feed up to s.pos, live from there, unless the Hub has
// fanned out past s.pos already: then s must replay further, and joinAt reports false.
func (h *Hub) joinAt(s *Subscription) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case !h.running:
		h.last = s.pos.done()
	case h.last > s.pos.done():
		return false
	}
	// The Hub may be behind s: it skips what s has seen.
	s.skip = s.pos
	h.add(s)
	return true
}

// add registers s as live and starts the reader if it is not running. h.mu is held.
func (h *Hub) add(s *Subscription) {
	byType := h.live[s.crit.typ]
	if byType == nil {
		byType = map[*Subscription]struct{}{}
		h.live[s.crit.typ] = byType
	}
	byType[s] = struct{}{}
	h.count++
	s.isLive = true
	if !h.running {
		h.running = true
		go h.run()
	}
}

// remove unregisters s. h.mu is held.
func (h *Hub) remove(s *Subscription) {
	if !s.isLive {
		return
	}
	s.isLive = false
	delete(h.live[s.crit.typ], s)
	if len(h.live[s.crit.typ]) == 0 {
		delete(h.live, s.crit.typ)
	}
	h.count--
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// run reads the feed and fans it out until no live subscription is left.
func (h *Hub) run() {
	ctx := context.Background()
	wait := h.opt.Poll // doubles with each read that finds nothing, up to idlePolls×Poll
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		h.mu.Lock()
		if h.count == 0 {
			h.running = false
			h.mu.Unlock()
			return
		}
		from := h.last
		h.mu.Unlock()

		// Taken before reading: a commit that lands while the feed is read wakes the next wait.
		landed := h.src.Committed()
		changes, err := h.src.Changes(ctx, from, storage.MaxChanges)
		if err == nil && len(changes) > 0 {
			wait = h.opt.Poll
			if err = h.dispatch(ctx, changes); err == nil {
				continue
			}
		}
		if err != nil {
			h.log.Error("notify: reading the change feed; retrying", "after", from, "error", err)
		}
		timer.Reset(wait)
		select {
		case <-landed:
		case <-timer.C:
			wait = min(2*wait, idlePolls*h.opt.Poll)
		case <-h.kick:
		}
	}
}

// dispatch fans changes out, one commit at a time. A commit whose versions cannot be read is
// fanned out on the next attempt, whole: nothing of it has been delivered.
func (h *Hub) dispatch(ctx context.Context, changes []storage.Change) error {
	for i := range changes {
		if err := h.fanOut(ctx, &changes[i]); err != nil {
			return err
		}
	}
	return nil
}

// fanOut delivers commit c to every live subscription it concerns.
func (h *Hub) fanOut(ctx context.Context, c *storage.Change) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.Seq <= h.last { // a subscription moved the position while the feed was read
		return nil
	}
	// Read each write whose type someone subscribed to, before anything is delivered.
	entries := make([]*entry, len(c.Entries))
	for idx, w := range c.Entries {
		if len(h.live[w.Type]) == 0 {
			continue
		}
		e, err := load(ctx, h.src, c, idx)
		if err != nil {
			return err
		}
		entries[idx] = e
	}
	var subs []*Subscription
	for _, w := range c.Entries {
		for s := range h.live[w.Type] {
			if !slices.Contains(subs, s) {
				subs = append(subs, s)
			}
		}
	}
	for _, s := range subs {
		evs, err := s.crit.events(s.ctx, c.Seq, entries, s.skip)
		if err != nil {
			h.end(s, fmt.Errorf("notify: change %d: %w", c.Seq, err))
			continue
		}
		if !s.push(evs, h.opt.Buffer) {
			h.end(s, &Overflow{Resume: s.lastToken()})
		}
	}
	h.last = c.Seq
	return nil
}

// end ends live subscription s with err. h.mu is held.
func (h *Hub) end(s *Subscription, err error) {
	h.remove(s)
	s.finish(err)
}

// events returns the events of commit seq's writes for the subscription, skipping those at
// or before skip. entries holds the commit's writes, loaded where needed (nil elsewhere).
// The last event has the commit's token, earlier ones their write's.
func (c *criteria) events(ctx context.Context, seq int64, entries []*entry, skip Token) ([]*Event, error) {
	var out []*Event
	refreshed := false
	for idx, e := range entries {
		if e == nil || e.typ != c.typ || skip.covers(seq, idx) {
			continue
		}
		if !refreshed {
			if err := c.refresh(ctx); err != nil {
				return nil, err
			}
			refreshed = true
		}
		ev, err := c.evaluate(e)
		if err != nil {
			return nil, err
		}
		if ev != nil {
			ev.Token = Token{Seq: seq, Entry: idx}
			out = append(out, ev)
		}
	}
	if len(out) > 0 {
		out[len(out)-1].Token = after(seq)
	}
	return out, nil
}
