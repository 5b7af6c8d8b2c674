package storage

import (
	"context"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/fhirgate/fhirgate/storage/layout"
)

// Indexer computes the search fields stored with each current version of a resource,
// so that a search sees the write that preceded it.
type Indexer interface {
	// Index returns the search fields of a resource of type typ from its stored JSON.
	Index(typ string, json []byte) (IndexFields, error)
	// Version names the extraction rules; current documents indexed under another
	// version are re-indexed by [Store.Reindex].
	Version() string
}

// IndexFields are the search fields of one current version. Storage stores them as
// given and indexes Entries on MongoDB; their shape belongs to the Indexer.
type IndexFields struct {
	// Entries is an array of sub-documents {p: <parameter>, ...}, one per indexed value.
	Entries any `bson:"i,omitempty"`
	// Asc and Desc map each parameter to its lowest and highest sort key.
	Asc  any `bson:"oa,omitempty"`
	Desc any `bson:"od,omitempty"`
}

// searchIndexes are the MongoDB indexes on the search entries of every current
// collection: each leads with the parameter and continues with one value field, so
// an $elemMatch on {p, field} is served by an index scan.
var searchIndexes = []string{layout.Code, layout.System, layout.Norm, layout.Exact, layout.Ref, layout.RefID, layout.Lo, layout.Hi, layout.Text}

// typeIndexes: the embedded engine, which serves only {_id} filters itself, gets the
// SQLite index table and triggers of sqlindex.go for the search fields, an index of the
// deleted resources for counts, and nothing for the history, which it reads by _id.
func (embeddedBackend) typeIndexes(ctx context.Context, s *Store, tc *typeColls) error {
	if err := s.c.eng.IndexDeleted(ctx, s.db.Name(), tc.cur.Name()); err != nil {
		return fmt.Errorf("storage: deleted index of %s: %w", tc.typ, err)
	}
	if s.c.indexer == nil {
		return nil
	}
	if err := s.c.eng.IndexSearch(ctx, s.db.Name(), tc.cur.Name()); err != nil {
		return fmt.Errorf("storage: search index of %s: %w", tc.typ, err)
	}
	return nil
}

// typeIndexes: the history by resource, newest first, and indexes on the search entries.
func (mongoBackend) typeIndexes(ctx context.Context, s *Store, tc *typeColls) error {
	err := createMissingIndexes(ctx, tc.hist, []mongo.IndexModel{{
		Keys:    bson.D{{Key: "id", Value: 1}, {Key: "v", Value: -1}},
		Options: options.Index().SetName("id_v"),
	}})
	if err != nil {
		return fmt.Errorf("storage: ensure type %s: history index: %w", tc.typ, err)
	}
	if s.c.indexer == nil {
		return nil
	}

	models := make([]mongo.IndexModel, 0, len(searchIndexes)+1)
	for _, f := range searchIndexes {
		models = append(models, mongo.IndexModel{
			Keys:    bson.D{{Key: layout.Entries + "." + layout.Param, Value: 1}, {Key: layout.Entries + "." + f, Value: 1}},
			Options: options.Index().SetName("i_p_" + f),
		})
	}
	models = append(models, mongo.IndexModel{Keys: bson.D{{Key: layout.Version, Value: 1}}, Options: options.Index().SetName("iv")})

	if err := createMissingIndexes(ctx, tc.cur, models); err != nil {
		return fmt.Errorf("storage: search indexes of %s: %w", tc.typ, err)
	}

	return nil
}

