package resolvers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
)

// ReadLimits bound the storage work of one request: what it may read, so that its memory is
// bounded, and how many storage calls it may run at once, so that it cannot take every
// connection of the pool. The cost estimate refuses most heavy queries before they run;
// these limits hold for the rest, whatever the estimate missed (filters that read every
// candidate, reverse references that read all referrers to page them, chained searches).
type ReadLimits struct {
	// MaxRows is the most stored resources one request may read, sub-search matches
	// included. A request that would read more fails with ErrTooMany. Zero: no bound.
	MaxRows int
	// MaxBytes is the most bytes of stored resources (their JSON, and their stored documents
	// where a search keeps them) one request may read; the call that crosses it fails with
	// ErrTooMany. Zero: no bound.
	MaxBytes int64
	// Concurrency is the most storage calls one request may have in flight. On the embedded
	// engine, which decodes and matches documents in this process, more calls at once make
	// every call slower (measured on 2 cores: one request's thousand reverse-reference searches
	// ran about 600 calls in 4 s two at a time and under 150 eight at a time, while another
	// user's reads by id went from 0.4 ms to over 100 ms at the median). Zero: no bound.
	Concurrency int
	// SharedConcurrency is the most storage calls all requests together may have in flight.
	// Keep it below the driver's connection pool (maxPoolSize, 100 by default) so that writes,
	// the audit trail and health checks always find a connection. A freed place goes to the
	// waiting request that holds the fewest, so that a request of one call never waits behind
	// another's many. Zero: no bound.
	SharedConcurrency int
}

type readBudgetKey struct{}

// readBudget is one request's account of what it has read and its storage calls in flight.
type readBudget struct {
	limits ReadLimits
	slots  chan struct{} // nil: unbounded

	mu    sync.Mutex
	rows  int
	bytes int64
	held  int // shared places held, guarded by the shared places' lock
}

// WithReadLimits returns a context whose storage calls, made through a store from
// NewMeteredStore, are held to limits. Every call made with the context or one derived from
// it shares one account: call it once per request.
func WithReadLimits(ctx context.Context, limits ReadLimits) context.Context {
	b := &readBudget{limits: limits}
	if limits.Concurrency > 0 {
		b.slots = make(chan struct{}, limits.Concurrency)
	}
	return context.WithValue(ctx, readBudgetKey{}, b)
}

func budgetFrom(ctx context.Context) *readBudget {
	b, _ := ctx.Value(readBudgetKey{}).(*readBudget)
	return b
}

// remaining returns how many more rows the request may read, or -1 when unbounded.
func (b *readBudget) remaining() int {
	if b == nil || b.limits.MaxRows <= 0 {
		return -1
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return max(b.limits.MaxRows-b.rows, 0)
}

// charge records rows and bytes read, failing when they exceed the request's limits.
func (b *readBudget) charge(rows int, bytes int64) error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rows += rows
	b.bytes += bytes
	if b.limits.MaxRows > 0 && b.rows > b.limits.MaxRows {
		return b.tooMany()
	}
	if b.limits.MaxBytes > 0 && b.bytes > b.limits.MaxBytes {
		size := fmt.Sprintf("%d bytes", b.limits.MaxBytes)
		if b.limits.MaxBytes >= 1<<20 {
			size = fmt.Sprintf("%d MB", b.limits.MaxBytes>>20)
		}
		return fmt.Errorf("%w: this request would read more than %s of resources from storage; select fewer resources or page through them", ErrTooMany, size)
	}
	return nil
}

// reserve takes n rows from the request's budget before they are read, or fails and takes
// nothing when fewer remain: calls in flight together cannot each pass a check that their sum
// fails. refund gives back what was reserved and not read.
func (b *readBudget) reserve(n int) error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.limits.MaxRows > 0 && b.rows+n > b.limits.MaxRows {
		return b.tooMany()
	}
	b.rows += n
	return nil
}

func (b *readBudget) refund(n int) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rows -= n
}

func (b *readBudget) tooMany() error {
	return fmt.Errorf("%w: this request would read more than %d resources from storage; select fewer resources or page through them", ErrTooMany, b.limits.MaxRows)
}

