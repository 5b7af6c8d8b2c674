package terminology

import "sync"

// csIndex is a code system's concepts by code and its hierarchy, built once per code system.
type csIndex struct {
	once     sync.Once
	byCode   map[string]*Concept
	order    []*Concept // definition order, parents before their nested children
	parents  map[string][]string
	children map[string][]string
	declared map[string]bool // property codes the code system declares
}

// idx returns the code system's index, building it on first use.
func (cs *CodeSystem) idx() *csIndex {
	x := &cs.index
	x.once.Do(func() { x.build(cs) })
	return x
}

func (x *csIndex) build(cs *CodeSystem) {
	x.byCode = map[string]*Concept{}
	x.parents = map[string][]string{}
	x.children = map[string][]string{}
	x.declared = map[string]bool{}
	for _, p := range cs.Property {
		x.declared[p.Code] = true
	}
	var walk func(parent string, cs []*Concept)
	walk = func(parent string, concepts []*Concept) {
		for _, c := range concepts {
			if _, dup := x.byCode[c.Code]; !dup {
				x.byCode[c.Code] = c
				x.order = append(x.order, c)
			}
			if parent != "" {
				x.link(parent, c.Code)
			}
			walk(c.Code, c.Concept)
		}
	}
	walk("", cs.Concept)
	// Hierarchies the properties state (v3 code systems list extra children this way).
	for _, c := range x.order {
		for _, p := range c.Property {
			switch p.Code {
			case "child":
				x.link(c.Code, p.Value)
			case "parent", "subsumedBy":
				x.link(p.Value, c.Code)
			}
		}
	}
}

// link records parent as a parent of child, once.
func (x *csIndex) link(parent, child string) {
	for _, p := range x.parents[child] {
		if p == parent {
			return
		}
	}
	x.parents[child] = append(x.parents[child], parent)
	x.children[parent] = append(x.children[parent], child)
}

// Concept returns the concept with code, or nil.
func (cs *CodeSystem) concept(code string) *Concept { return cs.idx().byCode[code] }

// complete reports whether the code system holds all of its codes, so a code it lacks is
// not in it.
func (cs *CodeSystem) complete() bool { return cs.Content == "" || cs.Content == "complete" }

// hasHierarchy reports whether any concept has a parent.
func (cs *CodeSystem) hasHierarchy() bool { return len(cs.idx().parents) > 0 }

// subsumes reports whether a subsumes b: a is b or one of b's ancestors.
func (cs *CodeSystem) subsumes(a, b string) bool {
	x := cs.idx()
	seen := map[string]bool{}
	queue := []string{b}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if c == a {
			return true
		}
		for _, p := range x.parents[c] {
			if !seen[p] {
				seen[p] = true
				queue = append(queue, p)
			}
		}
	}
	return false
}

// closure returns code and its descendants (next = children) or ancestors (next =
// parents), code first.
func closure(code string, next map[string][]string) []string {
	out := []string{code}
	seen := map[string]bool{code: true}
	for i := 0; i < len(out); i++ {
		for _, n := range next[out[i]] {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out
}

// abstract reports whether the concept is marked not selectable.
func abstract(c *Concept) bool {
	for _, p := range c.Property {
		if (p.Code == "notSelectable" || p.Code == "abstract") && p.Value == "true" {
			return true
		}
	}
	return false
}

// inactive reports whether the concept's status retires it.
func inactive(c *Concept) bool {
	for _, p := range c.Property {
		if (p.Code == "status" && (p.Value == "retired" || p.Value == "inactive")) || (p.Code == "inactive" && p.Value == "true") {
			return true
		}
	}
	return false
}
