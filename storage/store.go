package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/fhirgate/fhirgate/storage/layout"
)

// Resource is what storage needs from the caller's resource value.
type Resource interface {
	// StampMeta sets meta.versionId and meta.lastUpdated on the resource. Storage calls
	// it right before MarshalJSON, and again with new values when a commit is retried.
	StampMeta(versionID string, lastUpdated time.Time)
	// MarshalJSON returns the resource JSON to store; storage keeps these exact bytes.
	json.Marshaler
}

// Record is one stored version of a resource.
type Record struct {
	Type string
	ID   string
	// VersionID is the server-assigned version: 1 for the first, then 2, 3, ...
	VersionID int64
	// LastUpdated is the commit instant, in UTC with millisecond precision; it is the
	// value that was stamped into the resource's meta.
	LastUpdated time.Time
	// Deleted marks a tombstone: the version that records a delete.
	Deleted bool
	// Op is the kind of write that made this version; zero for versions stored before
	// storage recorded it.
	Op Op
	// Seq is the change-feed sequence number of the commit that wrote this version.
	Seq int64
	// JSON is the resource JSON exactly as stored; nil for tombstones.
	JSON []byte
	// SortKeys holds, for a record found by [Store.Search], the values of the query's
	// sort fields in order (nil where a document has none).
	SortKeys []any
	// Doc is the whole stored document, for a search that asked for it (Query.KeepDoc),
	// or the part of it that [Store.Select] returns.
	Doc bson.Raw
}

// Names of the per-datastore collections that are not resource types. Resource type
// names start with an upper-case letter, so they cannot collide.
const (
	countersColl  = "_counters"
	pendingColl   = "_pending"
	journalColl   = "_journal"
	historySuffix = "_history"
	seqCounterID  = "seq"
	dbPrefix      = "fhirgate_"
)

// typeRE is the grammar of a collection's resource type. Ids are checked with
// model.ValidID, whose grammar excludes "/", which separates id and version in history keys.
var typeRE = regexp.MustCompile(`^[A-Z][A-Za-z0-9]{0,63}$`)

// Store is one datastore: the resources of one tenant, their history and their change
// feed. It is safe for concurrent use.
type Store struct {
	c        *Client
	name     string
	db       *mongo.Database
	counters *mongo.Collection
	pending  *mongo.Collection
	journal  *mongo.Collection
	state    *mongo.Collection

	// sig is closed when a commit of this process lands; see Committed.
	sigMu sync.Mutex
	sig   chan struct{}

	// serialSeq makes sequence allocation on MongoDB happen under flightMu: a FerretDB
	// reached by URI applies $inc as read-modify-write without a lock, so concurrent
	// increments can collide. (The embedded engine's allocation is always serial.)
	serialSeq bool
	// ferret is set when the engine is FerretDB reached by URI, whose limits storage keeps
	// as on the embedded engine (see replacesPerCommand).
	ferret bool

	typesMu sync.Mutex
	types   map[string]*typeColls
	// checkpointColls holds the names of the checkpoint collections created so far.
	checkpointColls sync.Map

	locks keyLocks

	// validator checks every resource a commit writes; see SetValidator.
	validator atomic.Pointer[validatorBox]

	flightMu sync.Mutex
	inflight map[int64]int       // sequence numbers of this process's unfinished commits
	gapSeen  map[int64]time.Time // MongoDB: when this process first saw a gap
	// Embedded engine only: the last sequence number handed out, the last one
	// reserved in the counter, finished commits whose pending record is still there,
	// and whether a batch removal of those runs or the store is closed.
	head     int64
	reserved int64
	doneSeqs map[int64]bool
	flushing bool
	closed   bool

	// afterStep, set by tests only, runs after each step of a commit; a non-nil
	// error stops the commit there, as if the process had died.
	afterStep func(seq int64, step int) error
}

// typeColls holds the two collections of one resource type.
type typeColls struct {
	typ  string
	cur  *mongo.Collection
	hist *mongo.Collection
}

// versionDoc is the document layout of both the current and the history collection.
// In the current collection Key is the resource id and ID is empty; in the history
// collection Key is "<id>/<version>".
type versionDoc struct {
	Key  string    `bson:"_id"`
	ID   string    `bson:"id,omitempty"`
	V    int64     `bson:"v"`
	TS   time.Time `bson:"ts"`
	Seq  int64     `bson:"seq"`
	Del  bool      `bson:"del,omitempty"`
	JSON string    `bson:"json,omitempty"`
	Op   Op        `bson:"op,omitempty"`

	// idx is the search index of a version about to become current; see currentDoc.
	idx *IndexFields `bson:"-"`
}

