package fhirpath

import (
	"math/big"
	"sort"
	"strings"
)

// The syntax tree: each node of a compiled expression evaluates itself on its focus.

type node interface {
	eval(e *env, focus []Value) ([]Value, error)
}

type literalNode struct {
	v     Value
	empty bool
}

func (n *literalNode) eval(*env, []Value) ([]Value, error) {
	if n.empty {
		return nil, nil
	}
	return []Value{n.v}, nil
}

type thisNode struct{}

func (thisNode) eval(e *env, _ []Value) ([]Value, error) { return []Value{e.this}, nil }

// indexVarNode is $index: the position of $this in an iteration.
type indexVarNode struct{}

func (indexVarNode) eval(e *env, _ []Value) ([]Value, error) {
	if e.index < 0 {
		return nil, evalErr("$index is defined only inside a function's expression argument")
	}
	return []Value{intValue(int64(e.index))}, nil
}

// totalNode is $total: the running value of aggregate().
type totalNode struct{}

func (totalNode) eval(e *env, _ []Value) ([]Value, error) {
	if !e.hasTotal {
		return nil, evalErr("$total is defined only inside aggregate()")
	}
	return e.total, nil
}

// rootNode is %resource, %rootResource or %context (name).
type rootNode struct{ name string }

func (n rootNode) eval(e *env, _ []Value) ([]Value, error) {
	switch n.name {
	case "context":
		return []Value{e.context}, nil
	case "rootResource":
		return []Value{e.rootResource}, nil
	}
	return []Value{e.root}, nil
}

// builtinVars are the specification's constant environment variables.
var builtinVars = map[string]string{
	"ucum": ucumSystem, "sct": "http://snomed.info/sct", "loinc": "http://loinc.org",
}

// builtinVar returns the value of a constant of the specification: %ucum, %sct, %loinc,
// %vs-[name] (a value set of the specification) and %ext-[name] (an extension's definition).
func builtinVar(name string) (string, bool) {
	if s, ok := builtinVars[name]; ok {
		return s, true
	}
	if rest, ok := strings.CutPrefix(name, "vs-"); ok && rest != "" {
		return "http://hl7.org/fhir/ValueSet/" + rest, true
	}
	if rest, ok := strings.CutPrefix(name, "ext-"); ok && rest != "" {
		return "http://hl7.org/fhir/StructureDefinition/" + rest, true
	}
	return "", false
}

// varNode is any other %name: a constant of the specification or a caller's variable.
type varNode struct{ name string }

func (n *varNode) eval(e *env, _ []Value) ([]Value, error) {
	if s, ok := builtinVar(n.name); ok {
		return []Value{{Data: s, Type: "string"}}, nil
	}
	if v, ok := e.vars[n.name]; ok {
		return v, nil
	}
	return nil, evalErr("undefined environment variable %%%s", n.name)
}

// identNode is a name at the start of a path: a type name matching the focus
// (Patient or Resource on a Patient) selects the focus itself; otherwise it is a member.
type identNode struct {
	name string
	key  memberKey
	// types is the name as a type, when it may be one (it starts with a capital).
	types *typeTest
}

func newIdentNode(name string) *identNode {
	n := &identNode{name: name, key: newMemberKey(name)}
	if isUpper(name) {
		n.types = newTypeTest(name)
	}
	return n
}

func (n *identNode) eval(_ *env, focus []Value) ([]Value, error) {
	var out []Value
	for _, v := range focus {
		if n.types != nil && n.types.matches(v) {
			out = append(out, v)
			continue
		}
		out = member(out, v, n.key)
	}
	return out, nil
}

type memberNode struct {
	target node
	name   string
	key    memberKey
}

func (n *memberNode) eval(e *env, focus []Value) ([]Value, error) {
	in, err := n.target.eval(e, focus)
	if err != nil {
		return nil, err
	}
	var out []Value
	for _, v := range in {
		out = member(out, v, n.key)
	}
	return out, nil
}

// indexNode is target[idx]; idx is evaluated on $this, like a function's argument.
type indexNode struct {
	target node
	idx    node
}

func (n *indexNode) eval(e *env, focus []Value) ([]Value, error) {
	in, err := n.target.eval(e, focus)
	if err != nil {
		return nil, err
	}
	i, ok, err := intArg(e, n.idx, "[]")
	if err != nil || !ok {
		return nil, err
	}
	if i >= 0 && i < int64(len(in)) {
		return in[i : i+1], nil
	}
	return nil, nil
}

type unaryNode struct {
	op  string
	arg node
}

func (n *unaryNode) eval(e *env, focus []Value) ([]Value, error) {
	in, err := n.arg.eval(e, focus)
	if err != nil || len(in) == 0 {
		return nil, err
	}
	if len(in) > 1 {
		return nil, evalErr("unary %s expects a single item, got %d", n.op, len(in))
	}
	if n.op == "+" {
		if _, ok := numOf(in[0]); ok {
			return in, nil
		}
		if _, ok := quantityOf(in[0]); ok {
			return in, nil
		}
		return nil, evalErr("unary + expects a number or quantity, got %s", describe(in[0]))
	}
	if x, ok := numOf(in[0]); ok {
		x.r = new(big.Rat).Neg(x.r)
		out, _ := x.value()
		return out, nil
	}
	if q, ok := quantityOf(in[0]); ok {
		q.n.r = new(big.Rat).Neg(q.n.r)
		return []Value{negQuantity(in[0], q)}, nil
	}
	return nil, evalErr("unary - expects a number or quantity, got %s", describe(in[0]))
}

