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
type Scope interface {
	// Filter returns the condition, over current documents and their search fields, that
	// the resources of typ in scope meet; ok is false when none of them can be.
	Filter(typ string) (filter bson.D, ok bool)
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

// versionInScope reports whether a stored version, current or historical, meets the scope
// filter sf: its search fields are computed from its JSON, since history keeps none.
func (s *Store) versionInScope(typ string, d *versionDoc, sf bson.D) (bool, error) {
	if sf == nil {
		return true, nil
	}
	if d.Del || s.c.indexer == nil {
		return false, nil
	}
	f, err := s.c.indexer.Index(typ, []byte(d.JSON))
	if err != nil {
		return false, fmt.Errorf("index %s/%s: %w", typ, d.resID(), err)
	}
	raw, err := bson.Marshal(struct {
		ID          string `bson:"_id"`
		IndexFields `bson:",inline"`
	}{d.resID(), f})
	if err != nil {
		return false, err
	}
	var m matcher
	return m.match(raw, sf)
}

// checkWriteScope refuses, with ErrForbidden, writes under a scope that would touch a
// resource outside it or move one out of it: the current version, when there is one, and
// the new one must both be in scope.
func (s *Store) checkWriteScope(ctx context.Context, writes []Write) error {
	if scopeFrom(ctx) == nil {
		return nil
	}
	// The current versions, one query per type.
	ids := map[string][]string{}
	for _, w := range writes {
		ids[w.Type] = append(ids[w.Type], w.ID)
	}
	current := map[string]map[string]*versionDoc{}
	for typ, list := range ids {
		tc, err := s.colls(ctx, typ)
		if err != nil {
			return err
		}
		if current[typ], err = s.fetchCurrent(ctx, tc, validIDs(list), nil); err != nil {
			return fmt.Errorf("storage: write %s: %w", typ, err)
		}
	}
	for _, w := range writes {
		sf, ok := scopeFilter(ctx, w.Type)
		if !ok {
			return fmt.Errorf("storage: write %s/%s: %w", w.Type, w.ID, ErrForbidden)
		}
		if cur := current[w.Type][w.ID]; cur != nil && !cur.Del {
			if in, err := s.versionInScope(w.Type, cur, sf); err != nil || !in {
				return fmt.Errorf("storage: write %s/%s: %w", w.Type, w.ID, forbidden(err))
			}
		}
		if w.Resource != nil {
			b, err := w.Resource.MarshalJSON()
			if err != nil {
				return fmt.Errorf("storage: write %s/%s: %w", w.Type, w.ID, err)
			}
			next := versionDoc{Key: w.ID, JSON: string(b)}
			if in, err := s.versionInScope(w.Type, &next, sf); err != nil || !in {
				return fmt.Errorf("storage: write %s/%s: %w", w.Type, w.ID, forbidden(err))
			}
		}
	}
	return nil
}

func forbidden(err error) error {
	if err != nil {
		return fmt.Errorf("%w: %w", ErrForbidden, err)
	}
	return ErrForbidden
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
