package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/fhirgate/fhirgate/model"
)

// Op is the kind of a write.
type Op int

// The kinds of write.
const (
	// OpPut creates the resource or replaces its current version, like FHIR update.
	OpPut Op = iota + 1
	// OpCreate creates the resource and fails with ErrExists if it has a current,
	// non-deleted version. Creating over a tombstone continues its version numbers.
	OpCreate
	// OpDelete records a tombstone version. It fails with ErrNotFound if the resource
	// never existed and with ErrDeleted if it is already deleted.
	OpDelete
	// OpPatch replaces the current version with the caller's patched resource, like
	// OpPut, and is recorded as a patch. It fails as OpDelete does when there is no
	// current version.
	OpPatch
)

// String returns the name of the operation.
func (o Op) String() string {
	switch o {
	case OpPut:
		return "put"
	case OpCreate:
		return "create"
	case OpDelete:
		return "delete"
	case OpPatch:
		return "patch"
	default:
		return "Op(" + strconv.Itoa(int(o)) + ")"
	}
}

// Write is one resource write of a commit.
type Write struct {
	Op   Op
	Type string
	ID   string
	// IfMatch, when above zero, is the version the write expects to be current; any
	// other current version (or none) fails the commit with ErrConflict. Zero writes
	// unconditionally: concurrent writers are retried, never lost.
	IfMatch int64
	// Resource is the resource to store; nil for deletes.
	Resource Resource
}

// Commit steps, as numbered for the failure-injection hook.
const (
	stepSeq     = 1 // sequence number allocated
	stepPending = 2 // _pending document written
	stepClaims  = 3 // history documents claimed
	stepCommit  = 4 // _journal document written: the commit point
	stepApply   = 5 // current documents replaced
	stepDone    = 6 // _pending document removed
)

// The commit steps, exported for the failure-injection tests of packages built on Commit
// (see [Store.SetFailureHook]).
const (
	StepSeq     = stepSeq
	StepPending = stepPending
	StepClaims  = stepClaims
	StepCommit  = stepCommit
	StepApply   = stepApply
	StepDone    = stepDone
)

// SetFailureHook makes every later commit of s call hook after each of its steps (StepSeq
// to StepDone); a non-nil error stops the commit there, as if its process had died, and
// Commit returns it. It is for the failure-injection tests of packages that build on
// Commit (transactions, bulk import): set it while no commit runs, and never in a server.
func (s *Store) SetFailureHook(hook func(seq int64, step int) error) { s.afterStep = hook }

// maxCommitAttempts bounds the retries of one commit against concurrent writers.
const maxCommitAttempts = 200

// cleanupTimeout bounds the steps that finish or undo a commit after the caller's
// context is done: leaving them half done would only defer the work to recovery.
const cleanupTimeout = 30 * time.Second

// Commit applies writes all-or-nothing and returns the new versions in write order.
// Each write names a distinct resource; they may be of any types.
//
// Errors, all wrapped with the type, id and versions involved: ErrInvalid for a
// malformed write or resource JSON; ErrConflict when a write's IfMatch is stale;
// ErrExists, ErrNotFound and ErrDeleted as described on [Op]; the store's Validator's
// error (see SetValidator) when a resource does not pass it; under a [Scope] in ctx,
// ErrNotFound, ErrExists and ErrForbidden as described there, before any other error
// about an existing resource. On error nothing of the commit is visible: not in the
// current versions, the history or the change feed.
//
// Commit calls StampMeta and MarshalJSON on every resource, again on each retry.
func (s *Store) Commit(ctx context.Context, writes []Write) ([]*Record, error) {
	if len(writes) == 0 {
		return []*Record{}, nil
	}

	tcs, keys, err := s.checkWrites(ctx, writes)
	if err != nil {
		return nil, err
	}
	if err := s.validateWrites(ctx, writes); err != nil {
		return nil, err
	}

	for attempt := 1; ; attempt++ {
		recs, retry, err := s.tryCommit(ctx, writes, tcs, keys)
		if !retry {
			if err == nil {
				logAccess(ctx, recs...)
			}
			return recs, err
		}

		if attempt == maxCommitAttempts {
			return nil, fmt.Errorf("storage: commit: gave up after %d attempts: %w", attempt, err)
		}

		// Back off with jitter, growing to 50 ms, so that writers racing for the same
		// resources from several processes spread out.
		d := time.Duration(rand.Int64N(int64(min(time.Millisecond<<min(attempt, 6), 50*time.Millisecond)))) + time.Millisecond
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("storage: commit: %w", ctx.Err())
		case <-time.After(d):
		}
	}
}

