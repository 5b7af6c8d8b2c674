package storage

import (
	"errors"
	"slices"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/fhirgate/fhirgate/fault"
)

// Sentinel errors returned by storage, always wrapped with the type, id and versions
// involved; test for them with [errors.Is]. They are opaque (see fault.Opaque): storage's
// messages hold keys and driver text, so clients are told only their kind.
var (
	// ErrNotFound means the resource, version or datastore does not exist.
	ErrNotFound = fault.Opaque(fault.NotFound, "not found")
	// ErrDeleted means the current version of the resource is a deletion; its history remains.
	ErrDeleted = fault.Opaque(fault.Deleted, "deleted")
	// ErrConflict means a write named a version that is no longer current.
	ErrConflict = fault.Opaque(fault.Conflict, "version conflict")
	// ErrExists means a create named a resource that already exists.
	ErrExists = fault.Opaque(fault.Exists, "already exists")
	// ErrInvalid means an argument was malformed: a name, an id, an operation or resource JSON.
	ErrInvalid = fault.Opaque(fault.Invalid, "invalid argument")
	// ErrTooMany means more resources matched than the caller's limit allows.
	ErrTooMany = fault.Opaque(fault.TooMany, "too many matches")
	// ErrForbidden means the caller's scope does not allow a write to, or from, a version
	// the caller sent or can read (see [Scope]).
	ErrForbidden = fault.Opaque(fault.Forbidden, "outside the caller's scope")
)

// errFenced reports that a reader or recovery aborted a commit before it reached its
// commit point; the commit is retried with a new sequence number.
var errFenced = errors.New("commit fenced by a concurrent reader")

// errInjected is returned by a commit stopped by the failure-injection hook.
var errInjected = errors.New("injected failure")

// isDup reports whether err is a duplicate-key error from the server.
func isDup(err error) bool { return mongo.IsDuplicateKeyError(err) }

// isNoDoc reports whether err means a single-document read found nothing.
func isNoDoc(err error) bool { return errors.Is(err, mongo.ErrNoDocuments) }

// WriteError is the error of one write of a commit: every error [Store.Commit] returns
// about one of its writes (invalid, refused by the validator or the scope, a stale
// IfMatch, an existing or missing resource) wraps one, so that callers committing many
// writes at once (bundles, bulk import) can tell which write failed. Its message is the
// message of the error it wraps.
type WriteError struct {
	// Index is the position of the write in the commit's writes.
	Index int
	// Type and ID name the resource the write was for.
	Type, ID string
	// Err is what went wrong.
	Err error
}

func (e *WriteError) Error() string { return e.Err.Error() }
func (e *WriteError) Unwrap() error { return e.Err }

// WriteErrors returns the write errors err holds, in write order: one for most failed
// commits, one per refused resource when the validator refused several, none when the
// commit failed as a whole (the engine, the context).
func WriteErrors(err error) []*WriteError {
	var out []*WriteError
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *WriteError:
			out = append(out, e)
		case interface{ Unwrap() []error }:
			for _, x := range e.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	slices.SortStableFunc(out, func(a, b *WriteError) int { return a.Index - b.Index })
	return out
}

// writeErr wraps err, about write i of a commit, in a *WriteError.
func writeErr(i int, w Write, err error) error {
	return &WriteError{Index: i, Type: w.Type, ID: w.ID, Err: err}
}
