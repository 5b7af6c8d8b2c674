// Package fhirpath evaluates the subset of FHIRPath that the FHIR R4
// SearchParameter expressions use, over resources decoded as generic JSON
// (map[string]any from encoding/json with UseNumber, so numbers are
// json.Number).
//
// Supported grammar, loosest binding first:
//
//	expr    := expr 'or' expr | expr 'and' expr
//	         | expr ('=' | '!=') expr
//	         | expr '|' expr
//	         | expr ('is' | 'as') TypeName
//	         | postfix
//	postfix := term ( '.' name | '.' func '(' args ')' | '[' integer ']' )*
//	term    := name | func '(' args ')' | '(' expr ')' | 'string' | integer
//	         | decimal | true | false | {} | $this | %resource | %rootResource | %context
//
// Functions: where(criteria), exists([criteria]), empty(), first(), not(),
// resolve(), extension('url'), ofType(Type), as(Type), is(Type).
// TypeName may be qualified with FHIR. or System.
//
// Everything else in FHIRPath (arithmetic, ordering comparisons, ~, in,
// contains, xor, implies, date and quantity literals, $index, other
// functions, comments) is rejected by Compile with an *Error naming the
// offset, so an unsupported expression never silently evaluates to empty.
//
// Limits that come from evaluating without a schema:
//   - Types are known only for the root resource and other values carrying
//     resourceType, for choice elements (valueQuantity has Type "Quantity",
//     valueString has Type "string"), for literals, and for resolve()
//     results. Other elements have Type ""; is/ofType/as then fall back to
//     the JSON kind (string, boolean, integer, decimal), so
//     Patient.birthDate.ofType(date) is empty while
//     Observation.effective.ofType(dateTime) works.
//   - A choice element name (value) is expanded by looking for keys named
//     value + a FHIR data type name (valueQuantity, valueDateTime, ...). Only
//     names that are choice elements of some R4 type expand (model.IsChoiceName):
//     birth does not read birthDate.
//   - resolve() loads nothing: for a relative, absolute or versioned literal
//     reference it returns a stub {"resourceType": T, "id": id} with Type T;
//     "#id" references resolve to the matching contained resource of the
//     root. Logical (identifier-only), conditional and urn: references
//     resolve to nothing. This is enough for `resolve() is Patient`.
//   - as behaves like ofType on multi-item input instead of raising an
//     error, matching how R4 search expressions apply it to collections.
//   - extension('url') reads only the "extension" array of complex
//     elements, not the _name companion of primitives.
//   - = and != compare strings and booleans exactly, numbers by value, and
//     complex values structurally; different kinds are unequal.
package fhirpath

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/fhirgate/fhirgate/model"
)

// Value is one item of a FHIRPath result collection.
type Value struct {
	// Data is the JSON value: map[string]any, string, bool or json.Number.
	Data any
	// Type is the FHIR type when known, e.g. "Reference", "string",
	// "CodeableConcept" or a resource type; it may be "" (see package doc).
	Type string
}

// Expr is a compiled expression. It is immutable and safe for concurrent use.
type Expr struct {
	src  string
	root node
}

// Compile parses an expression once. Syntax errors and constructs outside the
// supported subset are reported as *Error with the byte offset of the
// offending token and what was expected there.
func Compile(expr string) (*Expr, error) {
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	p := &parser{src: expr, toks: toks}
	n, err := p.parseExpr(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.errf(t, "expected an operator or end of expression, found %s", t)
	}
	return &Expr{src: expr, root: n}, nil
}

// MustCompile is like Compile but panics on error; it is for expressions
// fixed at build time, such as package-level tables.
func MustCompile(expr string) *Expr {
	e, err := Compile(expr)
	if err != nil {
		panic(err)
	}
	return e
}

// String returns the source text of the expression.
func (e *Expr) String() string { return e.src }

// Eval evaluates the expression against resource. The resource is the root
// and the initial focus; its resourceType is the type name usable at the
// start of a path ("Patient.name" yields nothing on an Observation). The
// result is never nil on success. Evaluation fails with *Error (Pos -1) only
// when the data violates the expression's cardinality, e.g. a boolean
// operator or is applied to more than one item.
func (e *Expr) Eval(resource map[string]any) ([]Value, error) {
	root := Value{Data: resource, Type: typeOf(Value{Data: resource})}
	env := &env{root: root, this: root}
	out, err := e.root.eval(env, []Value{root})
	if err != nil {
		if fe, ok := err.(*Error); ok {
			fe.Expr = e.src
			return nil, fe
		}
		return nil, err
	}
	if out == nil {
		out = []Value{}
	}
	return out, nil
}

type env struct {
	root Value
	this Value
}

func evalErr(format string, args ...any) error {
	return &Error{Pos: -1, Msg: fmt.Sprintf(format, args...)}
}

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

