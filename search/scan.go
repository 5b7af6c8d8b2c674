package search

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/fhirgate/fhirgate/storage"
)

// Owners names the compartments of several owners of one type (the patients of a group):
// Compartment gives the type and parameters (its ID is not used), IDs the owners.
type Owners struct {
	Compartment Compartment
	IDs         []string
}

// Scan calls fn with every current resource of q's type that matches q's filters, in id
// order, reading pageSize of them per round trip, so that a scan of any size holds one page
// in memory. Pages are keyset pages on the id: a resource written during the scan neither
// repeats nor shifts another. When within is not nil, only the resources in the compartment
// of one of its owners are scanned (none when it has no owner, or when q's type is in no
// such compartment). q's sort, count, offset, cursor and fhirpath arguments are ignored. The
// storage scope of ctx applies as to every read; an error of fn stops the scan and is
// returned as it is.
func (r *Runner) Scan(ctx context.Context, q *Query, within *Owners, pageSize int, fn func(*storage.Record) error) error {
	if pageSize <= 0 {
		return fmt.Errorf("search: scan page size %d", pageSize)
	}
	f, ok, err := r.scanFilter(ctx, q, within)
	if err != nil || !ok {
		return err
	}
	order := bson.D{{Key: fieldID, Value: 1}}
	var last string
	for first := true; ; first = false {
		page := f
		if !first {
			page = allOf(f, bson.D{{Key: fieldID, Value: bson.D{{Key: "$gt", Value: last}}}})
		}
		recs, err := r.Store.Search(ctx, q.Type, storage.Query{Filter: page, Sort: order, Limit: int64(pageSize)})
		if err != nil {
			return err
		}
		for _, rec := range recs {
			if err := fn(rec); err != nil {
				return err
			}
		}
		if len(recs) < pageSize {
			return nil
		}
		last = recs[len(recs)-1].ID
	}
}

// ScanCount returns how many resources Scan would call its function with.
func (r *Runner) ScanCount(ctx context.Context, q *Query, within *Owners) (int64, error) {
	f, ok, err := r.scanFilter(ctx, q, within)
	if err != nil || !ok {
		return 0, err
	}
	return r.Store.Count(ctx, q.Type, storage.Query{Filter: f})
}

// scanFilter is the filter of a scan: q's, within the owners' compartments when given; ok is
// false when nothing can match.
func (r *Runner) scanFilter(ctx context.Context, q *Query, within *Owners) (f bson.D, ok bool, err error) {
	if f, err = r.filter(ctx, q); err != nil {
		return nil, false, err
	}
	if within == nil {
		return f, true, nil
	}
	cf, ok := within.Compartment.FilterAll(q.Type, within.IDs)
	if !ok {
		return nil, false, nil
	}
	return allOf(f, cf), true, nil
}

// allOf is the conjunction of two filters, either of which may be empty.
func allOf(a, b bson.D) bson.D {
	switch {
	case len(a) == 0:
		return b
	case len(b) == 0:
		return a
	}
	return bson.D{{Key: "$and", Value: bson.A{a, b}}}
}