// meteredStore holds every call made for a request to the request's ReadLimits and to the
// limit on calls in flight shared by all requests.
type meteredStore struct {
	Store
	shared *fairSlots // nil: unbounded
}

var _ Store = (*meteredStore)(nil)

// NewMeteredStore returns store with every call held to the ReadLimits of its context (see
// WithReadLimits), and to at most limits.SharedConcurrency calls in flight across all contexts.
// Calls with a context that carries no ReadLimits are held to the shared limit only.
func NewMeteredStore(store Store, limits ReadLimits) Store {
	m := &meteredStore{Store: store}
	if limits.SharedConcurrency > 0 {
		m.shared = &fairSlots{free: limits.SharedConcurrency}
	}
	return m
}

// enter waits for a place for one storage call: first among the request's own, then among the
// shared ones, so that a request waiting behind its own calls holds no shared place. It gives
// up when ctx ends, before any command is sent.
func (m *meteredStore) enter(ctx context.Context) (*readBudget, func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	b := budgetFrom(ctx)
	account := b
	var own chan struct{}
	if b != nil {
		own = b.slots
	} else {
		account = &readBudget{} // a call outside any request: an account of its own
	}
	if err := acquire(ctx, own); err != nil {
		return nil, nil, err
	}
	if err := m.shared.acquire(ctx, account); err != nil {
		release(own)
		return nil, nil, err
	}
	return b, func() { m.shared.release(account); release(own) }, nil
}

func acquire(ctx context.Context, slots chan struct{}) error {
	if slots == nil {
		return nil
	}
	select {
	case slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func release(slots chan struct{}) {
	if slots != nil {
		<-slots
	}
}

// fairSlots are places shared by all requests. A freed place goes to the waiting call whose
// request holds the fewest places, the earliest among equals.
type fairSlots struct {
	mu      sync.Mutex
	free    int
	waiting []*slotWaiter
}

type slotWaiter struct {
	account *readBudget
	ready   chan struct{} // closed when the place is granted
}

func (f *fairSlots) acquire(ctx context.Context, account *readBudget) error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	if f.free > 0 && len(f.waiting) == 0 {
		f.free--
		account.held++
		f.mu.Unlock()
		return nil
	}
	w := &slotWaiter{account: account, ready: make(chan struct{})}
	f.waiting = append(f.waiting, w)
	f.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		f.mu.Lock()
		defer f.mu.Unlock()
		if i := slices.Index(f.waiting, w); i >= 0 {
			f.waiting = slices.Delete(f.waiting, i, i+1)
			return ctx.Err()
		}
		// Granted as the context ended: hand the place on.
		f.releaseLocked(account)
		return ctx.Err()
	}
}

func (f *fairSlots) release(account *readBudget) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.releaseLocked(account)
}

func (f *fairSlots) releaseLocked(account *readBudget) {
	account.held--
	if len(f.waiting) == 0 {
		f.free++
		return
	}
	next := 0
	for i, w := range f.waiting {
		if w.account.held < f.waiting[next].account.held {
			next = i
		}
	}
	w := f.waiting[next]
	f.waiting = slices.Delete(f.waiting, next, next+1)
	w.account.held++
	close(w.ready)
}

func recordBytes(recs ...*storage.Record) int64 {
	var n int64
	for _, r := range recs {
		if r != nil {
			n += int64(len(r.JSON) + len(r.Doc))
		}
	}
	return n
}

// Read implements Store.
func (m *meteredStore) Read(ctx context.Context, typ, id string) (*storage.Record, error) {
	b, done, err := m.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	rec, err := m.Store.Read(ctx, typ, id)
	if err != nil {
		return nil, err
	}
	if err := b.charge(1, recordBytes(rec)); err != nil {
		return nil, err
	}
	return rec, nil
}