// currentDoc is the layout of a current version: the fields of versionDoc (bson
// does not inline an unexported embedded struct) plus the search fields.
type currentDoc struct {
	Key  string    `bson:"_id"`
	V    int64     `bson:"v"`
	TS   time.Time `bson:"ts"`
	Seq  int64     `bson:"seq"`
	Del  bool      `bson:"del,omitempty"`
	JSON string    `bson:"json,omitempty"`
	Op   Op        `bson:"op,omitempty"`

	IndexFields `bson:",inline"`
	// IX holds, on the embedded engine, the search fields packed as one BSON document
	// {i, oa, od} in a binary field instead of the three fields above: FerretDB decodes
	// every document it scans, and the nested fields made that 5 times slower (250 µs
	// instead of 48 µs per Patient, 10,000 Patients). Searches there match and sort in
	// storage (see match.go).
	IX []byte `bson:"ix,omitempty"`
	// IJ holds, on the embedded engine, the search entries again as JSON text that
	// SQLite can read: triggers copy them into the collection's index table in the
	// transaction in which FerretDB writes the document (see sqlindex.go). It is set
	// (withEntriesJSON) for the writes that go through FerretDB; storage's own inserts
	// write the rows, the same entries, beside the document instead.
	IJ   string            `bson:"ij,omitempty"`
	rows []layout.IndexRow `bson:"-"`
	// IV is the Indexer version that computed the search fields.
	IV string `bson:"iv,omitempty"`
}

// opDoc describes one write of a commit in _pending and _journal.
type opDoc struct {
	T   string `bson:"t"`
	ID  string `bson:"id"`
	V   int64  `bson:"v"`
	Del bool   `bson:"del,omitempty"`
}

// pendingDoc records a commit between sequence allocation and completion.
type pendingDoc struct {
	Key   string    `bson:"_id"`
	TS    time.Time `bson:"ts"`
	Token string    `bson:"tok"`
	Ops   []opDoc   `bson:"ops"`
}

// Journal states.
const (
	stCommitted = "c"
	stAborted   = "a"
)

// journalDoc resolves one sequence number: committed with its writes, or aborted.
type journalDoc struct {
	Key   string    `bson:"_id"`
	Seq   int64     `bson:"seq"`
	TS    time.Time `bson:"ts"`
	St    string    `bson:"st"`
	Token string    `bson:"tok,omitempty"`
	Ops   []opDoc   `bson:"ops,omitempty"`
}

func newStore(c *Client, name string) *Store {
	db := c.mc.Database(dbPrefix + name)

	s := &Store{
		c:        c,
		name:     name,
		db:       db,
		counters: db.Collection(countersColl),
		pending:  db.Collection(pendingColl),
		journal:  db.Collection(journalColl),
		state:    db.Collection(stateColl),
		types:    map[string]*typeColls{},
		inflight: map[int64]int{},
		gapSeen:  map[int64]time.Time{},
		doneSeqs: map[int64]bool{},
	}
	s.SetValidator(c.validator)
	return s
}

// open creates the datastore's own collections, reads the sequence counter and
// recovers unfinished commits.
func (s *Store) open(ctx context.Context) error {
	for _, name := range []string{countersColl, pendingColl, journalColl, stateColl} {
		if err := s.createCollection(ctx, name); err != nil {
			return err
		}
	}

	if err := s.c.be.openStore(ctx, s); err != nil {
		return err
	}

	_, err := s.counters.InsertOne(ctx, bson.D{{Key: "_id", Value: seqCounterID}, {Key: "n", Value: int64(0)}})
	if err != nil && !isDup(err) {
		return fmt.Errorf("init sequence counter: %w", err)
	}

	var counter struct {
		N int64 `bson:"n"`
	}
	if err := s.counters.FindOne(ctx, bson.D{{Key: "_id", Value: seqCounterID}}).Decode(&counter); err != nil {
		return fmt.Errorf("read sequence counter: %w", err)
	}

	s.head, s.reserved = counter.N, counter.N

	if err := s.Recover(ctx); err != nil {
		return err
	}

	return nil
}

func (embeddedBackend) openStore(context.Context, *Store) error { return nil }

func (mongoBackend) openStore(ctx context.Context, s *Store) error {
	ferret, err := s.isFerretDB(ctx)
	if err != nil {
		return err
	}
	// A FerretDB server reached by URI: the embedded engine's lossy $inc, and it must
	// have this process as its only writer (see the package documentation).
	s.serialSeq, s.ferret = ferret, ferret
	return nil
}

func (s *Store) isFerretDB(ctx context.Context) (bool, error) {
	var info bson.M
	if err := s.c.mc.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return false, fmt.Errorf("buildInfo: %w", err)
	}

	_, ok := info["ferretdbVersion"]

	return ok, nil
}

