package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/fhirgate/fhirgate/bundle"
	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/fhirjson"
	"github.com/fhirgate/fhirgate/model"
)

// importJSON imports JSON files: Bundles to run, Committers at a time, and single
// resources, committed in batches as NDJSON lines are. A Bundle whose conditional references
// found nothing is run again after all the others, which may have created what it refers to
// (Synthea writes practitioners and organizations in files of their own).
func (im *Importer) importJSON(ctx context.Context, files []*file) error {
	var resources []*item
	var resFiles []*file
	var bundles []*file
	for _, f := range files {
		b, err := im.readJSON(f)
		if err != nil {
			im.fail(LineError{File: f.path, Message: err.Error(), Outcome: outcome(err)})
			im.finishFile(f, f.size)
			continue
		}
		if im.runs(b) {
			bundles = append(bundles, f)
			continue
		}
		it, err := im.parseLine(ctx, rawLine{data: b})
		if err != nil {
			im.fail(LineError{File: f.path, Message: err.Error(), Outcome: outcome(err)})
			im.finishFile(f, f.size)
			continue
		}
		resources, resFiles = append(resources, it), append(resFiles, f)
		if len(resources) >= im.BatchResources {
			if err := im.commitFiles(ctx, resFiles, resources); err != nil {
				return err
			}
			resources, resFiles = nil, nil
		}
	}
	if err := im.commitFiles(ctx, resFiles, resources); err != nil {
		return err
	}

	again, err := im.runBundles(ctx, bundles, true)
	if err != nil {
		return err
	}
	_, err = im.runBundles(ctx, again, false)
	return err
}

// readJSON reads a JSON file whole, within MaxJSONBytes.
func (im *Importer) readJSON(f *file) ([]byte, error) {
	if f.size > im.MaxJSONBytes {
		return nil, fmt.Errorf("%w: the file is larger than the limit of %d bytes", fhirjson.ErrInvalid, im.MaxJSONBytes)
	}
	fh, err := os.Open(f.path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return io.ReadAll(io.LimitReader(fh, im.MaxJSONBytes))
}

// runs reports whether JSON b is a Bundle the import runs.
func (im *Importer) runs(b []byte) bool {
	if im.Bundles != RunBundles {
		return false
	}
	r, err := fhirjson.Parse(b)
	if err != nil || r.Type() != "Bundle" {
		return false
	}
	t := r.String("type")
	return t == "transaction" || t == "batch"
}

// commitFiles commits the resources of single-resource JSON files.
func (im *Importer) commitFiles(ctx context.Context, files []*file, items []*item) error {
	if len(items) == 0 {
		return nil
	}
	names := map[*item]*file{}
	for i, it := range items {
		names[it] = files[i]
	}
	for _, part := range splitRepeats(items) {
		if err := im.commitItems(ctx, part, func(it *item) *file { return names[it] }); err != nil {
			return err
		}
	}
	for _, f := range files {
		im.finishFile(f, f.size)
	}
	return nil
}

// runBundles runs the Bundle files, Committers at a time. With retry set, a Bundle that
// failed because a conditional reference matched nothing is returned to be run again
// rather than reported.
func (im *Importer) runBundles(ctx context.Context, files []*file, retry bool) ([]*file, error) {
	var mu sync.Mutex
	var again []*file
	var firstErr error
	sem := make(chan struct{}, im.Committers)
	var wg sync.WaitGroup
	for _, f := range files {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			later, err := im.runBundle(ctx, f, retry)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil && firstErr == nil:
				firstErr = err
			case later:
				again = append(again, f)
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return again, firstErr
}

// runBundle runs one Bundle file, unless its checkpoint says it ran.
func (im *Importer) runBundle(ctx context.Context, f *file, retry bool) (later bool, err error) {
	cp, err := im.loadCheckpoint(ctx, f)
	if err != nil {
		return false, err
	}
	if cp.Done && !im.Restart {
		im.live.skipped.Add(1)
		im.finishFile(f, f.size)
		return false, nil
	}
	b, err := im.readJSON(f)
	if err != nil {
		return false, fmt.Errorf("ingest: %s: %w", f.path, err)
	}
	out, err := im.proc.Run(ctx, b, bundle.ReturnMinimal)
	var ee *bundle.EntryError
	switch {
	case errors.As(err, &ee):
		if retry && errors.Is(ee.Err, fault.NotFound) && strings.Contains(ee.Err.Error(), "conditional reference") {
			return true, nil
		}
		im.fail(LineError{File: f.path, Line: int64(ee.Index), Entry: true, Message: ee.Err.Error(), Outcome: outcome(ee.Err)})
	case err != nil && ctx.Err() == nil && (errors.Is(err, fault.Invalid) || errors.Is(err, fault.TooMany)):
		im.fail(LineError{File: f.path, Message: err.Error(), Outcome: outcome(err)})
	case err != nil:
		return false, fmt.Errorf("ingest: %s: %w", f.path, err)
	default:
		im.countBundle(f, out)
	}
	cp.Done, cp.At = true, position{Pos: f.size}
	if err := im.Store.SaveCheckpoint(ctx, checkpointKind, cp.key, cp.state); err != nil {
		return false, fmt.Errorf("ingest: %s: checkpoint: %w", f.path, err)
	}
	im.finishFile(f, f.size)
	return false, nil
}

// countBundle reports the entries of a batch that failed.
func (im *Importer) countBundle(f *file, out *model.Bundle) {
	for i, e := range out.Entry {
		if e.Response == nil || e.Response.Status == nil {
			continue
		}
		if status := *e.Response.Status; strings.HasPrefix(status, "4") || strings.HasPrefix(status, "5") {
			msg := status
			var oo []byte
			if o := e.Response.Outcome; o != nil {
				if len(o.Issue) > 0 && o.Issue[0].Diagnostics != nil {
					msg = *o.Issue[0].Diagnostics
				}
				oo, _ = o.MarshalJSON()
			}
			im.fail(LineError{File: f.path, Line: int64(i), Entry: true, Message: msg, Outcome: oo})
		}
	}
}
