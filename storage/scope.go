package storage

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Scope confines a caller to part of a datastore, such as one patient's compartment.
// Storage applies it itself on every read, batch read, history read, search and write made
// with a context that carries it, so a caller that forgot a check still cannot reach
// what lies outside.
//
// Under a scope, what lies outside answers like what does not exist, writes included:
//
//   - An update (OpPut) or delete needs a current version that the caller can read: one
//     that meets Filter and is not deleted. For any other id, unused, deleted or used
//     outside the scope alike, the write fails with ErrNotFound and the same message.
//     So a scoped update never creates: creating at an unused id while refusing at a used
//     one would tell the caller which ids are used outside. Scoped callers create with
//     OpCreate and an id of the server's choosing.
//   - A create needs an id that has never been used: ErrExists otherwise, whoever the
//     resource belongs to. This answer does reveal that the id is used, so a caller under
//     a scope must never create at an id taken from its client (the GraphQL resolvers
//     create at fresh random ids).
//   - Both the current version that an update replaces or a delete removes, and the new
//     version an update or create writes, must meet Filter and be admitted by Admit:
//     ErrForbidden otherwise. Those are versions the caller sent or can read, so the
//     refusal reveals nothing else.
type Scope interface {
	// Filter returns the condition, over current documents and their search fields, that
	// the resources of typ in scope meet; ok is false when none of them can be. A nil
	// filter with ok leaves typ alone: its reads and writes are made as without a scope.
	Filter(typ string) (filter bson.D, ok bool)
	// Admit reports whether a caller confined to the scope may write v: the new version
	// of a create or update, or the current version that an update replaces or a delete
	// removes. Storage asks only about versions that meet Filter: Admit adds the rules of
	// writing to those of reading. A non-nil error says why not, about v alone, in words
	// fit for the caller.
	Admit(v Version) error
}

// Version is one version of a resource, as a Scope judges it for a write.
type Version struct {
	Type string
	ID   string
	// JSON is the resource as stored, or as it will be.
	JSON []byte
	// Index holds its search fields, as the datastore's Indexer computes them.
	Index IndexFields
}

type scopeKey struct{}

// WithScope returns ctx confining storage calls made with it to sc.
func WithScope(ctx context.Context, sc Scope) context.Context {
	return context.WithValue(ctx, scopeKey{}, sc)
}

func scopeFrom(ctx context.Context) Scope {
	sc, _ := ctx.Value(scopeKey{}).(Scope)
	return sc
}

// scopeFilter returns the scope's filter for typ in ctx: nil, true when unscoped.
func scopeFilter(ctx context.Context, typ string) (bson.D, bool) {
	sc := scopeFrom(ctx)
	if sc == nil {
		return nil, true
	}
	return sc.Filter(typ)
}

// scoped returns filter restricted to ctx's scope; ok is false when nothing of typ is in it.
func scoped(ctx context.Context, typ string, filter bson.D) (bson.D, bool) {
	sf, ok := scopeFilter(ctx, typ)
	switch {
	case !ok:
		return nil, false
	case sf == nil:
		return filter, true
	case len(filter) == 0:
		return sf, true
	}
	return bson.D{{Key: "$and", Value: bson.A{filter, sf}}}, true
}

// inScope reports whether the stored current document raw meets the scope filter sf.
func inScope(raw bson.Raw, sf bson.D) (bool, error) {
	if sf == nil {
		return true, nil
	}
	var m matcher
	return m.match(withIndex(raw), sf)
}

// versionInScope reports whether a version, current, historical or about to be written,
// meets the scope filter sf: its search fields are those planned with it or, since history
// keeps none, computed from its JSON.
func (s *Store) versionInScope(typ string, d *versionDoc, sf bson.D) (bool, error) {
	if sf == nil {
		return true, nil
	}
	if d.Del || s.c.indexer == nil {
		return false, nil
	}
	f, err := s.indexOf(typ, d)
	if err != nil {
		return false, err
	}
	raw, err := bson.Marshal(struct {
		ID          string `bson:"_id"`
		IndexFields `bson:",inline"`
	}{d.resID(), *f})
	if err != nil {
		return false, err
	}
	var m matcher
	return m.match(raw, sf)
}

// indexOf returns the search fields of version d: those planned with it, or computed now
// from its JSON (and kept on d); none without an Indexer.
func (s *Store) indexOf(typ string, d *versionDoc) (*IndexFields, error) {
	if s.c.indexer == nil {
		return &IndexFields{}, nil
	}
	if d.idx == nil {
		f, err := s.c.indexer.Index(typ, []byte(d.JSON))
		if err != nil {
			return nil, fmt.Errorf("index %s/%s: %w", typ, d.resID(), err)
		}
		d.idx = &f
	}
	return d.idx, nil
}

