package storage

import (
	"context"
	"errors"
	"fmt"
)

// Validator checks each resource a commit writes before anything of the commit is stored.
// Every write passes through Commit (GraphQL mutations, the demo loader, audit events,
// REST and import), so a validator set here cannot be skipped.
type Validator interface {
	// Validate checks the JSON of the resource typ/id about to be written. It returns nil
	// when the resource may be stored, or an error saying why not; the error is returned
	// by Commit, wrapped, and nothing of the commit is stored.
	Validate(ctx context.Context, typ, id string, resource []byte) error
}

// validatorBox lets a Validator sit in an atomic.Pointer.
type validatorBox struct{ v Validator }

// SetValidator makes every later commit check its resources with v; nil checks nothing.
// It is safe to call while the store is in use.
func (s *Store) SetValidator(v Validator) {
	if v == nil {
		s.validator.Store(nil)
		return
	}
	s.validator.Store(&validatorBox{v})
}

// validateWrites runs the store's validator over the resources of writes, on all cores for
// large commits. It returns the error of every write refused, joined, so that a caller of
// many writes learns each (see [WriteErrors]); a single refusal is returned alone.
func (s *Store) validateWrites(ctx context.Context, writes []Write) error {
	box := s.validator.Load()
	if box == nil {
		return nil
	}
	data := make([][]byte, len(writes))
	errs := make([]error, len(writes))
	for i, w := range writes { // one at a time: resources may share values
		if w.Op == OpDelete || w.Resource == nil {
			continue
		}
		b, err := w.Resource.MarshalJSON()
		if err != nil {
			errs[i] = writeErr(i, w, fmt.Errorf("storage: commit: write %d (%s/%q): encode: %w", i, w.Type, w.ID, err))
			continue
		}
		data[i] = b
	}
	parallel(len(writes), func(i int) {
		if data[i] == nil {
			return
		}
		w := writes[i]
		if err := box.v.Validate(ctx, w.Type, w.ID, data[i]); err != nil {
			errs[i] = writeErr(i, w, fmt.Errorf("storage: commit: write %d (%s/%q): %w", i, w.Type, w.ID, err))
		}
	})
	var failed []error
	for _, err := range errs {
		if err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) == 1 {
		return failed[0]
	}
	return errors.Join(failed...)
}
