package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/fhirgate/fhirgate/fault"
)

// checkpointKind names the datastore's collection of import checkpoints: _imports.
const checkpointKind = "imports"

// state is what a checkpoint records of one file.
type state struct {
	Path string   `json:"path"`
	Size int64    `json:"size"`
	At   position `json:"at"`
	Done bool     `json:"done"`
}

// checkpoint is a file's saved progress and its key in the datastore.
type checkpoint struct {
	key string
	state
}

// headBytes is how much of a file its checkpoint key reads: a file replaced by another of
// the same size and time is still told apart.
const headBytes = 64 << 10

// loadCheckpoint returns f's checkpoint, zero when none was saved. The key is the file's
// absolute path, size, modification time and a hash of its first 64 KB.
func (im *Importer) loadCheckpoint(ctx context.Context, f *file) (*checkpoint, error) {
	abs, err := filepath.Abs(f.path)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	fh, err := os.Open(f.path)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%d\x00", abs, fi.Size(), fi.ModTime().UnixNano())
	if _, err := io.CopyN(h, fh, headBytes); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("ingest: %s: %w", f.path, err)
	}
	cp := &checkpoint{key: hex.EncodeToString(h.Sum(nil)), state: state{Path: abs, Size: fi.Size()}}
	if _, err := im.Store.LoadCheckpoint(ctx, checkpointKind, cp.key, &cp.state); err != nil {
		return nil, fmt.Errorf("ingest: %s: %w", f.path, err)
	}
	cp.Path, cp.Size = abs, fi.Size()
	return cp, nil
}

// tracker orders a file's chunks in flight and saves the checkpoint as they commit.
type tracker struct {
	mu     sync.Mutex
	cp     *checkpoint
	regCh  map[int]chan struct{} // closed when chunk seq has claimed its resources
	doneCh map[int]chan struct{} // closed when chunk seq has committed
	ends   map[int]position      // ends of committed chunks past the watermark
	next   int                   // the first chunk not yet committed
	claims map[string]int        // resource -> the last chunk in flight that writes it
}

func newTracker(cp *checkpoint) *tracker {
	return &tracker{cp: cp, regCh: map[int]chan struct{}{}, doneCh: map[int]chan struct{}{},
		ends: map[int]position{}, claims: map[string]int{}}
}

func chanOf(m map[int]chan struct{}, seq int) chan struct{} {
	c := m[seq]
	if c == nil {
		c = make(chan struct{})
		m[seq] = c
	}
	return c
}

func wait(ctx context.Context, c <-chan struct{}) error {
	select {
	case <-c:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// claim registers that chunk seq writes keys, after every earlier chunk registered, and
// waits until the earlier chunks in flight that write any of them have committed.
func (t *tracker) claim(ctx context.Context, seq int, keys []string) error {
	if seq > 0 {
		t.mu.Lock()
		prev := chanOf(t.regCh, seq-1)
		t.mu.Unlock()
		if err := wait(ctx, prev); err != nil {
			return err
		}
	}
	t.mu.Lock()
	var before []chan struct{}
	for _, k := range keys {
		if s, ok := t.claims[k]; ok && s != seq {
			before = append(before, chanOf(t.doneCh, s))
		}
		t.claims[k] = seq
	}
	close(chanOf(t.regCh, seq))
	delete(t.regCh, seq-1)
	t.mu.Unlock()
	for _, c := range before {
		if err := wait(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// done records chunk c as committed and saves the checkpoint when the chunks before it are too.
func (t *tracker) done(ctx context.Context, im *Importer, f *file, c *chunk) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	close(chanOf(t.doneCh, c.seq))
	for k, s := range t.claims {
		if s == c.seq {
			delete(t.claims, k)
		}
	}
	t.ends[c.seq] = c.end
	advanced := false
	for {
		end, ok := t.ends[t.next]
		if !ok {
			break
		}
		delete(t.ends, t.next)
		delete(t.doneCh, t.next-1)
		im.live.bytesDone.Add(end.Pos - t.cp.At.Pos)
		t.cp.At, t.next, advanced = end, t.next+1, true
	}
	if !advanced {
		return nil
	}
	if err := im.Store.SaveCheckpoint(ctx, checkpointKind, t.cp.key, t.cp.state); err != nil {
		return fmt.Errorf("ingest: %s: checkpoint: %w", f.path, err)
	}
	return nil
}

// finish saves the file's checkpoint as imported whole.
func (t *tracker) finish(ctx context.Context, im *Importer, f *file) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cp.Done = true
	if err := im.Store.SaveCheckpoint(ctx, checkpointKind, t.cp.key, t.cp.state); err != nil {
		return fmt.Errorf("ingest: %s: checkpoint: %w", f.path, err)
	}
	return nil
}

// lineError is the error of line no of f (0: the whole file).
func lineError(f *file, no int64, err error) LineError {
	return LineError{File: f.path, Line: no, Message: err.Error(), Outcome: outcome(err)}
}

// outcome is err as an OperationOutcome: the validator's own when it refused a resource.
// The import's operator sees the whole message: the data is theirs.
func outcome(err error) []byte {
	var wo interface{ OperationOutcome() map[string]any }
	if errors.As(err, &wo) {
		if b, jerr := json.Marshal(wo.OperationOutcome()); jerr == nil {
			return b
		}
	}
	code := "exception"
	for k, c := range map[error]string{fault.Invalid: "invalid", fault.NotFound: "not-found", fault.Conflict: "conflict",
		fault.Forbidden: "forbidden", fault.TooMany: "too-costly", fault.Unsupported: "not-supported"} {
		if errors.Is(err, k) {
			code = c
		}
	}
	b, _ := json.Marshal(map[string]any{"resourceType": "OperationOutcome", "issue": []any{
		map[string]any{"severity": "error", "code": code, "diagnostics": err.Error()}}})
	return b
}