// checkCurrentScope applies ctx's scope, if any, to the current versions prev (nil where
// there is none) of the resources that writes touch, as [Scope] describes. It runs before
// anything else is checked against them (versions expected by IfMatch, deletions), so
// that no other answer tells what lies outside.
func (s *Store) checkCurrentScope(ctx context.Context, writes []Write, prev []*versionDoc) error {
	sc := scopeFrom(ctx)
	if sc == nil {
		return nil
	}
	for i, w := range writes {
		p := prev[i]
		if unrestricted(sc, w.Type) {
			continue
		}
		if w.Op == OpCreate {
			if p != nil {
				return writeErr(i, w, fmt.Errorf("storage: write %s/%s: %w", w.Type, w.ID, ErrExists))
			}
			continue
		}
		// Absent, deleted and outside must be told apart by nothing: one error, one message.
		in := false
		if p != nil && !p.Del {
			var err error
			if in, err = s.meetsScope(ctx, w.Type, p); err != nil {
				return writeErr(i, w, fmt.Errorf("storage: write %s/%s: %w", w.Type, w.ID, err))
			}
		}
		if !in {
			return writeErr(i, w, fmt.Errorf("storage: write %s/%s: %w", w.Type, w.ID, ErrNotFound))
		}
		if err := s.admit(sc, w.Type, p); err != nil {
			return writeErr(i, w, fmt.Errorf("storage: write %s/%s: current version: %w", w.Type, w.ID, err))
		}
	}
	return nil
}

// checkNewScope applies ctx's scope, if any, to the new versions plan of writes: each must
// be one the caller can read back, and be admitted by the scope.
func (s *Store) checkNewScope(ctx context.Context, writes []Write, plan []*versionDoc) error {
	sc := scopeFrom(ctx)
	if sc == nil {
		return nil
	}
	for i, w := range writes {
		d := plan[i]
		if d.Del || unrestricted(sc, w.Type) {
			continue
		}
		in, err := s.meetsScope(ctx, w.Type, d)
		if err != nil {
			return writeErr(i, w, fmt.Errorf("storage: write %s/%s: %w", w.Type, w.ID, err))
		}
		if !in {
			return writeErr(i, w, fmt.Errorf("storage: write %s/%s: %w", w.Type, w.ID, ErrForbidden))
		}
		if err := s.admit(sc, w.Type, d); err != nil {
			return writeErr(i, w, fmt.Errorf("storage: write %s/%s: %w", w.Type, w.ID, err))
		}
	}
	return nil
}

// unrestricted reports whether sc leaves the resources of typ alone: its filter for typ is
// nil. Writes of such a type are made as without a scope.
func unrestricted(sc Scope, typ string) bool {
	f, ok := sc.Filter(typ)
	return ok && f == nil
}

// meetsScope reports whether version d of typ meets the filter of ctx's scope.
func (s *Store) meetsScope(ctx context.Context, typ string, d *versionDoc) (bool, error) {
	sf, ok := scopeFilter(ctx, typ)
	if !ok {
		return false, nil
	}
	return s.versionInScope(typ, d, sf)
}

// admit asks sc whether version d of typ may be written; its refusal wraps ErrForbidden.
func (s *Store) admit(sc Scope, typ string, d *versionDoc) error {
	f, err := s.indexOf(typ, d)
	if err != nil {
		return err
	}
	if err := sc.Admit(Version{Type: typ, ID: d.resID(), JSON: []byte(d.JSON), Index: *f}); err != nil {
		return fmt.Errorf("%w: %w", ErrForbidden, err)
	}
	return nil
}

// AccessLog learns which resources storage hands to a caller or writes for it, for the
// caller's audit trail.
type AccessLog interface {
	Accessed(typ, id string)
}

type accessLogKey struct{}

// WithAccessLog returns ctx whose reads, searches and writes are reported to l.
func WithAccessLog(ctx context.Context, l AccessLog) context.Context {
	return context.WithValue(ctx, accessLogKey{}, l)
}

// logAccess reports recs to ctx's access log, if any.
func logAccess(ctx context.Context, recs ...*Record) {
	l, _ := ctx.Value(accessLogKey{}).(AccessLog)
	if l == nil {
		return
	}
	for _, r := range recs {
		if r != nil {
			l.Accessed(r.Type, r.ID)
		}
	}
}
