// Package ingest loads FHIR data in bulk into a datastore, through storage's commits (so
// validation, search fields and the change feed apply as to every write): NDJSON files
// (.ndjson, .ndjson.gz), one resource per line with its id kept, and JSON files holding a
// resource or a batch or transaction Bundle, such as Synthea's, run through package bundle.
// It is fast (lines parsed, validated and indexed on every core, thousands of resources per
// commit, two commits in flight), bounded in memory whatever the file size (files are
// streamed), idempotent (a resource that would be stored unchanged is left alone, so loading
// the same data twice writes no new versions) and resumable: each file's progress is saved
// in the datastore after each commit, and a later run continues from there.
package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fhirgate/fhirgate/bundle"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/storage"
)

// Store is the datastore an import writes: *storage.Store is one.
type Store interface {
	bundle.Store
	SaveCheckpoint(ctx context.Context, kind, key string, v any) error
	LoadCheckpoint(ctx context.Context, kind, key string, v any) (bool, error)
}

// Defaults of an Importer's limits.
const (
	DefaultBatchResources = 2000
	DefaultBatchBytes     = 16 << 20
	DefaultCommitters     = 2
	DefaultMaxLineBytes   = 64 << 20
	DefaultMaxRatio       = 200
	DefaultMaxJSONBytes   = 256 << 20
)

// BundleMode says what a JSON file holding a batch or transaction Bundle is.
type BundleMode string

// The bundle modes.
const (
	// RunBundles runs batch and transaction Bundles, as a server would (Synthea's files).
	RunBundles BundleMode = "run"
	// StoreBundles stores them as Bundle resources, like any other resource.
	StoreBundles BundleMode = "store"
)

// Importer imports files into Store. Set its fields before the first Import; the zero
// values of the limits are the defaults.
type Importer struct {
	Store Store
	// Policy checks what the import writes and searches (nil: nothing, as for the CLI run by
	// the operator); $import runs as its admin caller.
	Policy bundle.Policy
	// BatchResources and BatchBytes bound the lines of one commit.
	BatchResources int
	BatchBytes     int64
	// Committers is how many commits run at once: two keep both cores busy, one parsing,
	// validating and indexing while the other's commit is written.
	Committers int
	// MaxLineBytes bounds an NDJSON line, decompressed: a longer line is an error of its own.
	MaxLineBytes int64
	// MaxRatio bounds how many times larger than its compressed size a .gz file may grow:
	// past it the file is taken for a gzip bomb and stops with an error.
	MaxRatio int64
	// MaxJSONBytes bounds a .json file (a Bundle is read whole).
	MaxJSONBytes int64
	// Bundles is what batch and transaction Bundles in JSON files are; "" is RunBundles.
	Bundles BundleMode
	// Restart imports files again even when a checkpoint says they were imported whole
	// (their unchanged resources are still left alone).
	Restart bool
	// Root, when set, is the only directory the import reads: a file whose path, symbolic
	// links followed, leads outside it is refused ($import sets it).
	Root string
	// Expand, when set, is called with the writes of each commit of resources from NDJSON and
	// single-resource JSON files (not Bundles, which package bundle runs) and returns writes to
	// commit with them, all or nothing; it may replace a write's Resource with an equal one it
	// changes. The server's demo data gets its notes' NLP enrichment this way.
	Expand func(ctx context.Context, writes []storage.Write) []storage.Write
	// OnError receives each line or entry that could not be imported; the import goes on.
	// It may be called from several goroutines at once.
	OnError func(LineError)

	live liveStats
	once sync.Once
	proc *bundle.Processor
	refs *bundle.Refs
}

// LineError is a line (or a bundle entry, or a whole file) that was not imported.
type LineError struct {
	// File is the file's path as given; Line is its line number from 1 (NDJSON), the
	// entry's index from 0 (a Bundle, Entry set), or 0 for the whole file.
	File  string
	Line  int64
	Entry bool
	// Message says what is wrong; Outcome is the OperationOutcome (FHIR JSON) saying it.
	Message string
	Outcome []byte
}