// createCollection creates a collection unless it exists and, on the embedded engine,
// the SQLite index that makes lookups by _id use an index.
func (s *Store) createCollection(ctx context.Context, name string) error {
	err := s.db.CreateCollection(ctx, name)

	var se mongo.ServerError
	if err != nil && !(errors.As(err, &se) && se.HasErrorCode(48)) { // 48: NamespaceExists
		return fmt.Errorf("create collection %s: %w", name, err)
	}

	return s.c.be.collectionCreated(ctx, s, name)
}

// collectionCreated creates the SQLite index that makes lookups by _id use an index.
func (embeddedBackend) collectionCreated(ctx context.Context, s *Store, name string) error {
	return s.c.eng.IndexIDs(ctx, s.db.Name(), name)
}

func (mongoBackend) collectionCreated(context.Context, *Store, string) error { return nil }

// colls returns the collections of typ, creating them and their indexes on first use in
// this process (idempotent on the server): Commit and the reads call it.
func (s *Store) colls(ctx context.Context, typ string) (*typeColls, error) {
	if !typeRE.MatchString(typ) {
		return nil, fmt.Errorf("storage: resource type %q: %w", typ, ErrInvalid)
	}

	s.typesMu.Lock()
	defer s.typesMu.Unlock()

	if tc := s.types[typ]; tc != nil {
		return tc, nil
	}

	tc := &typeColls{typ: typ, cur: s.db.Collection(typ), hist: s.db.Collection(typ + historySuffix)}

	for _, name := range []string{tc.cur.Name(), tc.hist.Name()} {
		if err := s.createCollection(ctx, name); err != nil {
			return nil, fmt.Errorf("storage: ensure type %s: %w", typ, err)
		}
	}

	if err := s.c.be.typeIndexes(ctx, s, tc); err != nil {
		return nil, err
	}

	s.types[typ] = tc

	return tc, nil
}

// historyKey is the _id of version v of resource id in its history collection.
func historyKey(id string, v int64) string { return id + "/" + strconv.FormatInt(v, 10) }

// seqKey is the _id of sequence number seq in _pending and _journal: fixed width so
// that string order is numeric order.
func seqKey(seq int64) string { return fmt.Sprintf("%019d", seq) }

// resID returns the resource id of a current or history document.
func (d *versionDoc) resID() string {
	if d.ID != "" {
		return d.ID
	}

	return d.Key
}

// asCurrent returns d laid out for the current collection.
func (d *versionDoc) asCurrent() versionDoc {
	c := *d
	c.Key, c.ID = d.resID(), ""

	return c
}

// withEntriesJSON sets IJ from the index rows, for a write through FerretDB, whose
// triggers index the document from that field. It does nothing without rows (MongoDB, a
// deleted resource) or when IJ is set.
func (c *currentDoc) withEntriesJSON() error {
	if c.rows == nil || c.IJ != "" {
		return nil
	}
	ij, err := entriesJSON(c.rows)
	if err != nil {
		return err
	}
	c.IJ = ij
	return nil
}

// currentDoc returns history document d laid out for the current collection, with
// its search fields: those planned with it, or computed now (recovery).
func (s *Store) currentDoc(typ string, d *versionDoc) (*currentDoc, error) {
	cd := d.asCurrent()
	c := &currentDoc{Key: cd.Key, V: cd.V, TS: cd.TS, Seq: cd.Seq, Del: cd.Del, JSON: cd.JSON, Op: cd.Op}
	ix := s.c.indexer
	if ix == nil || d.Del {
		return c, nil
	}

	if d.idx == nil {
		f, err := ix.Index(typ, []byte(d.JSON))
		if err != nil {
			return nil, fmt.Errorf("index %s/%s: %w", typ, d.resID(), err)
		}
		d.idx = &f
	}

	c.IndexFields, c.IV = *d.idx, s.indexVersion()

	if err := s.c.be.pack(c); err != nil {
		return nil, fmt.Errorf("index %s/%s: %w", typ, d.resID(), err)
	}

	return c, nil
}

func (d *versionDoc) record(typ string) *Record {
	r := &Record{
		Type:        typ,
		ID:          d.resID(),
		VersionID:   d.V,
		LastUpdated: d.TS.UTC(),
		Deleted:     d.Del,
		Seq:         d.Seq,
		Op:          d.Op,
	}
	if !d.Del {
		r.JSON = []byte(d.JSON)
	}

	return r
}

// findByID reads the document with _id key into out and reports whether it exists.
func findByID(ctx context.Context, coll *mongo.Collection, key string, out any) (bool, error) {
	err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(out)
	if isNoDoc(err) {
		return false, nil
	}

	if err != nil {
		return false, fmt.Errorf("find %s %q: %w", coll.Name(), key, err)
	}

	return true, nil
}
