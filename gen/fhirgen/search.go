package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// SearchParam is one (resource type, search parameter) pair of the R4 specification.
type SearchParam struct {
	Resource   string
	Code       string
	Type       string
	Expression string // the part of the spec's FHIRPath expression that applies to Resource
	Targets    []string
	Components []SearchComponent
}

// SearchComponent is one part of a composite search parameter.
type SearchComponent struct {
	Code       string
	Expression string
}

type searchParameter struct {
	URL        string   `json:"url"`
	Code       string   `json:"code"`
	Base       []string `json:"base"`
	Type       string   `json:"type"`
	Expression string   `json:"expression"`
	Target     []string `json:"target"`
	Component  []struct {
		Definition string `json:"definition"`
		Expression string `json:"expression"`
	} `json:"component"`
}

func loadSearchParams(dir string, d *Defs) ([]SearchParam, error) {
	b, err := readBundle(dir, "search-parameters.json")
	if err != nil {
		return nil, err
	}
	var all []searchParameter
	byURL := map[string]*searchParameter{}
	for _, e := range b.Entry {
		var sp searchParameter
		if err := json.Unmarshal(e.Resource, &sp); err != nil {
			return nil, err
		}
		all = append(all, sp)
	}
	for i := range all {
		byURL[all[i].URL] = &all[i]
	}
	var out []SearchParam
	for _, sp := range all {
		var bases []string
		for _, base := range sp.Base {
			if base == "Resource" || base == "DomainResource" {
				for _, r := range d.Resources {
					if base == "Resource" || !isNonDomain(r.Name) {
						bases = append(bases, r.Name)
					}
				}
				continue
			}
			if d.ByName[base] != nil && d.ByName[base].Kind == KindResource {
				bases = append(bases, base)
			}
		}
		for _, base := range bases {
			p := SearchParam{Resource: base, Code: sp.Code, Type: sp.Type, Expression: expressionFor(sp.Expression, base), Targets: sp.Target}
			for _, c := range sp.Component {
				def := byURL[c.Definition]
				if def == nil {
					return nil, fmt.Errorf("search parameter %s: unknown component %s", sp.URL, c.Definition)
				}
				p.Components = append(p.Components, SearchComponent{Code: def.Code, Expression: c.Expression})
			}
			sort.Strings(p.Targets)
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Resource != out[j].Resource {
			return out[i].Resource < out[j].Resource
		}
		return out[i].Code < out[j].Code
	})
	// The spec defines a few parameters twice for one type; keep the first.
	dedup := out[:0]
	for i, p := range out {
		if i > 0 && p.Resource == out[i-1].Resource && p.Code == out[i-1].Code {
			continue
		}
		dedup = append(dedup, p)
	}
	return dedup, nil
}

// isNonDomain reports resource types that derive from Resource directly, not DomainResource.
func isNonDomain(name string) bool {
	return name == "Bundle" || name == "Binary" || name == "Parameters"
}

// expressionFor keeps the union terms of a multi-resource expression that start with the given type.
func expressionFor(expr, typ string) string {
	terms := splitTopLevel(expr, '|')
	var keep []string
	for _, t := range terms {
		head := strings.TrimLeft(strings.TrimSpace(t), "(")
		if strings.HasPrefix(head, typ+".") || head == typ || strings.HasPrefix(head, typ+" ") {
			keep = append(keep, strings.TrimSpace(t))
		}
	}
	if len(keep) == 0 {
		return strings.TrimSpace(expr)
	}
	return strings.Join(keep, " | ")
}

// splitTopLevel splits s on sep outside parentheses and quotes.
func splitTopLevel(s string, sep byte) []string {
	var out []string
	depth, start, quoted := 0, 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'':
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == sep && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
