package storage

import (
	"context"
	"fmt"
	"math"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"

	"github.com/fhirgate/fhirgate/model"
)

// lookupWorkers bounds the concurrent point lookups of one call on the embedded engine.
const lookupWorkers = 8

// Read returns the current version of resource typ/id.
//
// It returns an error wrapping ErrNotFound when the resource never existed, and one
// wrapping ErrDeleted when its current version is a delete; in that case the
// tombstone record (Deleted set, no JSON) is returned along with the error.
func (s *Store) Read(ctx context.Context, typ, id string) (*Record, error) {
	tc, err := s.colls(ctx, typ)
	if err != nil {
		return nil, err
	}

	sf, ok := scopeFilter(ctx, typ)
	if !ok || !model.ValidID(id) {
		return nil, fmt.Errorf("storage: read %s/%q: %w", typ, id, ErrNotFound)
	}

	raw, found, err := s.readOne(ctx, tc, id, sf != nil)
	if err != nil {
		return nil, fmt.Errorf("storage: read %s/%s: %w", typ, id, err)
	}

	// Out of scope reads as never existed, tombstones included: a scoped caller learns
	// nothing about what lies outside.
	if found {
		found, err = inScope(raw, sf)
		if err != nil {
			return nil, fmt.Errorf("storage: read %s/%s: %w", typ, id, err)
		}
	}

	if !found {
		return nil, fmt.Errorf("storage: read %s/%s: %w", typ, id, ErrNotFound)
	}

	var d versionDoc
	if err := bson.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("storage: read %s/%s: %w", typ, id, err)
	}

	rec := d.record(typ)
	if d.Del {
		return rec, fmt.Errorf("storage: read %s/%s: version %d: %w", typ, id, d.V, ErrDeleted)
	}
	logAccess(ctx, rec)

	return rec, nil
}

// readOne reads the current document of id, tombstone included, with its search fields
// when withIndex is set: on the embedded engine from SQLite directly (sqlread.go).
func (s *Store) readOne(ctx context.Context, tc *typeColls, id string, withIndex bool) (bson.Raw, bool, error) {
	if raws, ok, err := s.c.be.readCurrent(ctx, s, tc, []string{id}, withIndex); ok || err != nil {
		if err != nil || raws[0] == nil {
			return nil, false, err
		}
		return *raws[0], true, nil
	}
	var raw bson.Raw
	found, err := findByID(ctx, tc.cur, id, &raw)
	return raw, found, err
}

// ReadMany returns the current versions of the resources of type typ with the given
// ids, keyed by id. Ids that do not exist, are deleted or are malformed are simply
// absent from the map; duplicates are looked up once.
//
// On MongoDB it costs one round trip (a find with $in, in one batch up to the
// server's 16 MB reply limit). On the embedded engine, where $in scans the whole
// collection, it reads SQLite directly: one statement per 4,096 ids, served by the _id
// index (sqlread.go).
func (s *Store) ReadMany(ctx context.Context, typ string, ids []string) (map[string]*Record, error) {
	tc, err := s.colls(ctx, typ)
	if err != nil {
		return nil, err
	}

	sf, ok := scopeFilter(ctx, typ)
	if !ok {
		return map[string]*Record{}, nil
	}

	docs, err := s.fetchCurrent(ctx, tc, validIDs(ids), sf)
	if err != nil {
		return nil, fmt.Errorf("storage: read many %s (%d ids): %w", typ, len(ids), err)
	}

	out := make(map[string]*Record, len(docs))
	for id, d := range docs {
		if !d.Del {
			out[id] = d.record(typ)
			logAccess(ctx, out[id])
		}
	}

	return out, nil
}

// validIDs returns the distinct well-formed ids, in their first order.
func validIDs(ids []string) []string {
	out := make([]string, 0, len(ids))
	seen := make(map[string]bool, len(ids))

	for _, id := range ids {
		if !seen[id] && model.ValidID(id) {
			seen[id] = true
			out = append(out, id)
		}
	}

	return out
}

