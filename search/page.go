package search

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/fhirpath"
	"github.com/fhirgate/fhirgate/internal/jsontree"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/storage"
)

// ErrTooMany reports a result larger than the caller may receive at once: a list is
// never cut silently.
var ErrTooMany = fault.New(fault.TooMany, "too many results")

// Runner executes searches on one datastore.
type Runner struct {
	Store Store
	// ListLimit is the most resources a list or page may hold.
	ListLimit int
	// PageSize is a connection's page size when _count is absent.
	PageSize int
	// Cursors seals connection cursors; nil uses a key of this process.
	Cursors *Sealer
	// Now is the clock the ap prefix approximates from; nil is time.Now.
	Now func() time.Time
	// KeepDoc has the records of a Page carry their stored documents (search fields
	// included), for callers that read their references (Refs).
	KeepDoc bool
}

// filter builds the query's filter, with sub-searches on the runner's store.
func (r *Runner) filter(ctx context.Context, q *Query) (bson.D, error) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	return q.filterAt(ctx, StoreFinder{Store: r.Store}, now())
}

// List runs a search for XList: every match, or ErrTooMany when there are more than
// the list limit (or than _count, when given, after _offset). A fhirpath argument
// keeps the matches for which the expression is true.
func (r *Runner) List(ctx context.Context, q *Query) ([]*storage.Record, error) {
	if q.Cursor != "" {
		return nil, invalid("_cursor belongs to connections; lists page with _count and _offset")
	}
	limit := r.ListLimit
	if q.Count != nil {
		if *q.Count > r.ListLimit {
			return nil, fmt.Errorf("%w: _count %d exceeds the list limit of %d", ErrTooMany, *q.Count, r.ListLimit)
		}
		limit = *q.Count
	}
	f, err := r.filter(ctx, q)
	if err != nil {
		return nil, err
	}
	var keep *fhirpath.Expr
	if q.FHIRPath != "" {
		if keep, err = fhirpath.Compile(q.FHIRPath); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	sq := storage.Query{Filter: f, Sort: q.SortFields(), Skip: int64(q.Offset), Limit: int64(limit) + 1}
	if keep != nil {
		// The expression filters after storage: read every candidate (within the limit),
		// then page.
		sq.Skip, sq.Limit = 0, int64(r.ListLimit)+1
	}
	recs, err := r.Store.Search(ctx, q.Type, sq)
	if err != nil {
		return nil, err
	}
	if keep != nil {
		if len(recs) > r.ListLimit {
			return nil, fmt.Errorf("%w: more than %d %s resources match before the fhirpath filter; narrow the search", ErrTooMany, r.ListLimit, q.Type)
		}
		if recs, err = filterFHIRPath(recs, keep); err != nil {
			return nil, err
		}
		recs = recs[min(q.Offset, len(recs)):]
	}
	if len(recs) > limit {
		if q.Count == nil {
			return nil, fmt.Errorf("%w: more than %d %s resources match; narrow the search, page with _count and _offset, or use %sConnection", ErrTooMany, r.ListLimit, q.Type, q.Type)
		}
		recs = recs[:limit]
	}
	return recs, nil
}

func filterFHIRPath(recs []*storage.Record, e *fhirpath.Expr) ([]*storage.Record, error) {
	out := recs[:0]
	for _, rec := range recs {
		m, err := jsontree.DecodeObject(rec.JSON)
		if err != nil {
			return nil, err
		}
		vals, err := e.Eval(m)
		if err != nil {
			return nil, fmt.Errorf("%w: fhirpath on %s/%s: %w", ErrInvalid, rec.Type, rec.ID, err)
		}
		if Truthy(vals) {
			out = append(out, rec)
		}
	}
	return out, nil
}

// Truthy reads a FHIRPath result as a filter: a single boolean is itself, any other
// non-empty collection is true.
func Truthy(vals []fhirpath.Value) bool {
	if len(vals) == 1 {
		if b, ok := vals[0].Data.(bool); ok {
			return b
		}
	}
	return len(vals) > 0
}

// cursor is the decoded form of a connection's opaque _cursor.
type cursor struct {
	// Dir is "after" or "before" the Keys, or "first" / "last" page.
	Dir  string `json:"d"`
	Keys []any  `json:"k,omitempty"`
	// Q is a digest of the search the cursor belongs to.
	Q string `json:"q"`
}

func (c cursor) encode(s *Sealer) *string {
	b, _ := json.Marshal(c)
	out := base64.RawURLEncoding.EncodeToString(s.seal(b))
	return &out
}

func decodeCursor(sealer *Sealer, s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		b, err = sealer.open(b)
	}
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		err = dec.Decode(&c)
	}
	if err != nil {
		return c, invalid("_cursor is not a cursor this server issued")
	}
	for i, k := range c.Keys {
		if n, ok := k.(json.Number); ok {
			if strings.ContainsAny(string(n), ".eE") {
				f, _ := n.Float64()
				c.Keys[i] = f
			} else {
				c.Keys[i], _ = n.Int64()
			}
		}
	}
	switch c.Dir {
	case "after", "before", "first", "last", "offset":
	default:
		return c, invalid("_cursor is not a cursor this server issued")
	}
	return c, nil
}

