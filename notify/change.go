package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
)

// Op is the kind of a change to a resource.
type Op string

// The kinds of change.
const (
	// Create is the first version of a resource, or the first after a delete.
	Create Op = "CREATE"
	// Update is a new version of a resource that exists.
	Update Op = "UPDATE"
	// Delete is a deletion.
	Delete Op = "DELETE"
)

// version is one stored version of a resource as the subscriptions of one process see it:
// read once per change, whatever the number of subscribers, and prepared lazily for what
// they ask of it (matching search filters, FHIRPath, the decoded resource). It is read-only
// once made, and safe for concurrent use.
type version struct {
	rec *storage.Record

	matchOnce sync.Once
	match     *storage.Matchable
	matchErr  error

	treeOnce sync.Once
	tree     map[string]any
	treeErr  error

	resOnce sync.Once
	res     model.Resource
	resErr  error
}

// matchable returns the version with its search fields, for filters.
func (v *version) matchable() (*storage.Matchable, error) {
	v.matchOnce.Do(func() {
		f, err := search.Indexer{}.Index(v.rec.Type, v.rec.JSON)
		if err != nil {
			v.matchErr = fmt.Errorf("index %s/%s version %d: %w", v.rec.Type, v.rec.ID, v.rec.VersionID, err)
			return
		}
		v.match, v.matchErr = storage.NewMatchable(storage.Version{Type: v.rec.Type, ID: v.rec.ID, JSON: v.rec.JSON, Index: f})
	})
	return v.match, v.matchErr
}

// json returns the version as a JSON tree, for FHIRPath.
func (v *version) json() (map[string]any, error) {
	v.treeOnce.Do(func() {
		dec := json.NewDecoder(bytes.NewReader(v.rec.JSON))
		dec.UseNumber()
		v.treeErr = dec.Decode(&v.tree)
	})
	return v.tree, v.treeErr
}

// resource returns the version decoded. Subscribers share it: GraphQL only reads it.
func (v *version) resource() (model.Resource, error) {
	v.resOnce.Do(func() {
		v.res, v.resErr = model.Unmarshal(v.rec.JSON)
		if v.resErr != nil {
			v.resErr = fmt.Errorf("stored %s/%s version %d: %w", v.rec.Type, v.rec.ID, v.rec.VersionID, v.resErr)
		}
	})
	return v.res, v.resErr
}

// entry is one write of a committed change, with the version it wrote and the one before.
type entry struct {
	seq  int64
	idx  int
	time time.Time
	op   Op
	typ  string
	id   string
	v    int64
	// cur is the version written, nil for a delete; prev is the version before, nil when
	// there is none or it is a delete.
	cur, prev *version
	// tomb is the delete's own record.
	tomb *storage.Record
}

// reader reads the versions of change entries.
type reader interface {
	ReadVersion(ctx context.Context, typ, id string, v int64) (*storage.Record, error)
}

// load reads the versions write idx of change c wrote and replaced.
func load(ctx context.Context, r reader, c *storage.Change, idx int) (*entry, error) {
	w := c.Entries[idx]
	e := &entry{seq: c.Seq, idx: idx, time: c.Time, typ: w.Type, id: w.ID, v: w.VersionID}
	if w.VersionID > 1 {
		rec, err := r.ReadVersion(ctx, w.Type, w.ID, w.VersionID-1)
		switch {
		case err == nil:
			e.prev = &version{rec: rec}
		case !errors.Is(err, storage.ErrDeleted):
			return nil, fmt.Errorf("notify: change %d: %s/%s version %d: %w", c.Seq, w.Type, w.ID, w.VersionID-1, err)
		}
	}
	switch {
	case w.Deleted:
		e.op = Delete
		e.tomb = &storage.Record{Type: w.Type, ID: w.ID, VersionID: w.VersionID, LastUpdated: c.Time, Deleted: true, Seq: c.Seq}
		return e, nil
	case e.prev == nil:
		e.op = Create
	default:
		e.op = Update
	}
	rec, err := r.ReadVersion(ctx, w.Type, w.ID, w.VersionID)
	if err != nil {
		return nil, fmt.Errorf("notify: change %d: %s/%s version %d: %w", c.Seq, w.Type, w.ID, w.VersionID, err)
	}
	e.cur = &version{rec: rec}
	return e, nil
}

// Event is one change delivered to a subscription.
type Event struct {
	// Token is the position just after this event: pass it as since to resume.
	Token Token
	Op    Op
	// Leaving is set when the resource matched the subscription's criteria before this
	// change and no longer does (a delete of a matching resource included).
	Leaving bool
	Type    string
	ID      string
	Version int64
	// Time is the commit instant, the version's meta.lastUpdated.
	Time time.Time
	// Record is the version this change wrote: a tombstone, without JSON, for a delete.
	Record *storage.Record

	v *version // nil for a delete
}

// Resource returns the version this change wrote, decoded; nil for a delete. Events of
// several subscriptions share it: callers must not change it.
func (e *Event) Resource() (model.Resource, error) {
	if e.v == nil {
		return nil, nil
	}
	return e.v.resource()
}
