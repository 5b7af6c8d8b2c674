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

	mu      sync.Mutex
	fetched map[string]*fetch        // by prime and fetch, missing resources included
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

// fetch is one key's read by prime: done closes when res holds its outcome.
type fetch struct {
	done chan struct{}
	res  dataloader.Result[model.Resource]
}

// NewLoaders returns the loaders of one request over store.
func NewLoaders(store Store) *Loaders {
	batch := batchRead(store)
	return &Loaders{
		batch:   batch,
		fetched: map[string]*fetch{},
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

// loadResource reads the current version of typ/id: from what this request already fetched,
// else through the request's loader.
func (r *Resolver) loadResource(ctx context.Context, typ, id string) (model.Resource, error) {
	return loadersFor(ctx, r.Store).load(ctx, typ+"/"+id)
}

func (l *Loaders) load(ctx context.Context, key string) (model.Resource, error) {
	l.mu.Lock()
	f := l.fetched[key]
	l.mu.Unlock()
	if f == nil {
		return l.resources.Load(ctx, key)()
	}
	select {
	case <-f.done:
		return f.res.Data, f.res.Error
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// prime fetches the keys not fetched before in exactly one batch, whatever their number, and
// remembers the outcomes (a missing resource too, so it is not asked for again). It returns the
// resources found, nil where absent.
func (l *Loaders) prime(ctx context.Context, keys []string) []model.Resource {
	l.mu.Lock()
	var todo []string
	var mine []*fetch
	for _, k := range keys {
		if l.fetched[k] == nil {
			f := &fetch{done: make(chan struct{})}
			l.fetched[k] = f
			todo = append(todo, k)
			mine = append(mine, f)
		}
	}
	l.mu.Unlock()
	if len(todo) > 0 {
		for i, res := range l.batch(ctx, todo) {
			mine[i].res = *res
			close(mine[i].done)
		}
	}
	out := make([]model.Resource, len(keys))
	for i, k := range keys {
		out[i], _ = l.load(ctx, k)
	}
	return out
}

// fetchOne reads one key at once, bypassing the loader's wait, and remembers the outcome.
func (l *Loaders) fetchOne(ctx context.Context, key string) (model.Resource, error) {
	l.prime(ctx, []string{key})
	return l.load(ctx, key)
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
