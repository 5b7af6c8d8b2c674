package search

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/storage"
)

// Indexer is the storage.Indexer of FHIR search: it extracts every search parameter of
// every type at write time.
type Indexer struct{}

// Index implements storage.Indexer.
func (Indexer) Index(typ string, json []byte) (storage.IndexFields, error) {
	ix, err := Extract(typ, json)
	if err != nil {
		return storage.IndexFields{}, err
	}
	return storage.IndexFields{Entries: ix.Entries, Asc: ix.Asc, Desc: ix.Desc}, nil
}

var (
	versionOnce sync.Once
	version     string
)

// Version implements storage.Indexer: the extraction rules' version plus a digest of
// the search parameter table, so that a regenerated table re-indexes stored data too.
func (Indexer) Version() string {
	versionOnce.Do(func() {
		h := sha256.New()
		for _, t := range model.ResourceTypes() {
			for _, p := range model.SearchParams(t) {
				fmt.Fprintf(h, "%s|%s|%s|%s|%v|%v\n", t, p.Code, p.Type, p.Expression, p.Targets, p.Components)
			}
		}
		version = Version + "-" + hex.EncodeToString(h.Sum(nil))[:12]
	})
	return version
}

// Store is what searches need from a datastore; *storage.Store is one. Its methods
// behave as the storage methods of the same names document.
type Store interface {
	Search(ctx context.Context, typ string, q storage.Query) ([]*storage.Record, error)
	Count(ctx context.Context, typ string, q storage.Query) (int64, error)
	Select(ctx context.Context, typ string, sel storage.Selection) ([]*storage.Record, error)
}

// StoreFinder runs sub-searches on a datastore.
type StoreFinder struct{ Store Store }

// Find implements Finder.
func (f StoreFinder) Find(ctx context.Context, typ string, filter bson.D, refParam string, limit int) (ids, refs []string, err error) {
	recs, err := f.Store.Select(ctx, typ, storage.Selection{Filter: filter, Index: refParam != "", Limit: limit})
	if err != nil {
		return nil, nil, fmt.Errorf("search: sub-search on %s: %w", typ, err)
	}
	for _, rec := range recs {
		ids = append(ids, rec.ID)
		if refParam != "" {
			refs = append(refs, Refs(rec.Doc, refParam)...)
		}
	}
	return ids, refs, nil
}

// Referrers returns the current resources of q's type that match q and refer to any of
// refs ("Type/id") through q's type's reference parameter param, in q's order, at most
// max of them, each with its stored document (read its references with [Refs]). It
// serves reverse references for many parents with one query; the caller pages and
// splits the matches by parent.
func (r *Runner) Referrers(ctx context.Context, q *Query, param string, refs []string, max int) ([]*storage.Record, error) {
	f, err := r.filter(ctx, q)
	if err != nil {
		return nil, err
	}
	filter := bson.D{{Key: "$and", Value: bson.A{RefFilter(param, refs), f}}}
	return r.Store.Search(ctx, q.Type, storage.Query{Filter: filter, Sort: q.SortFields(), Limit: int64(max), KeepDoc: true})
}

// Refs returns the "Type/id" reference values of parameter param in a stored
// document's index.
func Refs(doc bson.Raw, param string) []string {
	var out []string
	eachRef(doc, func(p, r string) {
		if p == param {
			out = append(out, r)
		}
	})
	return out
}

// IndexRefs returns the reference values of every parameter in the search fields f, by
// parameter code: "Type/id" for a literal reference (relative, absolute or versioned),
// the URL for an external or canonical one. They are the values that [RefFilter] matches.
func IndexRefs(f storage.IndexFields) (map[string][]string, error) {
	doc, err := bson.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("search: index references: %w", err)
	}
	out := map[string][]string{}
	eachRef(doc, func(p, r string) { out[p] = append(out[p], r) })
	return out, nil
}

// eachRef calls f with the parameter and value of every reference entry of a document's index.
func eachRef(doc bson.Raw, f func(param, ref string)) {
	arr, ok := doc.Lookup(FieldIndex).ArrayOK()
	if !ok {
		return
	}
	vals, _ := arr.Values()
	for _, v := range vals {
		e, ok := v.DocumentOK()
		if !ok {
			continue
		}
		p, _ := e.Lookup(fParam).StringValueOK()
		if r, ok := e.Lookup(fRef).StringValueOK(); ok {
			f(p, r)
		}
	}
}

// RefFilter matches resources whose reference parameter param points at any of refs
// ("Type/id").
func RefFilter(param string, refs []string) bson.D {
	in := make(bson.A, len(refs))
	for i, r := range refs {
		in[i] = r
	}
	return bson.D{{Key: FieldIndex, Value: bson.D{{Key: "$elemMatch", Value: bson.D{
		{Key: fParam, Value: param}, {Key: fRef, Value: bson.D{{Key: "$in", Value: in}}},
	}}}}}
}

// SortFields returns the stored sort fields of the query's _sort keys, in order.
func (q *Query) SortFields() bson.D {
	out := make(bson.D, 0, len(q.Sort))
	for _, k := range q.Sort {
		if k.Desc {
			out = append(out, bson.E{Key: FieldDesc + "." + k.Param.Code, Value: -1})
		} else {
			out = append(out, bson.E{Key: FieldAsc + "." + k.Param.Code, Value: 1})
		}
	}
	return out
}
