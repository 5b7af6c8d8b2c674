package notify

import "sync"

// Hubs keeps one Hub per datastore of a process, made on first use, so that the GraphQL
// subscriptions and the FHIR Subscriptions of a datastore share one reader of its feed. It
// is safe for concurrent use.
type Hubs struct {
	opt Options

	mu     sync.Mutex
	byName map[string]*Hub
}

// NewHubs returns an empty set of Hubs, each to be made with opt.
func NewHubs(opt Options) *Hubs {
	return &Hubs{opt: opt, byName: map[string]*Hub{}}
}

// Of returns the Hub of datastore name, making it over src on first use.
func (h *Hubs) Of(name string, src Source) *Hub {
	h.mu.Lock()
	defer h.mu.Unlock()
	hub := h.byName[name]
	if hub == nil {
		hub = NewHub(src, h.opt)
		h.byName[name] = hub
	}
	return hub
}

// Forget drops the Hub of a deleted datastore: one of the same name made later is another.
func (h *Hubs) Forget(name string) {
	h.mu.Lock()
	delete(h.byName, name)
	h.mu.Unlock()
}
