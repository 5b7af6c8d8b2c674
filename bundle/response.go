package bundle

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/storage"
)

// newResponse returns a response Bundle of type typ with n empty entries.
func newResponse(typ string, n int) *model.Bundle {
	code := model.Code(typ)
	b := &model.Bundle{ResourceType: "Bundle", Type: &code, Entry: make([]*model.BundleEntry, n)}
	for i := range b.Entry {
		b.Entry[i] = &model.BundleEntry{}
	}
	return b
}

// writeResponse is the response entry of write entry e, whose resource is now at rec
// (nil when there is none: a delete that found nothing).
func (p *Processor) writeResponse(e *entry, rec *storage.Record, ret Return) *model.BundleEntry {
	code := 200
	switch {
	case e.noop != 0:
		code = e.noop
	case e.method == "DELETE":
		code = 204
	case e.created:
		code = 201
	}
	r := &model.BundleEntryResponse{Status: ptr(status(code))}
	out := &model.BundleEntry{Response: r}
	if e.fullURL != "" {
		out.FullUrl = ptr(model.URI(e.fullURL))
	}
	if rec == nil || e.method == "DELETE" {
		return out
	}
	r.Location = ptr(model.URI(fmt.Sprintf("%s/%s/_history/%d", rec.Type, rec.ID, rec.VersionID)))
	r.Etag = ptr(`W/"` + strconv.FormatInt(rec.VersionID, 10) + `"`)
	r.LastModified = ptr(model.Instant(rec.LastUpdated.UTC().Format("2006-01-02T15:04:05.000Z07:00")))
	switch ret {
	case ReturnRepresentation, "":
		if res, err := model.Unmarshal(rec.JSON); err == nil {
			out.Resource = res
		}
	case ReturnOutcome:
		sev, c, d := model.Code("information"), model.Code("informational"), fmt.Sprintf("%s/%s: %s", rec.Type, rec.ID, strings.ToLower(statusText[code]))
		r.Outcome = &model.OperationOutcome{Issue: []*model.OperationOutcomeIssue{{Severity: &sev, Code: &c, Diagnostics: &d}}}
	}
	return out
}

// readResponse runs read entry e through the Reader.
func (p *Processor) readResponse(ctx context.Context, e *entry) *model.BundleEntry {
	if err := p.check(ctx, e.typ, readAction(e)); err != nil {
		return p.failedEntry(e, err)
	}
	if p.Reads == nil {
		return p.failedEntry(e, fmt.Errorf("%w: read entries", errUnsupported))
	}
	resp := p.Reads.Read(ctx, e.req)
	r := &model.BundleEntryResponse{Status: ptr(status(resp.Status))}
	out := &model.BundleEntry{Response: r}
	if e.fullURL != "" {
		out.FullUrl = ptr(model.URI(e.fullURL))
	}
	if resp.Location != "" {
		r.Location = ptr(model.URI(resp.Location))
	}
	if resp.ETag != "" {
		r.Etag = ptr(resp.ETag)
	}
	if resp.LastModified != "" {
		r.LastModified = ptr(model.Instant(resp.LastModified))
	}
	if len(resp.Body) == 0 || e.method == "HEAD" {
		return out
	}
	res, err := model.Unmarshal(resp.Body)
	if err != nil {
		return out
	}
	if oo, ok := res.(*model.OperationOutcome); ok && resp.Status >= 400 {
		r.Outcome = oo
		return out
	}
	out.Resource = res
	return out
}

// readAction is the permission a read entry needs: search for a search, read for a read.
func readAction(e *entry) string {
	if e.id == "" && (len(e.url) == len(e.typ) || e.url[len(e.typ)] == '?') {
		return authz.ActSearch
	}
	return authz.ActRead
}

// failedEntry is the response entry of an entry that failed with err.
func (p *Processor) failedEntry(e *entry, err error) *model.BundleEntry {
	o := p.entryFailure(e.index, e.fullURL, err).Outcome
	r := &model.BundleEntryResponse{Status: ptr(status(o.Status))}
	if res, uerr := model.Unmarshal(o.Outcome); uerr == nil {
		if oo, ok := res.(*model.OperationOutcome); ok {
			r.Outcome = oo
		}
	}
	out := &model.BundleEntry{Response: r}
	if e.fullURL != "" {
		out.FullUrl = ptr(model.URI(e.fullURL))
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// batch runs each entry of a batch on its own: a write as a transaction of one entry, a
// read through the Reader. One entry's failure affects no other.
func (p *Processor) batch(ctx context.Context, raw []rawEntry, ret Return) *model.Bundle {
	out := newResponse("batch-response", len(raw))
	for i, re := range raw {
		if err := ctx.Err(); err != nil {
			out.Entry[i] = p.failedEntry(&entry{index: i, fullURL: re.FullURL}, err)
			continue
		}
		e, err := p.parseEntry(i, re)
		if err != nil {
			out.Entry[i] = p.failedEntry(&entry{index: i, fullURL: re.FullURL}, err)
			continue
		}
		if e.isRead() {
			out.Entry[i] = p.readResponse(ctx, e)
			continue
		}
		// A batch's entries do not refer to each other: a urn:uuid reference stays
		// unresolved, and fails its entry.
		t := &txn{p: p, refs: map[string]string{}, conds: map[string]condResult{}}
		one := []*entry{e}
		recs, err := t.run(ctx, one)
		if err != nil {
			out.Entry[i] = p.failedEntry(e, entryCause(err))
			continue
		}
		out.Entry[i] = p.writeResponse(e, recs[e], ret)
	}
	return out
}

// run plans and commits write entries.
func (t *txn) run(ctx context.Context, writes []*entry) (map[*entry]*storage.Record, error) {
	if err := t.plan(ctx, writes); err != nil {
		return nil, err
	}
	return t.commit(ctx, writes)
}

// entryCause returns the cause of an entry's failure: what an *EntryError wraps.
func entryCause(err error) error {
	if ee, ok := err.(*EntryError); ok {
		return ee.Err
	}
	return err
}
