package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/authz/guard"
	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/storage"
)

// History answers newest first, in pages of _count (at most ListLimit) with next links.
// Instance history reads the resource's versions; type and system history read the change
// feed backwards from its head, so a page costs what it shows (plus, for a type, the
// commits of other types passed over, at most historyScan per page), never a scan of the
// store. Every version is read through the store, so the caller's compartment applies,
// and redacted as any read is.

// historyScan bounds the commits one page of type or system history reads.
const historyScan = 10_000

// historyWindow is how many commits one change-feed read covers.
const historyWindow = 500

// historyOptions are the parameters of a history interaction.
type historyOptions struct {
	count  int
	since  time.Time
	cursor string
}

func (a *restAPI) historyOptions(c *restCall) (historyOptions, error) {
	o := historyOptions{count: a.cfg.PageSize}
	q := c.r.URL.Query()
	for k := range q {
		switch k {
		case "_count", "_since", "_cursor", "_format", "_pretty", "_summary", "_elements":
		case "_at", "_list", "_sort":
			return o, newRESTErr(http.StatusNotImplemented, "not-supported", "History does not support %s.", k)
		default:
			return o, newRESTErr(http.StatusBadRequest, "invalid", "History has no parameter %q.", clipText(k))
		}
	}
	if s := q.Get("_count"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return o, newRESTErr(http.StatusBadRequest, "invalid", "_count takes a number, not %q.", clipText(s))
		}
		o.count = min(n, a.cfg.ListLimit)
	}
	if s := q.Get("_since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return o, newRESTErr(http.StatusBadRequest, "invalid", "_since takes an instant such as 2024-01-02T03:04:05Z, not %q.", clipText(s))
		}
		o.since = t
	}
	o.cursor = q.Get("_cursor")
	return o, nil
}

// instanceHistory serves GET /fhir/{type}/{id}/_history.
func (a *restAPI) instanceHistory(c *restCall) error {
	if err := guard.CheckType(c.ctx, c.typ, authz.ActRead); err != nil {
		return err
	}
	o, err := a.historyOptions(c)
	if err != nil {
		return err
	}
	recs, err := a.cfg.Store.History(c.ctx, c.typ, c.id)
	if err != nil {
		return err
	}
	if !o.since.IsZero() {
		kept := recs[:0]
		for _, r := range recs {
			if !r.LastUpdated.Before(o.since) {
				kept = append(kept, r)
			}
		}
		recs = kept
	}
	off := 0
	if o.cursor != "" {
		if off, err = strconv.Atoi(o.cursor); err != nil || off < 0 {
			return newRESTErr(http.StatusBadRequest, "invalid", "_cursor is not a cursor of this history.")
		}
	}
	total := len(recs)
	page := recs[min(off, total):min(off+o.count, total)]
	b := newBundle("history")
	b.Total = &total
	self := c.base() + "/" + c.typ + "/" + c.id + "/_history"
	b.Link = []bundleLink{{"self", self + "?" + c.r.URL.Query().Encode()}}
	if off+o.count < total {
		b.Link = append(b.Link, bundleLink{"next", historyLink(c, self, strconv.Itoa(off+o.count))})
	}
	if off > 0 {
		b.Link = append(b.Link, bundleLink{"previous", historyLink(c, self, strconv.Itoa(max(0, off-o.count)))})
	}
	for _, rec := range page {
		e, err := c.historyEntry(rec)
		if err != nil {
			return err
		}
		b.Entry = append(b.Entry, e)
	}
	c.writeJSON(http.StatusOK, b)
	return nil
}

func historyLink(c *restCall, self, cursor string) string {
	v := c.r.URL.Query()
	v.Set("_cursor", cursor)
	return self + "?" + v.Encode()
}

// typeHistory serves GET /fhir/{type}/_history.
func (a *restAPI) typeHistory(c *restCall) error {
	if err := guard.CheckType(c.ctx, c.typ, authz.ActRead); err != nil {
		return err
	}
	if err := guard.CheckType(c.ctx, c.typ, authz.ActSearch); err != nil {
		return err
	}
	return a.feedHistory(c, c.base()+"/"+c.typ+"/_history", func(t string) bool { return t == c.typ })
}

// systemHistory serves GET /fhir/_history: the versions of every type the caller may read.
func (a *restAPI) systemHistory(c *restCall) error {
	readable := map[string]bool{}
	return a.feedHistory(c, c.base()+"/_history", func(t string) bool {
		ok, known := readable[t]
		if !known {
			ok = guard.CheckType(c.ctx, t, authz.ActRead) == nil && guard.CheckType(c.ctx, t, authz.ActSearch) == nil
			readable[t] = ok
		}
		return ok
	})
}

// feedPos is a position in the change feed: commit seq, before its entry idx (idx -1: the
// whole commit).
type feedPos struct {
	seq int64
	idx int
}

func (p feedPos) String() string { return fmt.Sprintf("%d.%d", p.seq, p.idx) }

func parseFeedPos(s string) (feedPos, bool) {
	a, b, ok := strings.Cut(s, ".")
	seq, err1 := strconv.ParseInt(a, 10, 64)
	idx, err2 := strconv.Atoi(b)
	return feedPos{seq, idx}, ok && err1 == nil && err2 == nil && seq >= 0 && idx >= -1
}

