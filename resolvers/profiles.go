package resolvers

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/validate"
)

// StoredProfiles finds profiles among the StructureDefinitions stored in a datastore, by
// canonical URL, at validation time: a StructureDefinition written is usable as a profile
// by the next request. Compiled profiles are cached by id and version.
type StoredProfiles struct {
	Store search.Store

	mu    sync.Mutex
	cache map[string]*validate.Profile // "id/version" -> compiled
}

var _ validate.ProfileSource = (*StoredProfiles)(nil)

// maxStoredProfiles bounds the cache of compiled stored profiles; it is emptied when full.
const maxStoredProfiles = 256

// Profile implements validate.ProfileSource: the current StructureDefinition whose url is
// url (url|version: whose url and version are those), or nil. A stored StructureDefinition
// that is not a usable profile (no snapshot) is nil too.
func (s *StoredProfiles) Profile(ctx context.Context, url string) (*validate.Profile, error) {
	base, version, _ := strings.Cut(url, "|")
	args := map[string]any{"url": base, search.ArgCount: 10}
	if version != "" {
		args["version"] = version
	}
	q, err := search.Parse("StructureDefinition", args)
	if err != nil {
		return nil, fmt.Errorf("stored profiles: %w", err)
	}
	recs, err := (&search.Runner{Store: s.Store, ListLimit: 10, PageSize: 10}).List(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("stored profiles: %s: %w", url, err)
	}
	if len(recs) == 0 {
		return nil, nil
	}
	rec := recs[0]
	key := rec.ID + "/" + strconv.FormatInt(rec.VersionID, 10)
	s.mu.Lock()
	p, ok := s.cache[key]
	s.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err = validate.CompileProfile(rec.JSON)
	if err != nil {
		p = nil // not usable as a profile: as if unknown
	}
	s.mu.Lock()
	if s.cache == nil || len(s.cache) >= maxStoredProfiles {
		s.cache = map[string]*validate.Profile{}
	}
	s.cache[key] = p
	s.mu.Unlock()
	return p, nil
}