type rootNode struct{}

func (rootNode) eval(e *env, _ []Value) ([]Value, error) { return []Value{e.root}, nil }

// identNode is a name at the start of a path: a type name matching the focus
// (Patient or Resource on a Patient) selects the focus itself; otherwise it is a member.
type identNode struct{ name string }

func (n *identNode) eval(_ *env, focus []Value) ([]Value, error) {
	var out []Value
	for _, v := range focus {
		if isUpper(n.name) {
			if typeMatches(v, n.name) {
				out = append(out, v)
				continue
			}
		}
		out = member(out, v, n.name)
	}
	return out, nil
}

type memberNode struct {
	target node
	name   string
}

func (n *memberNode) eval(e *env, focus []Value) ([]Value, error) {
	in, err := n.target.eval(e, focus)
	if err != nil {
		return nil, err
	}
	var out []Value
	for _, v := range in {
		out = member(out, v, n.name)
	}
	return out, nil
}

type indexNode struct {
	target node
	idx    int
}

func (n *indexNode) eval(e *env, focus []Value) ([]Value, error) {
	in, err := n.target.eval(e, focus)
	if err != nil {
		return nil, err
	}
	if n.idx < len(in) {
		return in[n.idx : n.idx+1], nil
	}
	return nil, nil
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
	r, err := n.r.eval(e, focus)
	if err != nil {
		return nil, err
	}
	switch n.op {
	case "|":
		out := make([]Value, 0, len(l)+len(r))
		for _, v := range append(l, r...) {
			if !containsValue(out, v) {
				out = append(out, v)
			}
		}
		return out, nil
	case "=", "!=":
		if len(l) == 0 || len(r) == 0 {
			return nil, nil
		}
		eq := len(l) == len(r)
		for i := 0; eq && i < len(l); i++ {
			eq = dataEqual(l[i].Data, r[i].Data)
		}
		return boolResult(eq == (n.op == "=")), nil
	case "and", "or":
		lb, lok, err := toBool(l, n.op)
		if err != nil {
			return nil, err
		}
		rb, rok, err := toBool(r, n.op)
		if err != nil {
			return nil, err
		}
		if n.op == "and" {
			switch {
			case (lok && !lb) || (rok && !rb):
				return boolResult(false), nil
			case lok && rok:
				return boolResult(true), nil
			}
			return nil, nil
		}
		switch {
		case (lok && lb) || (rok && rb):
			return boolResult(true), nil
		case lok && rok:
			return boolResult(false), nil
		}
		return nil, nil
	}
	return nil, evalErr("internal: unknown operator %q", n.op)
}

type typeOpNode struct {
	op  string
	arg node
	typ string
}

func (n *typeOpNode) eval(e *env, focus []Value) ([]Value, error) {
	in, err := n.arg.eval(e, focus)
	if err != nil {
		return nil, err
	}
	if n.op == "as" {
		return filterType(in, n.typ), nil
	}
	return isType(in, n.typ)
}

type argKind int

const (
	argNone argKind = iota
	argExpr
	argType
	argString
)

type funcSpec struct {
	arg     argKind
	minArgs int
	call    func(e *env, c *callNode, in []Value) ([]Value, error)
}

var functions map[string]funcSpec

func init() {
	functions = map[string]funcSpec{
		"where":  {arg: argExpr, minArgs: 1, call: fnWhere},
		"exists": {arg: argExpr, call: fnExists},
		"empty": {call: func(_ *env, _ *callNode, in []Value) ([]Value, error) {
			return boolResult(len(in) == 0), nil
		}},
		"first": {call: func(_ *env, _ *callNode, in []Value) ([]Value, error) {
			if len(in) == 0 {
				return nil, nil
			}
			return in[:1], nil
		}},
		"not": {call: fnNot},
		"resolve": {call: func(e *env, _ *callNode, in []Value) ([]Value, error) {
			var out []Value
			for _, v := range in {
				if r, ok := resolve(e.root, v); ok {
					out = append(out, r)
				}
			}
			return out, nil
		}},
		"extension": {arg: argString, minArgs: 1, call: fnExtension},
		"ofType": {arg: argType, minArgs: 1, call: func(_ *env, c *callNode, in []Value) ([]Value, error) {
			return filterType(in, c.typ), nil
		}},
		"as": {arg: argType, minArgs: 1, call: func(_ *env, c *callNode, in []Value) ([]Value, error) {
			return filterType(in, c.typ), nil
		}},
		"is": {arg: argType, minArgs: 1, call: func(_ *env, c *callNode, in []Value) ([]Value, error) {
			return isType(in, c.typ)
		}},
	}
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
	fn     funcSpec
	args   []node
	typ    string
	str    *string
}

