package resolvers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/graph-gophers/dataloader/v7"

	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/storage"
)

// loaderWait is how long a loader collects keys before it fetches them. Lists do not depend on
// it: prefetch loads each level of a list's references in one batch. It batches what remains,
// such as sibling root fields, and is short because a single read pays it in full.
const loaderWait = 250 * time.Microsecond

type loadersKey struct{}

// Loaders batch the reads of one request. They are built per request: a loader shared between
// requests would serve one caller's reads to another.
type Loaders struct {
	resources *dataloader.Loader[string, model.Resource]
	batch     dataloader.BatchFunc[string, model.Resource]
	primed    sync.Map // keys already fetched by prime
}

// NewLoaders returns the loaders of one request over store.
func NewLoaders(store Store) *Loaders {
	batch := batchRead(store)
	return &Loaders{
		batch: batch,
		resources: dataloader.NewBatchedLoader(batch,
			dataloader.WithWait[string, model.Resource](loaderWait),
			dataloader.WithBatchCapacity[string, model.Resource](5000)),
	}
}

// WithLoaders returns a context carrying fresh loaders for one request.
func WithLoaders(ctx context.Context, store Store) context.Context {
	return context.WithValue(ctx, loadersKey{}, NewLoaders(store))
}

func loadersFor(ctx context.Context, store Store) *Loaders {
	if l, ok := ctx.Value(loadersKey{}).(*Loaders); ok {
		return l
	}
	return NewLoaders(store) // a resolver called outside an HTTP request still works, unbatched across calls
}

// loadResource reads the current version of typ/id through the request's loader.
func (r *Resolver) loadResource(ctx context.Context, typ, id string) (model.Resource, error) {
	return loadersFor(ctx, r.Store).resources.Load(ctx, typ+"/"+id)()
}

// prime fetches the keys not fetched before in exactly one batch, whatever their number, and
// puts the results in the loader's cache. It returns the resources found, nil where absent.
func (l *Loaders) prime(ctx context.Context, keys []string) []model.Resource {
	var todo []string
	for _, k := range keys {
		if _, done := l.primed.LoadOrStore(k, true); !done {
			todo = append(todo, k)
		}
	}
	if len(todo) > 0 {
		for i, res := range l.batch(ctx, todo) {
			if res.Error == nil {
				l.resources.Prime(ctx, todo[i], res.Data)
			}
		}
	}
	out := make([]model.Resource, len(keys))
	for i, k := range keys {
		// Served from the cache: a primed key, or one an earlier Load fetched.
		if res, err := l.resources.Load(ctx, k)(); err == nil {
			out[i] = res
		}
	}
	return out
}

// fetch reads one key at once, bypassing the loader's wait, and caches the result.
func (l *Loaders) fetch(ctx context.Context, key string) (model.Resource, error) {
	if _, done := l.primed.LoadOrStore(key, true); done {
		return l.resources.Load(ctx, key)()
	}
	res := l.batch(ctx, []string{key})[0]
	if res.Error == nil {
		l.resources.Prime(ctx, key, res.Data)
	}
	return res.Data, res.Error
}

// batchRead reads all keys ("Type/id") with one storage call per resource type, the calls for
// different types running concurrently. Results come back in key order, one per key.
func batchRead(store Store) dataloader.BatchFunc[string, model.Resource] {
	return func(ctx context.Context, keys []string) []*dataloader.Result[model.Resource] {
		results := make([]*dataloader.Result[model.Resource], len(keys))
		byType := map[string][]string{}
		for _, k := range keys {
			typ, id, _ := strings.Cut(k, "/")
			byType[typ] = append(byType[typ], id)
		}
		var (
			mu      sync.Mutex
			wg      sync.WaitGroup
			found   = map[string]*storage.Record{}
			typeErr = map[string]error{}
		)
		for typ, ids := range byType {
			wg.Add(1)
			go func() {
				defer wg.Done()
				recs, err := store.ReadMany(ctx, typ, ids)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					typeErr[typ] = err
					return
				}
				for id, rec := range recs {
					found[typ+"/"+id] = rec
				}
			}()
		}
		wg.Wait()
		for i, k := range keys {
			typ, id, _ := strings.Cut(k, "/")
			if err := typeErr[typ]; err != nil {
				results[i] = &dataloader.Result[model.Resource]{Error: err}
				continue
			}
			rec := found[k]
			if rec == nil {
				results[i] = &dataloader.Result[model.Resource]{Error: fmt.Errorf("%s/%s: %w", typ, id, storage.ErrNotFound)}
				continue
			}
			res, err := decode(rec)
			results[i] = &dataloader.Result[model.Resource]{Data: res, Error: err}
		}
		return results
	}
}

// decode turns a stored record into its model resource.
func decode(rec *storage.Record) (model.Resource, error) {
	if rec.Deleted {
		return nil, fmt.Errorf("%s/%s: %w", rec.Type, rec.ID, storage.ErrDeleted)
	}
	res, err := model.Unmarshal(rec.JSON)
	if err != nil {
		return nil, fmt.Errorf("stored %s/%s version %d: %w", rec.Type, rec.ID, rec.VersionID, err)
	}
	return res, nil
}
