package fhirpath

import "fmt"

// Function is a function an application adds to the language with Register, such as SQL on
// FHIR's getResourceKey() and getReferenceKey([type]). It maps its input to its result with
// no argument but an optional type, which keeps what it reads known to Reads.
type Function struct {
	// TypeArg is true when the function takes an optional type specifier argument, as
	// getReferenceKey(Patient) does; a string literal naming the type ('Patient') is
	// accepted too.
	TypeArg bool
	// Reads lists the elements of each input item the function reads (id, reference), for
	// Reads: what the authorisation guard checks an expression against.
	Reads []string
	// Result is the FHIR type of the items the function returns, such as "string".
	Result string
	// Eval returns the function's result on the input in; typ is the type argument, "" when
	// absent. It must not modify in.
	Eval func(in []Value, typ string) ([]Value, error)
}

// extensions holds the registered functions, by name, for the analysis in reads.go.
var extensions = map[string]Function{}

// Register adds the function name to the language for every expression compiled afterwards.
// It is meant for package initialisation (an init function): it is not safe to call while
// expressions are being compiled, and it panics when name is already a function.
func Register(name string, f Function) {
	if _, ok := functions[name]; ok {
		panic(fmt.Sprintf("fhirpath: function %s() is already defined", name))
	}
	if f.Eval == nil {
		panic(fmt.Sprintf("fhirpath: function %s() has no Eval", name))
	}
	spec := funcSpec{call: func(_ *env, c *callNode, in []Value) ([]Value, error) {
		return f.Eval(in, c.typ)
	}}
	if f.TypeArg {
		spec.arg, spec.maxArgs, spec.typeString = argType, 1, true
	}
	functions[name] = spec
	extensions[name] = f
}

// Variables returns the names of the caller variables the expression uses (%name for any name
// that is not the specification's own, such as %resource or %ucum), in order of appearance,
// each once. A caller that supplies variables can check up front that none is missing.
func (e *Expr) Variables() []string {
	var out []string
	seen := map[string]bool{}
	eachNode(e.root, func(n node) {
		if v, ok := n.(*varNode); ok && !seen[v.name] {
			if _, builtin := builtinVar(v.name); !builtin {
				seen[v.name] = true
				out = append(out, v.name)
			}
		}
	})
	return out
}

// eachNode calls f with n and every node below it, parents first.
func eachNode(n node, f func(node)) {
	f(n)
	switch n := n.(type) {
	case *memberNode:
		eachNode(n.target, f)
	case *indexNode:
		eachNode(n.target, f)
		eachNode(n.idx, f)
	case *unaryNode:
		eachNode(n.arg, f)
	case *typeOpNode:
		eachNode(n.arg, f)
	case *callNode:
		if n.target != nil {
			eachNode(n.target, f)
		}
		for _, a := range n.args {
			eachNode(a, f)
		}
	case *binaryNode:
		eachNode(n.l, f)
		eachNode(n.r, f)
	}
}

// Specialises reports whether the FHIR type t is base or derives from it (Age from Quantity,
// Patient from DomainResource and Resource, code from string).
func Specialises(t, base string) bool { return t == base || specialises(t, base) }
