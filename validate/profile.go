package validate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/fhirgate/fhirgate/terminology"
)

// Profile is a StructureDefinition's snapshot compiled for validation: a constraint on a
// resource or data type (US Core Patient), or an extension's definition. It is checked on
// top of the base type's rules, so only what it adds is reported.
type Profile struct {
	URL     string
	Version string
	Name    string
	// Type is the constrained type: Patient, Observation, Extension.
	Type string
	root *pnode
	// inv holds the profile's invariants by key, compiled once.
	inv map[string]invariant
}

// pnode is one element of a snapshot with its children and its slices, found through the
// element ids (Observation.component:systolic.code).
type pnode struct {
	id, path string
	name     string // the last segment of the path: code, value[x]
	min      int
	max      string
	types    []ptype
	fixed    json.RawMessage
	pattern  json.RawMessage
	binding  *Binding
	keys     []string // the element's invariants, by key
	must     bool     // mustSupport
	slicing  *slicing
	slices   []*pnode
	children []*pnode
}

type ptype struct {
	Code          string   `json:"code"`
	Profile       []string `json:"profile"`
	TargetProfile []string `json:"targetProfile"`
}

type slicing struct {
	Discriminator []struct {
		Type string `json:"type"`
		Path string `json:"path"`
	} `json:"discriminator"`
	Ordered bool   `json:"ordered"`
	Rules   string `json:"rules"` // closed, open or openAtEnd
}

// ErrNoSnapshot reports a StructureDefinition given only as a differential: this server
// does not generate snapshots, so such profiles cannot be used.
var ErrNoSnapshot = errors.New("the StructureDefinition has no snapshot; profiles given only as a differential are not supported (no snapshot generation)")

// ErrNotProfile reports a StructureDefinition that is not a constraint on a type this
// server knows (a base definition, a logical model).
var ErrNotProfile = errors.New("the StructureDefinition is not a profile of a FHIR R4 resource or data type")

// CompileProfile compiles a StructureDefinition (JSON) into a Profile. It must carry a
// snapshot (ErrNoSnapshot otherwise) and constrain a type of the base specification.
func CompileProfile(sd []byte) (*Profile, error) {
	var doc struct {
		ResourceType string `json:"resourceType"`
		URL          string `json:"url"`
		Version      string `json:"version"`
		Name         string `json:"name"`
		Type         string `json:"type"`
		Derivation   string `json:"derivation"`
		Snapshot     *struct {
			Element []json.RawMessage `json:"element"`
		} `json:"snapshot"`
	}
	if err := json.Unmarshal(sd, &doc); err != nil {
		return nil, fmt.Errorf("validate: StructureDefinition: %w", err)
	}
	if doc.ResourceType != "StructureDefinition" || doc.URL == "" {
		return nil, fmt.Errorf("validate: not a StructureDefinition with a url")
	}
	if doc.Derivation != "constraint" || Base().Types[doc.Type] == nil {
		return nil, fmt.Errorf("validate: %s: %w", doc.URL, ErrNotProfile)
	}
	if doc.Snapshot == nil || len(doc.Snapshot.Element) == 0 {
		return nil, fmt.Errorf("validate: %s: %w", doc.URL, ErrNoSnapshot)
	}
	p := &Profile{URL: doc.URL, Version: doc.Version, Name: doc.Name, Type: doc.Type, inv: map[string]invariant{}}
	byID := map[string]*pnode{}
	engine := profileEngine()
	for i, raw := range doc.Snapshot.Element {
		n, cs, err := decodeElement(raw)
		if err != nil {
			return nil, fmt.Errorf("validate: %s: element %d: %w", doc.URL, i, err)
		}
		for _, c := range cs {
			if _, ok := p.inv[c.Key]; !ok && c.Expression != "" {
				p.inv[c.Key] = compileInvariant(engine, c)
			}
		}
		if i == 0 {
			p.root = n
			byID[n.id] = n
			continue
		}
		if err := attach(byID, n); err != nil {
			return nil, fmt.Errorf("validate: %s: %w", doc.URL, err)
		}
	}
	return p, nil
}

