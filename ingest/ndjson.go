package ingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/fhirgate/fhirgate/fhirjson"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/storage"
)

// chunk is a run of consecutive lines of one file, committed together.
type chunk struct {
	run   *fileRun
	seq   int
	lines []rawLine
	// end is where the file is read up to after the chunk: the checkpoint once it and every
	// chunk before it are committed.
	end position
}

type rawLine struct {
	no   int64
	data []byte
}

// position is how far into a file an import got.
type position struct {
	Offset int64 `json:"offset"` // decompressed bytes consumed
	Line   int64 `json:"line"`   // lines consumed
	Pos    int64 `json:"pos"`    // bytes of the file read (compressed, for .gz): progress
}

// item is a line parsed: the resource to write and where it came from.
type item struct {
	line    int64
	res     *fhirjson.Resource
	typ, id string
}

// fileRun is one NDJSON file on its way through the pipeline: its checkpoint's tracker, and a
// context of its own, which a gzip bomb ends without ending the others'.
type fileRun struct {
	f      *file
	tr     *tracker
	ctx    context.Context
	cancel context.CancelCauseFunc
	// read is how many bytes of the file reading consumed (compressed, for .gz); set once
	// the reader is done with the file.
	read int64
}

// importNDJSON imports NDJSON files, in the order given, from their checkpoints on. Files
// of the same type rank share one pipeline: the next file is read and parsed while the
// commits of the one before are written, so that small files (one type each, as bulk
// exports are) do not leave the cores idle between them. A rank starts when the rank before
// it is committed whole, so that conditional references to the types imported first find
// their targets.
func (im *Importer) importNDJSON(ctx context.Context, files []*file) error {
	for len(files) > 0 {
		n := 1
		for n < len(files) && typeRank(files[n].typ) == typeRank(files[0].typ) {
			n++
		}
		if err := im.importGroup(ctx, files[:n]); err != nil {
			return err
		}
		files = files[n:]
	}
	return nil
}

// importGroup imports files through one pipeline: a reader cutting their lines into chunks,
// file after file, and Committers goroutines parsing and committing the chunks.
func (im *Importer) importGroup(ctx context.Context, files []*file) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	chunks := make(chan *chunk, im.Committers)
	var runs []*fileRun
	go func() {
		defer close(chunks)
		for _, f := range files {
			r, err := im.readFile(ctx, f, chunks)
			if err != nil {
				cancel(err)
				return
			}
			if r != nil {
				runs = append(runs, r)
			}
		}
	}()

	var wg sync.WaitGroup
	for range im.Committers {
		wg.Go(func() {
			for c := range chunks {
				if c.run.ctx.Err() != nil {
					continue // drain
				}
				if err := im.commitChunk(c.run.ctx, c); err != nil {
					cancel(fmt.Errorf("ingest: %s: %w", c.run.f.path, err))
				}
			}
		})
	}
	wg.Wait() // the reader closed chunks, after its last append to runs
	for _, r := range runs {
		r.cancel(nil)
	}
	if err := context.Cause(ctx); err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return fmt.Errorf("ingest: %w", err)
		}
		return err
	}
	for _, r := range runs {
		if cause := context.Cause(r.ctx); errors.Is(cause, errBomb) {
			// The file is refused, from where it grew too large; the other files go on.
			im.fail(LineError{File: r.f.path, Message: cause.Error(), Outcome: outcome(cause)})
			im.finishFile(r.f, r.f.size-r.read)
			continue
		}
		if err := r.tr.finish(ctx, im, r.f); err != nil {
			return err
		}
		im.finishFile(r.f, r.read-r.tr.cp.At.Pos)
	}
	return nil
}

