package authz

import (
	_ "embed"
	"encoding/csv"
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

	mu       sync.Mutex
	onReload []func()
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
	if err := checkPolicy(policyText); err != nil {
		return err
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
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, fn := range p.onReload {
		go fn()
	}
	return nil
}

// OnReload has fn called, in a goroutine of its own, after every successful Reload.
func (p *Policy) OnReload(fn func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.onReload = append(p.onReload, fn)
}

// Roles returns the roles the policy names, sorted.
func (p *Policy) Roles() []string {
	st := p.state.Load()
	st.mu.Lock()
	defer st.mu.Unlock()
	roles, err := st.enf.GetAllSubjects()
	if err != nil {
		return nil
	}
	slices.Sort(roles)
	return slices.Compact(roles)
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

// checkPolicy refuses policy lines Casbin would load silently wrong: a rule with missing
// fields or an effect other than allow or deny.
func checkPolicy(text string) error {
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cr := csv.NewReader(strings.NewReader(line))
		cr.TrimLeadingSpace = true
		r, err := cr.Read()
		if err != nil {
			return fmt.Errorf("policy line %d: %w", i+1, err)
		}
		for j := range r {
			r[j] = strings.TrimSpace(r[j])
		}
		switch {
		case r[0] == "p" && len(r) == 5 && r[1] != "" && r[2] != "" && r[3] != "" && (r[4] == "allow" || r[4] == "deny"):
		case r[0] == "g" && len(r) == 3 && r[1] != "" && r[2] != "":
		default:
			return fmt.Errorf("policy line %d: want \"p, role, object, action, allow|deny\" or \"g, role, parent role\"", i+1)
		}
	}
	return nil
}
