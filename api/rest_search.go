package api

import (
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/authz/guard"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
)

// answerBundle is a Bundle the REST API answers with; entries hold resources as JSON.
type answerBundle struct {
	ResourceType string        `json:"resourceType"`
	ID           string        `json:"id"`
	Meta         *bundleMeta   `json:"meta,omitempty"`
	Type         string        `json:"type"`
	Total        *int          `json:"total,omitempty"`
	Link         []bundleLink  `json:"link,omitempty"`
	Entry        []bundleEntry `json:"entry,omitempty"`
}

type bundleMeta struct {
	LastUpdated string `json:"lastUpdated"`
}

type bundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

type bundleEntry struct {
	FullURL  string          `json:"fullUrl,omitempty"`
	Resource json.RawMessage `json:"resource,omitempty"`
	Search   *entrySearch    `json:"search,omitempty"`
	Request  *entryRequest   `json:"request,omitempty"`
	Response *entryResponse  `json:"response,omitempty"`
}

type entrySearch struct {
	Mode string `json:"mode"`
}

type entryRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
}

type entryResponse struct {
	Status       string `json:"status"`
	Etag         string `json:"etag,omitempty"`
	LastModified string `json:"lastModified,omitempty"`
}

func newBundle(typ string) *answerBundle {
	return &answerBundle{ResourceType: "Bundle", ID: newID(), Type: typ, Meta: &bundleMeta{LastUpdated: time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00")}}
}

// search serves GET /fhir/{type}?params.
func (a *restAPI) search(c *restCall) error { return a.runSearch(c, c.r.URL.Query()) }

// searchPost serves POST /fhir/{type}/_search: the parameters in a form body, and in the URL.
func (a *restAPI) searchPost(c *restCall) error {
	if mt, _, err := mime.ParseMediaType(c.r.Header.Get("Content-Type")); c.r.Header.Get("Content-Type") != "" && (err != nil || mt != mimeForm) {
		return newRESTErr(http.StatusUnsupportedMediaType, "not-supported", "POST _search takes its parameters as application/x-www-form-urlencoded.")
	}
	if err := c.r.ParseForm(); err != nil {
		return newRESTErr(http.StatusBadRequest, "invalid", "The form body is not a valid query string.")
	}
	c.r.URL.RawQuery = c.r.Form.Encode() // the parameters the answer and its links describe
	if err := c.negotiate(); err != nil {
		return err
	}
	return a.runSearch(c, c.r.Form)
}

// maxIncludeDepth bounds how many times :iterate follows included resources' references.
const maxIncludeDepth = 3

// runSearch answers a search of the call's type with a searchset Bundle: one page of
// matches (search.mode match), their _include and _revinclude resources (include), the
// total, and self/first/previous/next/last links that carry the search on with a cursor.
func (a *restAPI) runSearch(c *restCall, vals url.Values) error {
	q, err := search.ParseURL(c.typ, vals)
	if err != nil {
		return err
	}
	if err := guard.CheckSearch(c.ctx, q); err != nil {
		return err
	}
	if err := guard.CheckType(c.ctx, c.typ, authz.ActRead); err != nil {
		return err
	}
	if q.Count != nil && *q.Count > a.cfg.ListLimit {
		n := a.cfg.ListLimit // FHIR lets the server page with less than asked
		q.Count = &n
	}
	incs, err := parseIncludes(c.ctx, c.typ, vals)
	if err != nil {
		return err
	}
	r := a.runner()
	r.KeepDoc = len(incs) > 0
	b := newBundle("searchset")
	if c.summary == "count" {
		n, err := r.Page(c.ctx, withCount(q, 0))
		if err != nil {
			return err
		}
		if b.Total, err = n.Count(c.ctx); err != nil {
			return err
		}
		b.Link = []bundleLink{{"self", c.selfURL()}}
		c.writeJSON(http.StatusOK, b)
		return nil
	}
	page, err := r.Page(c.ctx, q)
	if err != nil {
		return err
	}
	switch {
	case q.Total == "none":
	case page.Next == nil && page.Previous == nil && q.Cursor == "":
		n := q.Offset + len(page.Records) // the whole result is in hand
		b.Total = &n
	default:
		if b.Total, err = page.Count(c.ctx); err != nil {
			return err
		}
	}
	b.Link = c.pageLinks(page)
	seen := map[string]bool{}
	for _, rec := range page.Records {
		seen[rec.Type+"/"+rec.ID] = true
		e, err := c.entry(rec, "match")
		if err != nil {
			return err
		}
		b.Entry = append(b.Entry, e)
	}
	inc, truncated, err := a.include(c.ctx, incs, page.Records, seen)
	if err != nil {
		return err
	}
	for _, rec := range inc {
		e, err := c.entry(rec, "include")
		if err != nil {
			return err
		}
		b.Entry = append(b.Entry, e)
	}
	if truncated {
		oo, _ := marshalRaw(outcomeJSON("warning", "too-costly", "More resources are included than the server returns at once; the included resources are incomplete."))
		b.Entry = append(b.Entry, bundleEntry{Resource: oo, Search: &entrySearch{Mode: "outcome"}})
	}
	c.writeJSON(http.StatusOK, b)
	return nil
}

func withCount(q *search.Query, n int) *search.Query {
	cp := *q
	cp.Count = &n
	return &cp
}

// entry is one search result entry: the resource as the caller may see it.
func (c *restCall) entry(rec *storage.Record, mode string) (bundleEntry, error) {
	body, err := c.resourceOut(rec)
	if err != nil {
		return bundleEntry{}, err
	}
	return bundleEntry{FullURL: c.base() + "/" + rec.Type + "/" + rec.ID, Resource: body, Search: &entrySearch{Mode: mode}}, nil
}

// selfURL is the request's URL as a search link.
func (c *restCall) selfURL() string {
	return c.base() + "/" + c.typ + "?" + c.r.URL.Query().Encode()
}

// pageLinks returns the search's paging links: each repeats the request's parameters with
// the cursor of its page.
func (c *restCall) pageLinks(page *search.Connection) []bundleLink {
	links := []bundleLink{{"self", c.selfURL()}}
	at := func(rel string, cursor *string) {
		if cursor == nil {
			return
		}
		v := c.r.URL.Query()
		v.Del(search.ArgOffset)
		v.Set(search.ArgCursor, *cursor)
		links = append(links, bundleLink{rel, c.base() + "/" + c.typ + "?" + v.Encode()})
	}
	at("first", page.First)
	at("previous", page.Previous)
	at("next", page.Next)
	at("last", page.Last)
	return links
}

// includeSpec is one _include or _revinclude value: Source:param[:Target].
type includeSpec struct {
	rev     bool
	iterate bool
	src     string
	param   *model.SearchParam
	target  string // "" for any target type
}

// parseIncludes reads _include, _revinclude and their :iterate forms. Following a reference
// parameter reads it as searching by it does, so each is checked as a search by it is; a
// target type the caller may not read is refused.
func parseIncludes(ctx context.Context, typ string, vals url.Values) ([]includeSpec, error) {
	var out []includeSpec
	for key, vs := range vals {
		base, mod, _ := strings.Cut(key, ":")
		if base != "_include" && base != "_revinclude" {
			continue
		}
		if mod != "" && mod != "iterate" && mod != "recurse" {
			return nil, newRESTErr(http.StatusBadRequest, "invalid", "%s takes the modifier :iterate only.", base)
		}
		for _, v := range vs {
			specs, err := parseInclude(typ, base == "_revinclude", mod != "", v)
			if err != nil {
				return nil, err
			}
			for _, s := range specs {
				q, err := search.Parse(s.src, map[string]any{s.param.Code: "x"})
				if err == nil {
					err = guard.CheckSearch(ctx, q)
				}
				if err == nil && s.target != "" {
					err = guard.CheckType(ctx, s.target, authz.ActRead)
				}
				if err != nil {
					return nil, err
				}
			}
			out = append(out, specs...)
		}
	}
	return out, nil
}

// parseInclude parses one value: Source:param[:Target], or Source:* for every reference
// parameter of Source.
func parseInclude(typ string, rev, iterate bool, v string) ([]includeSpec, error) {
	name := "_include"
	if rev {
		name = "_revinclude"
	}
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 || !model.IsResourceType(parts[0]) {
		return nil, newRESTErr(http.StatusBadRequest, "invalid", "%s=%q: want SourceType:parameter[:TargetType].", name, clipText(v))
	}
	src := parts[0]
	if !rev && !iterate && src != typ {
		return nil, newRESTErr(http.StatusBadRequest, "invalid", "%s=%q: an _include without :iterate starts from the searched type %s.", name, clipText(v), typ)
	}
	var params []*model.SearchParam
	if parts[1] == "*" {
		ps := model.SearchParams(src)
		for i := range ps {
			if ps[i].Type == "reference" {
				params = append(params, &ps[i])
			}
		}
	} else if p := search.ParamOf(src, parts[1]); p != nil && p.Type == "reference" {
		params = append(params, p)
	} else {
		return nil, newRESTErr(http.StatusBadRequest, "invalid", "%s=%q: %s has no reference parameter %q.", name, clipText(v), src, clipText(parts[1]))
	}
	var out []includeSpec
	for _, p := range params {
		s := includeSpec{rev: rev, iterate: iterate, src: src, param: p}
		if len(parts) == 3 {
			if !slices.Contains(p.Targets, parts[2]) {
				return nil, newRESTErr(http.StatusBadRequest, "invalid", "%s=%q: %s.%s cannot refer to %q.", name, clipText(v), src, p.Code, clipText(parts[2]))
			}
			s.target = parts[2]
		}
		if rev && !iterate && !slices.Contains(p.Targets, typ) {
			return nil, newRESTErr(http.StatusBadRequest, "invalid", "%s=%q: %s.%s cannot refer to %s.", name, clipText(v), src, p.Code, typ)
		}
		out = append(out, s)
	}
	return out, nil
}

// include fetches the resources the specs include from the matches, then, for :iterate
// specs, from what they included, up to maxIncludeDepth levels and ListLimit resources.
// Every read goes through the store, so the caller's compartment applies; resources of types
// the caller may not read are left out.
func (a *restAPI) include(ctx context.Context, specs []includeSpec, matches []*storage.Record, seen map[string]bool) ([]*storage.Record, bool, error) {
	if len(specs) == 0 {
		return nil, false, nil
	}
	var out []*storage.Record
	level := matches
	for depth := 0; depth < maxIncludeDepth && len(level) > 0; depth++ {
		var next []*storage.Record
		for _, s := range specs {
			if depth > 0 && !s.iterate {
				continue
			}
			var recs []*storage.Record
			var err error
			if s.rev {
				recs, err = a.revIncluded(ctx, s, level)
			} else {
				recs, err = a.included(ctx, s, level)
			}
			if err != nil {
				return nil, false, err
			}
			for _, rec := range recs {
				key := rec.Type + "/" + rec.ID
				if seen[key] || guard.CheckType(ctx, rec.Type, authz.ActRead) != nil {
					continue
				}
				if len(out) == a.cfg.ListLimit {
					return out, true, nil
				}
				seen[key] = true
				out = append(out, rec)
				next = append(next, rec)
			}
		}
		level = next
	}
	return out, false, nil
}

// included reads the resources that the records of s's source type refer to through s.
func (a *restAPI) included(ctx context.Context, s includeSpec, level []*storage.Record) ([]*storage.Record, error) {
	byType := map[string][]string{}
	for _, rec := range level {
		if rec.Type != s.src {
			continue
		}
		for _, ref := range recordRefs(rec, s.param.Code) {
			lr, ok := model.ParseReference(ref)
			if !ok || !lr.IsRelative() || (s.target != "" && lr.Type != s.target) || guard.CheckType(ctx, lr.Type, authz.ActRead) != nil {
				continue
			}
			byType[lr.Type] = append(byType[lr.Type], lr.ID)
		}
	}
	var out []*storage.Record
	for _, t := range slicesSorted(byType) {
		got, err := a.cfg.Store.ReadMany(ctx, t, byType[t])
		if err != nil {
			return nil, err
		}
		for _, id := range byType[t] {
			if rec := got[id]; rec != nil {
				out = append(out, rec)
			}
		}
	}
	return out, nil
}

// revIncluded reads the resources of s's source type that refer to the records of level.
func (a *restAPI) revIncluded(ctx context.Context, s includeSpec, level []*storage.Record) ([]*storage.Record, error) {
	var refs []string
	for _, rec := range level {
		if slices.Contains(s.param.Targets, rec.Type) && (s.target == "" || s.target == rec.Type) {
			refs = append(refs, rec.Type+"/"+rec.ID)
		}
	}
	if len(refs) == 0 || guard.CheckType(ctx, s.src, authz.ActRead) != nil {
		return nil, nil
	}
	q, err := search.Parse(s.src, nil)
	if err != nil {
		return nil, err
	}
	return a.runner().Referrers(ctx, q, s.param.Code, refs, a.cfg.ListLimit+1)
}

// recordRefs returns the "Type/id" values of a reference parameter of a record: from its
// stored search fields when it carries them, else extracted from its JSON.
func recordRefs(rec *storage.Record, param string) []string {
	if rec.Doc != nil {
		return search.Refs(rec.Doc, param)
	}
	ix, err := search.Extract(rec.Type, rec.JSON)
	if err != nil {
		return nil
	}
	m, err := search.IndexRefs(storage.IndexFields{Entries: ix.Entries, Asc: ix.Asc, Desc: ix.Desc})
	if err != nil {
		return nil
	}
	return m[param]
}

func slicesSorted[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
