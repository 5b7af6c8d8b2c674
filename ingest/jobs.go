package ingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fhirgate/fhirgate/fault"
)

// Job states.
const (
	Running   = "running"
	Completed = "completed"
	Failed    = "failed"
)

// maxJobErrors bounds the line errors a job keeps for its status.
const maxJobErrors = 1000

// ErrNoJob reports a job id that names no job of the caller.
var ErrNoJob = fault.New(fault.NotFound, "no such import job")

// ErrOutside reports a path outside the import directory.
var ErrOutside = fault.New(fault.Forbidden, "outside the import directory")

// Jobs runs imports in the background for $import: each over files below Dir, owned by the
// caller that started it. Jobs live in this process; what they committed stays, and an
// import of the same files started again continues from the checkpoints.
type Jobs struct {
	// Dir is the only directory jobs read: paths are relative to it, and a path that leads
	// outside it (through "..", an absolute path or a symbolic link) is refused.
	Dir string
	// New returns the importer of a job, its Store set; the jobs set Root, OnError and
	// Bundles.
	New func() *Importer

	mu   sync.Mutex
	jobs map[string]*importJob
}

// importJob is one import run by Jobs.
type importJob struct {
	ID      string
	Owner   string
	Started time.Time
	Paths   []string

	im     *Importer
	cancel context.CancelFunc

	mu    sync.Mutex
	state string
	err   error
	errs  []LineError
	ended time.Time
}

// JobStatus is what a job's status tells.
type JobStatus struct {
	ID, State string
	Stats     Stats
	// Errors are the first lines and entries not imported (up to 1,000); Stats.Failed
	// counts them all.
	Errors []LineError
	// Err is why a failed job stopped.
	Err   error
	Ended time.Time
}

// Start starts importing paths (relative to Dir) as owner, and returns the job's id. The
// job runs with ctx's values (its caller) but not its deadline or cancellation.
func (j *Jobs) Start(ctx context.Context, owner string, paths []string, mode BundleMode) (string, error) {
	if j.Dir == "" {
		return "", fmt.Errorf("%w: $import: the server has no import directory (--import-dir)", errUnsupported)
	}
	if len(paths) == 0 {
		return "", fmt.Errorf("%w: $import: no input", errInvalid)
	}
	var full []string
	for _, p := range paths {
		f, err := j.resolve(p)
		if err != nil {
			return "", err
		}
		full = append(full, f)
	}
	im := j.New()
	im.Root, im.Bundles = j.Dir, mode
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	job := &importJob{ID: hex.EncodeToString(b), Owner: owner, Started: time.Now(), Paths: paths, im: im, state: Running}
	im.OnError = func(e LineError) {
		e.File = j.relative(e.File)
		job.mu.Lock()
		if len(job.errs) < maxJobErrors {
			job.errs = append(job.errs, e)
		}
		job.mu.Unlock()
	}
	run, cancel := context.WithCancel(context.WithoutCancel(ctx))
	job.cancel = cancel
	j.mu.Lock()
	if j.jobs == nil {
		j.jobs = map[string]*importJob{}
	}
	j.jobs[job.ID] = job
	j.mu.Unlock()
	go func() {
		err := im.Import(run, full)
		job.mu.Lock()
		defer job.mu.Unlock()
		job.state, job.err, job.ended = Completed, err, time.Now()
		if err != nil {
			job.state = Failed
		}
	}()
	return job.ID, nil
}

// Status returns the status of job id, which must be owner's.
func (j *Jobs) Status(id, owner string) (JobStatus, error) {
	job, err := j.job(id, owner)
	if err != nil {
		return JobStatus{}, err
	}
	st := job.im.Stats()
	job.mu.Lock()
	defer job.mu.Unlock()
	return JobStatus{ID: id, State: job.state, Stats: st, Errors: append([]LineError(nil), job.errs...), Err: job.err, Ended: job.ended}, nil
}

// Cancel stops job id, which must be owner's, and forgets it. What it committed stays.
func (j *Jobs) Cancel(id, owner string) error {
	job, err := j.job(id, owner)
	if err != nil {
		return err
	}
	job.cancel()
	j.mu.Lock()
	delete(j.jobs, id)
	j.mu.Unlock()
	return nil
}

func (j *Jobs) job(id, owner string) (*importJob, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	job := j.jobs[id]
	if job == nil || job.Owner != owner {
		return nil, fmt.Errorf("%w: %s", ErrNoJob, clip(id))
	}
	return job, nil
}

// resolve returns path p, relative to Dir, as a path below Dir; globs are checked by the
// import, file by file.
func (j *Jobs) resolve(p string) (string, error) {
	p = strings.TrimPrefix(p, "file://")
	if filepath.IsAbs(p) {
		return "", fmt.Errorf("%w: %s: give a path relative to the import directory", ErrOutside, clip(p))
	}
	full := filepath.Join(j.Dir, p)
	if !within(j.Dir, full) {
		return "", fmt.Errorf("%w: %s", ErrOutside, clip(p))
	}
	if strings.ContainsAny(p, "*?[") {
		return full, nil // each match is checked as the import lists it
	}
	if _, err := os.Lstat(full); err != nil {
		return "", fmt.Errorf("%w: %s: no such file or directory in the import directory", errInvalid, clip(p))
	}
	if err := inRoot(j.Dir, full); err != nil {
		return "", err
	}
	return full, nil
}

// relative returns path as its caller named it, relative to Dir.
func (j *Jobs) relative(path string) string {
	if rel, err := filepath.Rel(j.Dir, path); err == nil {
		return rel
	}
	return filepath.Base(path)
}

// within reports whether path is root or below it, lexically.
func within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

// inRoot returns an error unless path, its symbolic links followed, lies below root.
func inRoot(root, path string) error {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return fmt.Errorf("ingest: import directory: %w", err)
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	if !within(realRoot, real) {
		return fmt.Errorf("%w: %s", ErrOutside, clip(path))
	}
	return nil
}

var (
	errInvalid     = fault.New(fault.Invalid, "invalid import")
	errUnsupported = fault.New(fault.Unsupported, "not supported")
)
