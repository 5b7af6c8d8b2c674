package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// checkpointKindRE is the grammar of checkpoint kinds; a kind's checkpoints live in the
// datastore's collection "_" + kind (such as _imports), apart from resource types.
var checkpointKindRE = regexp.MustCompile(`^[a-z]{1,32}$`)

// checkpointDoc is one checkpoint: its value as JSON, and when it was saved.
type checkpointDoc struct {
	Key  string    `bson:"_id"`
	JSON string    `bson:"json"`
	TS   time.Time `bson:"ts"`
}

// SaveCheckpoint records v (any JSON-encodable value) as the checkpoint key of kind, such
// as how far a bulk import of one file got, replacing the one saved before: long jobs save
// their progress in the datastore they write, so that a job restarted after a crash
// continues where the last one stopped. Kinds match [a-z]{1,32}.
func (s *Store) SaveCheckpoint(ctx context.Context, kind, key string, v any) error {
	coll, err := s.checkpoints(ctx, kind)
	if err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("storage: checkpoint %s %q: %w", kind, key, err)
	}
	doc := checkpointDoc{Key: key, JSON: string(b), TS: s.c.clock().UTC()}
	if _, err := s.db.Collection(coll).ReplaceOne(ctx, bson.D{{Key: "_id", Value: key}}, doc, options.Replace().SetUpsert(true)); err != nil {
		return fmt.Errorf("storage: checkpoint %s %q: %w", kind, key, err)
	}
	return nil
}

// LoadCheckpoint decodes the checkpoint key of kind into v and reports whether there is one.
func (s *Store) LoadCheckpoint(ctx context.Context, kind, key string, v any) (bool, error) {
	coll, err := s.checkpoints(ctx, kind)
	if err != nil {
		return false, err
	}
	var doc checkpointDoc
	found, err := findByID(ctx, s.db.Collection(coll), key, &doc)
	if err != nil || !found {
		return false, err
	}
	if err := json.Unmarshal([]byte(doc.JSON), v); err != nil {
		return false, fmt.Errorf("storage: checkpoint %s %q: %w", kind, key, err)
	}
	return true, nil
}

// checkpoints returns the collection of kind's checkpoints, created on first use.
func (s *Store) checkpoints(ctx context.Context, kind string) (string, error) {
	if !checkpointKindRE.MatchString(kind) {
		return "", fmt.Errorf("storage: checkpoint kind %q: %w", kind, ErrInvalid)
	}
	name := "_" + kind
	if _, ok := s.checkpointColls.Load(name); ok {
		return name, nil
	}
	if err := s.createCollection(ctx, name); err != nil {
		return "", fmt.Errorf("storage: checkpoints %s: %w", kind, err)
	}
	s.checkpointColls.Store(name, true)
	return name, nil
}