// readFile sends f's lines from its checkpoint on to out in chunks, and returns its run; nil
// when a checkpoint says it was imported whole. An error ends the whole import; a gzip bomb
// only ends the file's run.
func (im *Importer) readFile(ctx context.Context, f *file, out chan<- *chunk) (*fileRun, error) {
	cp, err := im.loadCheckpoint(ctx, f)
	if err != nil {
		return nil, err
	}
	if cp.Done && !im.Restart {
		im.live.skipped.Add(1)
		im.finishFile(f, f.size)
		return nil, nil
	}
	if im.Restart && cp.Done {
		cp.state = state{}
	}
	lr, err := openLines(f, cp.At.Offset, cp.At.Line, im.MaxLineBytes, im.MaxRatio)
	if err != nil {
		return nil, err
	}
	defer lr.Close()
	im.live.bytesDone.Add(cp.At.Pos)

	r := &fileRun{f: f, tr: newTracker(cp)}
	r.ctx, r.cancel = context.WithCancelCause(ctx)
	err = im.readChunks(r, lr, out)
	r.read = lr.pos()
	switch {
	case errors.Is(err, errBomb):
		r.cancel(err)
	case err != nil:
		return nil, fmt.Errorf("ingest: %s: %w", f.path, err)
	}
	return r, nil
}

// finishFile counts f as done, with the rest of its bytes.
func (im *Importer) finishFile(f *file, rest int64) {
	im.live.filesDone.Add(1)
	if rest > 0 {
		im.live.bytesDone.Add(rest)
	}
}

// readChunks cuts the lines of r's file into chunks of at most BatchResources lines and
// BatchBytes bytes.
func (im *Importer) readChunks(r *fileRun, lr *lineReader, out chan<- *chunk) error {
	ctx := r.ctx
	seq := 0
	c := &chunk{run: r}
	var size int64
	flush := func() bool {
		c.end = position{Offset: lr.off, Line: lr.line, Pos: lr.pos()}
		select {
		case out <- c:
		case <-ctx.Done():
			return false
		}
		seq++
		c, size = &chunk{run: r, seq: seq}, 0
		return true
	}
	for {
		data, no, tooLong, err := lr.next()
		if errors.Is(err, io.EOF) {
			if len(c.lines) > 0 || c.seq == 0 {
				flush()
			}
			return nil
		}
		if err != nil {
			return err
		}
		if tooLong {
			im.fail(lineError(r.f, no, fmt.Errorf("%w: the line is longer than %d bytes", fhirjson.ErrInvalid, im.MaxLineBytes)))
			continue
		}
		c.lines = append(c.lines, rawLine{no: no, data: append([]byte(nil), data...)})
		size += int64(len(data))
		if len(c.lines) >= im.BatchResources || size >= im.BatchBytes {
			if !flush() {
				return context.Cause(ctx)
			}
		}
	}
}

// commitChunk parses a chunk's lines (on every core), resolves their conditional
// references, and commits them, leaving unchanged resources alone and reporting the lines
// refused.
func (im *Importer) commitChunk(ctx context.Context, c *chunk) error {
	f, tr := c.run.f, c.run.tr
	parsed := make([]*item, len(c.lines))
	errs := make([]error, len(c.lines))
	parallel(len(c.lines), func(i int) { parsed[i], errs[i] = im.parseLine(ctx, c.lines[i]) })
	items := make([]*item, 0, len(c.lines))
	for i, it := range parsed {
		if errs[i] != nil {
			im.fail(lineError(f, c.lines[i].no, errs[i]))
			continue
		}
		items = append(items, it)
	}
	c.lines = nil // the parsed resources hold what is needed

	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = it.typ + "/" + it.id
	}
	// Chunks in flight commit a resource in file order: a line's version after an earlier
	// line's of the same resource.
	if err := tr.claim(ctx, c.seq, keys); err != nil {
		return err
	}
	for _, batch := range splitRepeats(items) {
		if err := im.commitItems(ctx, batch, func(*item) *file { return f }); err != nil {
			return err
		}
	}
	return tr.done(ctx, im, f, c)
}

// parallel calls f(i) for i in [0, n) on GOMAXPROCS goroutines.
func parallel(n int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				f(i)
			}
		})
	}
	wg.Wait()
}