// createMissingIndexes creates those of models (each named) that coll does not have yet.
// Creating an index that exists is a no-op on MongoDB, but a FerretDB server reached by URI
// (v1.24) fails the whole connection on it (a panic in its createIndexes), as a second
// process, or the same after a restart, would ask.
func createMissingIndexes(ctx context.Context, coll *mongo.Collection, models []mongo.IndexModel) error {
	specs, err := coll.Indexes().ListSpecifications(ctx)
	if err != nil {
		return err
	}
	have := make(map[string]bool, len(specs))
	for _, sp := range specs {
		have[sp.Name] = true
	}
	var missing []mongo.IndexModel
	for _, m := range models {
		var o options.IndexOptions
		for _, set := range m.Options.List() {
			_ = set(&o)
		}
		if o.Name == nil || !have[*o.Name] {
			missing = append(missing, m)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = coll.Indexes().CreateMany(ctx, missing)
	return err
}

// Query selects current resources of one type.
type Query struct {
	// Filter is a MongoDB filter over the current documents (search fields included);
	// deleted resources are excluded whatever it says.
	Filter bson.D
	// Sort orders the matches; Search appends _id (ascending) unless Sort ends with it,
	// so that the order is total.
	Sort bson.D
	// Skip and Limit page through the matches; a Limit of 0 means no limit.
	Skip, Limit int64
	// KeepDoc returns each match's whole stored document, search fields included, in
	// Record.Doc.
	KeepDoc bool
}

// live restricts filter to resources that are not deleted.
func live(filter bson.D) bson.D {
	notDeleted := bson.D{{Key: "del", Value: bson.D{{Key: "$ne", Value: true}}}}
	if len(filter) == 0 {
		return notDeleted
	}

	return bson.D{{Key: "$and", Value: bson.A{notDeleted, filter}}}
}

// Search returns the current resources of typ that match q, in q's order, in one
// round trip.
func (s *Store) Search(ctx context.Context, typ string, q Query) ([]*Record, error) {
	tc, err := s.colls(ctx, typ)
	if err != nil {
		return nil, err
	}

	if q.Skip < 0 || q.Limit < 0 {
		return nil, fmt.Errorf("storage: search %s: skip %d, limit %d: %w", typ, q.Skip, q.Limit, ErrInvalid)
	}

	filter, ok := scoped(ctx, typ, q.Filter)
	if !ok {
		return []*Record{}, nil
	}
	q.Filter = filter

	sort := append(bson.D{}, q.Sort...)
	if len(sort) == 0 || sort[len(sort)-1].Key != "_id" {
		sort = append(sort, bson.E{Key: "_id", Value: 1})
	}

	proj := bson.D{{Key: layout.Entries, Value: 0}, {Key: layout.Packed, Value: 0}}
	if q.KeepDoc {
		proj = nil
	}

	out := []*Record{}
	indexed, err := s.scan(ctx, tc, q.Filter, sort, q.Skip, q.Limit, proj, func(raw bson.Raw) error {
		var d versionDoc
		if err := bson.Unmarshal(raw, &d); err != nil {
			return err
		}

		rec := d.record(typ)
		if q.KeepDoc {
			rec.Doc = append(bson.Raw(nil), raw...)
		}
		if len(q.Sort) > 0 {
			rec.SortKeys = make([]any, len(q.Sort))
			for i, k := range q.Sort {
				rec.SortKeys[i] = goValue(raw.Lookup(strings.Split(k.Key, ".")...))
			}
		}

		out = append(out, rec)

		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: search %s: %w", typ, err)
	}

	if !indexed && s.c.be.exact(q.Filter, sort) && !mentions(q.Filter, "json") {
		// The scan left the resources' JSON behind (see scan): read it for the matches.
		if err := s.fillJSON(ctx, tc, out); err != nil {
			return nil, fmt.Errorf("storage: search %s: %w", typ, err)
		}
	}
	logAccess(ctx, out...)

	return out, nil
}

// fillJSON reads the JSON of recs, found by a scan that left it behind.
func (s *Store) fillJSON(ctx context.Context, tc *typeColls, recs []*Record) error {
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}

	docs, err := s.fetchCurrent(ctx, tc, ids, nil)
	if err != nil {
		return err
	}

	for _, r := range recs {
		d := docs[r.ID]
		if d == nil || d.Del {
			return fmt.Errorf("%s/%s was deleted during the search: %w", tc.typ, r.ID, ErrConflict)
		}
		// A resource replaced since the scan is served in its current version.
		r.JSON, r.VersionID, r.LastUpdated = []byte(d.JSON), d.V, d.TS.UTC()
	}

	return nil
}

// mentions reports whether filter has a condition on field.
func mentions(filter bson.D, field string) bool {
	for _, e := range filter {
		if e.Key == field {
			return true
		}
		if sub, ok := e.Value.(bson.A); ok && strings.HasPrefix(e.Key, "$") {
			for _, x := range sub {
				if d, ok := x.(bson.D); ok && mentions(d, field) {
					return true
				}
			}
		}
	}
	return false
}

// scan calls each with the matching documents of tc, in order, after skipping skip of
// them and up to limit (0: all). On the embedded engine, whose documents hold their
// search fields packed, a filter or sort on search fields (or one FerretDB would get
// wrong) is loosened for FerretDB and matched and sorted exactly here; the projection
// then leaves out only the resource JSON. Where the embedded engine's index table
// serves the search (sqlindex.go), the documents come whole from there instead, and
// indexed is set.
func (s *Store) scan(ctx context.Context, tc *typeColls, filter, sort bson.D, skip, limit int64, projection bson.D, each func(bson.Raw) error) (indexed bool, err error) {
	exact := s.c.be.exact(filter, sort)
	inGo := exact && indexSort(sort) // sorted here, not by FerretDB
	if exact {
		if ok, err := s.c.be.indexScan(ctx, s, tc, filter, sort, skip, limit, each); ok || err != nil {
			return ok, err
		}
	}
	if byID, desc := idOrder(sort); byID && len(filter) == 0 {
		if ok, err := s.c.be.pageByID(ctx, s, tc, desc, skip, limit, !excludes(projection, "ix"), each); ok || err != nil {
			return false, err
		}
	}
	opts := options.Find()

	if !exact {
		opts.SetSort(sort)
		if len(projection) > 0 {
			opts.SetProjection(projection)
		}
		if skip > 0 {
			opts.SetSkip(skip)
		}
		if limit > 0 {
			// One batch for the whole page: the default first batch of 101 documents would
			// add a getMore round trip per further 101.
			opts.SetLimit(limit).SetBatchSize(int32(min(limit, 1<<20)))
		}
	} else {
		// Most candidates fail the exact check: read them in large batches, without the
		// resources' JSON unless the filter reads it (FerretDB bounds batches by count
		// only, and the driver refuses a reply over 48 MB). Callers that need the JSON of
		// the matches read it by id.
		opts.SetBatchSize(2048)
		if !mentions(filter, "json") {
			opts.SetProjection(bson.D{{Key: "json", Value: 0}})
		}
		if !inGo {
			opts.SetSort(sort)
		}
	}

	find := filter
	if exact {
		find = loosen(filter)
	}

	cur, err := tc.cur.Find(ctx, live(find), opts)
	if err != nil {
		return false, err
	}
	defer cur.Close(ctx)

	var m matcher
	var n int64
	var held []sortedDoc
	keep := skip + limit // how many sorted matches can still reach the page
	for cur.Next(ctx) {
		raw := s.c.be.unpack(cur.Current)

		if exact {
			ok, err := m.match(raw, filter)
			if err != nil {
				return false, err
			}
			if !ok {
				continue
			}
			if inGo {
				if len(raw) > 0 && &raw[0] == &cur.Current[0] {
					raw = append(bson.Raw(nil), raw...)
				}
				held = append(held, sortedDoc{sortKeys(raw, sort), raw})
				if limit > 0 && int64(len(held)) > 2*keep+1024 {
					sortDocs(held, sort)
					held = held[:keep]
				}
				continue
			}
			if skip > 0 {
				skip--
				continue
			}
		}

		if err := each(raw); err != nil {
			return false, err
		}

		if n++; exact && limit > 0 && n == limit {
			break
		}
	}

	if err := cur.Err(); err != nil {
		return false, err
	}

	if inGo {
		sortDocs(held, sort)
		held = held[min(int(skip), len(held)):]
		if limit > 0 && int64(len(held)) > limit {
			held = held[:limit]
		}
		for _, h := range held {
			if err := each(h.doc); err != nil {
				return false, err
			}
		}
	}

	return false, nil
}

// excludes reports whether projection leaves field out.
func excludes(projection bson.D, field string) bool {
	for _, e := range projection {
		if e.Key == field {
			n, ok := e.Value.(int)
			return ok && n == 0
		}
	}
	return false
}

// goValue converts a sort key read from a document to a Go value: a string, an int64,
// a float64, or nil when absent.
func goValue(v bson.RawValue) any {
	switch v.Type {
	case bson.TypeString:
		return v.StringValue()
	case bson.TypeInt64:
		return v.Int64()
	case bson.TypeInt32:
		return int64(v.Int32())
	case bson.TypeDouble:
		return v.Double()
	}

	return nil
}

// Count returns the number of current resources of typ that match q.Filter; q's order,
// paging and KeepDoc do not change the count.
func (s *Store) Count(ctx context.Context, typ string, q Query) (int64, error) {
	tc, err := s.colls(ctx, typ)
	if err != nil {
		return 0, err
	}

	filter, ok := scoped(ctx, typ, q.Filter)
	if !ok {
		return 0, nil
	}

	if len(filter) == 0 {
		if n, ok, err := s.c.be.countAll(ctx, s, tc); ok || err != nil {
			if err != nil {
				return 0, fmt.Errorf("storage: count %s: %w", typ, err)
			}
			return n, nil
		}
	}

	if !s.c.be.exact(filter, nil) {
		n, err := tc.cur.CountDocuments(ctx, live(filter))
		if err != nil {
			return 0, fmt.Errorf("storage: count %s: %w", typ, err)
		}

		return n, nil
	}

	if n, ok, err := s.c.be.indexCount(ctx, s, tc, filter); ok || err != nil {
		if err != nil {
			return 0, fmt.Errorf("storage: count %s: %w", typ, err)
		}
		return n, nil
	}

	var n int64
	_, err = s.scan(ctx, tc, filter, bson.D{{Key: "_id", Value: 1}}, 0, 0, nil, func(bson.Raw) error {
		n++
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("storage: count %s: %w", typ, err)
	}

	return n, nil
}

// Selection asks [Store.Select] for the ids, and optionally the search entries, of the
// current resources that match a filter.
type Selection struct {
	// Filter is a MongoDB filter over the current documents, as in [Query].
	Filter bson.D
	// Index returns each match's search fields in Record.Doc besides its _id.
	Index bool
	// Limit is the most matches Select returns; more fail with ErrTooMany.
	Limit int
}

// Select returns the current resources of typ that match sel.Filter, in _id order,
// failing with ErrTooMany when more than sel.Limit match. Each record holds Type, ID and
// Doc (the stored document cut down to _id and, when sel.Index is set, the search
// fields) and no JSON: sub-searches (chained parameters, _has) use it to read ids and
// references without the resources.
func (s *Store) Select(ctx context.Context, typ string, sel Selection) ([]*Record, error) {
	tc, err := s.colls(ctx, typ)
	if err != nil {
		return nil, err
	}

	filter, ok := scoped(ctx, typ, sel.Filter)
	if !ok {
		return nil, nil
	}

	projection := bson.D{{Key: "_id", Value: 1}}
	if sel.Index {
		// The embedded engine keeps the entries packed; scan unpacks them.
		projection = append(projection, bson.E{Key: layout.Entries, Value: 1}, bson.E{Key: layout.Packed, Value: 1})
	}

	limit := sel.Limit
	var out []*Record
	_, err = s.scan(ctx, tc, filter, bson.D{{Key: "_id", Value: 1}}, 0, int64(limit)+1, projection, func(raw bson.Raw) error {
		if len(out) == limit {
			return fmt.Errorf("more than %d matches: %w", limit, ErrTooMany)
		}
		id, _ := raw.Lookup("_id").StringValueOK()
		out = append(out, &Record{Type: typ, ID: id, Doc: append(bson.Raw(nil), raw...)})

		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: select %s: %w", typ, err)
	}

	return out, nil
}

// Reindex recomputes the search fields of the current resources of every stored type
// that were indexed under another Indexer version (or none), and returns how many it
// rewrote. A rewrite applies only if the version it read is still current, so it
// never undoes a concurrent commit.
func (s *Store) Reindex(ctx context.Context) (int, error) {
	ix := s.c.indexer
	if ix == nil {
		return 0, nil
	}

	names, err := s.db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return 0, fmt.Errorf("storage: reindex: %w", err)
	}

	total := 0
	for _, name := range names {
		if !typeRE.MatchString(name) || len(name) > len(historySuffix) && name[len(name)-len(historySuffix):] == historySuffix {
			continue
		}

		n, err := s.reindexType(ctx, name, ix)
		if err != nil {
			return total, err
		}
		total += n
	}

	return total, nil
}

func (s *Store) reindexType(ctx context.Context, typ string, ix Indexer) (int, error) {
	tc, err := s.colls(ctx, typ)
	if err != nil {
		return 0, err
	}

	filter := bson.D{{Key: layout.Version, Value: bson.D{{Key: "$ne", Value: s.indexVersion()}}}, {Key: "del", Value: bson.D{{Key: "$ne", Value: true}}}}

	cur, err := tc.cur.Find(ctx, filter, options.Find().SetProjection(bson.D{{Key: layout.Entries, Value: 0}, {Key: layout.Packed, Value: 0}, {Key: layout.Asc, Value: 0}, {Key: layout.Desc, Value: 0}}))
	if err != nil {
		return 0, fmt.Errorf("storage: reindex %s: %w", typ, err)
	}

	var docs []*versionDoc
	if err := cur.All(ctx, &docs); err != nil {
		return 0, fmt.Errorf("storage: reindex %s: %w", typ, err)
	}

	n := 0
	for _, d := range docs {
		ok, err := s.reindexOne(ctx, tc, d, ix)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}

	return n, nil
}

func (s *Store) reindexOne(ctx context.Context, tc *typeColls, d *versionDoc, ix Indexer) (bool, error) {
	f, err := ix.Index(tc.typ, []byte(d.JSON))
	if err != nil {
		return false, fmt.Errorf("storage: reindex %s/%s: %w", tc.typ, d.Key, err)
	}

	return s.c.be.reindexOne(ctx, s, tc, d, f)
}

// reindexOne: the embedded engine serves only {_id} filters from an index, so it holds the
// resource's lock and checks the version by reading instead of filtering on it.
func (embeddedBackend) reindexOne(ctx context.Context, s *Store, tc *typeColls, d *versionDoc, f IndexFields) (bool, error) {
	ix, rows, err := packIndex(f)
	if err != nil {
		return false, fmt.Errorf("storage: reindex %s/%s: %w", tc.typ, d.Key, err)
	}
	ij, err := entriesJSON(rows)
	if err != nil {
		return false, fmt.Errorf("storage: reindex %s/%s: %w", tc.typ, d.Key, err)
	}
	set := bson.D{{Key: "$set", Value: bson.D{{Key: layout.Packed, Value: bson.Binary{Data: ix}}, {Key: layout.EntriesJSON, Value: ij}, {Key: layout.Version, Value: s.indexVersion()}}}}

	unlock := s.locks.lock([]string{tc.typ + "/" + d.Key})
	defer unlock()

	var now versionDoc
	found, err := findByID(ctx, tc.cur, d.Key, &now)
	if err != nil || !found || now.V != d.V {
		return false, err
	}

	_, err = tc.cur.UpdateOne(ctx, bson.D{{Key: "_id", Value: d.Key}}, set)
	if err != nil {
		return false, fmt.Errorf("storage: reindex %s/%s: %w", tc.typ, d.Key, err)
	}

	return true, nil
}

// reindexOne: an update conditional on the version.
func (mongoBackend) reindexOne(ctx context.Context, s *Store, tc *typeColls, d *versionDoc, f IndexFields) (bool, error) {
	set := bson.D{{Key: "$set", Value: bson.D{{Key: layout.Entries, Value: f.Entries}, {Key: layout.Asc, Value: f.Asc}, {Key: layout.Desc, Value: f.Desc}, {Key: layout.Version, Value: s.indexVersion()}}}}

	res, err := tc.cur.UpdateOne(ctx, bson.D{{Key: "_id", Value: d.Key}, {Key: "v", Value: d.V}}, set)
	if err != nil {
		return false, fmt.Errorf("storage: reindex %s/%s: %w", tc.typ, d.Key, err)
	}

	return res.ModifiedCount == 1, nil
}

// Explain returns the server's query plan for a search on typ (the explain command's
// queryPlanner section), to check which index a search uses.
func (s *Store) Explain(ctx context.Context, typ string, filter bson.D) (bson.M, error) {
	tc, err := s.colls(ctx, typ)
	if err != nil {
		return nil, err
	}

	var out bson.M
	cmd := bson.D{{Key: "explain", Value: bson.D{{Key: "find", Value: tc.cur.Name()}, {Key: "filter", Value: live(filter)}}}}
	if err := s.db.RunCommand(ctx, cmd).Decode(&out); err != nil {
		return nil, fmt.Errorf("storage: explain %s: %w", typ, err)
	}

	plan, _ := out["queryPlanner"].(bson.M)

	return plan, nil
}
