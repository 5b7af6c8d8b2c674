package bundle

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/fhirjson"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/storage"
)

// entry is one entry of a bundle as it is planned and run.
type entry struct {
	index   int
	fullURL string
	method  string // GET, HEAD, POST, PUT, PATCH or DELETE
	url     string // the request URL as written (the reference parts resolved, for reads)
	req     Request

	typ, id string // the resource the entry writes, once known
	cond    string // the search of a conditional update, delete or create (ifNoneExist)
	ifMatch int64
	res     *fhirjson.Resource // the resource sent (POST, PUT) or the patch (PATCH)

	// What planning decided.
	write    *storage.Write  // nil when the entry writes nothing
	existing *storage.Record // the resource a conditional create found, or an unchanged one
	noop     int             // the status of an entry that writes nothing: 200 or 204
	created  bool            // the write creates the resource (201)
}

// processing orders the write entries as FHIR processes them: deletes, then creates, then
// updates and patches.
var processing = map[string]int{"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2}

// transaction runs a transaction bundle: every write in one commit, then the reads.
func (p *Processor) transaction(ctx context.Context, raw []rawEntry, ret Return) (*model.Bundle, error) {
	entries := make([]*entry, len(raw))
	seen := map[string]int{}
	for i, re := range raw {
		e, err := p.parseEntry(i, re)
		if err != nil {
			return nil, p.entryFailure(i, re.FullURL, err)
		}
		if e.fullURL != "" {
			if j, dup := seen[e.fullURL]; dup {
				return nil, p.entryFailure(i, e.fullURL, fmt.Errorf("%w: fullUrl %s is also the fullUrl of entry %d", ErrInvalid, e.fullURL, j))
			}
			seen[e.fullURL] = i
		}
		entries[i] = e
	}
	writes := slices.DeleteFunc(slices.Clone(entries), func(e *entry) bool { return e.isRead() })
	slices.SortStableFunc(writes, func(a, b *entry) int { return processing[a.method] - processing[b.method] })

	t := &txn{p: p, refs: map[string]string{}, conds: map[string]condResult{}}
	recs, err := t.run(ctx, writes)
	if err != nil {
		return nil, err
	}

	out := newResponse("transaction-response", len(entries))
	for _, e := range entries {
		if e.isRead() {
			continue
		}
		out.Entry[e.index] = p.writeResponse(e, recs[e], ret)
	}
	// Reads see the committed state, after every write.
	for _, e := range entries {
		if e.isRead() {
			e.req.URL = t.resolveURL(e.req.URL)
			out.Entry[e.index] = p.readResponse(ctx, e)
		}
	}
	return out, nil
}

func (e *entry) isRead() bool { return e.method == "GET" || e.method == "HEAD" }

// parseEntry reads entry i's request: its method, the resource type and id or search its
// URL names, and what it needs permission for.
func (p *Processor) parseEntry(i int, re rawEntry) (*entry, error) {
	if re.Request == nil {
		return nil, fmt.Errorf("%w: the entry has no request", ErrInvalid)
	}
	r := re.Request
	u := strings.TrimPrefix(r.URL, "/")
	e := &entry{index: i, fullURL: re.FullURL, method: r.Method, url: u,
		req: Request{Method: r.Method, URL: u, IfNoneMatch: r.IfNoneMatch, IfModifiedSince: r.IfModifiedSince, IfMatch: r.IfMatch, IfNoneExist: r.IfNoneExist}}
	if u == "" {
		return nil, fmt.Errorf("%w: the request has no url", ErrInvalid)
	}
	path, query, hasQuery := strings.Cut(u, "?")
	parts := strings.Split(path, "/")
	if !model.IsResourceType(parts[0]) {
		return nil, fmt.Errorf("%w: request url %q does not start with a resource type", ErrInvalid, clip(r.URL))
	}
	e.typ = parts[0]

	switch r.Method {
	case "GET", "HEAD":
		return e, nil
	case "POST", "PUT", "DELETE", "PATCH":
	default:
		return nil, fmt.Errorf("%w: request method %q: want GET, HEAD, POST, PUT, PATCH or DELETE", ErrInvalid, clip(r.Method))
	}

	if r.IfMatch != "" {
		v, err := parseETag(r.IfMatch)
		if err != nil {
			return nil, err
		}
		e.ifMatch = v
	}
	switch {
	case r.Method == "POST":
		if len(parts) != 1 || hasQuery {
			return nil, fmt.Errorf("%w: a create's url is the resource type, not %q", ErrInvalid, clip(r.URL))
		}
		e.cond = condition(e.typ, r.IfNoneExist)
	case len(parts) == 2 && !hasQuery:
		if !model.ValidID(parts[1]) {
			return nil, fmt.Errorf("%w: %q is not a valid id", ErrInvalid, clip(parts[1]))
		}
		e.id = parts[1]
	case len(parts) == 1 && hasQuery && r.Method != "PATCH":
		e.cond = e.typ + "?" + query
	default:
		return nil, fmt.Errorf("%w: a %s url is Type/id or Type?search, not %q", ErrInvalid, r.Method, clip(r.URL))
	}

	if r.Method == "DELETE" {
		if len(re.Resource) > 0 && string(re.Resource) != "null" {
			return nil, fmt.Errorf("%w: a delete carries no resource", ErrInvalid)
		}
		return e, nil
	}
	if len(re.Resource) == 0 || string(re.Resource) == "null" {
		return nil, fmt.Errorf("%w: a %s needs a resource", ErrInvalid, r.Method)
	}
	res, err := fhirjson.Parse(re.Resource)
	if err != nil {
		return nil, err
	}
	e.res = res
	if r.Method == "PATCH" {
		return e, nil
	}
	if res.Type() != e.typ {
		return nil, fmt.Errorf("%w: the resource is a %s, the url names %s", ErrInvalid, clip(res.Type()), e.typ)
	}
	if r.Method == "PUT" && e.id != "" && res.ID() != "" && res.ID() != e.id {
		return nil, fmt.Errorf("%w: the resource's id %q is not the id %q of the url", ErrInvalid, clip(res.ID()), e.id)
	}
	return e, nil
}

// condition returns the search of an ifNoneExist (its query, with or without the type),
// or "" when there is none.
func condition(typ, ifNoneExist string) string {
	q := strings.TrimPrefix(ifNoneExist, typ)
	q = strings.TrimPrefix(q, "?")
	if q == "" {
		return ""
	}
	return typ + "?" + q
}

// parseETag reads a version as an ifMatch carries it: W/"3", "3" or 3.
func parseETag(s string) (int64, error) {
	v := strings.Trim(strings.TrimPrefix(strings.TrimSpace(s), "W/"), `"`)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%w: ifMatch %q is not a version", ErrInvalid, clip(s))
	}
	return n, nil
}

