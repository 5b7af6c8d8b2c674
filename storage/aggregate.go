package storage

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// ErrNoPipeline means the engine cannot run an aggregation pipeline over the search index:
// the embedded engine keeps the index packed, and a server reached by URI may lack the
// operators (a FerretDB). Callers compute what they asked for some other way.
var ErrNoPipeline = errors.New("storage: the engine runs no aggregation pipeline over the search index")

// Pipelines reports whether Aggregate can run on the store's engine (MongoDB): false on the
// embedded engine, whose search fields are packed.
func (s *Store) Pipelines() bool { return s.c.be.pipelines() }

func (embeddedBackend) pipelines() bool { return false }

func (mongoBackend) pipelines() bool { return true }

// Aggregate runs stages, an aggregation pipeline, over the current resources of typ that match
// filter (as in [Query]) within the scope of ctx, and calls each with every document it
// outputs. The pipeline may use up to allowDiskUse: its $group stages are not bounded by the
// server's memory limit. On an engine without pipelines (see Pipelines), or one that refuses an
// operator of the pipeline, it returns an error wrapping ErrNoPipeline, having called nothing.
func (s *Store) Aggregate(ctx context.Context, typ string, filter bson.D, stages []bson.D, each func(bson.Raw) error) error {
	if !s.c.be.pipelines() {
		return ErrNoPipeline
	}
	tc, err := s.colls(ctx, typ)
	if err != nil {
		return err
	}
	filter, ok := scoped(ctx, typ, filter)
	if !ok {
		filter = bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{}}}}} // nothing in scope
	}
	pipeline := make(bson.A, 0, len(stages)+1)
	pipeline = append(pipeline, bson.D{{Key: "$match", Value: live(filter)}})
	for _, st := range stages {
		pipeline = append(pipeline, st)
	}
	cur, err := tc.cur.Aggregate(ctx, pipeline, options.Aggregate().SetAllowDiskUse(true))
	if err != nil {
		if unsupportedPipeline(err) {
			return fmt.Errorf("storage: aggregate %s: %w: %v", typ, ErrNoPipeline, err)
		}
		return fmt.Errorf("storage: aggregate %s: %w", typ, err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		if err := each(cur.Current); err != nil {
			return err
		}
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("storage: aggregate %s: %w", typ, err)
	}
	return nil
}

// unsupportedPipeline reports a server's refusal of a pipeline's stage or operator: codes 115
// (CommandNotSupported), 168 (InvalidPipelineOperator), 238 (NotImplemented), 40324 (unknown
// stage) and 31325 (unknown expression), as MongoDB before 5.0 and FerretDB answer.
func unsupportedPipeline(err error) bool {
	var ce mongo.CommandError
	if !errors.As(err, &ce) {
		return false
	}
	switch ce.Code {
	case 115, 168, 238, 40324, 31325:
		return true
	}
	return false
}
