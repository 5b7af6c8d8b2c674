// Package fault names the kinds of failure fhirgate tells its clients apart, one sentinel
// error per kind, so that the error presenter maps each kind once. Each layer declares
// its own sentinels of these kinds (search.ErrInvalid, storage.ErrNotFound, ...) with [New]
// or [Opaque]; errors.Is(err, fault.Invalid) holds for every one of them and for every
// error wrapping one. The package has no dependencies.
package fault

import (
	"errors"
	"strings"
)

// The kinds of failure. Test for them with errors.Is; return a layer's sentinel, not these.
var (
	// Invalid: the request is wrong in itself (a malformed resource, argument or search).
	Invalid = errors.New("invalid")
	// NotFound: what the request names does not exist, or the caller may not know it does.
	NotFound = errors.New("not found")
	// Deleted: the current version of the resource is a deletion.
	Deleted = errors.New("deleted")
	// Conflict: a write named a version that is no longer current.
	Conflict = errors.New("version conflict")
	// Exists: a create named a resource that already exists.
	Exists = errors.New("already exists")
	// TooMany: more would be read or returned than the server allows at once.
	TooMany = errors.New("too many")
	// Unsupported: a valid FHIR feature this server does not implement.
	Unsupported = errors.New("unsupported")
	// TooComplex: the query exceeds the server's bounds on depth, cost or size.
	TooComplex = errors.New("too complex")
	// Forbidden: the policy or the caller's scope does not allow the request.
	Forbidden = errors.New("forbidden")
)

// Kinds returns every kind, in the order above.
func Kinds() []error {
	return []error{Invalid, NotFound, Deleted, Conflict, Exists, TooMany, Unsupported, TooComplex, Forbidden}
}

// sentinel is a layer's sentinel error of one kind.
type sentinel struct {
	kind   error
	msg    string
	public bool
}

func (s *sentinel) Error() string { return s.msg }
func (s *sentinel) Unwrap() error { return s.kind }

// New returns a sentinel of kind whose message, and what its producers append after it,
// is written for the client: fmt.Errorf("%w: unknown parameter %q", ErrInvalid, name).
// Producers put what the client must not see (ids, internal names) before it.
func New(kind error, msg string) error { return &sentinel{kind: kind, msg: msg, public: true} }

// Opaque returns a sentinel of kind whose producers' messages hold internal detail
// (storage keys, driver messages) on either side of it: the client is told only what the
// presenter says of the kind.
func Opaque(kind error, msg string) error { return &sentinel{kind: kind, msg: msg} }

// ClientDetail returns what the client may be told of err, an error of kind: the text of err
// from the message of its outermost public sentinel of that kind on, when the producer
// appended something to it. It reports false when err holds no such sentinel, when the error
// that wraps the sentinel also wraps an opaque one (whose producer's words would follow), or
// when the text is the sentinel alone (the presenter's sentence for the kind says more).
func ClientDetail(err, kind error) (string, bool) {
	s, wrapper := find(err, nil, func(s *sentinel) bool { return s.public && s.kind == kind })
	if s == nil {
		return "", false
	}
	if o, _ := find(wrapper, nil, func(s *sentinel) bool { return !s.public }); o != nil {
		return "", false
	}
	// The text is the outermost one that holds the sentinel's message: a wrapper may replace
	// the text of what it wraps (a GraphQL error keeps only its own message).
	for e := err; e != nil; e = errors.Unwrap(e) {
		if text := e.Error(); strings.Contains(text, s.msg) {
			return detailFrom(text, s.msg)
		}
	}
	if wrapper != nil {
		return detailFrom(wrapper.Error(), s.msg)
	}
	return "", false
}

// detailFrom returns text from msg on, unless msg is all there is.
func detailFrom(text, msg string) (string, bool) {
	i := strings.Index(text, msg)
	if i < 0 || strings.TrimSpace(text[i+len(msg):]) == "" {
		return "", false
	}
	return text[i:], true
}

// find returns the outermost sentinel in err's tree for which match holds, depth first as
// errors.Is walks it, and the error that wraps it (parent when err is that sentinel).
func find(err, parent error, match func(*sentinel) bool) (found *sentinel, wrapper error) {
	for err != nil {
		if s, ok := err.(*sentinel); ok && match(s) {
			return s, parent
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			parent, err = err, u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if s, w := find(e, err, match); s != nil {
					return s, w
				}
			}
			return nil, nil
		default:
			return nil, nil
		}
	}
	return nil, nil
}