// Connection is one page of a search with the FHIR GraphQL connection fields. Count
// and Offset are computed only when asked for.
type Connection struct {
	Edges []*Edge
	// Records are the page's matches as stored, in order: what Page returns instead of Edges.
	Records  []*storage.Record
	Pagesize int
	First    *string
	Previous *string
	Next     *string
	Last     *string

	runner *Runner
	count  *int // known in advance for a connection over results in memory
	q      *Query
	filter bson.D
	before bson.D // matches the resources ahead of this page, when offset is unknown

	// offsetMu guards offset: gqlgen resolves the fields of one connection concurrently,
	// and a query may ask for offset more than once (under aliases).
	offsetMu sync.Mutex
	offset   *int
}

// Edge is one resource of a connection page.
type Edge struct {
	Mode     *string
	Score    *float64
	Resource model.Resource
}

// Count returns the number of matches, or nil when _total is "none".
func (c *Connection) Count(ctx context.Context) (*int, error) {
	if c.q.Total == "none" {
		return nil, nil
	}
	if c.count != nil {
		return c.count, nil
	}
	n, err := c.runner.Store.Count(ctx, c.q.Type, storage.Query{Filter: c.filter})
	if err != nil {
		return nil, err
	}
	i := int(n)
	return &i, nil
}

// Offset returns the position of this page's first resource among all matches.
func (c *Connection) Offset(ctx context.Context) (*int, error) {
	c.offsetMu.Lock()
	defer c.offsetMu.Unlock()
	if c.offset != nil {
		return c.offset, nil
	}
	n, err := c.runner.Store.Count(ctx, c.q.Type, storage.Query{Filter: bson.D{{Key: "$and", Value: bson.A{c.filter, c.before}}}})
	if err != nil {
		return nil, err
	}
	i := int(n)
	c.offset = &i
	return c.offset, nil
}

// Connection runs a search for XConnection: one page, from _cursor when given (after
// or before the resource it names, in the search's order, so that pages stay put when
// resources are added), else from _offset.
func (r *Runner) Connection(ctx context.Context, q *Query) (*Connection, error) {
	c, err := r.Page(ctx, q)
	if err != nil {
		return nil, err
	}
	mode := "match"
	c.Edges = make([]*Edge, 0, len(c.Records))
	for _, rec := range c.Records {
		res, err := model.Unmarshal(rec.JSON)
		if err != nil {
			return nil, fmt.Errorf("search: stored %s/%s: %w", rec.Type, rec.ID, err)
		}
		c.Edges = append(c.Edges, &Edge{Mode: &mode, Resource: res})
	}
	c.Records = nil
	return c, nil
}