// checkWrites validates writes and returns their collections and lock keys.
func (s *Store) checkWrites(ctx context.Context, writes []Write) ([]*typeColls, []string, error) {
	tcs := make([]*typeColls, len(writes))
	keys := make([]string, len(writes))
	seen := make(map[string]bool, len(writes))

	for i, w := range writes {
		tc, err := s.colls(ctx, w.Type)
		if err != nil {
			return nil, nil, writeErr(i, w, fmt.Errorf("storage: commit: write %d: %w", i, err))
		}

		var problem string

		switch {
		case w.Op < OpPut || w.Op > OpPatch:
			problem = "unknown operation " + w.Op.String()
		case !model.ValidID(w.ID):
			problem = "malformed id"
		case w.IfMatch < 0:
			problem = "negative IfMatch"
		case w.Op != OpDelete && w.Resource == nil:
			problem = "no resource"
		case seen[w.Type+"/"+w.ID]:
			problem = "resource written twice in one commit"
		}

		if problem != "" {
			return nil, nil, writeErr(i, w, fmt.Errorf("storage: commit: write %d (%s %s/%q): %s: %w", i, w.Op, w.Type, w.ID, problem, ErrInvalid))
		}

		tcs[i] = tc
		keys[i] = w.Type + "/" + w.ID
		seen[keys[i]] = true
	}

	return tcs, keys, nil
}

// tryCommit runs the commit protocol once. retry reports that it lost a race that a
// new attempt, with a new sequence number, may win.
func (s *Store) tryCommit(ctx context.Context, writes []Write, tcs []*typeColls, keys []string) (recs []*Record, retry bool, err error) {
	unlock := s.locks.lock(keys)
	defer unlock()

	prev, err := s.readCurrent(ctx, writes, tcs)
	if err != nil {
		return nil, false, err
	}

	// A scope is checked here, under the locks and against the versions this attempt
	// replaces, so that no concurrent write slips between the check and the commit.
	if err := s.checkCurrentScope(ctx, writes, prev); err != nil {
		return nil, false, err
	}

	ts := s.c.clock().UTC().Truncate(time.Millisecond)

	plan, err := planWrites(writes, prev, ts, s.c.indexer)
	if err != nil {
		return nil, false, err
	}

	if err := s.checkNewScope(ctx, writes, plan); err != nil {
		return nil, false, err
	}

	ops := make([]opDoc, len(plan))
	for i, d := range plan {
		ops[i] = opDoc{T: writes[i].Type, ID: d.ID, V: d.V, Del: d.Del}
	}

	// Steps 1 and 2: a sequence number, allocated after reading the current versions
	// so that a resource's versions are in sequence order too, and the intent record.
	seq, token, err := s.begin(ctx, ts, ops)
	if err != nil {
		return nil, false, fmt.Errorf("storage: commit: %w", err)
	}
	defer s.land(seq)

	for _, d := range plan {
		d.Seq = seq
	}

	// From here on, finishing or undoing must not depend on the caller's patience.
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()

	if err := s.step(seq, stepPending); err != nil {
		return nil, false, err
	}

	// Step 3: claim each new version; a duplicate _id means another writer claimed it.
	conflict, err := s.claim(ctx, tcs, plan)
	if err != nil || conflict >= 0 {
		if rbErr := s.abort(bg, seq, tcs, plan); rbErr != nil {
			err = errors.Join(err, rbErr)
		}

		if err != nil {
			return nil, false, fmt.Errorf("storage: commit seq %d: %w", seq, err)
		}

		recs, retry, err := s.claimConflict(bg, writes[conflict], tcs[conflict], plan[conflict], prev[conflict])
		if err != nil {
			err = writeErr(conflict, writes[conflict], err)
		}
		return recs, retry, err
	}

	if err := s.step(seq, stepClaims); err != nil {
		return nil, false, err
	}

	// Step 4: the commit point.
	committed, err := s.commitPoint(bg, seq, token, ts, ops)
	if err != nil || !committed {
		if rbErr := s.abort(bg, seq, tcs, plan); rbErr != nil {
			err = errors.Join(err, rbErr)
		}

		if err != nil {
			return nil, false, fmt.Errorf("storage: commit seq %d: %w", seq, err)
		}

		return nil, true, errFenced
	}

	if err := s.step(seq, stepCommit); err != nil {
		return nil, false, err
	}

	// Steps 5 and 6. The commit is durable: failures here are repaired by recovery
	// and must not make the caller believe it failed.
	if err := s.applyAll(bg, tcs, plan, prev); err != nil {
		s.c.log.ErrorContext(ctx, "storage: commit: applying committed writes; recovery will finish", slog.Int64("seq", seq), slog.Any("error", err))
		return records(writes, plan), false, nil
	}

	if err := s.step(seq, stepApply); err != nil {
		return nil, false, err
	}

	if err := s.finished(bg, seq); err != nil {
		s.c.log.WarnContext(ctx, "storage: commit: removing pending record; recovery will finish", slog.Int64("seq", seq), slog.Any("error", err))
	}

	if err := s.step(seq, stepDone); err != nil {
		return nil, false, err
	}

	return records(writes, plan), false, nil
}

