package validate

import (
	"bytes"
	"context"
	"fmt"
	"sync"
)

// Mode says what validation on write does.
type Mode string

// The modes of validation on write.
const (
	// Strict refuses a resource with errors; warnings are reported beside the result.
	Strict Mode = "strict"
	// Warn stores every resource and reports all its issues beside the result.
	Warn Mode = "warn"
	// Off does not validate.
	Off Mode = "off"
)

// ParseMode reads a mode as spelled on the command line.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Strict, Warn, Off:
		return m, nil
	}
	return "", fmt.Errorf("validation mode %q: want strict, warn or off", s)
}

// Guard validates resources on write (it is a storage.Validator): in Strict mode a
// resource with errors is refused with an *Error; the issues of resources it lets through
// go to the Collector of the context, if any.
type Guard struct {
	V    *Validator
	Mode Mode
	// Profiles finds the profiles a resource's meta.profile names; nil checks only the base.
	Profiles ProfileSource
}

// NewGuard returns a Guard over the base specification.
func NewGuard(mode Mode) (*Guard, error) {
	v, err := Default()
	if err != nil {
		return nil, err
	}
	return &Guard{V: v, Mode: mode}, nil
}

// Default returns the shared validator of the base specification.
var Default = sync.OnceValues(func() (*Validator, error) { return New(Base()) })

// Validate checks a resource about to be written.
func (g *Guard) Validate(ctx context.Context, typ, id string, resource []byte) error {
	if g == nil || g.Mode == Off {
		return nil
	}
	var out *Outcome
	if g.Profiles != nil && bytes.Contains(resource, []byte(`"profile"`)) {
		// A resource that may name profiles in meta.profile is checked against them too.
		out = g.V.ValidateProfiles(ctx, resource, g.Profiles)
	} else {
		out = g.V.Validate(resource)
	}
	if g.Mode == Strict && out.HasErrors() {
		return &Error{Outcome: out}
	}
	if len(out.Issues) > 0 {
		if c := collectorFrom(ctx); c != nil {
			c.add(typ+"/"+id, out)
		}
	}
	return nil
}

// Collector gathers the issues of the resources written in one request, so that they can
// be returned beside its result.
type Collector struct {
	mu      sync.Mutex
	entries []Entry
}

// Entry is the outcome of one written resource.
type Entry struct {
	Resource string // Type/id
	Outcome  *Outcome
}

type collectorKey struct{}

// WithCollector returns a context whose writes' issues are gathered by the returned
// Collector.
func WithCollector(ctx context.Context) (context.Context, *Collector) {
	c := &Collector{}
	return context.WithValue(ctx, collectorKey{}, c), c
}

func collectorFrom(ctx context.Context) *Collector {
	c, _ := ctx.Value(collectorKey{}).(*Collector)
	return c
}

func (c *Collector) add(resource string, out *Outcome) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = append(c.entries, Entry{Resource: resource, Outcome: out})
}

// JSON returns the gathered outcomes, in write order, as a JSON-ready list of
// {resource, outcome}, or nil when there are none.
func (c *Collector) JSON() []any {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []any
	for _, e := range c.entries {
		out = append(out, map[string]any{"resource": e.Resource, "outcome": e.Outcome.JSON()})
	}
	return out
}