// clip shortens client text quoted back in messages.
func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}

// txn is the state of one transaction (or one batch entry) being planned.
type txn struct {
	p *Processor
	// refs maps each fullUrl of the bundle whose resource gets an identity to that
	// identity, as a relative reference ("Patient/123").
	refs map[string]string
	// conds caches the conditional references resolved so far.
	conds map[string]condResult
}

type condResult struct {
	ref string
	err error
}

// plan decides what each write entry writes: the targets of conditional interactions,
// the ids of creates, then every resource with its references resolved.
func (t *txn) plan(ctx context.Context, writes []*entry) error {
	p := t.p
	for _, e := range writes {
		if err := t.target(ctx, e); err != nil {
			return p.entryFailure(e.index, e.fullURL, err)
		}
	}
	// No two entries may write the same resource: their order would decide the outcome.
	owner := map[string]*entry{}
	for _, e := range writes {
		if e.id == "" {
			continue
		}
		key := e.typ + "/" + e.id
		if o := owner[key]; o != nil {
			return p.entryFailure(e.index, e.fullURL, fmt.Errorf("%w: entry %d already writes %s", ErrInvalid, o.index, key))
		}
		owner[key] = e
	}
	if err := t.readCurrent(ctx, writes); err != nil {
		return err
	}
	for _, e := range writes {
		if err := t.build(ctx, e); err != nil {
			return p.entryFailure(e.index, e.fullURL, err)
		}
	}
	return nil
}

// target finds the resource entry e writes: a conditional interaction's match, a create's
// new id, and records e's fullUrl as that resource.
func (t *txn) target(ctx context.Context, e *entry) error {
	p := t.p
	act := map[string]string{"POST": authz.ActCreate, "PUT": authz.ActUpdate, "PATCH": authz.ActUpdate, "DELETE": authz.ActDelete}[e.method]
	if err := p.check(ctx, e.typ, act); err != nil {
		return err
	}
	if e.cond != "" {
		ids, err := t.search(ctx, e.cond, e.typ)
		if err != nil {
			return err
		}
		switch {
		case len(ids) > 1:
			return fmt.Errorf("%w: the search %s matches more than one %s", errPrecondition, clip(e.cond), e.typ)
		case len(ids) == 1 && e.method == "POST":
			e.id, e.noop = ids[0], 200 // ifNoneExist: the match stands for the create
		case len(ids) == 1:
			if rid := idOf(e); rid != "" && rid != ids[0] {
				return fmt.Errorf("%w: the resource's id %q is not the id of the resource the search matches", ErrInvalid, clip(rid))
			}
			e.id = ids[0]
		case e.method == "DELETE":
			e.noop = 204 // nothing to delete
		}
	}
	if e.id == "" && e.noop == 0 {
		switch rid := idOf(e); {
		case e.method == "PUT" && rid != "" && model.ValidID(rid):
			e.id = rid // a conditional update matching nothing creates at the id it carries
		case (e.method == "POST" || e.method == "PUT") && p.KeepIDs && model.ValidID(rid):
			e.id = rid
		default:
			e.id = p.newID()
		}
	}
	if e.fullURL != "" && e.id != "" && e.method != "DELETE" {
		t.refs[e.fullURL] = e.typ + "/" + e.id
	}
	return nil
}

func idOf(e *entry) string {
	if e.res == nil {
		return ""
	}
	return e.res.ID()
}