func (e LineError) String() string {
	switch {
	case e.Entry:
		return fmt.Sprintf("%s: Bundle.entry[%d]: %s", e.File, e.Line, e.Message)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Message)
	}
	return e.File + ": " + e.Message
}

// Stats counts an import's progress; read it with Importer.Stats while the import runs.
type Stats struct {
	// TotalBytes is the size of the files to import, BytesDone how much of it is done
	// (compressed bytes for .gz files).
	TotalBytes, BytesDone int64
	// Files and FilesDone count the files; Skipped those a checkpoint said were done.
	Files, FilesDone, Skipped int64
	// Written counts new versions, Unchanged resources left as they were, Failed lines and
	// entries not imported.
	Written, Unchanged, Failed int64
	// ByType counts new versions by resource type.
	ByType map[string]int64
	// Started is when the import started.
	Started time.Time
}

// liveStats are the counters behind Stats.
type liveStats struct {
	totalBytes, bytesDone      atomic.Int64
	files, filesDone, skipped  atomic.Int64
	written, unchanged, failed atomic.Int64
	mu                         sync.Mutex
	byType                     map[string]int64
	started                    time.Time
}

// wrote counts n new versions of typ.
func (s *liveStats) wrote(typ string, n int64) {
	if n == 0 {
		return
	}
	s.written.Add(n)
	s.mu.Lock()
	if s.byType == nil {
		s.byType = map[string]int64{}
	}
	s.byType[typ] += n
	s.mu.Unlock()
}

// Stats returns the import's progress so far.
func (im *Importer) Stats() Stats {
	s := &im.live
	s.mu.Lock()
	byType := make(map[string]int64, len(s.byType))
	for k, v := range s.byType {
		byType[k] = v
	}
	started := s.started
	s.mu.Unlock()
	return Stats{
		TotalBytes: s.totalBytes.Load(), BytesDone: s.bytesDone.Load(),
		Files: s.files.Load(), FilesDone: s.filesDone.Load(), Skipped: s.skipped.Load(),
		Written: s.written.Load(), Unchanged: s.unchanged.Load(), Failed: s.failed.Load(),
		ByType: byType, Started: started,
	}
}

// setup fills in the defaults and the bundle processor, once.
func (im *Importer) setup() {
	im.once.Do(func() {
		im.BatchResources = cmp.Or(im.BatchResources, DefaultBatchResources)
		im.BatchBytes = cmp.Or(im.BatchBytes, DefaultBatchBytes)
		im.Committers = cmp.Or(im.Committers, DefaultCommitters)
		im.MaxLineBytes = cmp.Or(im.MaxLineBytes, DefaultMaxLineBytes)
		im.MaxRatio = cmp.Or(im.MaxRatio, DefaultMaxRatio)
		im.MaxJSONBytes = cmp.Or(im.MaxJSONBytes, DefaultMaxJSONBytes)
		im.Bundles = cmp.Or(im.Bundles, RunBundles)
		// Ids are the client's, and what is already stored unchanged stays as it is.
		im.proc = &bundle.Processor{Store: im.Store, Policy: im.Policy, KeepIDs: true, SkipUnchanged: true, MaxEntries: 1 << 30,
			Observe: func(typ string, wrote bool) {
				if wrote {
					im.live.wrote(typ, 1)
				} else {
					im.live.unchanged.Add(1)
				}
			}}
		im.refs = bundle.NewRefs(im.proc)
	})
}

// Import imports the files that paths name: files, directories (every .ndjson,
// .ndjson.gz and .json file below them) and glob patterns. NDJSON files go first, ordered so
// that the types other resources refer to conditionally (organizations, locations,
// practitioners, patients) come before the rest; then JSON files, Bundles whose conditional
// references found nothing being run again after the others.
//
// Lines and entries that cannot be imported go to OnError and the import goes on. Import
// returns an error when it could not go on: a path that names nothing, a file that cannot
// be read or is a gzip bomb, the datastore failing, ctx ending. What was committed stays,
// and the next Import of the same files continues from the last checkpoint.
func (im *Importer) Import(ctx context.Context, paths []string) error {
	im.setup()
	files, err := expand(paths)
	if err != nil {
		return err
	}
	if im.Root != "" {
		for _, f := range files {
			if err := inRoot(im.Root, f.path); err != nil {
				return err
			}
		}
	}
	im.live.mu.Lock()
	if im.live.started.IsZero() {
		im.live.started = time.Now()
	}
	im.live.mu.Unlock()
	var total int64
	for _, f := range files {
		total += f.size
	}
	im.live.totalBytes.Add(total)
	im.live.files.Add(int64(len(files)))

	var ndjsons, jsons []*file
	for _, f := range files {
		if f.kind == kindNDJSON {
			ndjsons = append(ndjsons, f)
		} else {
			jsons = append(jsons, f)
		}
	}
	if err := im.importNDJSON(ctx, ndjsons); err != nil {
		return err
	}
	return im.importJSON(ctx, jsons)
}

