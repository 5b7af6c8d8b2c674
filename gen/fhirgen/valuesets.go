package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Terminology is what token search needs from the specification's terminology: the
// expansion of every ValueSet that can be expanded from the spec alone (explicit
// concepts, whole CodeSystems the spec defines completely, other such ValueSets), and
// the is-a hierarchy of those CodeSystems.
type Terminology struct {
	// ValueSets maps a ValueSet URL to its codes, by system.
	ValueSets map[string]map[string][]string `json:"valueSets"`
	// Parents maps a CodeSystem URL to each code's parent codes.
	Parents map[string]map[string][]string `json:"parents"`
}

type tsConcept struct {
	Code    string      `json:"code"`
	Concept []tsConcept `json:"concept"`
}

type tsResource struct {
	ResourceType string      `json:"resourceType"`
	URL          string      `json:"url"`
	Content      string      `json:"content"`
	Concept      []tsConcept `json:"concept"`
	Compose      *struct {
		Include []struct {
			System   string                  `json:"system"`
			Concept  []struct{ Code string } `json:"concept"`
			Filter   []json.RawMessage       `json:"filter"`
			ValueSet []string                `json:"valueSet"`
		} `json:"include"`
		Exclude []json.RawMessage `json:"exclude"`
	} `json:"compose"`
}

func loadTerminology(dir string) (*Terminology, error) {
	b, err := readBundle(dir, "valuesets.json")
	if err != nil {
		return nil, err
	}
	codeSystems := map[string]*tsResource{}
	valueSets := map[string]*tsResource{}
	for _, e := range b.Entry {
		var r tsResource
		if err := json.Unmarshal(e.Resource, &r); err != nil {
			return nil, fmt.Errorf("valuesets.json: %w", err)
		}
		switch r.ResourceType {
		case "CodeSystem":
			if r.Content == "complete" {
				codeSystems[r.URL] = &r
			}
		case "ValueSet":
			valueSets[r.URL] = &r
		}
	}
	t := &Terminology{ValueSets: map[string]map[string][]string{}, Parents: map[string]map[string][]string{}}
	for url, cs := range codeSystems {
		parents := map[string][]string{}
		var walk func(parent string, cs []tsConcept)
		walk = func(parent string, concepts []tsConcept) {
			for _, c := range concepts {
				if parent != "" {
					parents[c.Code] = append(parents[c.Code], parent)
				}
				walk(c.Code, c.Concept)
			}
		}
		walk("", cs.Concept)
		if len(parents) > 0 {
			t.Parents[url] = parents
		}
	}
	var expand func(url string, seen map[string]bool) (map[string][]string, bool)
	expand = func(url string, seen map[string]bool) (map[string][]string, bool) {
		vs := valueSets[strings.SplitN(url, "|", 2)[0]]
		if vs == nil || vs.Compose == nil || len(vs.Compose.Include) == 0 || len(vs.Compose.Exclude) > 0 || seen[url] {
			return nil, false
		}
		seen[url] = true
		out := map[string][]string{}
		for _, inc := range vs.Compose.Include {
			if len(inc.Filter) > 0 {
				return nil, false
			}
			for _, sub := range inc.ValueSet {
				codes, ok := expand(sub, seen)
				if !ok {
					return nil, false
				}
				for s, cs := range codes {
					out[s] = append(out[s], cs...)
				}
			}
			switch {
			case len(inc.Concept) > 0:
				for _, c := range inc.Concept {
					out[inc.System] = append(out[inc.System], c.Code)
				}
			case inc.System != "" && len(inc.ValueSet) == 0:
				cs := codeSystems[inc.System]
				if cs == nil {
					return nil, false
				}
				var all func([]tsConcept)
				all = func(concepts []tsConcept) {
					for _, c := range concepts {
						out[inc.System] = append(out[inc.System], c.Code)
						all(c.Concept)
					}
				}
				all(cs.Concept)
			}
		}
		for s := range out {
			sort.Strings(out[s])
			out[s] = dedupe(out[s])
		}
		return out, true
	}
	for url := range valueSets {
		if codes, ok := expand(url, map[string]bool{}); ok {
			t.ValueSets[url] = codes
		}
	}
	return t, nil
}

func dedupe(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
