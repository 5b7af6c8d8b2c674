package api

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/fhirgate/fhirgate/resolvers"
	"github.com/fhirgate/fhirgate/storage"
)

// Catalog is the deployment's datastores, as storage.Client keeps them: each its own
// database, served under /ds/{name}/.
type Catalog interface {
	// Datastore opens the datastore name, creating it when absent.
	Datastore(ctx context.Context, name string) (*storage.Store, error)
	// HasDatastore reports whether name exists, without creating it.
	HasDatastore(ctx context.Context, name string) (bool, error)
	// Datastores lists every datastore's name, sorted.
	Datastores(ctx context.Context) ([]string, error)
	// DropDatastore deletes a datastore and everything in it.
	DropDatastore(ctx context.Context, name string) error
}

var _ Catalog = (*storage.Client)(nil)

// datastoreNameRE is the grammar of the names clients give datastores: short, lower case,
// fit for a URL path segment. (Storage accepts a wider set for its own tests.)
var datastoreNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// datastoreKey carries the name of the datastore a request addresses.
type datastoreKey struct{}

// datastoreFrom returns the datastore a request addresses, and the path prefix it came
// under ("" for the default datastore).
func datastoreFrom(ctx context.Context) (name, prefix string) {
	if n, ok := ctx.Value(datastoreKey{}).(string); ok {
		return n, "/ds/" + n
	}
	return storage.DefaultDatastore, ""
}

// datastoreRouter serves /ds/{name}/... with a server of its own for each datastore, built
// on first use with the same configuration over that datastore's store, and everything
// else with the default datastore's server. Per-datastore servers share the principals'
// rate limits.
type datastoreRouter struct {
	cfg     Config
	catalog Catalog
	def     http.Handler

	mu      sync.Mutex
	servers map[string]http.Handler
}

func (d *datastoreRouter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/ds/")
	if !ok {
		d.def.ServeHTTP(w, r)
		return
	}
	name, sub, _ := strings.Cut(rest, "/")
	if !datastoreNameRE.MatchString(name) && name != storage.DefaultDatastore {
		writeOutcome(w, http.StatusNotFound, "not-found", "no datastore of that name")
		return
	}
	h, err := d.server(r.Context(), name)
	if err != nil {
		d.cfg.Logger.ErrorContext(r.Context(), "open datastore", "datastore", name, "error", err)
		writeOutcome(w, http.StatusInternalServerError, "exception", "internal server error")
		return
	}
	if h == nil {
		writeOutcome(w, http.StatusNotFound, "not-found", "no datastore of that name")
		return
	}
	r2 := r.Clone(context.WithValue(r.Context(), datastoreKey{}, name))
	r2.URL.Path = "/" + sub
	r2.URL.RawPath = ""
	h.ServeHTTP(w, r2)
}

// server returns the server of datastore name, nil when no such datastore exists.
func (d *datastoreRouter) server(ctx context.Context, name string) (http.Handler, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if h := d.servers[name]; h != nil {
		return h, nil
	}
	ok, err := d.catalog.HasDatastore(ctx, name)
	if err != nil || !ok {
		return nil, err
	}
	s, err := d.catalog.Datastore(ctx, name)
	if err != nil {
		return nil, err
	}
	cfg := d.cfg
	cfg.Store, cfg.prefix = s, "/ds/"+name
	// The datastore's own feed, not the default one's, read once in the process.
	cfg.Subscriptions.Changes = nil
	if hubs := cfg.Subscriptions.Hubs; hubs != nil {
		cfg.Subscriptions.Changes = hubs.Of(name, s)
	}
	// The default datastore's server reports the metrics and warms introspection.
	cfg.Metrics, cfg.WarmIntrospection = nil, false
	h := newServer(cfg)
	d.servers[name] = h
	return h, nil
}

// forget drops the server of a deleted datastore.
func (d *datastoreRouter) forget(name string) {
	d.mu.Lock()
	delete(d.servers, name)
	d.mu.Unlock()
}

// datastoreAdmin implements resolvers.Datastores over the catalog, keeping the router's
// servers in step with what is deleted.
type datastoreAdmin struct {
	catalog Catalog
	router  *datastoreRouter
}

// List implements resolvers.Datastores.
func (a datastoreAdmin) List(ctx context.Context) ([]string, error) { return a.catalog.Datastores(ctx) }

// Create implements resolvers.Datastores.
func (a datastoreAdmin) Create(ctx context.Context, name string) error {
	if !datastoreNameRE.MatchString(name) {
		return fmt.Errorf("%w: a datastore name is 1 to 32 lower-case letters, digits and hyphens, starting with a letter", resolvers.ErrBadRequest)
	}
	ok, err := a.catalog.HasDatastore(ctx, name)
	if err != nil {
		return err
	}
	if ok {
		return fmt.Errorf("datastore %q: %w", name, storage.ErrExists)
	}
	if _, err = a.catalog.Datastore(ctx, name); err != nil {
		return err
	}
	if w := a.router.cfg.Subscriptions.Watcher; w != nil {
		w.Created(name)
	}
	return nil
}

// Delete implements resolvers.Datastores.
func (a datastoreAdmin) Delete(ctx context.Context, name string) error {
	sc := a.router.cfg.Subscriptions
	if sc.Watcher != nil {
		sc.Watcher.Deleting(name) // nothing of its deliveries writes to it while it goes
	}
	if err := a.catalog.DropDatastore(ctx, name); err != nil {
		if sc.Watcher != nil {
			sc.Watcher.Created(name) // it is still there
		}
		return err
	}
	a.router.forget(name)
	if sc.Hubs != nil {
		sc.Hubs.Forget(name)
	}
	return nil
}