// fail reports a line or entry that was not imported.
func (im *Importer) fail(e LineError) {
	im.live.failed.Add(1)
	if im.OnError != nil {
		im.OnError(e)
	}
}

// File kinds, by name.
const (
	kindNDJSON = iota + 1
	kindJSON
)

// file is one file to import.
type file struct {
	path string // as found
	kind int
	gz   bool
	size int64
	typ  string // the resource type its name starts with, if any
}

// expand lists the files paths name, NDJSON first in type order, then JSON by name.
func expand(paths []string) ([]*file, error) {
	seen := map[string]bool{}
	var out []*file
	add := func(path string, explicit bool) error {
		if seen[path] {
			return nil
		}
		fi, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("ingest: %w", err)
		}
		if fi.IsDir() {
			return filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return fmt.Errorf("ingest: %w", err)
				}
				if d.IsDir() || seen[p] {
					return nil
				}
				if f := classify(p); f != nil {
					info, err := d.Info()
					if err != nil {
						return fmt.Errorf("ingest: %w", err)
					}
					f.size, seen[p] = info.Size(), true
					out = append(out, f)
				}
				return nil
			})
		}
		f := classify(path)
		if f == nil {
			if explicit {
				return fmt.Errorf("ingest: %s: not an .ndjson, .ndjson.gz or .json file", path)
			}
			return nil
		}
		f.size, seen[path] = fi.Size(), true
		out = append(out, f)
		return nil
	}
	for _, p := range paths {
		if strings.ContainsAny(p, "*?[") {
			matches, err := filepath.Glob(p)
			if err != nil {
				return nil, fmt.Errorf("ingest: pattern %q: %w", p, err)
			}
			if len(matches) == 0 {
				return nil, fmt.Errorf("ingest: %q matches no file", p)
			}
			for _, m := range matches {
				if err := add(m, false); err != nil {
					return nil, err
				}
			}
			continue
		}
		if err := add(p, true); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, errors.New("ingest: no .ndjson, .ndjson.gz or .json file to import")
	}
	slices.SortStableFunc(out, func(a, b *file) int {
		if a.kind != b.kind {
			return a.kind - b.kind
		}
		if r := typeRank(a.typ) - typeRank(b.typ); r != 0 {
			return r
		}
		return strings.Compare(a.path, b.path)
	})
	return out, nil
}

// classify returns the file to import at path, nil when its name is not one an import reads.
func classify(path string) *file {
	name := filepath.Base(path)
	f := &file{path: path}
	switch {
	case strings.HasSuffix(name, ".ndjson"):
		f.kind = kindNDJSON
	case strings.HasSuffix(name, ".ndjson.gz"):
		f.kind, f.gz = kindNDJSON, true
	case strings.HasSuffix(name, ".json"):
		f.kind = kindJSON
	default:
		return nil
	}
	if t, _, _ := strings.Cut(name, "."); model.IsResourceType(t) {
		f.typ = t
	}
	return f
}

// referredFirst are the types other resources refer to conditionally, most depended on
// first: a file of one of them is imported before the others.
var referredFirst = []string{"Organization", "Location", "Practitioner", "PractitionerRole", "HealthcareService",
	"Endpoint", "Medication", "Substance", "Device", "Patient", "RelatedPerson", "Group"}

func typeRank(typ string) int {
	if i := slices.Index(referredFirst, typ); i >= 0 {
		return i
	}
	return len(referredFirst)
}
