package storage

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// stateColl holds small documents the server keeps about its own work in a datastore, beside
// the resources: delivery cursors and leases of FHIR Subscriptions, for example. Each is a
// string value under a string key; the key is the document's _id, so that every read and
// write is a lookup by _id (the one the embedded engine serves from an index), and so that a
// claim of a new key is decided by the unique _id between processes.
const stateColl = "_state"

// stateDoc is one value of the state collection.
type stateDoc struct {
	Key   string    `bson:"_id"`
	Value string    `bson:"v"`
	TS    time.Time `bson:"ts"`
}

// State returns the value stored under key and whether there is one.
func (s *Store) State(ctx context.Context, key string) (string, bool, error) {
	var d stateDoc
	found, err := findByID(ctx, s.state, key, &d)
	if err != nil {
		return "", false, fmt.Errorf("storage: state %q: %w", key, err)
	}
	return d.Value, found, nil
}

// PutState stores value under key, replacing any value there.
func (s *Store) PutState(ctx context.Context, key, value string) error {
	d := stateDoc{Key: key, Value: value, TS: s.c.clock().UTC()}
	var err error
	// Two upserts of a new key at once: one inserts, the other fails with a duplicate key
	// and, tried again, replaces.
	for range 2 {
		_, err = s.state.ReplaceOne(ctx, bson.D{{Key: "_id", Value: key}}, d, options.Replace().SetUpsert(true))
		if !isDup(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("storage: put state %q: %w", key, err)
	}
	return nil
}

// ClaimState stores value under key unless a value is already there, and reports whether it
// did. Between processes that claim the same key at once, exactly one succeeds.
func (s *Store) ClaimState(ctx context.Context, key, value string) (bool, error) {
	_, err := s.state.InsertOne(ctx, stateDoc{Key: key, Value: value, TS: s.c.clock().UTC()})
	if isDup(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("storage: claim state %q: %w", key, err)
	}
	return true, nil
}

// DeleteState removes the value under key, if any.
func (s *Store) DeleteState(ctx context.Context, key string) error {
	if _, err := s.state.DeleteOne(ctx, bson.D{{Key: "_id", Value: key}}); err != nil {
		return fmt.Errorf("storage: delete state %q: %w", key, err)
	}
	return nil
}