// step runs the failure-injection hook, if any, after step k of commit seq.
func (s *Store) step(seq int64, k int) error {
	if s.afterStep == nil {
		return nil
	}

	return s.afterStep(seq, k)
}

func records(writes []Write, plan []*versionDoc) []*Record {
	out := make([]*Record, len(plan))
	for i, d := range plan {
		out[i] = d.record(writes[i].Type)
	}

	return out
}

// readCurrent returns the current document of each write's resource, nil where absent.
func (s *Store) readCurrent(ctx context.Context, writes []Write, tcs []*typeColls) ([]*versionDoc, error) {
	byType := map[*typeColls][]string{}
	for i, w := range writes {
		byType[tcs[i]] = append(byType[tcs[i]], w.ID)
	}

	found := map[*typeColls]map[string]*versionDoc{}

	for tc, ids := range byType {
		docs, err := s.fetchCurrent(ctx, tc, ids, nil)
		if err != nil {
			return nil, fmt.Errorf("storage: commit: read current %s: %w", tc.typ, err)
		}

		found[tc] = docs
	}

	prev := make([]*versionDoc, len(writes))
	for i, w := range writes {
		prev[i] = found[tcs[i]][w.ID]
	}

	return prev, nil
}

// planWrites checks each write against the current version and returns the history
// document it will claim, stamped, marshalled and, with an Indexer, indexed.
func planWrites(writes []Write, prev []*versionDoc, ts time.Time, ix Indexer) ([]*versionDoc, error) {
	plan := make([]*versionDoc, len(writes))

	for i, w := range writes {
		p := prev[i]

		var curV int64
		if p != nil {
			curV = p.V
		}

		where := fmt.Sprintf("storage: commit: %s %s/%s", w.Op, w.Type, w.ID)

		needsLive := w.Op == OpDelete || w.Op == OpPatch
		var err error
		switch {
		case w.IfMatch > 0 && curV != w.IfMatch:
			err = fmt.Errorf("%s: expected version %d, current %d: %w", where, w.IfMatch, curV, ErrConflict)
		case w.Op == OpCreate && p != nil && !p.Del:
			err = fmt.Errorf("%s: version %d: %w", where, curV, ErrExists)
		case needsLive && p == nil:
			err = fmt.Errorf("%s: %w", where, ErrNotFound)
		case needsLive && p.Del:
			err = fmt.Errorf("%s: version %d: %w", where, curV, ErrDeleted)
		}
		if err != nil {
			return nil, writeErr(i, w, err)
		}

		v := curV + 1
		d := &versionDoc{Key: historyKey(w.ID, v), ID: w.ID, V: v, TS: ts, Del: w.Op == OpDelete, Op: w.Op}

		if !d.Del {
			// Stamped and marshalled one at a time: a caller may share values between
			// resources, which StampMeta changes.
			w.Resource.StampMeta(strconv.FormatInt(v, 10), ts)

			b, err := w.Resource.MarshalJSON()
			if err != nil {
				return nil, writeErr(i, w, fmt.Errorf("%s: marshal: %w: %w", where, ErrInvalid, err))
			}

			d.JSON = string(b)
		}

		plan[i] = d
	}

	// Checking and indexing the JSON only reads it: spread over the cores for large commits.
	errs := make([]error, len(plan))
	parallel(len(plan), func(i int) {
		d, w := plan[i], writes[i]
		if d.Del {
			return
		}
		where := fmt.Sprintf("storage: commit: %s %s/%s", w.Op, w.Type, w.ID)
		b := []byte(d.JSON)
		if !json.Valid(b) {
			errs[i] = writeErr(i, w, fmt.Errorf("%s: marshal: invalid JSON: %w", where, ErrInvalid))
			return
		}
		if ix != nil {
			f, err := ix.Index(w.Type, b)
			if err != nil {
				errs[i] = writeErr(i, w, fmt.Errorf("%s: index: %w: %w", where, ErrInvalid, err))
				return
			}
			d.idx = &f
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}

	return plan, nil
}

// parallelMin is the number of items below which parallel works in the caller's goroutine:
// spreading a small commit over goroutines costs more than it saves.
const parallelMin = 32

// parallel calls f(i) for i in [0, n), on up to GOMAXPROCS goroutines when n is large.
func parallel(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n/(parallelMin/2))
	if n < parallelMin || workers < 2 {
		for i := range n {
			f(i)
		}
		return
	}

	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}

// begin allocates a sequence number, registers it as in flight and records the
// commit's intent in _pending. It returns the sequence number and the commit's token,
// which tells its own journal document apart from any other.
func (s *Store) begin(ctx context.Context, ts time.Time, ops []opDoc) (int64, string, error) {
	token := bson.NewObjectID().Hex()

	for range 10 {
		seq, err := s.allocSeq(ctx)
		if err != nil {
			return 0, "", err
		}

		if err := s.step(seq, stepSeq); err != nil {
			s.land(seq)
			return 0, "", err
		}

		_, err = s.pending.InsertOne(ctx, pendingDoc{Key: seqKey(seq), TS: ts, Token: token, Ops: ops})
		if err == nil {
			return seq, token, nil
		}

		s.land(seq)

		// A duplicate means the number was handed out twice, which only a counter
		// without atomic $inc does: take another.
		if !isDup(err) {
			return 0, "", fmt.Errorf("write pending seq %d: %w", seq, err)
		}
	}

	return 0, "", errors.New("sequence counter keeps returning numbers in use")
}

// claim inserts the history documents of plan, one insert per type. It returns the
// index of a write whose version another commit claimed first, or -1.
func (s *Store) claim(ctx context.Context, tcs []*typeColls, plan []*versionDoc) (int, error) {
	var order []*typeColls

	groups := map[*typeColls][]int{}
	for i, tc := range tcs {
		if groups[tc] == nil {
			order = append(order, tc)
		}
		groups[tc] = append(groups[tc], i)
	}

	for _, tc := range order {
		idx := groups[tc]

		docs := make([]any, len(idx))
		for j, i := range idx {
			docs[j] = plan[i]
		}

		dup, err := s.c.be.insertMany(ctx, s, tc.hist, docs, false)
		if err != nil {
			return -1, fmt.Errorf("claim %s versions: %w", tc.typ, err)
		}
		if !dup {
			continue
		}

		// Find the claim that is not ours rather than trust the error's index.
		for _, i := range idx {
			var other versionDoc

			found, err := findByID(ctx, tc.hist, plan[i].Key, &other)
			if err != nil {
				return -1, err
			}

			if found && other.Seq != plan[i].Seq {
				return i, nil
			}
		}

		return -1, fmt.Errorf("claim %s versions: duplicate key, but no other claim found", tc.typ)
	}

	return -1, nil
}

// claimConflict decides what a commit that lost the claim of version d to another
// commit does next, helping that commit along where it is stuck.
func (s *Store) claimConflict(ctx context.Context, w Write, tc *typeColls, d, prev *versionDoc) ([]*Record, bool, error) {
	where := fmt.Sprintf("storage: commit: %s %s/%s version %d", w.Op, w.Type, w.ID, d.V)

	var other versionDoc

	found, err := findByID(ctx, tc.hist, d.Key, &other)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", where, err)
	}

	if !found {
		return nil, true, nil // undone meanwhile
	}

	st, err := s.seqState(ctx, other.Seq)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", where, err)
	}

	switch st {
	case stCommitted:
		// Committed but not applied yet, perhaps never by its own process: apply it,
		// so that the next attempt reads it as current.
		if err := s.applyOne(ctx, tc, &other, prev, true); err != nil {
			return nil, false, fmt.Errorf("%s: %w", where, err)
		}

		if err := s.c.be.finishOther(ctx, s, other.Seq); err != nil {
			return nil, false, fmt.Errorf("%s: %w", where, err)
		}

		if w.IfMatch > 0 {
			return nil, false, fmt.Errorf("%s: committed by seq %d: %w", where, other.Seq, ErrConflict)
		}
	case stAborted:
		// Left behind by a commit that will not finish: remove it.
		if err := s.deleteClaim(ctx, tc, other.Key, other.Seq); err != nil {
			return nil, false, fmt.Errorf("%s: %w", where, err)
		}
	default:
		if w.IfMatch > 0 {
			return nil, false, fmt.Errorf("%s: being written by seq %d: %w", where, other.Seq, ErrConflict)
		}
	}

	return nil, true, nil
}