// Page runs a search for one page as Connection does, and returns the page's matches as
// stored records (Connection.Records), not decoded: for callers that serve the JSON itself.
func (r *Runner) Page(ctx context.Context, q *Query) (*Connection, error) {
	size, err := q.pageSize(r.PageSize, r.ListLimit)
	if err != nil {
		return nil, err
	}
	if q.FHIRPath != "" {
		return nil, invalid("fhirpath filters lists, not connections")
	}
	f, err := r.filter(ctx, q)
	if err != nil {
		return nil, err
	}
	dg := q.digest
	c := &Connection{Pagesize: size, runner: r, q: q, filter: f}
	c.First = cursor{Dir: "first", Q: dg}.encode(r.Cursors)
	c.Last = cursor{Dir: "last", Q: dg}.encode(r.Cursors)

	cur := cursor{Dir: "first"}
	if q.Cursor != "" {
		if cur, err = decodeCursor(r.Cursors, q.Cursor); err != nil {
			return nil, err
		}
		if cur.Q != dg {
			return nil, invalid("_cursor belongs to another search; repeat the search's arguments with it")
		}
		if q.Offset != 0 {
			return nil, invalid("_cursor and _offset exclude each other")
		}
	}
	order := q.order(false)
	if (cur.Dir == "after" || cur.Dir == "before") && len(cur.Keys) != len(order) {
		return nil, invalid("_cursor belongs to another search")
	}

	var recs []*storage.Record
	var more bool // another page exists beyond this one, in the reading direction
	switch cur.Dir {
	case "first":
		recs, more, err = r.page(ctx, q.Type, f, order, int64(q.Offset), size)
		off := q.Offset
		c.offset = &off
		if q.Offset > 0 && len(recs) > 0 {
			c.Previous = cursor{Dir: "before", Keys: recs[0].SortKeys, Q: dg}.encode(r.Cursors)
		}
		if more {
			c.Next = cursor{Dir: "after", Keys: recs[len(recs)-1].SortKeys, Q: dg}.encode(r.Cursors)
		}
	case "after":
		recs, more, err = r.page(ctx, q.Type, and(f, keyset(order, cur.Keys)), order, 0, size)
		if len(recs) > 0 {
			c.Previous = cursor{Dir: "before", Keys: recs[0].SortKeys, Q: dg}.encode(r.Cursors)
			c.before = nor(keysetOrEqual(order, recs[0].SortKeys))
		} else {
			c.Previous = cursor{Dir: "before", Keys: cur.Keys, Q: dg}.encode(r.Cursors)
		}
		if more {
			c.Next = cursor{Dir: "after", Keys: recs[len(recs)-1].SortKeys, Q: dg}.encode(r.Cursors)
		}
	case "before", "last":
		rev := q.order(true)
		filter := f
		if cur.Dir == "before" {
			filter = and(f, keyset(rev, cur.Keys))
		}
		recs, more, err = r.page(ctx, q.Type, filter, rev, 0, size)
		for i, j := 0, len(recs)-1; i < j; i, j = i+1, j-1 {
			recs[i], recs[j] = recs[j], recs[i]
		}
		if len(recs) > 0 {
			// Keys were read in reverse order; a cursor holds them as the forward order sees them.
			if more {
				c.Previous = cursor{Dir: "before", Keys: recs[0].SortKeys, Q: dg}.encode(r.Cursors)
			}
			c.before = nor(keysetOrEqual(order, recs[0].SortKeys))
			if cur.Dir == "before" {
				c.Next = cursor{Dir: "after", Keys: recs[len(recs)-1].SortKeys, Q: dg}.encode(r.Cursors)
			}
		} else {
			zero := 0
			c.offset = &zero
		}
	}
	if err != nil {
		return nil, err
	}
	c.Records = recs
	if c.Records == nil {
		c.Records = []*storage.Record{}
	}
	return c, nil
}

// order is the full sort of a search: its _sort keys, then _id; reversed for reading
// backwards.
func (q *Query) order(reverse bool) bson.D {
	out := q.SortFields()
	out = append(out, bson.E{Key: fieldID, Value: 1})
	if reverse {
		for i := range out {
			out[i].Value = -out[i].Value.(int)
		}
	}
	return out
}

