package storage

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// backend is everything storage does differently on the two engines it runs on, chosen
// once when the client opens: the embedded engine (FerretDB on SQLite in this process,
// which serves only {_id: v} filters from an index, and on which every live commit is
// known in-process) and MongoDB (or a FerretDB reached by URI), which other processes
// share. Call sites ask the backend rather than test which engine runs.
//
// Each method's two implementations sit in the file of the code that calls it.
type backend interface {
	// openStore prepares datastore s as it opens, before its counter is read.
	openStore(ctx context.Context, s *Store) error
	// collectionCreated prepares collection name of s after it was created (or found).
	collectionCreated(ctx context.Context, s *Store, name string) error
	// typeIndexes creates the indexes of a resource type's collections: the history by
	// resource, and the search indexes when the client has an Indexer.
	typeIndexes(ctx context.Context, s *Store, tc *typeColls) error

	// indexVersion is the version stored in iv with search fields computed by ix.
	indexVersion(ix Indexer) string
	// pack lays out the search fields of current document c as the engine stores them.
	pack(c *currentDoc) error
	// unpack returns a stored current document with its search fields where filters and
	// sorts name them (see withIndex).
	unpack(raw bson.Raw) bson.Raw
	// exact reports whether a search with filter and sort is matched, and sorted when sort
	// names search fields, in storage rather than by the server (see match.go).
	exact(filter, sort bson.D) bool
	// indexScan serves scan from an index the engine keeps beside the collection, when it
	// can: it reports false, having called nothing, when the collection must be scanned.
	indexScan(ctx context.Context, s *Store, tc *typeColls, filter, sort bson.D, skip, limit int64, each func(bson.Raw) error) (bool, error)
	// indexCount counts the matches of filter from that index; ok is false when it cannot.
	indexCount(ctx context.Context, s *Store, tc *typeColls, filter bson.D) (n int64, ok bool, err error)
	// explainIndex returns the plan of indexScan's query for filter and sort, and whether
	// it expresses the filter exactly; "" when indexScan would not serve the search.
	explainIndex(ctx context.Context, s *Store, tc *typeColls, filter, sort bson.D) (plan string, exact bool, err error)
	// reindexOne stores search fields f on current document d unless d's version is no
	// longer current, and reports whether it did.
	reindexOne(ctx context.Context, s *Store, tc *typeColls, d *versionDoc, f IndexFields) (bool, error)

	// pageByID calls each with a page of all current documents in _id order (descending
	// when desc), with their search fields when withIndex is set, outside the driver; it
	// reports false, having called nothing, when the engine has no such path.
	pageByID(ctx context.Context, s *Store, tc *typeColls, desc bool, skip, limit int64, withIndex bool, each func(bson.Raw) error) (bool, error)
	// readCurrent reads the current documents of ids (nil where absent), with their search
	// fields when withIndex is set, in one round trip outside the driver; ok is false when
	// the engine has no such path and the driver reads them.
	readCurrent(ctx context.Context, s *Store, tc *typeColls, ids []string, withIndex bool) (raws []*bson.Raw, ok bool, err error)
	// pipelines reports whether the engine runs aggregation pipelines over the search
	// index (see Store.Aggregate).
	pipelines() bool
	// eachByID calls each with the record of every live current document of a collection, in _id order,
	// outside the driver, a bounded page in memory at a time; it reports false, having called
	// nothing, when the engine has no such path.
	eachByID(ctx context.Context, s *Store, tc *typeColls, each func(*Record) error) (bool, error)
	// countAll counts the live current documents of a collection outside the driver; ok is
	// false when the engine has no such path.
	countAll(ctx context.Context, s *Store, tc *typeColls) (n int64, ok bool, err error)
	// historyDocs returns versions upTo..1 of resource id, newest first.
	historyDocs(ctx context.Context, s *Store, tc *typeColls, id string, upTo int64) ([]*versionDoc, error)

	// allocSeq allocates a sequence number and registers it as in flight.
	allocSeq(ctx context.Context, s *Store) (int64, error)
	// finished removes, now or in a later batch, the pending record of completed commit seq.
	finished(ctx context.Context, s *Store, seq int64) error
	// shutdown stops allocation and leaves the store clean for the next start.
	shutdown(ctx context.Context, s *Store) error
	// insertMany inserts docs into coll, all or, without skipDups, up to the first whose
	// _id is taken, which dup then reports; with skipDups, documents whose _id is taken are
	// skipped.
	insertMany(ctx context.Context, s *Store, coll *mongo.Collection, docs []any, skipDups bool) (dup bool, err error)
	// replacesPerCommand is the most replaces to send s's engine in one update command; 0
	// for no limit.
	replacesPerCommand(s *Store) int
	// olderThan selects, for a replace, the current document of id if its version is below v.
	olderThan(id string, v int64) bson.D
	// superseded reports whether applying current document cur would be undone at once
	// because the resource is at cur's version or newer. prev is its current document (nil
	// when absent) when known is set.
	superseded(ctx context.Context, tc *typeColls, cur *currentDoc, prev *versionDoc, known bool) (bool, error)
	// deleteClaim removes history document key if commit seq wrote it.
	deleteClaim(ctx context.Context, s *Store, tc *typeColls, key string, seq int64) error
	// finishOther finishes commit seq, committed and just applied for a claim conflict, so
	// that the change feed need not wait for it.
	finishOther(ctx context.Context, s *Store, seq int64) error

	// feedHead returns where a reader of the change feed may start; see Store.FeedHead.
	feedHead(ctx context.Context, s *Store) (int64, error)
	// journalPage returns the resolved journal documents of the contiguous run of up to n
	// sequence numbers starting at next, and whether reading on may find more.
	journalPage(ctx context.Context, s *Store, next int64, n int) ([]*journalDoc, bool, error)
	// pendingFilter selects the pending records to read for the journal documents keys.
	pendingFilter(keys []string) bson.D
	// mayStillRun reports whether the commit that holds seq, unresolved and not in flight
	// in this process, may still be running in another; p is its pending record, nil when
	// not read yet.
	mayStillRun(ctx context.Context, s *Store, seq int64, p *pendingDoc) (bool, error)
}