// ReadMany implements Store. Asking for more ids than the request may still read fails
// before anything is read; the ids are reserved before the call, so that batches in flight
// together are held to the budget together.
func (m *meteredStore) ReadMany(ctx context.Context, typ string, ids []string) (map[string]*storage.Record, error) {
	b, done, err := m.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	if err := b.reserve(len(ids)); err != nil {
		return nil, err
	}
	recs, err := m.Store.ReadMany(ctx, typ, ids)
	if err != nil {
		b.refund(len(ids))
		return nil, err
	}
	b.refund(len(ids) - len(recs))
	var n int64
	for _, r := range recs {
		n += recordBytes(r)
	}
	if err := b.charge(0, n); err != nil {
		return nil, err
	}
	return recs, nil
}

// ReadVersion implements Store.
func (m *meteredStore) ReadVersion(ctx context.Context, typ, id string, version int64) (*storage.Record, error) {
	b, done, err := m.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	rec, err := m.Store.ReadVersion(ctx, typ, id, version)
	if err != nil {
		return nil, err
	}
	if err := b.charge(1, recordBytes(rec)); err != nil {
		return nil, err
	}
	return rec, nil
}

// History implements Store; every version counts as a row read.
func (m *meteredStore) History(ctx context.Context, typ, id string) ([]*storage.Record, error) {
	b, done, err := m.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	recs, err := m.Store.History(ctx, typ, id)
	if err != nil {
		return nil, err
	}
	if err := b.charge(len(recs), recordBytes(recs...)); err != nil {
		return nil, err
	}
	return recs, nil
}

// Commit implements Store; writes count against concurrency only.
func (m *meteredStore) Commit(ctx context.Context, writes []storage.Write) ([]*storage.Record, error) {
	_, done, err := m.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	return m.Store.Commit(ctx, writes)
}

// Search implements Store. Searches ask for one row more than they keep, to learn whether
// there are more: that row is not charged when it comes. A search that may need more rows than
// the request can still read is held to one row more than that, so that it fails without
// holding its whole result.
func (m *meteredStore) Search(ctx context.Context, typ string, q storage.Query) ([]*storage.Record, error) {
	b, done, err := m.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	asked := q.Limit
	left := int64(b.remaining())
	capped := left >= 0 && (asked == 0 || asked-1 > left)
	if capped {
		q.Limit = left + 1
	}
	recs, err := m.Store.Search(ctx, typ, q)
	if err != nil {
		return nil, err
	}
	rows := len(recs)
	switch {
	case capped && int64(rows) > left:
		return nil, b.tooMany()
	case !capped && asked > 0 && int64(rows) == asked:
		rows-- // the row that only tells that there are more
	}
	if err := b.charge(rows, recordBytes(recs...)); err != nil {
		return nil, err
	}
	return recs, nil
}

// Count implements Store; a count reads no resources.
func (m *meteredStore) Count(ctx context.Context, typ string, q storage.Query) (int64, error) {
	_, done, err := m.enter(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	return m.Store.Count(ctx, typ, q)
}

// Select implements Store. It selects at most as many matches as the request may still read.
func (m *meteredStore) Select(ctx context.Context, typ string, sel storage.Selection) ([]*storage.Record, error) {
	b, done, err := m.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	capped := false
	if left := b.remaining(); left >= 0 && sel.Limit > left {
		sel.Limit, capped = left, true
	}
	recs, err := m.Store.Select(ctx, typ, sel)
	if capped && errors.Is(err, storage.ErrTooMany) {
		return nil, b.tooMany()
	}
	if err != nil {
		return nil, err
	}
	var n int64
	for _, r := range recs {
		n += int64(len(r.Doc))
	}
	if err := b.charge(len(recs), n); err != nil {
		return nil, err
	}
	return recs, nil
}

// Each implements Store, as storage.Store.Each does, charging each resource to the request as
// it comes, in one place among the request's storage calls and the shared ones for the whole
// stream.
func (m *meteredStore) Each(ctx context.Context, typ string, filter search.Filter, since time.Time, each func(*storage.Record) error) error {
	b, done, err := m.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	return m.Store.Each(ctx, typ, filter, since, func(rec *storage.Record) error {
		if err := b.charge(1, recordBytes(rec)); err != nil {
			return err
		}
		return each(rec)
	})
}