func (p *Processor) newID() string {
	if p.NewID != nil {
		return p.NewID()
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (p *Processor) check(ctx context.Context, typ, act string) error {
	if p.Policy == nil {
		return nil
	}
	return p.Policy.CheckType(ctx, typ, act)
}

// readCurrent reads the current versions that planning depends on: those deletes and
// patches act on, and those an unchanged create or update may leave alone.
func (t *txn) readCurrent(ctx context.Context, writes []*entry) error {
	byType := map[string][]*entry{}
	for _, e := range writes {
		need := e.noop == 0 && (e.method == "DELETE" || e.method == "PATCH" || (t.p.SkipUnchanged && e.res != nil))
		if need || (e.noop == 200 && e.method == "POST") {
			byType[e.typ] = append(byType[e.typ], e)
		}
	}
	for _, typ := range sortedKeys(byType) {
		es := byType[typ]
		ids := make([]string, len(es))
		for i, e := range es {
			ids[i] = e.id
		}
		found, err := t.p.Store.ReadMany(ctx, typ, ids)
		if err != nil {
			return fmt.Errorf("bundle: read current %s: %w", typ, err)
		}
		for _, e := range es {
			e.existing = found[e.id]
		}
	}
	return nil
}

// build makes entry e's write, its resource's references resolved.
func (t *txn) build(ctx context.Context, e *entry) error {
	if e.noop != 0 {
		return nil
	}
	switch e.method {
	case "DELETE":
		if e.existing == nil {
			e.noop = 204 // absent or already deleted: nothing to do, as FHIR allows
			return nil
		}
		e.write = &storage.Write{Op: storage.OpDelete, Type: e.typ, ID: e.id, IfMatch: e.ifMatch}
		return nil
	case "PATCH":
		if t.p.Patch == nil {
			return fmt.Errorf("%w: PATCH entries", errUnsupported)
		}
		if e.existing == nil {
			return fmt.Errorf("%w: %s/%s does not exist", errNotFound, e.typ, e.id)
		}
		patch, err := e.res.MarshalJSON()
		if err != nil {
			return err
		}
		b, err := t.p.Patch.Patch(ctx, e.existing.JSON, patch)
		if err != nil {
			return err
		}
		if e.res, err = fhirjson.Parse(b); err != nil {
			return err
		}
		if e.res.Type() != e.typ || e.res.ID() != e.id {
			return fmt.Errorf("%w: a patch may not change the resource's type or id", ErrInvalid)
		}
		// Patched from the version read: a concurrent write fails the transaction.
		if e.ifMatch == 0 {
			e.ifMatch = e.existing.VersionID
		}
	}
	if err := t.resolveRefs(ctx, e.res); err != nil {
		return err
	}
	e.res.SetID(e.id)
	if t.p.SkipUnchanged && e.existing != nil && e.ifMatch == 0 {
		b, _ := e.res.MarshalJSON()
		if fhirjson.SameContent(e.existing.JSON, b) {
			e.noop = 200
			return nil
		}
	}
	op := storage.OpPut
	switch {
	case e.method == "POST" && !t.p.KeepIDs:
		op = storage.OpCreate // a fresh id: never over someone else's resource
	case e.method == "PATCH":
		op = storage.OpPatch
	}
	e.write = &storage.Write{Op: op, Type: e.typ, ID: e.id, IfMatch: e.ifMatch, Resource: e.res}
	return nil
}

// commit commits the writes of entries in one storage commit, and returns each entry's
// record: the version it wrote, or the one it left as it was.
func (t *txn) commit(ctx context.Context, entries []*entry) (map[*entry]*storage.Record, error) {
	var writes []storage.Write
	var by []*entry
	for _, e := range entries {
		if e.write != nil {
			writes = append(writes, *e.write)
			by = append(by, e)
		}
	}
	recs, err := t.p.Store.Commit(ctx, writes)
	if err != nil {
		if we := storage.WriteErrors(err); len(we) > 0 && we[0].Index < len(by) {
			e := by[we[0].Index]
			return nil, t.p.entryFailure(e.index, e.fullURL, err)
		}
		return nil, fmt.Errorf("bundle: commit: %w", err)
	}
	if t.p.Observe != nil {
		for _, e := range entries {
			t.p.Observe(e.typ, e.write != nil)
		}
	}
	out := make(map[*entry]*storage.Record, len(entries))
	for i, e := range by {
		out[e] = recs[i]
		e.created = recs[i].VersionID == 1
	}
	for _, e := range entries {
		if e.write == nil && e.existing != nil {
			out[e] = e.existing
		}
	}
	return out, nil
}

// resolveURL replaces the fullUrls of the bundle's resources in a read's URL (a search
// such as Observation?subject=urn:uuid:...) with their identities.
func (t *txn) resolveURL(u string) string {
	path, query, ok := strings.Cut(u, "?")
	if !ok {
		return u
	}
	vals, err := url.ParseQuery(query)
	if err != nil {
		return u
	}
	changed := false
	for k, vs := range vals {
		for i, v := range vs {
			if ref, ok := t.refs[v]; ok {
				vals[k][i], changed = ref, true
			}
		}
	}
	if !changed {
		return u
	}
	return path + "?" + vals.Encode()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