// finishOther: on MongoDB, the change feed waits for the pending record to go, so finish
// all of the commit now rather than after the timeout.
func (mongoBackend) finishOther(ctx context.Context, s *Store, seq int64) error {
	var p pendingDoc

	if found, err := findByID(ctx, s.pending, seqKey(seq), &p); err != nil || !found {
		return err
	}

	return s.finishLocked(ctx, seq, stCommitted, &p, false)
}

// finishOther: nothing on the embedded engine, whose change feed does not wait for the
// pending record; the other resources' locks may be held by other commits, so recovery
// finishes it.
func (embeddedBackend) finishOther(context.Context, *Store, int64) error { return nil }

// commitPoint writes the committed journal document of seq and reports whether this
// commit, rather than an abort, resolved seq.
func (s *Store) commitPoint(ctx context.Context, seq int64, token string, ts time.Time, ops []opDoc) (bool, error) {
	_, err := s.journal.InsertOne(ctx, journalDoc{Key: seqKey(seq), Seq: seq, TS: ts, St: stCommitted, Token: token, Ops: ops})
	if err == nil {
		return true, nil
	}

	if !isDup(err) {
		// The insert may or may not have happened: fencing settles it either way.
		if _, ferr := s.fence(ctx, seq); ferr != nil {
			return false, errors.Join(err, ferr)
		}
	}

	var j journalDoc

	found, ferr := findByID(ctx, s.journal, seqKey(seq), &j)
	if ferr != nil {
		return false, errors.Join(err, ferr)
	}

	if !found {
		return false, fmt.Errorf("journal seq %d: written and missing: %w", seq, err)
	}

	return j.St == stCommitted && j.Token == token, nil
}