func (n *callNode) eval(e *env, focus []Value) ([]Value, error) {
	in := focus
	if n.target != nil {
		var err error
		if in, err = n.target.eval(e, focus); err != nil {
			return nil, err
		}
	}
	return n.fn.call(e, n, in)
}

// filterItems keeps the items for which criteria is true, evaluating it with
// each item as focus and $this.
func filterItems(e *env, criteria node, in []Value, fn string) ([]Value, error) {
	var out []Value
	for _, v := range in {
		sub := &env{root: e.root, this: v}
		r, err := criteria.eval(sub, []Value{v})
		if err != nil {
			return nil, err
		}
		b, ok, err := toBool(r, fn+"()")
		if err != nil {
			return nil, err
		}
		if ok && b {
			out = append(out, v)
		}
	}
	return out, nil
}

func fnWhere(e *env, c *callNode, in []Value) ([]Value, error) {
	return filterItems(e, c.args[0], in, "where")
}

func fnExists(e *env, c *callNode, in []Value) ([]Value, error) {
	if len(c.args) == 1 {
		var err error
		if in, err = filterItems(e, c.args[0], in, "exists"); err != nil {
			return nil, err
		}
	}
	return boolResult(len(in) > 0), nil
}

func fnNot(_ *env, _ *callNode, in []Value) ([]Value, error) {
	b, ok, err := toBool(in, "not()")
	if err != nil || !ok {
		return nil, err
	}
	return boolResult(!b), nil
}

func fnExtension(_ *env, c *callNode, in []Value) ([]Value, error) {
	var out []Value
	for _, v := range in {
		m, ok := v.Data.(map[string]any)
		if !ok {
			continue
		}
		exts, _ := m["extension"].([]any)
		for _, x := range exts {
			xm, ok := x.(map[string]any)
			if ok && xm["url"] == *c.str {
				out = append(out, Value{Data: xm, Type: "Extension"})
			}
		}
	}
	return out, nil
}

func boolResult(b bool) []Value { return []Value{{Data: b, Type: "boolean"}} }

// toBool applies FHIRPath singleton evaluation: empty is unknown (ok false),
// one boolean is itself, one other item is true, more items are an error.
func toBool(vs []Value, what string) (b, ok bool, err error) {
	switch len(vs) {
	case 0:
		return false, false, nil
	case 1:
		if b, isBool := vs[0].Data.(bool); isBool {
			return b, true, nil
		}
		return true, true, nil
	}
	return false, false, evalErr("%s expects a single boolean, got %d items", what, len(vs))
}

func isUpper(s string) bool { return s != "" && 'A' <= s[0] && s[0] <= 'Z' }

// member appends the children named name of v to out, flattening arrays and
// expanding choice elements (value -> valueQuantity with Type Quantity).
func member(out []Value, v Value, name string) []Value {
	m, ok := v.Data.(map[string]any)
	if !ok {
		return out
	}
	if x, ok := m[name]; ok {
		return appendData(out, x, "")
	}
	if !model.IsChoiceName(name) {
		return out // only a choice element expands: birth never reads birthDate
	}
	// A valid resource holds at most one key per choice element; should a
	// malformed one hold several, take the first in key order so results do
	// not depend on map iteration order.
	best, bestType := "", ""
	for k := range m {
		if len(k) > len(name) && strings.HasPrefix(k, name) && isUpper(k[len(name):]) {
			if t, ok := choiceType(k[len(name):]); ok && (best == "" || k < best) {
				best, bestType = k, t
			}
		}
	}
	if best == "" {
		return out
	}
	return appendData(out, m[best], bestType)
}

func appendData(out []Value, x any, typ string) []Value {
	if arr, ok := x.([]any); ok {
		for _, item := range arr {
			if item != nil {
				out = append(out, withType(item, typ))
			}
		}
		return out
	}
	if x == nil {
		return out
	}
	return append(out, withType(x, typ))
}

func withType(x any, typ string) Value {
	if typ == "" {
		if m, ok := x.(map[string]any); ok {
			typ, _ = m["resourceType"].(string)
		}
	}
	return Value{Data: x, Type: typ}
}

func containsValue(vs []Value, v Value) bool {
	for _, w := range vs {
		if dataEqual(w.Data, v.Data) {
			return true
		}
	}
	return false
}

func dataEqual(a, b any) bool {
	switch a := a.(type) {
	case string:
		b, ok := b.(string)
		return ok && a == b
	case bool:
		b, ok := b.(bool)
		return ok && a == b
	case json.Number:
		b, ok := b.(json.Number)
		if !ok {
			return false
		}
		if a == b {
			return true
		}
		fa, errA := strconv.ParseFloat(string(a), 64)
		fb, errB := strconv.ParseFloat(string(b), 64)
		return errA == nil && errB == nil && fa == fb
	}
	return reflect.DeepEqual(a, b)
}
