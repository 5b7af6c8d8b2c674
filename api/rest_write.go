package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/authz/guard"
	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/validate"
)

// Writes go through the server's store (the one GraphQL mutations use, with automatic NLP
// when configured), whose Commit validates every resource; validation's issues come back
// with Prefer: return=OperationOutcome.

// create serves POST /fhir/{type}: a new resource at an id of the server's choice, or, with
// If-None-Exist, the one existing resource that matches (200), 412 when several do.
func (a *restAPI) create(c *restCall) error {
	if err := guard.CheckType(c.ctx, c.typ, authz.ActCreate); err != nil {
		return err
	}
	body, err := c.readBody(c.typ)
	if err != nil {
		return err
	}
	if crit := c.r.Header.Get("If-None-Exist"); crit != "" {
		vals, err := url.ParseQuery(strings.TrimPrefix(crit, c.typ+"?"))
		if err != nil {
			return newRESTErr(http.StatusBadRequest, "invalid", "If-None-Exist is not a search query.")
		}
		matches, err := a.match(c.ctx, c.typ, vals)
		if err != nil {
			return err
		}
		switch len(matches) {
		case 0:
		case 1:
			return c.answerWrite(http.StatusOK, matches[0], nil, "The resource exists already; nothing was created.")
		default:
			return newRESTErr(http.StatusPreconditionFailed, "multiple-matches", "If-None-Exist matches more than one %s.", c.typ)
		}
	}
	res, err := decodeResource(body)
	if err != nil {
		return err
	}
	res.SetResourceID(newID()) // FHIR create: the server assigns the id, whatever the body says
	return a.commit(c, storage.Write{Op: storage.OpCreate, Type: c.typ, ID: res.ResourceID(), Resource: res})
}

// update serves PUT /fhir/{type}/{id}: replaces the resource, or creates it at that id
// (201); If-Match makes it conditional on the current version (412 otherwise).
func (a *restAPI) update(c *restCall) error {
	if err := guard.CheckType(c.ctx, c.typ, authz.ActUpdate); err != nil {
		return err
	}
	body, err := c.readBody(c.typ)
	if err != nil {
		return err
	}
	res, err := decodeResource(body)
	if err != nil {
		return err
	}
	switch rid := res.ResourceID(); {
	case rid == "":
		return newRESTErr(http.StatusBadRequest, "required", "The resource has no id; an update names it in the body and in the URL.")
	case rid != c.id:
		return newRESTErr(http.StatusBadRequest, "invalid", "The resource's id %q does not match the URL's %q.", clipText(rid), clipText(c.id))
	}
	w := storage.Write{Op: storage.OpPut, Type: c.typ, ID: c.id, Resource: res}
	if w.IfMatch, err = ifMatch(c.r); err != nil {
		return err
	}
	return a.commit(c, w)
}

// conditionalUpdate serves PUT /fhir/{type}?criteria: no match creates (at the body's id
// when it has one), one match updates it, several are 412.
func (a *restAPI) conditionalUpdate(c *restCall) error {
	if err := guard.CheckType(c.ctx, c.typ, authz.ActUpdate); err != nil {
		return err
	}
	body, err := c.readBody(c.typ)
	if err != nil {
		return err
	}
	matches, err := a.match(c.ctx, c.typ, c.r.URL.Query())
	if err != nil {
		return err
	}
	res, err := decodeResource(body)
	if err != nil {
		return err
	}
	w := storage.Write{Op: storage.OpPut, Type: c.typ, Resource: res}
	if w.IfMatch, err = ifMatch(c.r); err != nil {
		return err
	}
	switch len(matches) {
	case 0:
		if err := guard.CheckType(c.ctx, c.typ, authz.ActCreate); err != nil {
			return err
		}
		if res.ResourceID() == "" {
			w.Op = storage.OpCreate
			res.SetResourceID(newID())
		}
	case 1:
		m := matches[0]
		if rid := res.ResourceID(); rid != "" && rid != m.ID {
			return newRESTErr(http.StatusBadRequest, "invalid", "The resource's id %q is not that of the %s the criteria match.", clipText(rid), c.typ)
		}
		res.SetResourceID(m.ID)
		if w.IfMatch == 0 {
			w.IfMatch = m.VersionID // the version matched, so that a concurrent change is not lost
		}
	default:
		return newRESTErr(http.StatusPreconditionFailed, "multiple-matches", "The criteria match more than one %s.", c.typ)
	}
	w.ID = res.ResourceID()
	return a.commit(c, w)
}

// remove serves DELETE /fhir/{type}/{id}: a deleted resource answers 410 to reads; deleting
// it again changes nothing (204).
func (a *restAPI) remove(c *restCall) error {
	if err := guard.CheckType(c.ctx, c.typ, authz.ActDelete); err != nil {
		return err
	}
	w := storage.Write{Op: storage.OpDelete, Type: c.typ, ID: c.id}
	var err error
	if w.IfMatch, err = ifMatch(c.r); err != nil {
		return err
	}
	return a.commitDelete(c, w)
}

// conditionalDelete serves DELETE /fhir/{type}?criteria: no match does nothing (204), one
// match is deleted, several are 412.
func (a *restAPI) conditionalDelete(c *restCall) error {
	if err := guard.CheckType(c.ctx, c.typ, authz.ActDelete); err != nil {
		return err
	}
	matches, err := a.match(c.ctx, c.typ, c.r.URL.Query())
	if err != nil {
		return err
	}
	switch len(matches) {
	case 0:
		c.w.WriteHeader(http.StatusNoContent)
		return nil
	case 1:
		return a.commitDelete(c, storage.Write{Op: storage.OpDelete, Type: c.typ, ID: matches[0].ID, IfMatch: matches[0].VersionID})
	}
	return newRESTErr(http.StatusPreconditionFailed, "multiple-matches", "The criteria match more than one %s.", c.typ)
}