// embeddedBackend is the backend of the embedded engine, the client's eng.
type embeddedBackend struct{}

// mongoBackend is the backend of MongoDB, and of a FerretDB reached by URI.
type mongoBackend struct{}

var (
	_ backend = embeddedBackend{}
	_ backend = mongoBackend{}
)

// newBackend returns the backend of an embedded engine when embedded is set, else MongoDB's.
func newBackend(embedded bool) backend {
	if embedded {
		return embeddedBackend{}
	}
	return mongoBackend{}
}

// pack stores the search fields packed in ix, and as the rows of the index table, instead
// of in i, oa and od: see currentDoc.
func (embeddedBackend) pack(c *currentDoc) error {
	ix, rows, err := packIndex(c.IndexFields)
	if err != nil {
		return err
	}
	c.IX, c.rows, c.IndexFields = ix, rows, IndexFields{}
	return nil
}

func (mongoBackend) pack(*currentDoc) error { return nil }

func (embeddedBackend) unpack(raw bson.Raw) bson.Raw { return withIndex(raw) }

func (mongoBackend) unpack(raw bson.Raw) bson.Raw { return raw }

// exact: the embedded engine gets filters on the packed search fields, and the filters it
// evaluates wrongly, loosened; storage then matches and sorts exactly.
func (embeddedBackend) exact(filter, sort bson.D) bool {
	return exactNeeded(filter) || indexSort(sort)
}

func (mongoBackend) exact(_, _ bson.D) bool { return false }

// olderThan: the embedded engine gets a plain {_id: id}, the only filter it serves from an
// index; the caller's lock and version check make it equivalent there.
func (embeddedBackend) olderThan(id string, _ int64) bson.D {
	return bson.D{{Key: "_id", Value: id}}
}

// olderThan: an upsert that finds a newer version fails with a duplicate key, which
// callers ignore.
func (mongoBackend) olderThan(id string, v int64) bson.D {
	return bson.D{{Key: "_id", Value: id}, {Key: "v", Value: bson.D{{Key: "$lt", Value: v}}}}
}

// pendingFilter: all of them, since there are only as many as commits in flight, and a
// filter other than {_id: v} would scan _pending anyway.
func (embeddedBackend) pendingFilter([]string) bson.D { return bson.D{} }

func (mongoBackend) pendingFilter(keys []string) bson.D {
	return bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: keys}}}}
}

// mayStillRun: never, since the embedded engine has this process as its only writer.
func (embeddedBackend) mayStillRun(context.Context, *Store, int64, *pendingDoc) (bool, error) {
	return false, nil
}

// mayStillRun: until it has been unresolved for longer than the client's gap timeout.
func (mongoBackend) mayStillRun(ctx context.Context, s *Store, seq int64, p *pendingDoc) (bool, error) {
	if p != nil {
		return !s.staleSince(seq, p.TS), nil
	}
	stale, err := s.stale(ctx, seq)
	return !stale, err
}