// fetchCurrent returns the current documents, tombstones included, of ids by id; with a
// scope filter sf, only those that meet it.
func (s *Store) fetchCurrent(ctx context.Context, tc *typeColls, ids []string, sf bson.D) (map[string]*versionDoc, error) {
	out := make(map[string]*versionDoc, len(ids))

	if len(ids) == 0 {
		return out, nil
	}

	if raws, ok, err := s.c.be.readCurrent(ctx, s, tc, ids, sf != nil); ok || err != nil {
		if err != nil {
			return nil, err
		}

		return collect(out, raws, sf)
	}

	// Ids are distinct, so at most len(ids) documents match. With that as the limit
	// and a batch one larger, the server closes the cursor with the first batch
	// (FerretDB only does when the batch is not full), and no getMore follows.
	n := min(len(ids), math.MaxInt32-1)
	opts := options.Find().SetLimit(int64(n)).SetBatchSize(int32(n + 1))

	cur, err := tc.cur.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}, opts)
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", tc.cur.Name(), err)
	}

	var raws []*bson.Raw
	if err := cur.All(ctx, &raws); err != nil {
		return nil, fmt.Errorf("find %s: %w", tc.cur.Name(), err)
	}

	return collect(out, raws, sf)
}

// collect decodes the documents raws (nil where absent) that meet the scope filter sf into out.
func collect(out map[string]*versionDoc, raws []*bson.Raw, sf bson.D) (map[string]*versionDoc, error) {
	for _, raw := range raws {
		if raw == nil {
			continue
		}
		if in, err := inScope(*raw, sf); err != nil || !in {
			if err != nil {
				return nil, err
			}
			continue
		}
		var d versionDoc
		if err := bson.Unmarshal(*raw, &d); err != nil {
			return nil, err
		}
		out[d.Key] = &d
	}

	return out, nil
}

// readCurrent: on the embedded engine, whose $in scans the whole collection, from SQLite
// directly, one statement per 4,096 ids served by the _id index (sqlread.go).
func (embeddedBackend) readCurrent(ctx context.Context, s *Store, tc *typeColls, ids []string, withIndex bool) ([]*bson.Raw, bool, error) {
	raws, err := s.sqlReadIDs(ctx, tc, ids, withIndex)
	return raws, true, err
}

// readCurrent: never on MongoDB, whose $in and finds by _id are served by the _id index.
func (mongoBackend) readCurrent(context.Context, *Store, *typeColls, []string, bool) ([]*bson.Raw, bool, error) {
	return nil, false, nil
}