// feedHistory answers a page of the change feed read backwards, of the types keep accepts.
func (a *restAPI) feedHistory(c *restCall, self string, keep func(typ string) bool) error {
	feed := a.cfg.feed
	if feed == nil {
		return newRESTErr(http.StatusNotImplemented, "not-supported", "This store keeps no change feed: type and system history are not available.")
	}
	o, err := a.historyOptions(c)
	if err != nil {
		return err
	}
	var pos feedPos
	if o.cursor != "" {
		var ok bool
		if pos, ok = parseFeedPos(o.cursor); !ok {
			return newRESTErr(http.StatusBadRequest, "invalid", "_cursor is not a cursor of this history.")
		}
	} else {
		if pos.seq, err = feed.LastSeq(c.ctx); err != nil {
			return err
		}
		pos.idx = -1
	}
	b := newBundle("history")
	b.Link = []bundleLink{{"self", self + "?" + c.r.URL.Query().Encode()}}
	next, err := a.walkFeed(c, feed, pos, o, keep, func(rec *storage.Record) error {
		e, err := c.historyEntry(rec)
		if err == nil {
			b.Entry = append(b.Entry, e)
		}
		return err
	})
	if err != nil {
		return err
	}
	if next != nil {
		b.Link = append(b.Link, bundleLink{"next", historyLink(c, self, next.String())})
	}
	c.writeJSON(http.StatusOK, b)
	return nil
}

// walkFeed reads the feed backwards from pos and emits up to o.count versions; it returns
// where the next page starts, nil at the end (the feed's start, or _since).
func (a *restAPI) walkFeed(c *restCall, feed changeFeed, pos feedPos, o historyOptions, keep func(string) bool, emit func(*storage.Record) error) (*feedPos, error) {
	hi, n, scanned := pos.seq, 0, 0
	first := true
	for hi > 0 {
		if scanned >= historyScan {
			return &feedPos{hi, -1}, nil
		}
		lo := max(0, hi-historyWindow)
		if first && pos.idx >= 0 {
			lo = hi - 1 // the commit the cursor stopped inside comes first
		}
		changes, err := feed.Changes(c.ctx, lo, int(hi-lo))
		if err != nil {
			return nil, err
		}
		scanned += int(hi - lo)
		for i := len(changes) - 1; i >= 0; i-- {
			ch := changes[i]
			if !o.since.IsZero() && ch.Time.Before(o.since) {
				return nil, nil
			}
			start := len(ch.Entries) - 1
			if first && pos.idx >= 0 && ch.Seq == pos.seq {
				start = pos.idx - 1
			}
			for j := start; j >= 0; j-- {
				e := ch.Entries[j]
				if !keep(e.Type) {
					continue
				}
				if n == o.count {
					return &feedPos{ch.Seq, j + 1}, nil
				}
				rec, ok, err := a.historyVersion(c.ctx, e, ch.Time)
				if err != nil {
					return nil, err
				}
				if !ok {
					continue
				}
				if err := emit(rec); err != nil {
					return nil, err
				}
				n++
			}
		}
		first = false
		hi = lo
	}
	return nil, nil
}

// historyVersion reads one version of the feed as the caller may: a version outside the
// caller's compartment is passed over; so is a deletion, unless the caller could read the
// version it deleted.
func (a *restAPI) historyVersion(ctx context.Context, e storage.ChangeEntry, at time.Time) (*storage.Record, bool, error) {
	rec, err := a.cfg.Store.ReadVersion(ctx, e.Type, e.ID, e.VersionID)
	switch {
	case errors.Is(err, fault.Deleted):
		if e.VersionID < 2 {
			return nil, false, nil
		}
		if _, perr := a.cfg.Store.ReadVersion(ctx, e.Type, e.ID, e.VersionID-1); perr != nil {
			return nil, false, nil
		}
		return &storage.Record{Type: e.Type, ID: e.ID, VersionID: e.VersionID, LastUpdated: at, Deleted: true, Seq: 0}, true, nil
	case errors.Is(err, fault.NotFound):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	return rec, true, nil
}

// historyEntry is one history entry: the version (none for a deletion), with the request
// that made it and its response.
func (c *restCall) historyEntry(rec *storage.Record) (bundleEntry, error) {
	e := bundleEntry{
		FullURL:  c.base() + "/" + rec.Type + "/" + rec.ID,
		Response: &entryResponse{Etag: etag(rec.VersionID), LastModified: rec.LastUpdated.UTC().Format(time.RFC3339Nano)},
	}
	instance := rec.Type + "/" + rec.ID
	switch {
	case rec.Deleted:
		e.Request = &entryRequest{Method: http.MethodDelete, URL: instance}
		e.Response.Status = "204 No Content"
		return e, nil
	case rec.Op == storage.OpCreate || rec.Op == 0 && rec.VersionID == 1: // 0: not recorded
		e.Request = &entryRequest{Method: http.MethodPost, URL: rec.Type}
		e.Response.Status = "201 Created"
	case rec.Op == storage.OpPatch:
		e.Request = &entryRequest{Method: http.MethodPatch, URL: instance}
		e.Response.Status = "200 OK"
	case rec.VersionID == 1:
		e.Request = &entryRequest{Method: http.MethodPut, URL: instance}
		e.Response.Status = "201 Created"
	default:
		e.Request = &entryRequest{Method: http.MethodPut, URL: instance}
		e.Response.Status = "200 OK"
	}
	body, err := c.resourceOut(rec)
	if err != nil {
		return e, err
	}
	e.Resource = body
	return e, nil
}
