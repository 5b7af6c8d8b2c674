package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/fhirgate/fhirgate/storage/layout"
)

// Engine is an embedded MongoDB-compatible server that storage starts itself (package
// storage/embedded), with the engine-specific operations storage needs beyond the wire protocol.
type Engine interface {
	// Start starts the engine and returns its MongoDB connection string.
	Start(ctx context.Context, log *slog.Logger) (uri string, err error)
	// Stop stops the engine and releases its data directory.
	Stop() error
	// IndexIDs makes the engine's {_id: value} lookups on a collection use an index.
	IndexIDs(ctx context.Context, db, coll string) error
	// IndexDeleted indexes a collection's deleted documents (field del), so that counting
	// the live ones reads no document.
	IndexDeleted(ctx context.Context, db, coll string) error
	// IndexSearch creates the engine-side search index of a collection, kept from the
	// documents' JSON search entries (field ij, see sqlindex.go) in the same transaction
	// as each write.
	IndexSearch(ctx context.Context, db, coll string) error
	// QueryIndex runs a read-only SQL query over a collection's search index ({{ix}})
	// and table ({{t}}), calling row for each result row.
	QueryIndex(ctx context.Context, db, coll, query string, args []any, row func(*sql.Rows) error) error
	// InsertDocs inserts flat documents (storage's history and current documents) into a
	// collection that exists, in one transaction, outside the driver, and rows[i], when
	// rows is not nil, into the search index beside docs[i]. With skipDups a document
	// whose _id is taken is skipped (its rows too); without, a taken _id inserts none and
	// dup reports it.
	InsertDocs(ctx context.Context, db, coll string, docs []bson.Raw, rows [][]layout.IndexRow, skipDups bool) (dup bool, err error)
	// DeleteDocs deletes the documents of a collection with the given plain string _ids,
	// outside the driver, without reading them.
	DeleteDocs(ctx context.Context, db, coll string, ids []string) (int64, error)
	// ForgetDatabase closes the engine's own connections to a database about to be
	// dropped, so that a database created later under the same name is not read
	// through a connection to the old one.
	ForgetDatabase(db string) error
}

// Config selects and configures the storage engine.
type Config struct {
	// URI is a MongoDB connection string. When empty, Engine is started and used.
	URI string
	// Engine is the embedded engine to start when URI is empty (embedded.New(dir), FerretDB
	// on SQLite in this process, on loopback only). The client owns it: Close stops it.
	Engine Engine
	// Logger receives storage's logs; nil discards them. The embedded engine's own logs
	// are passed on at warning level and above only.
	Logger *slog.Logger
	// OnCommand, when set, is called with the name of every command the driver sends
	// (for example "find" or "insert"), so that callers and tests can count round trips.
	OnCommand func(commandName string)
	// Indexer computes the search fields stored with each current version; nil stores
	// none (storage then serves reads by id, history and lists only).
	Indexer Indexer
	// Validator checks every resource written to any datastore of the client (see
	// Store.SetValidator); nil checks nothing.
	Validator Validator
}

// DefaultDatastore is the datastore that exists from the first start.
const DefaultDatastore = "default"

// defaultGapTimeout is how long a commit may stay unresolved on MongoDB before
// another process gives up on it; see [Client.gapTimeout].
const defaultGapTimeout = time.Minute

var datastoreNameRE = regexp.MustCompile(`^[a-z0-9_-]{1,40}$`)

// Client is a connection to the storage engine. It is safe for concurrent use.
type Client struct {
	log *slog.Logger
	uri string
	mc  *mongo.Client
	eng Engine // nil on MongoDB
	be  backend

	// gapTimeout is how long a sequence number allocated by another process may stay
	// unresolved before it is fenced. It only matters on MongoDB: on the embedded
	// engine every live commit is known in-process. Tests shorten it.
	gapTimeout time.Duration
	// now is the clock of commit timestamps and of the gap timeout; nil is time.Now.
	// Tests move it forward instead of sleeping through the timeout.
	now func() time.Time

	indexer Indexer // nil: no search fields
	// validator is every new Store's validator; nil: none.
	validator Validator
	// onCommand is Config.OnCommand, also called for the SQL statements that read the
	// embedded engine's tables directly.
	onCommand func(commandName string)

	mu     sync.Mutex
	stores map[string]*Store
	closed bool
}

