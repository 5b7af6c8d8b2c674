package storage

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/fhirgate/fhirgate/storage/layout"
)

// The last step of a commit (and of recovery): its versions become the current documents.

// applyAll makes the committed versions of plan current, one round trip per type for the
// resources that had no current document (an insert of many, which the embedded engine
// writes in one SQLite transaction) and one per type for the others. On the embedded
// engine the caller holds the resources' locks and prev are their current documents; on
// MongoDB a filter on the version makes each replace conditional, so that a late apply
// never overwrites a newer version.
func (s *Store) applyAll(ctx context.Context, tcs []*typeColls, plan, prev []*versionDoc) error {
	var order []*typeColls
	inserts := map[*typeColls][]any{}
	replaces := map[*typeColls][]mongo.WriteModel{}

	for i, d := range plan {
		p := prev[i]
		if p != nil && p.V >= d.V {
			continue
		}

		cur, err := s.currentDoc(tcs[i].typ, d)
		if err != nil {
			return err
		}
		tc := tcs[i]
		if inserts[tc] == nil && replaces[tc] == nil {
			order = append(order, tc)
		}
		if p == nil {
			inserts[tc] = append(inserts[tc], cur)
			continue
		}
		if err := cur.withEntriesJSON(); err != nil {
			return fmt.Errorf("index %s/%s: %w", tc.typ, d.resID(), err)
		}
		replaces[tc] = append(replaces[tc], s.replaceModel(cur))
	}

	for _, tc := range order {
		if err := s.insertCurrent(ctx, tc, inserts[tc]); err != nil {
			return err
		}
		models := replaces[tc]
		for n := s.c.be.replacesPerCommand(s); len(models) > 0; {
			chunk := models
			if n > 0 && len(chunk) > n {
				chunk = chunk[:n]
			}
			models = models[len(chunk):]
			_, err := tc.cur.BulkWrite(ctx, chunk, options.BulkWrite().SetOrdered(false))
			if err != nil && !onlyDups(err) {
				return fmt.Errorf("apply %s: %w", tc.typ, err)
			}
		}
	}

	return nil
}

// replacesPerCommand: FerretDB v1.24.2 keeps the query of each statement of an update
// command open until the command ends (a defer in a loop, handler/msg_update.go), and a
// statement that matched holds one of its 100 SQLite connections: an update command of
// 100 replaces of existing documents waits forever for a connection. So at most 50.
func (embeddedBackend) replacesPerCommand(*Store) int { return ferretReplaces }

// replacesPerCommand: no limit on MongoDB; a FerretDB reached by URI has the embedded
// engine's.
func (mongoBackend) replacesPerCommand(s *Store) int {
	if s.ferret {
		return ferretReplaces
	}
	return 0
}

// ferretReplaces is the most replaces FerretDB gets in one update command.
const ferretReplaces = 50

// insertCurrent inserts the current documents of resources that had none when the commit
// read them. A duplicate means one appeared since, which only another process applying
// this commit or a later one can have written (a later commit needs this one committed):
// at this version or newer, so it stays.
func (s *Store) insertCurrent(ctx context.Context, tc *typeColls, docs []any) error {
	if len(docs) == 0 {
		return nil
	}
	if _, err := s.c.be.insertMany(ctx, s, tc.cur, docs, true); err != nil {
		return fmt.Errorf("apply %s: insert: %w", tc.typ, err)
	}
	return nil
}

// insertMany: an ordered InsertMany, or an unordered one that ignores duplicates. An
// ordered one that meets a duplicate leaves the documents before it inserted: the caller
// removes its claims on abort.
func (mongoBackend) insertMany(ctx context.Context, _ *Store, coll *mongo.Collection, docs []any, skipDups bool) (bool, error) {
	_, err := coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(!skipDups))
	switch {
	case err == nil:
		return false, nil
	case skipDups && onlyDups(err):
		return false, nil
	case !skipDups && isDup(err):
		return true, nil
	}
	return false, err
}

// insertMany: straight into SQLite in one transaction (see embedded.Engine.InsertDocs),
// which saves the driver's and FerretDB's conversions of each document: the writes of an
// import are mostly these inserts. A current document's index rows go in beside it, not
// as JSON (ij) that SQLite would extract field by field. A duplicate inserts none of docs.
func (embeddedBackend) insertMany(ctx context.Context, s *Store, coll *mongo.Collection, docs []any, skipDups bool) (bool, error) {
	raws := make([]bson.Raw, len(docs))
	var rows [][]layout.IndexRow
	for i, d := range docs {
		if c, ok := d.(*currentDoc); ok && c.rows != nil {
			if rows == nil {
				rows = make([][]layout.IndexRow, len(docs))
			}
			if c.IJ != "" { // the triggers would index it again
				return false, fmt.Errorf("document %d: index rows and their JSON both", i)
			}
			rows[i] = c.rows
		}
		b, err := bson.Marshal(d)
		if err != nil {
			return false, fmt.Errorf("marshal document %d: %w", i, err)
		}
		raws[i] = b
	}
	if on := s.c.onCommand; on != nil {
		on("sqlinsert") // a round trip, counted as the driver's commands are
	}
	return s.c.eng.InsertDocs(ctx, s.db.Name(), coll.Name(), raws, rows, skipDups)
}

// replaceModel replaces the current document of cur's resource with cur, creating it when
// absent, if it is older (see olderThan).
func (s *Store) replaceModel(cur *currentDoc) mongo.WriteModel {
	return mongo.NewReplaceOneModel().SetFilter(s.c.be.olderThan(cur.Key, cur.V)).SetReplacement(cur).SetUpsert(true)
}

// applyOne makes committed history document h current unless a newer version is.
// On the embedded engine the caller holds the resource's lock; when known is set,
// prev is the resource's current document (nil when absent), else it is read.
func (s *Store) applyOne(ctx context.Context, tc *typeColls, h, prev *versionDoc, known bool) error {
	cur, err := s.currentDoc(tc.typ, h)
	if err != nil {
		return err
	}

	if skip, err := s.c.be.superseded(ctx, tc, cur, prev, known); err != nil || skip {
		return err
	}
	if err := cur.withEntriesJSON(); err != nil {
		return fmt.Errorf("index %s/%s: %w", tc.typ, h.resID(), err)
	}

	_, err = tc.cur.ReplaceOne(ctx, s.c.be.olderThan(cur.Key, cur.V), cur, options.Replace().SetUpsert(true))
	if err != nil && !isDup(err) {
		return fmt.Errorf("apply %s %s version %d: %w", tc.typ, cur.Key, cur.V, err)
	}

	return nil
}

// superseded: the embedded engine replaces by _id alone (see olderThan), so the version is
// checked here, under the caller's lock, reading the current document unless known.
func (embeddedBackend) superseded(ctx context.Context, tc *typeColls, cur *currentDoc, prev *versionDoc, known bool) (bool, error) {
	if !known {
		var p versionDoc

		found, err := findByID(ctx, tc.cur, cur.Key, &p)
		if err != nil {
			return false, err
		}

		prev = nil
		if found {
			prev = &p
		}
	}

	return prev != nil && prev.V >= cur.V, nil
}

// superseded: never known beforehand on MongoDB, where the replace's filter on the version
// (olderThan) makes it a no-op.
func (mongoBackend) superseded(context.Context, *typeColls, *currentDoc, *versionDoc, bool) (bool, error) {
	return false, nil
}

// onlyDups reports whether every error in a bulk write is a duplicate key.
func onlyDups(err error) bool {
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return false
	}

	for _, we := range bwe.WriteErrors {
		if we.Code != 11000 {
			return false
		}
	}

	return true
}
