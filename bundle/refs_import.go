package bundle

import (
	"context"
	"errors"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/fhirjson"
	"github.com/fhirgate/fhirgate/model"
)

// refCacheSize bounds the conditional references a Refs remembers.
const refCacheSize = 100_000

// Refs resolves the conditional references (Patient?identifier=x|y) of resources written
// outside a bundle, as a bulk import writes NDJSON lines: each to the one resource its search
// matches, searching as the processor's caller would. Resolutions, and searches matching
// several resources or none that is valid, are remembered (up to 100,000 searches); a search
// matching nothing is run again next time, since a later line may create what it looks for. It is safe for
// concurrent use.
type Refs struct {
	p     *Processor
	cache *lru.Cache[string, condResult]
}

// NewRefs returns a resolver of conditional references on p's store, under p's policy.
func NewRefs(p *Processor) *Refs {
	c, _ := lru.New[string, condResult](refCacheSize)
	return &Refs{p: p, cache: c}
}

// Resolve rewrites res's conditional references into the resources they match; one that
// matches no resource or more than one is an error. Other references are left as they are.
func (r *Refs) Resolve(ctx context.Context, res *fhirjson.Resource) error {
	t := &txn{p: r.p, refs: map[string]string{}, conds: map[string]condResult{}}
	return res.Rewrite(map[string]bool{"reference": true}, func(_, v string) (string, error) {
		typ, _, ok := strings.Cut(v, "?")
		if !ok || !model.IsResourceType(typ) {
			return v, nil
		}
		if c, ok := r.cache.Get(v); ok {
			return c.ref, c.err
		}
		ref, err := t.reference(ctx, v)
		if err == nil || errors.Is(err, fault.Conflict) || errors.Is(err, fault.Invalid) {
			r.cache.Add(v, condResult{ref: ref, err: err})
		}
		return ref, err
	})
}