// Open starts the embedded engine when cfg.URI is empty, connects the official MongoDB
// driver, checks the connection and opens the default datastore.
func Open(ctx context.Context, cfg Config) (*Client, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	c := &Client{log: log, gapTimeout: defaultGapTimeout, stores: map[string]*Store{}, indexer: cfg.Indexer, validator: cfg.Validator, onCommand: cfg.OnCommand}

	uri := cfg.URI
	if uri == "" {
		if cfg.Engine == nil {
			return nil, fmt.Errorf("storage: open: a URI or an embedded engine is required: %w", ErrInvalid)
		}

		u, err := cfg.Engine.Start(ctx, log)
		if err != nil {
			return nil, fmt.Errorf("storage: open: %w", err)
		}

		c.eng = cfg.Engine
		uri = u

		var stop context.CancelCauseFunc
		ctx, stop = context.WithCancelCause(ctx)
		defer stop(nil)
		watchEngine(ctx, cfg.Engine, stop)
	}

	c.uri = uri
	c.be = newBackend(c.eng != nil)
	opts := options.Client().ApplyURI(uri).SetServerSelectionTimeout(10 * time.Second)
	if cfg.OnCommand != nil {
		on := cfg.OnCommand
		opts.SetMonitor(&event.CommandMonitor{
			Started: func(_ context.Context, e *event.CommandStartedEvent) { on(e.CommandName) },
		})
	}

	mc, err := mongo.Connect(opts)
	if err != nil {
		c.closeEngine()
		return nil, fmt.Errorf("storage: open: connect: %w", err)
	}

	c.mc = mc

	if err := c.Ping(ctx); err != nil {
		_ = c.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("storage: open: %w", causeOf(ctx, err))
	}

	if _, err := c.Datastore(ctx, DefaultDatastore); err != nil {
		_ = c.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("storage: open: %w", causeOf(ctx, err))
	}

	log.InfoContext(ctx, "storage opened", slog.Bool("embedded", c.Embedded()))

	return c, nil
}

// errEngineStopped reports an embedded engine that stopped while the client opened.
var errEngineStopped = errors.New("the embedded engine stopped while starting")

// watchEngine calls stop with errEngineStopped if eng stops before ctx ends, when eng tells
// when it stops (embedded.Engine does).
func watchEngine(ctx context.Context, eng Engine, stop context.CancelCauseFunc) {
	d, ok := eng.(interface{ Done() <-chan struct{} })
	if !ok {
		return
	}
	go func() {
		select {
		case <-d.Done():
			stop(errEngineStopped)
		case <-ctx.Done():
		}
	}()
}

// causeOf returns why ctx ended when that is why err happened, else err.
func causeOf(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
		return fmt.Errorf("%w (%w)", cause, err)
	}
	return err
}

// Close disconnects the driver and, for the embedded engine, stops it and releases
// its data directory. Commits still running may fail; recovery completes or undoes
// them on the next open. Closing a closed client does nothing.
func (c *Client) Close(ctx context.Context) error {
	var errs []error

	c.mu.Lock()
	defer c.mu.Unlock()

	if c.closed {
		return nil
	}

	c.closed = true

	for _, s := range c.stores {
		if err := s.shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}

	if c.mc != nil {
		if err := c.mc.Disconnect(ctx); err != nil {
			errs = append(errs, fmt.Errorf("storage: close: disconnect: %w", err))
		}
	}

	if err := c.closeEngine(); err != nil {
		errs = append(errs, fmt.Errorf("storage: close: %w", err))
	}

	return errors.Join(errs...)
}

func (c *Client) closeEngine() error {
	if c.eng == nil {
		return nil
	}

	return c.eng.Stop()
}