type binaryNode struct {
	op   string
	l, r node
}

func (n *binaryNode) eval(e *env, focus []Value) ([]Value, error) {
	l, err := n.l.eval(e, focus)
	if err != nil {
		return nil, err
	}
	// The right operand of and, or and implies is not needed when the left decides.
	switch n.op {
	case "and", "or", "implies":
		lb, err := toBool3(l, n.op)
		if err != nil {
			return nil, err
		}
		if (n.op == "and" && lb == False) || (n.op == "or" && lb == True) || (n.op == "implies" && lb == False) {
			return boolResult(n.op != "and"), nil
		}
	}
	r, err := n.r.eval(e, focus)
	if err != nil {
		return nil, err
	}
	return binary(n.op, l, r)
}

type typeOpNode struct {
	op    string
	arg   node
	typ   string
	types *typeTest
}

func (n *typeOpNode) eval(e *env, focus []Value) ([]Value, error) {
	in, err := n.arg.eval(e, focus)
	if err != nil {
		return nil, err
	}
	if n.op == "as" {
		return filterType(in, n.types), nil
	}
	return isType(in, n.types)
}

type argKind int

const (
	argExpr argKind = iota
	argType
)

// funcSpec describes a function: how its arguments parse, how many it takes, and what it
// does. lambda lists the arguments evaluated once per input item with that item as $this
// (where's criteria); the others are evaluated once, on the caller's $this.
type funcSpec struct {
	arg              argKind
	minArgs, maxArgs int
	lambda           []bool
	// typeString accepts a string literal naming the type for an argType argument.
	typeString bool
	call       func(e *env, c *callNode, in []Value) ([]Value, error)
}

func supportedFunctionList() string {
	names := make([]string, 0, len(functions))
	for n := range functions {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

type callNode struct {
	target node // nil: applies to the focus
	name   string
	what   string // name(), for messages
	fn     funcSpec
	args   []node
	typ    string
	types  *typeTest // typ compiled, for is, as and ofType
	// fused, when set, evaluates the call together with its target (see fuse).
	fused func(e *env, focus []Value) ([]Value, error)
}

func (n *callNode) eval(e *env, focus []Value) ([]Value, error) {
	if n.fused != nil {
		return n.fused(e, focus)
	}
	in, err := n.input(e, focus)
	if err != nil {
		return nil, err
	}
	return n.fn.call(e, n, in)
}

// input evaluates what the call applies to: its target, or the focus.
func (n *callNode) input(e *env, focus []Value) ([]Value, error) {
	if n.target == nil {
		return focus, nil
	}
	return n.target.eval(e, focus)
}

// isLambda reports whether argument i is evaluated per input item.
func (n *callNode) isLambda(i int) bool { return i < len(n.fn.lambda) && n.fn.lambda[i] }

// arg evaluates argument i once, on the caller's $this.
func (n *callNode) arg(e *env, i int) ([]Value, error) {
	return n.args[i].eval(e, e.thisFocus[:])
}

// each evaluates argument i on every item of in, with the item as focus and $this, and
// calls f with the item and the result, until f says stop. One context serves all the
// items, so f must not keep the result itself (its items may be kept).
func (n *callNode) each(e *env, i int, in []Value, f func(v Value, r []Value) (stop bool, err error)) error {
	if len(in) == 0 {
		return nil
	}
	sub := *e
	for idx, v := range in {
		sub.setThis(v, idx)
		r, err := n.args[i].eval(&sub, sub.thisFocus[:])
		if err != nil {
			return err
		}
		if stop, err := f(v, r); err != nil || stop {
			return err
		}
	}
	return nil
}

// The Boolean results are shared: nothing changes a result's items in place, and
// Eval copies one before giving it to its caller.
var (
	trueResult  = []Value{{Data: true, Type: "boolean"}}
	falseResult = []Value{{Data: false, Type: "boolean"}}
)

func boolResult(b bool) []Value {
	if b {
		return trueResult
	}
	return falseResult
}

// isSharedResult reports whether vs is one of the shared Boolean results.
func isSharedResult(vs []Value) bool {
	return len(vs) == 1 && (&vs[0] == &trueResult[0] || &vs[0] == &falseResult[0])
}

// tri is a three-valued boolean: FHIRPath's empty collection is Unknown.
type tri int8

// The values of tri.
const (
	Unknown tri = iota
	False
	True
)

func triOf(b bool) tri {
	if b {
		return True
	}
	return False
}

func (t tri) result() []Value {
	if t == Unknown {
		return nil
	}
	return boolResult(t == True)
}

// toBool3 applies FHIRPath singleton evaluation for a Boolean: empty is unknown, one
// boolean is itself, one other item is true, more items are an error.
func toBool3(vs []Value, what string) (tri, error) {
	switch len(vs) {
	case 0:
		return Unknown, nil
	case 1:
		if b, isBool := vs[0].Data.(bool); isBool {
			return triOf(b), nil
		}
		return True, nil
	}
	return Unknown, evalErr("%s expects a single boolean, got %d items", what, len(vs))
}

// toBool is toBool3 as (value, known).
func toBool(vs []Value, what string) (b, ok bool, err error) {
	t, err := toBool3(vs, what)
	return t == True, t != Unknown, err
}

func isUpper(s string) bool { return s != "" && 'A' <= s[0] && s[0] <= 'Z' }