// attach puts n under its parent element, or among the slices of the element it slices.
func attach(byID map[string]*pnode, n *pnode) error {
	dot := strings.LastIndexByte(n.id, '.')
	if dot < 0 {
		return fmt.Errorf("element %s outside the type", n.id)
	}
	parentID, seg := n.id[:dot], n.id[dot+1:]
	if name, slice, ok := strings.Cut(seg, ":"); ok {
		sliced := byID[parentID+"."+name]
		if sliced == nil || strings.Contains(slice, "/") { // a re-slice: not supported
			return nil
		}
		sliced.slices = append(sliced.slices, n)
		byID[n.id] = n
		return nil
	}
	parent := byID[parentID]
	if parent == nil {
		return nil // below an element this walk ignores (a re-slice)
	}
	parent.children = append(parent.children, n)
	byID[n.id] = n
	return nil
}

func decodeElement(raw json.RawMessage) (*pnode, []Constraint, error) {
	var e struct {
		ID         string       `json:"id"`
		Path       string       `json:"path"`
		Min        int          `json:"min"`
		Max        string       `json:"max"`
		Type       []ptype      `json:"type"`
		Constraint []Constraint `json:"constraint"`
		Must       bool         `json:"mustSupport"`
		Slicing    *slicing     `json:"slicing"`
		RawBinding *struct {
			Strength string `json:"strength"`
			ValueSet string `json:"valueSet"`
		} `json:"binding"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, nil, err
	}
	if e.ID == "" {
		e.ID = e.Path
	}
	n := &pnode{id: e.ID, path: e.Path, min: e.Min, max: e.Max, types: e.Type, must: e.Must, slicing: e.Slicing}
	n.name = e.Path[strings.LastIndexByte(e.Path, '.')+1:]
	if e.RawBinding != nil && e.RawBinding.ValueSet != "" {
		n.binding = &Binding{Strength: e.RawBinding.Strength, ValueSet: e.RawBinding.ValueSet}
	}
	for _, c := range e.Constraint {
		n.keys = append(n.keys, c.Key)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		return nil, nil, err
	}
	for k, v := range all {
		switch {
		case strings.HasPrefix(k, "fixed"):
			n.fixed = v
		case strings.HasPrefix(k, "pattern"):
			n.pattern = v
		}
	}
	return n, e.Constraint, nil
}

// profileEngine evaluates profiles' invariants over the server's terminology.
var profileEngine = sync.OnceValue(func() Engine {
	return fhirpathEngine{terms: registryTerms{terminology.Default()}}
})

// find returns the descendant of n at a dotted path of element names ("code",
// "coding.code", "value" for value[x]), or nil.
func (n *pnode) find(path string) *pnode {
	cur := n
	for _, seg := range strings.Split(path, ".") {
		var next *pnode
		for _, c := range cur.children {
			if c.name == seg || c.name == seg+"[x]" {
				next = c
				break
			}
		}
		if next == nil {
			return nil
		}
		cur = next
	}
	return cur
}

// ProfileSource finds profiles by canonical URL: the packages loaded at startup, the
// StructureDefinitions stored on the server.
type ProfileSource interface {
	// Profile returns the profile whose canonical URL is url (url|version names one
	// version), or nil when the source has none. An error is a failure of the source.
	Profile(ctx context.Context, url string) (*Profile, error)
}

// Sources asks each source in turn; the first that knows a URL answers.
type Sources []ProfileSource

var _ ProfileSource = Sources(nil)

// Profile implements ProfileSource.
func (s Sources) Profile(ctx context.Context, url string) (*Profile, error) {
	for _, src := range s {
		if src == nil {
			continue
		}
		p, err := src.Profile(ctx, url)
		if p != nil || err != nil {
			return p, err
		}
	}
	return nil, nil
}

// ProfileSet is an in-memory set of profiles by canonical URL (the profiles of loaded
// packages). It is safe for concurrent use.
type ProfileSet struct {
	mu    sync.RWMutex
	byURL map[string]*Profile
	n     int
}

var _ ProfileSource = (*ProfileSet)(nil)

// NewProfileSet returns an empty set.
func NewProfileSet() *ProfileSet { return &ProfileSet{byURL: map[string]*Profile{}} }

// Add adds p, replacing a profile of the same URL and version.
func (s *ProfileSet) Add(p *Profile) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byURL[p.URL]; !ok {
		s.n++
	}
	s.byURL[p.URL] = p
	if p.Version != "" {
		s.byURL[p.URL+"|"+p.Version] = p
	}
}

// Len returns how many profiles the set holds (one per URL).
func (s *ProfileSet) Len() int {
	if s == nil {
		return 0
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.n
}

// Profile implements ProfileSource.
func (s *ProfileSet) Profile(_ context.Context, url string) (*Profile, error) {
	if s == nil {
		return nil, nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byURL[url], nil
}
