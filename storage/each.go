package storage

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/fhirgate/fhirgate/storage/layout"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// eachBatch is how many matches Each holds at once: it reads their JSON in one call
// where the scan left it behind.
const eachBatch = 256

// Each calls each with every current resource of typ that matches filter (as in [Query];
// nil matches all) and was last written after since (zero: at any time), in no particular
// order, holding a bounded batch in memory whatever the number of matches: bulk export
// streams a type through it. The scope in ctx applies. Stop by returning an error from
// each, which Each returns.
func (s *Store) Each(ctx context.Context, typ string, filter bson.D, since time.Time, each func(*Record) error) error {
	tc, err := s.colls(ctx, typ)
	if err != nil {
		return err
	}
	if !since.IsZero() {
		after := bson.D{{Key: "ts", Value: bson.D{{Key: "$gt", Value: since.UTC()}}}}
		if len(filter) == 0 {
			filter = after
		} else {
			filter = bson.D{{Key: "$and", Value: bson.A{filter, after}}}
		}
	}
	filter, ok := scoped(ctx, typ, filter)
	if !ok {
		return nil
	}

	batch := make([]*Record, 0, eachBatch)
	flush := func() error {
		if err := s.fillMissing(ctx, tc, batch); err != nil {
			return err
		}
		for _, r := range batch {
			if len(r.JSON) == 0 { // deleted since the scan
				continue
			}
			logAccess(ctx, r)
			if err := each(r); err != nil {
				return err
			}
		}
		batch = batch[:0]
		return nil
	}

	onVersion := func(d *versionDoc) error {
		batch = append(batch, d.record(typ))
		if len(batch) == eachBatch {
			return flush()
		}
		return nil
	}
	onDoc := func(raw bson.Raw) error {
		var d versionDoc
		if err := bson.Unmarshal(raw, &d); err != nil {
			return err
		}
		return onVersion(&d)
	}
	// Everything: on the embedded engine SQL reads the collection in _id order, rather than
	// FerretDB decoding each document for the driver.
	streamed := false
	if len(filter) == 0 {
		streamed, err = s.c.be.eachByID(ctx, s, tc, onVersion)
	}
	if !streamed && err == nil {
		proj := bson.D{{Key: layout.Entries, Value: 0}, {Key: layout.Packed, Value: 0}}
		_, err = s.scan(ctx, tc, filter, bson.D{}, 0, 0, proj, onDoc)
	}
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("storage: each %s: %w", typ, err)
	}
	return nil
}

// fillMissing reads the JSON of the records a scan left without it, in their current
// version; a record deleted since keeps none.
func (s *Store) fillMissing(ctx context.Context, tc *typeColls, recs []*Record) error {
	var ids []string
	for _, r := range recs {
		if len(r.JSON) == 0 {
			ids = append(ids, r.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	docs, err := s.fetchCurrent(ctx, tc, ids, nil)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if d := docs[r.ID]; len(r.JSON) == 0 && d != nil && !d.Del {
			r.JSON, r.VersionID, r.LastUpdated = []byte(d.JSON), d.V, d.TS.UTC()
		}
	}
	return nil
}

// WithoutAccessLog returns ctx whose reads are reported to no access log: for work that
// outlives the request whose log ctx carries, such as a bulk export job.
func WithoutAccessLog(ctx context.Context) context.Context {
	return context.WithValue(ctx, accessLogKey{}, AccessLog(nil))
}

// Types returns the resource types the datastore has ever stored, sorted: those with a
// collection. Bulk export reads these rather than every type there is, since opening a
// type's collections creates them.
func (s *Store) Types(ctx context.Context) ([]string, error) {
	names, err := s.db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("storage: list types: %w", err)
	}
	var out []string
	for _, n := range names {
		if typeRE.MatchString(n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}