func (a *restAPI) commitDelete(c *restCall, w storage.Write) error {
	recs, err := a.cfg.Store.Commit(c.ctx, []storage.Write{w})
	switch {
	case errors.Is(err, fault.Deleted):
		c.w.WriteHeader(http.StatusNoContent) // deleted already: nothing changes
		return nil
	case w.IfMatch > 0 && errors.Is(err, fault.Conflict):
		return newRESTErr(http.StatusPreconditionFailed, "conflict", "If-Match: %s/%s is no longer at that version.", w.Type, clipText(w.ID))
	case err != nil:
		return err
	}
	c.w.Header().Set("ETag", etag(recs[0].VersionID))
	switch preferReturn(c.r) {
	case "minimal":
		c.w.WriteHeader(http.StatusNoContent)
		return nil
	}
	c.writeJSON(http.StatusOK, outcomeJSON("information", "informational", fmt.Sprintf("%s/%s deleted.", w.Type, w.ID)))
	return nil
}

// commit writes one resource and answers 201 (created) or 200 with its headers and what
// Prefer asks for.
func (a *restAPI) commit(c *restCall, w storage.Write) error {
	ctx, issues := validate.WithCollector(c.ctx)
	recs, err := a.cfg.Store.Commit(ctx, []storage.Write{w})
	if err != nil {
		if w.IfMatch > 0 && errors.Is(err, fault.Conflict) {
			return newRESTErr(http.StatusPreconditionFailed, "conflict", "If-Match: %s/%s is no longer at version %d.", w.Type, clipText(w.ID), w.IfMatch)
		}
		return err
	}
	rec := recs[0]
	status := http.StatusOK
	if rec.VersionID == 1 || w.Op == storage.OpCreate {
		status = http.StatusCreated
	}
	c.w.Header().Set("Location", c.base()+"/"+rec.Type+"/"+rec.ID+"/_history/"+fmt.Sprint(rec.VersionID))
	return c.answerWrite(status, rec, issues.JSON(), "")
}

// answerWrite answers a write with rec, as Prefer asks: return=minimal (no body),
// representation (the resource, the default) or OperationOutcome (the validation issues,
// or note).
func (c *restCall) answerWrite(status int, rec *storage.Record, issues []any, note string) error {
	c.versionHeaders(rec)
	switch preferReturn(c.r) {
	case "minimal":
		c.w.WriteHeader(status)
		return nil
	case "OperationOutcome":
		c.writeJSON(status, writeResult(rec, issues, note))
		return nil
	}
	return c.writeResource(status, rec)
}

// writeResult describes a write: the issues validation found in it, or one that says what
// was written.
func writeResult(rec *storage.Record, issues []any, note string) map[string]any {
	var all []any
	for _, e := range issues {
		oo, _ := e.(map[string]any)["outcome"].(map[string]any)
		if is, ok := oo["issue"].([]any); ok {
			all = append(all, is...)
		}
	}
	if note == "" {
		note = fmt.Sprintf("%s/%s version %d written.", rec.Type, rec.ID, rec.VersionID)
	}
	if len(all) == 0 {
		all = []any{map[string]any{"severity": "information", "code": "informational", "diagnostics": note}}
	}
	return map[string]any{"resourceType": "OperationOutcome", "issue": all}
}

// preferReturn returns the return preference of the Prefer header.
func preferReturn(r *http.Request) string {
	for _, h := range r.Header.Values("Prefer") {
		for _, part := range strings.Split(h, ";") {
			for _, p := range strings.Split(part, ",") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(p), "return="); ok {
					return strings.Trim(v, `"`)
				}
			}
		}
	}
	return ""
}

// ifMatch reads the If-Match header: 0 when absent.
func ifMatch(r *http.Request) (int64, error) {
	h := r.Header.Get("If-Match")
	if h == "" {
		return 0, nil
	}
	v, ok := parseETag(h)
	if !ok {
		return 0, newRESTErr(http.StatusBadRequest, "invalid", "If-Match %q is not a version ETag such as W/\"3\".", clipText(h))
	}
	return v, nil
}

// maxConditionalMatches is how many matches a conditional interaction reads: enough to tell
// one from several.
const maxConditionalMatches = 2

// match runs the search criteria of a conditional interaction over typ, checked as any
// search of the caller is, and returns up to two matches.
func (a *restAPI) match(ctx context.Context, typ string, vals url.Values) ([]*storage.Record, error) {
	filters := 0
	for k := range vals {
		if !search.IsResultParam(k) && !strings.HasPrefix(k, "_count") {
			filters++
		}
	}
	if filters == 0 {
		return nil, newRESTErr(http.StatusBadRequest, "required", "A conditional interaction needs search criteria.")
	}
	q, err := search.ParseURL(typ, vals)
	if err != nil {
		return nil, err
	}
	if err := guard.CheckSearch(ctx, q); err != nil {
		return nil, err
	}
	n := maxConditionalMatches
	q.Count, q.Offset = &n, 0
	return a.runner().List(ctx, q)
}

// isConflict reports a write refused because the resource changed since it was read.
func isConflict(err error) bool { return errors.Is(err, fault.Conflict) }

func (a *restAPI) runner() *search.Runner {
	return &search.Runner{Store: a.cfg.Store, ListLimit: a.cfg.ListLimit, PageSize: a.cfg.PageSize, Cursors: a.cfg.Cursors}
}
