package fhirsub

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Catalog lists a deployment's datastores; *storage.Client is one (through a small adapter
// in package main, which opens each as a Store).
type Catalog interface {
	// Datastores lists every datastore's name.
	Datastores(ctx context.Context) ([]string, error)
	// Open returns datastore name's store and the reader of its changes, or ok false when
	// the datastore no longer exists.
	Open(ctx context.Context, name string) (store Store, changes Changes, ok bool, err error)
}

// DefaultRescan is how often a Fleet looks for datastores created or deleted by other
// processes; its own process tells it at once (Created, Deleting).
const DefaultRescan = 30 * time.Second

// Fleet delivers the FHIR Subscriptions of every datastore of a catalog: one Manager per
// datastore, each with its own lease, started for the datastores that exist and those created
// later, stopped for those deleted. It is safe for concurrent use.
type Fleet struct {
	catalog Catalog
	opt     Options
	rescan  time.Duration
	kick    chan struct{}

	mu      sync.Mutex
	running map[string]*fleetMember
	gone    map[string]bool // deleted through this process: not restarted until listed again
}

type fleetMember struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// NewFleet returns the Fleet of catalog; every Manager gets opt. rescan <= 0 is
// DefaultRescan.
func NewFleet(catalog Catalog, opt Options, rescan time.Duration) *Fleet {
	if rescan <= 0 {
		rescan = DefaultRescan
	}
	if opt.Holder == "" {
		opt.Holder = defaultHolder() // one name for the process, whatever the datastore
	}
	return &Fleet{catalog: catalog, opt: opt, rescan: rescan, kick: make(chan struct{}, 1), running: map[string]*fleetMember{}, gone: map[string]bool{}}
}

// Run keeps a Manager running for each datastore until ctx ends, then stops them all.
func (f *Fleet) Run(ctx context.Context) error {
	defer f.stopAll()
	t := time.NewTicker(f.rescan)
	defer t.Stop()
	for {
		f.sync(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-f.kick:
		}
	}
}

// Created tells the Fleet of a datastore created in this process: its Manager starts now
// rather than at the next rescan.
func (f *Fleet) Created(name string) {
	f.mu.Lock()
	delete(f.gone, name)
	f.mu.Unlock()
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// Deleting stops the Manager of datastore name and returns once it has stopped, so that
// nothing of it writes to the datastore (its lease, its cursors) while it is dropped.
func (f *Fleet) Deleting(name string) {
	f.mu.Lock()
	m := f.running[name]
	delete(f.running, name)
	f.gone[name] = true
	f.mu.Unlock()
	if m != nil {
		m.cancel()
		<-m.done
	}
}

// Running returns the names of the datastores whose Manager runs.
func (f *Fleet) Running() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := make([]string, 0, len(f.running))
	for n := range f.running {
		names = append(names, n)
	}
	return names
}

// sync starts Managers for the datastores listed and stops those of datastores no longer
// listed. A failure to list leaves everything as it is until the next try.
func (f *Fleet) sync(ctx context.Context) {
	names, err := f.catalog.Datastores(ctx)
	if err != nil {
		if ctx.Err() == nil {
			f.opt.logger().Warn("fhir subscriptions: list datastores", "error", err)
		}
		return
	}
	listed := map[string]bool{}
	for _, name := range names {
		listed[name] = true
		f.mu.Lock()
		_, runs := f.running[name]
		skip := f.gone[name]
		f.mu.Unlock()
		if runs || skip {
			continue
		}
		store, changes, ok, err := f.catalog.Open(ctx, name)
		if err != nil || !ok {
			if err != nil && ctx.Err() == nil {
				f.opt.logger().Warn("fhir subscriptions: open datastore", "datastore", name, "error", err)
			}
			continue
		}
		f.start(ctx, name, New(store, changes, f.opt))
	}
	f.mu.Lock()
	var stale []string
	for name := range f.running {
		if !listed[name] {
			stale = append(stale, name)
		}
	}
	for name := range f.gone {
		if !listed[name] {
			delete(f.gone, name) // dropped: a datastore of that name created later is new
		}
	}
	f.mu.Unlock()
	for _, name := range stale {
		f.Deleting(name)
		f.mu.Lock()
		delete(f.gone, name)
		f.mu.Unlock()
	}
}

func (f *Fleet) start(ctx context.Context, name string, m *Manager) {
	ctx, cancel := context.WithCancel(ctx)
	member := &fleetMember{cancel: cancel, done: make(chan struct{})}
	f.mu.Lock()
	if _, runs := f.running[name]; runs || f.gone[name] {
		f.mu.Unlock()
		cancel()
		return
	}
	f.running[name] = member
	f.mu.Unlock()
	go func() {
		defer close(member.done)
		_ = m.Run(ctx)
	}()
}

func (f *Fleet) stopAll() {
	f.mu.Lock()
	members := make([]*fleetMember, 0, len(f.running))
	for name, m := range f.running {
		members = append(members, m)
		delete(f.running, name)
	}
	f.mu.Unlock()
	for _, m := range members {
		m.cancel()
		<-m.done
	}
}

func (o Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.DiscardHandler)
}
