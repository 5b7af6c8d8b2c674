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
	// cache is the loader's own cache, held here so that prime can tell what the loader
	// already holds and can store a missing resource's error as well as a resource.
	cache *dataloader.InMemoryCache[string, model.Resource]
	batch dataloader.BatchFunc[string, model.Resource]

	mu      sync.Mutex
	reverse map[string]reverseResult // by reverse-reference arguments and parent
}

// reverseCached returns the reverse references prefetched for parent.
func (l *Loaders) reverseCached(key, parent string) (reverseResult, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	res, ok := l.reverse[key+"\x00"+parent]
	return res, ok
}

func (l *Loaders) storeReverse(key string, results map[string]reverseResult) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.reverse == nil {
		l.reverse = map[string]reverseResult{}
	}
	for parent, res := range results {
		l.reverse[key+"\x00"+parent] = res
	}
}

// NewLoaders returns the loaders of one request over store.
func NewLoaders(store Store) *Loaders {
	batch := batchRead(store)
	cache := dataloader.NewCache[string, model.Resource]()
	return &Loaders{
		batch: batch,
		cache: cache,
		resources: dataloader.NewBatchedLoader(batch,
			dataloader.WithCache[string, model.Resource](cache),
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

// loadResource reads the current version of typ/id through the request's loader: from its
// cache when this request already read or primed it.
func (r *Resolver) loadResource(ctx context.Context, typ, id string) (model.Resource, error) {
	return loadersFor(ctx, r.Store).resources.Load(ctx, typ+"/"+id)()
}

// prime reads the keys that the loader does not hold yet in exactly one batch, whatever their
// number, and puts the outcomes in the loader's cache (a missing resource's error too, so it is
// not asked for again). It returns the resources, nil where absent.
func (l *Loaders) prime(ctx context.Context, keys []string) []model.Resource {
	var todo []string
	queued := map[string]bool{}
	for _, k := range keys {
		if _, ok := l.cache.Get(ctx, k); !ok && !queued[k] {
			queued[k] = true
			todo = append(todo, k)
		}
	}
	if len(todo) > 0 {
		for i, res := range l.batch(ctx, todo) {
			if res.Error != nil {
				err := res.Error
				l.cache.Set(ctx, todo[i], func() (model.Resource, error) { return nil, err })
				continue
			}
			l.resources.Prime(ctx, todo[i], res.Data)
		}
	}
	out := make([]model.Resource, len(keys))
	for i, k := range keys {
		out[i], _ = l.resources.Load(ctx, k)()
	}
	return out
}

// fetchOne reads one key at once, bypassing the loader's wait, and leaves the outcome in the
// loader's cache.
func (l *Loaders) fetchOne(ctx context.Context, key string) (model.Resource, error) {
	l.prime(ctx, []string{key})
	return l.resources.Load(ctx, key)()
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
