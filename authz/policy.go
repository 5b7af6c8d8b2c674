package authz

import (
	_ "embed"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	stringadapter "github.com/casbin/casbin/v2/persist/string-adapter"
)

var (
	//go:embed model.conf
	defaultModel string
	//go:embed policy.csv
	defaultPolicy string
)

// Object groups the policy can name (see model.conf).
const (
	GroupResource = "Resource"
	GroupDataType = "DataType"
)

// PolicyConfig says where the policy comes from.
type PolicyConfig struct {
	// ModelFile and PolicyFile override the embedded model and default policy.
	ModelFile, PolicyFile string
	// Groups maps object group names to their members: the resource types and data
	// types of the schema.
	Groups map[string][]string
}

// Policy answers whether a role may do something, from the Casbin model and policy.
// Decisions are cached per role until the next Reload, so a check in the hot path is a
// map lookup. It is safe for concurrent use.
type Policy struct {
	cfg   PolicyConfig
	state atomic.Pointer[policyState]
}

type policyState struct {
	enf   *casbin.Enforcer
	mu    sync.Mutex // serialises enf, which is not safe for concurrent use
	cache sync.Map   // request -> bool
}

type request struct{ role, obj, act string }

// NewPolicy loads the policy.
func NewPolicy(cfg PolicyConfig) (*Policy, error) {
	p := &Policy{cfg: cfg}
	if err := p.Reload(); err != nil {
		return nil, err
	}
	return p, nil
}

// Reload reads the model and policy again; on error the current policy stays in force.
func (p *Policy) Reload() error {
	modelText, policyText := defaultModel, defaultPolicy
	if p.cfg.ModelFile != "" {
		b, err := os.ReadFile(p.cfg.ModelFile)
		if err != nil {
			return fmt.Errorf("policy model: %w", err)
		}
		modelText = string(b)
	}
	if p.cfg.PolicyFile != "" {
		b, err := os.ReadFile(p.cfg.PolicyFile)
		if err != nil {
			return fmt.Errorf("policy: %w", err)
		}
		policyText = string(b)
	}
	m, err := model.NewModelFromString(modelText)
	if err != nil {
		return fmt.Errorf("policy model: %w", err)
	}
	var groups strings.Builder
	for _, group := range slices.Sorted(maps.Keys(p.cfg.Groups)) {
		for _, o := range p.cfg.Groups[group] {
			fmt.Fprintf(&groups, "g2, %s, %s\n", o, group)
		}
	}
	enf, err := casbin.NewEnforcer(m, stringadapter.NewAdapter(policyText+"\n"+groups.String()))
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	p.state.Store(&policyState{enf: enf})
	return nil
}

// Allows reports whether role may do act on obj.
func (p *Policy) Allows(role, obj, act string) bool {
	st := p.state.Load()
	k := request{role, obj, act}
	if v, ok := st.cache.Load(k); ok {
		return v.(bool)
	}
	st.mu.Lock()
	ok, err := st.enf.Enforce(role, obj, act)
	st.mu.Unlock()
	ok = ok && err == nil // an evaluation error denies
	st.cache.Store(k, ok)
	return ok
}

// Generation changes whenever the policy is reloaded; callers caching derived
// decisions compare it to know when to drop them.
func (p *Policy) Generation() any { return p.state.Load() }