// clock returns the current time by the client's clock.
func (c *Client) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// URI returns the MongoDB connection string in use: the configured one, or the embedded
// engine's loopback address. Tools and benchmarks use it to reach the same store directly.
func (c *Client) URI() string { return c.uri }

// Embedded reports whether the client runs the embedded engine rather than MongoDB.
func (c *Client) Embedded() bool { return c.eng != nil }

// Ping checks that the engine answers.
func (c *Client) Ping(ctx context.Context) error {
	if err := c.mc.Ping(ctx, nil); err != nil {
		return fmt.Errorf("storage: ping: %w", err)
	}

	return nil
}

// Datastore returns the datastore with the given name, creating its database on first
// use and recovering commits that an earlier process left unfinished. Names match
// [a-z0-9_-]{1,40}; the database is "fhirgate_" + name. Stores are cached: every call
// with the same name returns the same *Store.
func (c *Client) Datastore(ctx context.Context, name string) (*Store, error) {
	if !datastoreNameRE.MatchString(name) {
		return nil, fmt.Errorf("storage: datastore %q: name must match %s: %w", name, datastoreNameRE, ErrInvalid)
	}

	// Opening is rare and includes recovery, which must finish before the store is
	// used, so one lock covers it.
	c.mu.Lock()
	defer c.mu.Unlock()

	if c.closed {
		return nil, fmt.Errorf("storage: datastore %q: %w", name, errClosed)
	}

	if s := c.stores[name]; s != nil {
		return s, nil
	}

	s := newStore(c, name)
	if err := s.open(ctx); err != nil {
		return nil, fmt.Errorf("storage: datastore %q: %w", name, err)
	}

	c.stores[name] = s

	return s, nil
}

// Datastores returns the names of every datastore in the deployment, sorted, the default
// one included: every database named "fhirgate_" + a valid datastore name.
func (c *Client) Datastores(ctx context.Context) ([]string, error) {
	names, err := c.mc.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("storage: list datastores: %w", err)
	}

	out := []string{}
	for _, n := range names {
		if name, ok := strings.CutPrefix(n, dbPrefix); ok && datastoreNameRE.MatchString(name) {
			out = append(out, name)
		}
	}

	slices.Sort(out)

	return out, nil
}

// HasDatastore reports whether the datastore name exists, without creating it.
func (c *Client) HasDatastore(ctx context.Context, name string) (bool, error) {
	c.mu.Lock()
	open := c.stores[name] != nil
	c.mu.Unlock()
	if open {
		return true, nil
	}

	names, err := c.Datastores(ctx)
	if err != nil {
		return false, err
	}

	_, found := slices.BinarySearch(names, name)

	return found, nil
}

// DropDatastore deletes the datastore name and everything in it: resources, history and
// change feed. The default datastore cannot be dropped (ErrInvalid); an unknown name is
// ErrNotFound. Requests still using the datastore fail; none should.
func (c *Client) DropDatastore(ctx context.Context, name string) error {
	if name == DefaultDatastore {
		return fmt.Errorf("storage: drop datastore %q: the default datastore cannot be dropped: %w", name, ErrInvalid)
	}

	ok, err := c.HasDatastore(ctx, name)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("storage: drop datastore %q: %w", name, ErrNotFound)
	}

	c.mu.Lock()
	defer c.mu.Unlock()

	if s := c.stores[name]; s != nil {
		if err := s.shutdown(ctx); err != nil {
			c.log.WarnContext(ctx, "storage: drop datastore: shutdown", slog.String("datastore", name), slog.Any("error", err))
		}
		delete(c.stores, name)
	}

	if c.eng != nil {
		if err := c.eng.ForgetDatabase(dbPrefix + name); err != nil {
			return fmt.Errorf("storage: drop datastore %q: %w", name, err)
		}
	}

	if err := c.mc.Database(dbPrefix + name).Drop(ctx); err != nil {
		return fmt.Errorf("storage: drop datastore %q: %w", name, err)
	}

	return nil
}
