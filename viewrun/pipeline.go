package viewrun

import (
	"context"
	"fmt"
	"sync"

	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/view"
)

// pipeBatch is how many resources pass between the stages of a pipeline at once, and
// pipeDepth how many such batches each stage may hold ahead of the next: a run holds at most
// about (2·pipeDepth+3)·pipeBatch resources whatever its size.
const (
	pipeBatch = 64
	pipeDepth = 4
)

// decoded is one stored resource, decoded for the view.
type decoded struct {
	id  string
	res map[string]any
}

// pipeMinLimit is the smallest Limit of a run worth a pipeline: a run limited to fewer rows
// reads in one goroutine, so that it reads no resource past its last row, where a pipeline
// reads up to a few hundred ahead.
const pipeMinLimit = 4096

// sequential calls each with the resources read calls send with, decoded, on the caller's
// goroutine: reading, decoding and evaluating take turns.
func sequential(ctx context.Context, read func(ctx context.Context, send func(*storage.Record) error) error, each func(id string, res map[string]any) error) error {
	return read(ctx, func(rec *storage.Record) error {
		res, err := view.DecodeResource(rec.JSON)
		if err != nil {
			return fmt.Errorf("viewrun: stored %s/%s: %w", rec.Type, rec.ID, err)
		}
		return each(rec.ID, res)
	})
}

// pipeline calls each with the resources read calls send with, in the same order, on the
// caller's goroutine, while read (storage's pass) runs on a goroutine of its own and the JSON
// decoding on a third: reading out of storage, decoding and evaluating the view overlap, on
// as many cores as there are. Channels between the stages are bounded, so a slow consumer
// (a client reading the answer slowly) holds storage back rather than filling memory.
//
// The first error wins in the order the sequential loop would have met it: each's, then a
// decoding error, then read's. When each fails (or the run reaches its limit) or ctx ends,
// the stages stop and pipeline returns only after both have: no goroutine outlives a run.
func pipeline(ctx context.Context, read func(ctx context.Context, send func(*storage.Record) error) error, each func(id string, res map[string]any) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg                 sync.WaitGroup
		readErr, decodeErr error
	)
	recs := make(chan []*storage.Record, pipeDepth)
	docs := make(chan []decoded, pipeDepth)
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer close(recs)
		readErr = readStage(ctx, read, recs)
	}()
	go func() {
		defer wg.Done()
		defer close(docs)
		decodeErr = decodeStage(ctx, recs, docs)
	}()

	var err error
	for batch := range docs {
		if err = ctx.Err(); err != nil {
			break // the caller went away: give it no more rows
		}
		for _, d := range batch {
			if err = each(d.id, d.res); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	cancel()
	for range docs { // unblock the decoder, which stops at once now that ctx is done
	}
	wg.Wait()
	switch {
	case err != nil:
		return err
	case decodeErr != nil:
		return decodeErr
	}
	return readErr
}

// readStage runs read, sending what it reads to out in batches of pipeBatch.
func readStage(ctx context.Context, read func(ctx context.Context, send func(*storage.Record) error) error, out chan<- []*storage.Record) error {
	batch := make([]*storage.Record, 0, pipeBatch)
	flush := func() error {
		if err := ctx.Err(); err != nil {
			return err // stopped: read no further, even while out has room
		}
		select {
		case out <- batch:
			batch = make([]*storage.Record, 0, pipeBatch)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := read(ctx, func(rec *storage.Record) error {
		if batch = append(batch, rec); len(batch) == pipeBatch {
			return flush()
		}
		return nil
	})
	// What was read before an error is still the run's: the sequential loop saw it first.
	if len(batch) > 0 {
		if ferr := flush(); err == nil {
			err = ferr
		}
	}
	return err
}

// decodeStage decodes the resources of in, sending them to out in the same order; it stops at
// the first that does not decode, after sending those before it.
func decodeStage(ctx context.Context, in <-chan []*storage.Record, out chan<- []decoded) error {
	for recs := range in {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch := make([]decoded, 0, len(recs))
		var err error
		for _, rec := range recs {
			res, derr := view.DecodeResource(rec.JSON)
			if derr != nil {
				err = fmt.Errorf("viewrun: stored %s/%s: %w", rec.Type, rec.ID, derr)
				break
			}
			batch = append(batch, decoded{rec.ID, res})
		}
		select {
		case out <- batch:
		case <-ctx.Done():
			return ctx.Err()
		}
		if err != nil {
			return err
		}
	}
	return nil
}