// lookupAll reads the documents with the given _id keys one by one, with bounded
// concurrency, each an {_id: key} find that the embedded engine serves from an index.
// The result is in key order, nil where a key does not exist.
func lookupAll[T any](ctx context.Context, coll *mongo.Collection, keys []string) ([]*T, error) {
	out := make([]*T, len(keys))

	if len(keys) == 1 {
		var d T

		found, err := findByID(ctx, coll, keys[0], &d)
		if found {
			out[0] = &d
		}

		return out, err
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(lookupWorkers)

	for i, key := range keys {
		if gctx.Err() != nil {
			break // a lookup failed or the caller went away: start no more
		}
		g.Go(func() error {
			var d T

			found, err := findByID(gctx, coll, key, &d)
			if found {
				out[i] = &d
			}

			return err
		})
	}

	if err := g.Wait(); err != nil {
		return nil, err
	}

	return out, nil
}

// ReadVersion returns version v of resource typ/id.
//
// It returns an error wrapping ErrNotFound when that version was never committed, and
// one wrapping ErrDeleted, along with the tombstone record, when it is a delete.
func (s *Store) ReadVersion(ctx context.Context, typ, id string, v int64) (*Record, error) {
	tc, err := s.colls(ctx, typ)
	if err != nil {
		return nil, err
	}

	if !model.ValidID(id) || v < 1 {
		return nil, fmt.Errorf("storage: read %s/%q version %d: %w", typ, id, v, ErrNotFound)
	}

	var cur, d versionDoc

	found, err := findByID(ctx, tc.cur, id, &cur)
	if err != nil {
		return nil, fmt.Errorf("storage: read %s/%s version %d: %w", typ, id, v, err)
	}

	// Versions above the current one are claims of commits in flight (or committed
	// and not yet applied): not readable yet, as in Read and History.
	if !found || v > cur.V {
		return nil, fmt.Errorf("storage: read %s/%s version %d: %w", typ, id, v, ErrNotFound)
	}

	if v == cur.V {
		d = cur
	} else if found, err = findByID(ctx, tc.hist, historyKey(id, v), &d); err != nil {
		return nil, fmt.Errorf("storage: read %s/%s version %d: %w", typ, id, v, err)
	} else if !found {
		return nil, fmt.Errorf("storage: read %s/%s version %d: %w", typ, id, v, ErrNotFound)
	}

	if sf, ok := scopeFilter(ctx, typ); !ok {
		return nil, fmt.Errorf("storage: read %s/%s version %d: %w", typ, id, v, ErrNotFound)
	} else if in, err := s.versionInScope(typ, &d, sf); err != nil || !in {
		if err != nil {
			return nil, fmt.Errorf("storage: read %s/%s version %d: %w", typ, id, v, err)
		}
		return nil, fmt.Errorf("storage: read %s/%s version %d: %w", typ, id, v, ErrNotFound)
	}

	rec := d.record(typ)
	if d.Del {
		return rec, fmt.Errorf("storage: read %s/%s version %d: %w", typ, id, v, ErrDeleted)
	}
	logAccess(ctx, rec)

	return rec, nil
}

// History returns every version of resource typ/id, newest first, tombstones
// included. It is consistent with Read: the newest version is the current one. It
// returns an error wrapping ErrNotFound when the resource never existed.
func (s *Store) History(ctx context.Context, typ, id string) ([]*Record, error) {
	tc, err := s.colls(ctx, typ)
	if err != nil {
		return nil, err
	}

	if !model.ValidID(id) {
		return nil, fmt.Errorf("storage: history %s/%q: %w", typ, id, ErrNotFound)
	}

	var cur versionDoc

	found, err := findByID(ctx, tc.cur, id, &cur)
	if err != nil {
		return nil, fmt.Errorf("storage: history %s/%s: %w", typ, id, err)
	}

	if !found {
		return nil, fmt.Errorf("storage: history %s/%s: %w", typ, id, ErrNotFound)
	}

	docs, err := s.c.be.historyDocs(ctx, s, tc, id, cur.V)
	if err != nil {
		return nil, fmt.Errorf("storage: history %s/%s: %w", typ, id, err)
	}

	sf, ok := scopeFilter(ctx, typ)
	out := make([]*Record, 0, len(docs))
	for _, d := range docs {
		// A scoped caller sees the versions in scope; tombstones between them stay.
		in, err := s.versionInScope(typ, d, sf)
		if err != nil {
			return nil, fmt.Errorf("storage: history %s/%s: %w", typ, id, err)
		}
		if ok && (in || d.Del && sf != nil) {
			out = append(out, d.record(typ))
		}
	}
	if len(out) == 0 || len(out) == countDeleted(out) {
		return nil, fmt.Errorf("storage: history %s/%s: %w", typ, id, ErrNotFound)
	}
	logAccess(ctx, out[0])

	return out, nil
}

func countDeleted(recs []*Record) int {
	n := 0
	for _, r := range recs {
		if r.Deleted {
			n++
		}
	}
	return n
}

// historyDocs: point lookups by _id, the embedded engine's one indexed filter.
func (embeddedBackend) historyDocs(ctx context.Context, _ *Store, tc *typeColls, id string, upTo int64) ([]*versionDoc, error) {
	keys := make([]string, 0, upTo)
	for v := upTo; v >= 1; v-- {
		keys = append(keys, historyKey(id, v))
	}

	docs, err := lookupAll[versionDoc](ctx, tc.hist, keys)
	if err != nil {
		return nil, err
	}

	return slices.DeleteFunc(docs, func(d *versionDoc) bool { return d == nil }), nil
}

// historyDocs: one query on the history index by resource.
func (mongoBackend) historyDocs(ctx context.Context, _ *Store, tc *typeColls, id string, upTo int64) ([]*versionDoc, error) {
	filter := bson.D{{Key: "id", Value: id}, {Key: "v", Value: bson.D{{Key: "$lte", Value: upTo}}}}

	cur, err := tc.hist.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "v", Value: -1}}))
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", tc.hist.Name(), err)
	}

	var docs []*versionDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("find %s: %w", tc.hist.Name(), err)
	}

	return docs, nil
}
