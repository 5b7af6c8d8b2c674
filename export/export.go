// Package export runs FHIR Bulk Data exports (the Bulk Data Access IG v2 $export): jobs
// that stream every resource a request selects, as its caller may see it, into one NDJSON
// file per type, with a manifest. Jobs run in the background of the process that started
// them; their files live in a directory of that process until they are deleted or expire.
package export

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
)

// Errors of the export API, of the kinds the server tells its clients apart by.
var (
	ErrInvalid   = fault.New(fault.Invalid, "invalid export request")
	ErrNotFound  = fault.New(fault.NotFound, "no such export job")
	ErrForbidden = fault.New(fault.Forbidden, "forbidden")
	ErrTooMany   = fault.New(fault.TooMany, "too many export jobs")
)

// Store is what an export reads.
type Store interface {
	Each(ctx context.Context, typ string, filter search.Filter, since time.Time, each func(*storage.Record) error) error
	Read(ctx context.Context, typ, id string) (*storage.Record, error)
	Types(ctx context.Context) ([]string, error)
	search.Store
}

// Level is what an export covers.
type Level int

// The export levels of the Bulk Data IG.
const (
	// System exports every resource of every type (GET /$export).
	System Level = iota
	// Patient exports the Patient compartment of every patient (GET /Patient/$export).
	Patient
	// Group exports the Patient compartments of a Group's members (GET /Group/{id}/$export).
	Group
)

// Request is one export's parameters.
type Request struct {
	Level Level
	// GroupID is the Group whose members are exported, at Group level.
	GroupID string
	// Types are the _type parameter's types; none means every type of the level that the
	// caller may read.
	Types []string
	// Since keeps resources last changed after it (_since); zero keeps all.
	Since time.Time
	// TypeFilters are the _typeFilter searches ("Observation?code=..."); a type with any
	// keeps the resources that match one of them.
	TypeFilters []string
	// URL is the kick-off request's URL, echoed in the manifest.
	URL string
}

// State is where a job stands.
type State string

// Job states.
const (
	Running   State = "running"
	Completed State = "completed"
	Failed    State = "failed"
)

// Output is one file of a completed export.
type Output struct {
	Type  string `json:"type"`
	Name  string `json:"-"`
	Count int    `json:"count"`
}

// Status is a snapshot of a job.
type Status struct {
	ID    string
	State State
	// Progress says how far a running job is, for X-Progress.
	Progress string
	// Started is the kick-off instant, the manifest's transactionTime.
	Started time.Time
	// Outputs are the files of a completed job, by type.
	Outputs []Output
	// Err is why a job failed.
	Err error
	// Request is what the job exports.
	Request Request
}

// Manager starts, tracks, cancels and serves export jobs.
type Manager struct {
	// Store is read by every job.
	Store Store
	// Dir holds one directory of files per job.
	Dir string
	// Allowed reports whether the caller in ctx may export resources of typ.
	Allowed func(ctx context.Context, typ string) error
	// Redact returns a resource as the caller in ctx may see it.
	Redact func(ctx context.Context, typ string, raw []byte) ([]byte, error)
	// MaxJobs bounds the jobs kept at once (running or finished and not yet deleted); zero
	// is 16.
	MaxJobs int
	// Expiry is how long a finished job's files are kept; zero is 24 hours.
	Expiry time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time

	mu   sync.Mutex
	jobs map[string]*job
}

