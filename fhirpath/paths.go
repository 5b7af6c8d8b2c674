package fhirpath

// Step is one member access of a path, with the type a cast (as, ofType) narrows it to.
type Step struct {
	Name, Cast string
}

// Paths returns the member-access paths the expression reads from its input: for
// "Patient.name.where(use = 'official').family | (Observation.value as Quantity)" it returns
// [Patient name family] and [Observation value(Quantity)]. Function calls on a path pass
// through it (where, exists, first, resolve, ...), extension('url') reads the extension
// element, and a path's first step may be a type name. Paths inside function arguments
// are relative to other elements and are not returned; Names lists them.
func (e *Expr) Paths() [][]Step { return paths(e.root) }

func paths(n node) [][]Step {
	switch n := n.(type) {
	case *identNode:
		return [][]Step{{{Name: n.name}}}
	case *memberNode:
		return extend(paths(n.target), Step{Name: n.name})
	case *indexNode:
		return paths(n.target)
	case *typeOpNode:
		if n.op == "as" {
			return cast(paths(n.arg), n.typ)
		}
		return paths(n.arg)
	case *callNode:
		if n.target == nil {
			return nil
		}
		in := paths(n.target)
		switch n.name {
		case "as", "ofType":
			return cast(in, n.typ)
		case "extension":
			return extend(in, Step{Name: "extension"})
		}
		return in
	case *binaryNode:
		return append(paths(n.l), paths(n.r)...)
	}
	return nil
}

func extend(in [][]Step, s Step) [][]Step {
	out := make([][]Step, len(in))
	for i, p := range in {
		out[i] = append(append([]Step(nil), p...), s)
	}
	return out
}

func cast(in [][]Step, typ string) [][]Step {
	for _, p := range in {
		if len(p) > 0 {
			p[len(p)-1].Cast = typ
		}
	}
	return in
}

// Names returns every element name the expression reads, anywhere in it (function
// arguments included), and every function it calls.
func (e *Expr) Names() (members, functions []string) {
	var walk func(n node)
	walk = func(n node) {
		switch n := n.(type) {
		case *identNode:
			members = append(members, n.name)
		case *memberNode:
			walk(n.target)
			members = append(members, n.name)
		case *indexNode:
			walk(n.target)
			walk(n.idx)
		case *unaryNode:
			walk(n.arg)
		case *typeOpNode:
			walk(n.arg)
		case *callNode:
			if n.target != nil {
				walk(n.target)
			}
			functions = append(functions, n.name)
			for _, a := range n.args {
				walk(a)
			}
		case *binaryNode:
			walk(n.l)
			walk(n.r)
		}
	}
	walk(e.root)
	return members, functions
}
