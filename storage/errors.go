package storage

import (
	"errors"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Sentinel errors returned by storage, always wrapped with the type, id and versions
// involved; test for them with [errors.Is].
var (
	// ErrNotFound means the resource, version or datastore does not exist.
	ErrNotFound = errors.New("storage: not found")
	// ErrDeleted means the current version of the resource is a deletion; its history remains.
	ErrDeleted = errors.New("storage: deleted")
	// ErrConflict means a write named a version that is no longer current.
	ErrConflict = errors.New("storage: version conflict")
	// ErrExists means a create named a resource that already exists.
	ErrExists = errors.New("storage: already exists")
	// ErrInvalid means an argument was malformed: a name, an id, an operation or resource JSON.
	ErrInvalid = errors.New("storage: invalid argument")
	// ErrTooMany means more resources matched than the caller's limit allows.
	ErrTooMany = errors.New("storage: too many matches")
	// ErrForbidden means the caller's scope does not allow a write to, or from, a version
	// the caller sent or can read (see [Scope]).
	ErrForbidden = errors.New("storage: outside the caller's scope")
)

// errFenced reports that a reader or recovery aborted a commit before it reached its
// commit point; the commit is retried with a new sequence number.
var errFenced = errors.New("storage: commit fenced by a concurrent reader")

// errInjected is returned by a commit stopped by the failure-injection hook.
var errInjected = errors.New("storage: injected failure")

// isDup reports whether err is a duplicate-key error from the server.
func isDup(err error) bool { return mongo.IsDuplicateKeyError(err) }

// isNoDoc reports whether err means a single-document read found nothing.
func isNoDoc(err error) bool { return errors.Is(err, mongo.ErrNoDocuments) }