type job struct {
	id, owner string
	req       Request
	started   time.Time
	cancel    context.CancelFunc
	done      chan struct{}

	mu       sync.Mutex
	state    State
	progress string
	outputs  []Output
	err      error
	finished time.Time
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Plan is what an export reads: its types, in order, and the filter of each.
type Plan struct {
	Types   []string
	filters map[string]search.Filter
	since   time.Time
}

// Start checks req for the caller in ctx, owner naming that caller, and starts its job.
// The job reads with ctx's values (the caller's authorisation and compartment) but
// outlives its cancellation.
func (m *Manager) Start(ctx context.Context, owner string, req Request) (Status, error) {
	plan, err := NewPlan(ctx, m.Store, req, m.Allowed)
	if err != nil {
		return Status{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire()
	if m.jobs == nil {
		m.jobs = map[string]*job{}
	}
	if len(m.jobs) >= cmpOr(m.MaxJobs, 16) {
		return Status{}, fmt.Errorf("%w: %d jobs are kept at once; delete finished ones", ErrTooMany, cmpOr(m.MaxJobs, 16))
	}
	id := newID()
	if err := os.MkdirAll(filepath.Join(m.Dir, id), 0o700); err != nil {
		return Status{}, fmt.Errorf("export: %w", err)
	}
	jctx, cancel := context.WithCancel(storage.WithoutAccessLog(context.WithoutCancel(ctx)))
	j := &job{id: id, owner: owner, req: req, started: m.now().UTC(), cancel: cancel, done: make(chan struct{}), state: Running,
		progress: fmt.Sprintf("starting: %d types to export", len(plan.Types))} // X-Progress is never empty
	m.jobs[id] = j
	go m.run(jctx, j, plan)
	return j.status(), nil
}

func cmpOr(n, def int) int {
	if n > 0 {
		return n
	}
	return def
}

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// NewPlan resolves the types req exports for the caller in ctx, who may export the types
// allowed accepts, and the filter of each.
func NewPlan(ctx context.Context, store Store, req Request, allowed func(ctx context.Context, typ string) error) (*Plan, error) {
	all := model.ResourceTypes()
	comp := authz.PatientCompartment{}.Compartment()
	covered := func(typ string) bool {
		return req.Level == System || typ == "Patient" || len(authz.CompartmentParams(typ)) > 0
	}
	var types []string
	for _, t := range req.Types {
		if !slices.Contains(all, t) {
			return nil, fmt.Errorf("%w: _type: unknown resource type %q", ErrInvalid, t)
		}
		if !covered(t) {
			return nil, fmt.Errorf("%w: _type: %s is not in the Patient compartment, which this export covers", ErrInvalid, t)
		}
		if err := allowed(ctx, t); err != nil {
			return nil, fmt.Errorf("%w: not permitted to export %s", ErrForbidden, t)
		}
		if !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	if len(types) == 0 {
		stored, err := store.Types(ctx)
		if err != nil {
			return nil, err
		}
		for _, t := range stored {
			if covered(t) && allowed(ctx, t) == nil {
				types = append(types, t)
			}
		}
	}

	filters := map[string]search.Filter{}
	var members []string
	if req.Level == Group {
		var err error
		if members, err = groupMembers(ctx, store, req.GroupID); err != nil {
			return nil, err
		}
	}
	kept := types[:0:0]
	for _, t := range types {
		var f search.Filter
		switch req.Level {
		case Patient:
			f, _ = comp.FilterAny(t)
		case Group:
			var ok bool
			if f, ok = comp.FilterAll(t, members); !ok {
				continue // no member: nothing of t
			}
		}
		filters[t] = f
		kept = append(kept, t)
	}
	types = kept

	byType := map[string][]search.Filter{}
	for _, tf := range req.TypeFilters {
		typ, q, err := search.ParseCriteria(tf)
		if err != nil {
			return nil, fmt.Errorf("%w: _typeFilter %q: %w", ErrInvalid, tf, err)
		}
		if q.Count != nil || q.Offset != 0 || len(q.Sort) > 0 {
			return nil, fmt.Errorf("%w: _typeFilter %q: search parameters only", ErrInvalid, tf)
		}
		f, err := q.Filter(ctx, search.StoreFinder{Store: store})
		if err != nil {
			return nil, fmt.Errorf("%w: _typeFilter %q: %w", ErrInvalid, tf, err)
		}
		byType[typ] = append(byType[typ], f)
	}
	for typ, fs := range byType {
		if _, ok := filters[typ]; !ok {
			continue // a filter of a type not exported filters nothing
		}
		filters[typ] = search.And(filters[typ], search.Or(fs...))
	}
	return &Plan{Types: types, filters: filters, since: req.Since}, nil
}

// groupMembers returns the ids of the Patients a Group lists as members.
func groupMembers(ctx context.Context, store Store, id string) ([]string, error) {
	if !model.ValidID(id) {
		return nil, fmt.Errorf("%w: %q is not a FHIR id", ErrInvalid, id)
	}
	rec, err := store.Read(ctx, "Group", id)
	if err != nil {
		return nil, err
	}
	var g struct {
		Member []struct {
			Entity struct {
				Reference string `json:"reference"`
			} `json:"entity"`
			Inactive bool `json:"inactive"`
		} `json:"member"`
	}
	if err := json.Unmarshal(rec.JSON, &g); err != nil {
		return nil, fmt.Errorf("export: Group/%s: %w", id, err)
	}
	var ids []string
	for _, mem := range g.Member {
		if r, ok := model.ParseReference(mem.Entity.Reference); ok && r.Type == "Patient" && !mem.Inactive {
			ids = append(ids, r.ID)
		}
	}
	return ids, nil
}

// run writes the job's files and records how it ended.
func (m *Manager) run(ctx context.Context, j *job, plan *Plan) {
	defer close(j.done)
	outputs, err := plan.Write(ctx, m.Store, filepath.Join(m.Dir, j.id), m.Redact, func(typ string, i, n int) {
		j.setProgress(fmt.Sprintf("%s: %d resources written (type %d of %d)", typ, n, i+1, len(plan.Types)))
	})
	j.mu.Lock()
	defer j.mu.Unlock()
	j.finished = m.now()
	if err != nil {
		j.state, j.err = Failed, err
		return
	}
	j.state, j.outputs, j.progress = Completed, outputs, "completed"
}

// Write writes the plan's resources into dir, one NDJSON file per type that has any
// (<Type>.ndjson), each resource as redact returns it, and reports progress after every
// thousand resources of a type (the type's index in Types and its count so far). A bug in
// a job fails the job, not the process.
func (p *Plan) Write(ctx context.Context, store Store, dir string, redact func(ctx context.Context, typ string, raw []byte) ([]byte, error), progress func(typ string, i, n int)) (outputs []Output, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("export: panic: %v\n%s", p, debug.Stack())
		}
	}()
	for i, typ := range p.Types {
		progress(typ, i, 0)
		out, err := p.writeType(ctx, store, dir, typ, redact, func(n int) { progress(typ, i, n) })
		if err != nil {
			return nil, fmt.Errorf("%s: %w", typ, err)
		}
		if out.Count > 0 {
			outputs = append(outputs, out)
		}
	}
	return outputs, nil
}

// writeType writes the resources of typ into its file in dir, and removes the file when
// there is none.
func (p *Plan) writeType(ctx context.Context, store Store, dir, typ string, redact func(ctx context.Context, typ string, raw []byte) ([]byte, error), progress func(n int)) (Output, error) {
	out := Output{Type: typ, Name: typ + ".ndjson"}
	path := filepath.Join(dir, out.Name)
	f, err := os.Create(path)
	if err != nil {
		return out, err
	}
	w := bufio.NewWriterSize(f, 256<<10)
	var line bytes.Buffer
	err = store.Each(ctx, typ, p.filters[typ], p.since, func(r *storage.Record) error {
		raw, err := redact(ctx, typ, r.JSON)
		if err != nil {
			return err
		}
		line.Reset()
		// One resource per line: the stored JSON is compacted, whatever its layout.
		if err := json.Compact(&line, raw); err != nil {
			return fmt.Errorf("%s/%s: %w", typ, r.ID, err)
		}
		line.WriteByte('\n')
		if _, err := w.Write(line.Bytes()); err != nil {
			return err
		}
		out.Count++
		if out.Count%1000 == 0 {
			progress(out.Count)
		}
		return nil
	})
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil || out.Count == 0 {
		os.Remove(path)
	}
	progress(out.Count)
	return out, err
}

func (j *job) setProgress(p string) {
	j.mu.Lock()
	j.progress = p
	j.mu.Unlock()
}

func (j *job) status() Status {
	j.mu.Lock()
	defer j.mu.Unlock()
	return Status{ID: j.id, State: j.state, Progress: j.progress, Started: j.started, Outputs: slices.Clone(j.outputs), Err: j.err, Request: j.req}
}

// lookup returns owner's job id.
func (m *Manager) lookup(id, owner string) (*job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire()
	j := m.jobs[id]
	if j == nil {
		return nil, ErrNotFound
	}
	if j.owner != owner {
		return nil, fmt.Errorf("%w: the export belongs to another caller", ErrForbidden)
	}
	return j, nil
}

// Status returns the state of owner's job id.
func (m *Manager) Status(id, owner string) (Status, error) {
	j, err := m.lookup(id, owner)
	if err != nil {
		return Status{}, err
	}
	return j.status(), nil
}

// Delete cancels owner's job id if it runs, waits for it to stop, and deletes its files.
func (m *Manager) Delete(id, owner string) error {
	j, err := m.lookup(id, owner)
	if err != nil {
		return err
	}
	j.cancel()
	<-j.done
	m.mu.Lock()
	delete(m.jobs, id)
	m.mu.Unlock()
	return os.RemoveAll(filepath.Join(m.Dir, id))
}

// Open opens the file of type typ of owner's completed job id.
func (m *Manager) Open(id, owner, typ string) (*os.File, error) {
	j, err := m.lookup(id, owner)
	if err != nil {
		return nil, err
	}
	st := j.status()
	for _, o := range st.Outputs {
		if o.Type == typ {
			return os.Open(filepath.Join(m.Dir, id, o.Name))
		}
	}
	return nil, ErrNotFound
}

// expire deletes finished jobs older than the expiry. m.mu is held.
func (m *Manager) expire() {
	exp := m.Expiry
	if exp <= 0 {
		exp = 24 * time.Hour
	}
	for id, j := range m.jobs {
		j.mu.Lock()
		old := j.state != Running && m.now().Sub(j.finished) > exp
		j.mu.Unlock()
		if old {
			delete(m.jobs, id)
			os.RemoveAll(filepath.Join(m.Dir, id))
		}
	}
}

// Wait blocks until job id stops or ctx ends: for the CLI and tests.
func (m *Manager) Wait(ctx context.Context, id string) error {
	m.mu.Lock()
	j := m.jobs[id]
	m.mu.Unlock()
	if j == nil {
		return ErrNotFound
	}
	select {
	case <-j.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