// abort resolves seq as aborted, unless that already happened, and removes its
// claims and its pending record. The caller holds the locks of plan's resources.
func (s *Store) abort(ctx context.Context, seq int64, tcs []*typeColls, plan []*versionDoc) error {
	st, err := s.fence(ctx, seq)
	if err != nil {
		return err
	}

	if st == stCommitted {
		return fmt.Errorf("abort seq %d: already committed", seq)
	}

	for i, d := range plan {
		if err := s.deleteClaim(ctx, tcs[i], d.Key, seq); err != nil {
			return err
		}
	}

	if _, err := s.pending.DeleteOne(ctx, bson.D{{Key: "_id", Value: seqKey(seq)}}); err != nil {
		return fmt.Errorf("remove pending seq %d: %w", seq, err)
	}

	return nil
}

// deleteClaim removes history document key if commit seq wrote it. On the embedded
// engine the caller must hold the resource's lock: there, "read, compare, delete by
// _id" stands in for a conditional delete that FerretDB would serve with a scan.
func (s *Store) deleteClaim(ctx context.Context, tc *typeColls, key string, seq int64) error {
	return s.c.be.deleteClaim(ctx, s, tc, key, seq)
}

func (mongoBackend) deleteClaim(ctx context.Context, _ *Store, tc *typeColls, key string, seq int64) error {
	if _, err := tc.hist.DeleteOne(ctx, bson.D{{Key: "_id", Value: key}, {Key: "seq", Value: seq}}); err != nil {
		return fmt.Errorf("remove claim %s %s: %w", tc.typ, key, err)
	}

	return nil
}

func (embeddedBackend) deleteClaim(ctx context.Context, _ *Store, tc *typeColls, key string, seq int64) error {
	var d versionDoc

	found, err := findByID(ctx, tc.hist, key, &d)
	if err != nil || !found || d.Seq != seq {
		return err
	}

	if _, err := tc.hist.DeleteOne(ctx, bson.D{{Key: "_id", Value: key}}); err != nil {
		return fmt.Errorf("remove claim %s %s: %w", tc.typ, key, err)
	}

	return nil
}