// page reads up to size matches in order and reports whether more follow.
func (r *Runner) page(ctx context.Context, typ string, filter, order bson.D, skip int64, size int) ([]*storage.Record, bool, error) {
	if size == 0 {
		return []*storage.Record{}, false, nil
	}
	recs, err := r.Store.Search(ctx, typ, storage.Query{Filter: filter, Sort: order, Skip: skip, Limit: int64(size) + 1, KeepDoc: r.KeepDoc})
	if err != nil {
		return nil, false, err
	}
	more := len(recs) > size
	if more {
		recs = recs[:size]
	}
	return recs, more, nil
}

func and(a, b bson.D) bson.D {
	if len(b) == 0 {
		return a
	}
	return bson.D{{Key: "$and", Value: bson.A{a, b}}}
}

// keyset matches the documents strictly after keys in order: for sort fields
// F1..Fn, (F1 after k1) or (F1 = k1 and F2 after k2) or ... A missing key sorts
// lowest, as MongoDB sorts null.
func keyset(order bson.D, keys []any) bson.D {
	var or bson.A
	var eqs bson.D
	for i, f := range order {
		asc := f.Value.(int) > 0
		k := keys[i]
		var after bson.D
		switch {
		case asc && k == nil:
			after = bson.D{{Key: f.Key, Value: bson.D{{Key: "$ne", Value: nil}}}}
		case asc:
			after = bson.D{{Key: f.Key, Value: bson.D{{Key: "$gt", Value: k}}}}
		case k == nil: // descending after null: nothing
		default:
			after = bson.D{{Key: "$or", Value: bson.A{
				bson.D{{Key: f.Key, Value: bson.D{{Key: "$lt", Value: k}}}},
				bson.D{{Key: f.Key, Value: nil}},
			}}}
		}
		if after != nil {
			or = append(or, append(append(bson.D{}, eqs...), after...))
		}
		eqs = append(eqs, bson.E{Key: f.Key, Value: k})
	}
	if len(or) == 0 {
		return matchNothing
	}
	return bson.D{{Key: "$or", Value: or}}
}

// keysetOrEqual matches the documents at or after keys in order.
func keysetOrEqual(order bson.D, keys []any) bson.D {
	eq := bson.D{}
	for i, f := range order {
		eq = append(eq, bson.E{Key: f.Key, Value: keys[i]})
	}
	return bson.D{{Key: "$or", Value: bson.A{keyset(order, keys), eq}}}
}

// pageSize is a page's size: _count, at most limit, else def.
func (q *Query) pageSize(def, limit int) (int, error) {
	if q.Count == nil {
		return def, nil
	}
	if *q.Count > limit {
		return 0, fmt.Errorf("%w: _count %d exceeds the page limit of %d", ErrTooMany, *q.Count, limit)
	}
	return *q.Count, nil
}

// StaticConnection pages through results already in memory, such as the reverse
// references of one resource, with offset cursors.
func StaticConnection(q *Query, all []model.Resource, pageSize, limit int, sealer *Sealer) (*Connection, error) {
	size, err := q.pageSize(pageSize, limit)
	if err != nil {
		return nil, err
	}
	off := q.Offset
	if q.Cursor != "" {
		cur, err := decodeCursor(sealer, q.Cursor)
		if err != nil || cur.Dir != "offset" || len(cur.Keys) != 1 {
			return nil, invalid("_cursor is not a cursor of this connection")
		}
		n, _ := cur.Keys[0].(int64)
		off = int(n)
	}
	at := func(o int) *string { return cursor{Dir: "offset", Keys: []any{int64(o)}, Q: "static"}.encode(sealer) }
	total := len(all)
	c := &Connection{Pagesize: size, q: q, count: &total, offset: &off, First: at(0)}
	c.Last = at(max(0, (total-1)/max(size, 1)*size))
	if off > 0 {
		c.Previous = at(max(0, off-size))
	}
	if off+size < total {
		c.Next = at(off + size)
	}
	mode := "match"
	c.Edges = []*Edge{}
	for _, res := range all[min(off, total):min(off+size, total)] {
		c.Edges = append(c.Edges, &Edge{Mode: &mode, Resource: res})
	}
	return c, nil
}