// parseLine parses one line into the resource it writes, its conditional references resolved.
func (im *Importer) parseLine(ctx context.Context, l rawLine) (*item, error) {
	res, err := fhirjson.Parse(l.data)
	if err != nil {
		return nil, err
	}
	typ := res.Type()
	if !model.IsResourceType(typ) {
		return nil, fmt.Errorf("%w: unknown resourceType %q", fhirjson.ErrInvalid, clip(typ))
	}
	id := res.ID()
	switch {
	case id == "":
		id = newID()
		res.SetID(id)
	case !model.ValidID(id):
		return nil, fmt.Errorf("%w: id %q is not a valid FHIR id", fhirjson.ErrInvalid, clip(id))
	}
	// A Bundle stored as a resource is a document: its references are its own.
	if typ != "Bundle" {
		if err := im.refs.Resolve(ctx, res); err != nil {
			return nil, err
		}
	}
	return &item{line: l.no, res: res, typ: typ, id: id}, nil
}

// splitRepeats splits items so that no part names a resource twice: a commit writes each
// resource once.
func splitRepeats(items []*item) [][]*item {
	var out [][]*item
	seen := map[string]bool{}
	start := 0
	for i, it := range items {
		k := it.typ + "/" + it.id
		if seen[k] {
			out = append(out, items[start:i])
			start, seen = i, map[string]bool{}
		}
		seen[k] = true
	}
	return append(out, items[start:])
}

// commitItems commits items in one commit, without those that would change nothing and,
// after reporting them, without those the commit refuses; fileOf tells each item's file.
func (im *Importer) commitItems(ctx context.Context, items []*item, fileOf func(*item) *file) error {
	items, err := im.dropUnchanged(ctx, items)
	if err != nil {
		return err
	}
	for len(items) > 0 {
		writes := make([]storage.Write, len(items))
		for i, it := range items {
			writes[i] = storage.Write{Op: storage.OpPut, Type: it.typ, ID: it.id, Resource: it.res}
		}
		if im.Expand != nil {
			writes = append(writes, im.Expand(ctx, writes)...)
		}
		_, err := im.Store.Commit(ctx, writes)
		if err == nil {
			for _, it := range items {
				im.live.wrote(it.typ, 1)
			}
			return nil
		}
		refused := storage.WriteErrors(err)
		if len(refused) == 0 {
			return fmt.Errorf("ingest: %s: commit: %w", fileOf(items[0]).path, err)
		}
		bad := map[int]bool{}
		for _, we := range refused {
			if we.Index < len(items) && !bad[we.Index] {
				bad[we.Index] = true
				im.fail(lineError(fileOf(items[we.Index]), items[we.Index].line, we.Err))
			}
		}
		if len(bad) == 0 { // only writes Expand added were refused
			return fmt.Errorf("ingest: %s: commit: %w", fileOf(items[0]).path, err)
		}
		kept := items[:0]
		for i, it := range items {
			if !bad[i] {
				kept = append(kept, it)
			}
		}
		items = kept
	}
	return nil
}

// dropUnchanged returns items without the resources already stored with the same content.
func (im *Importer) dropUnchanged(ctx context.Context, items []*item) ([]*item, error) {
	byType := map[string][]string{}
	for _, it := range items {
		byType[it.typ] = append(byType[it.typ], it.id)
	}
	current := map[string]map[string]*storage.Record{}
	for typ, ids := range byType {
		recs, err := im.Store.ReadMany(ctx, typ, ids)
		if err != nil {
			return nil, fmt.Errorf("ingest: read %s: %w", typ, err)
		}
		current[typ] = recs
	}
	kept := items[:0]
	for _, it := range items {
		if rec := current[it.typ][it.id]; rec != nil {
			b, _ := it.res.MarshalJSON()
			if fhirjson.SameContent(rec.JSON, b) {
				im.live.unchanged.Add(1)
				continue
			}
		}
		kept = append(kept, it)
	}
	return kept, nil
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// clip shortens file content quoted in messages.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
