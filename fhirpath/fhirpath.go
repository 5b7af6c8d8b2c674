// Package fhirpath evaluates FHIRPath, the normative N1 grammar
// (http://hl7.org/fhirpath/N1/), over FHIR resources decoded as generic JSON
// (map[string]any from encoding/json with UseNumber, so numbers are
// json.Number), and analyses what an expression reads (Reads) for the
// authorisation guard.
//
// Supported:
//   - The whole grammar: every operator at its precedence ('.', indexer with
//     any expression, unary + and -, * / div mod, + - &, is as, |, < <= > >=,
//     = ~ != !~, in contains, and, or xor, implies); literals (strings with
//     escapes, integers, decimals, booleans, {}, @date/@dateTime/@Time with
//     partial precision and offsets, quantities 4 'mg' and calendar durations
//     2 years); $this, $index, $total; %resource, %rootResource, %context,
//     %ucum, %sct, %loinc, %'quoted' and caller variables (EvalWith);
//     // and /* */ comments; `delimited` identifiers. Nesting is bounded.
//   - Three-valued and/or/xor/implies/not() per the specification's tables;
//     singleton evaluation; = (empty when dates differ in precision),
//     ~ (strings ignoring case and whitespace, decimals at the lesser
//     precision), ordering of strings, numbers, dates/times (offsets
//     normalised to UTC; seconds and milliseconds one precision) and
//     quantities of one unit.
//   - Exact decimal arithmetic (math/big); Integer overflow and division by
//     zero give empty; date/time + and - of calendar durations and the
//     UCUM time units (wk d h min s ms, a mo), clamped to the month's end.
//   - Functions: empty exists all allTrue anyTrue allFalse anyFalse subsetOf
//     supersetOf count distinct isDistinct; where select repeat ofType;
//     single first last tail skip take intersect exclude; union combine;
//     iif, toX and convertsToX for Boolean Integer Decimal String Date
//     DateTime Time Quantity; indexOf substring startsWith endsWith contains
//     upper lower replace matches replaceMatches length toChars; abs ceiling
//     exp floor ln log power round sqrt truncate; children descendants;
//     trace now today timeOfDay; aggregate; not, is, as; type().
//   - The FHIR additions: extension(url) (of complex elements and, through
//     their _name companions, of primitives), hasValue(), getValue(),
//     htmlChecks() (FHIR's narrative rules, also as SafeXHTML), resolve(),
//     memberOf(valueSet) and conformsTo(profile), the last three through the
//     caller's hooks in Options (Resolver, Terminology, Profiles; without them
//     memberOf and conformsTo are empty, "cannot tell"); %vs-[name] and
//     %ext-[name]; %context and %rootResource distinct from %resource when
//     Options sets them.
//   - Typed evaluation: every value read from a resource carries its FHIR type
//     from the R4 StructureDefinitions (types_gen.go, written by fhirgen), so
//     Patient.birthDate.ofType(date) works; is/as/ofType follow FHIR's type
//     hierarchy (code is a string, Age a Quantity, a backbone element a
//     BackboneElement, every resource a DomainResource and a Resource).
//     CompileFor(context, expr) compiles for a type or element path and
//     rejects a name that is no element of the type it applies to; compiled
//     expressions are kept in one bounded LRU (Cached, CompileFor).
//   - UCUM: quantities in commensurable units of mass, length, volume,
//     substance and time (and quotients such as mmol/L) compare, add and
//     convert (toQuantity(unit)); calendar durations of a week or less equal
//     their UCUM units, a year and a month are not comparable with 'a' and
//     'mo' for = (but are equivalent for ~), as the specification says; a
//     year is 12 months. Quantities multiply and divide with their units
//     (2 'cm' * 3 'cm' is 6 'cm2', 6 'mg' / 2 'mL' is 3 'mg/mL').
//
// Not supported (Compile rejects unknown functions with an *Error naming
// them, so nothing silently evaluates to empty):
//   - UCUM units outside the table in ucum.go, and the affine temperature
//     units (Cel, [degF]), which are never converted.
//   - type() returns {namespace, name}, without baseType or elements;
//     System.String and FHIR.string are one type for is/as/ofType, and a
//     string compared with a date/time is read as one.
//   - trace() has no output sink. A date/time of year or month precision
//     ignores added days and smaller units; a value with an offset compared
//     with one without is compared as if both were UTC.
//
// Semantics chosen where the specification leaves room:
//   - A function's plain arguments are evaluated on the caller's $this (the
//     item of the enclosing where/select, or the root); its expression
//     arguments (where, select, all, exists, repeat, aggregate) on each input
//     item, with $this and $index. iif's arguments run on its input.
//   - and, or and implies do not evaluate the right operand when the left
//     decides the result.
//   - repeat() stops with an error past 2000 items, descendants() past
//     1,000,000; matches() uses Go's RE2 syntax (linear time).
//   - Only a choice element's base name expands (value reaches valueQuantity,
//     typed from the key); on a value of unknown type (a caller's variable)
//     only names that are choice elements of some R4 type expand
//     (model.IsChoiceName): birth never reads birthDate.
//   - resolve(): "#id" gives the contained resource; a reference to an entry
//     of a Bundle being evaluated (fullUrl or Type/id) gives the entry's
//     resource; any other literal reference goes to Options.Resolver, and
//     without one gives a stub {"resourceType": T, "id": id} of type T, enough
//     for `resolve() is Patient`. Conditional and unmatched urn: references
//     resolve to nothing.
//   - as behaves like ofType on multi-item input instead of raising an
//     error, matching how R4 search expressions apply it to collections.
//   - A primitive that has only extensions is an item (exists() is true,
//     hasValue() false) whose value is empty to operators and functions.
//   - Unknown type names in is/as/ofType are not errors (R4's own dom-r4b
//     names R4B types); they match nothing.
package fhirpath

import (
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fhirgate/fhirgate/model"
)

// Value is one item of a FHIRPath result collection.
type Value struct {
	// Data is the JSON value: map[string]any, string, bool or json.Number. Dates, times and
	// quantities produced by the expression are a string or a Quantity object with Type set.
	Data any
	// Type is the FHIR type when known, e.g. "Reference", "string",
	// "CodeableConcept" or a resource type; it may be "" (see package doc).
	Type string
	// ext is the _name companion of a primitive read from a resource (its id and
	// extensions); Data is nil for a primitive that has only extensions.
	ext map[string]any
	// fhir is true for a value read from a resource (a FHIR type) rather than computed (a
	// System type); type() tells them apart.
	fhir bool
}

// Terminology answers memberOf() for the caller.
type Terminology interface {
	// Contains reports whether the value set with the canonical URL valueSet contains code
	// in system (system is "" for a bare code); known is false when it cannot tell (an
	// unknown or unexpandable value set), and memberOf() is then empty.
	Contains(valueSet, system, code string) (contains, known bool)
}

// Profiles answers conformsTo() for the caller.
type Profiles interface {
	// ConformsTo reports whether v conforms to the StructureDefinition with the canonical URL
	// profile; known is false when it cannot tell, and conformsTo() is then empty.
	ConformsTo(v Value, profile string) (conforms, known bool)
}

// Resolver loads what resolve() names beyond the resource itself.
type Resolver interface {
	// Resolve returns the resource a literal reference (Patient/1, an absolute URL, a
	// canonical) names, or false when it cannot be read.
	Resolve(reference string) (map[string]any, bool)
}

// Options are what an evaluation may use beyond the resource. The zero value is valid:
// memberOf() and conformsTo() are then empty, and resolve() reads only the resource.
type Options struct {
	// Vars are caller variables: Vars["x"] is %x. The specification's names (resource,
	// rootResource, context, ucum, sct, loinc, vs-*, ext-*) cannot be replaced.
	Vars map[string][]Value
	// Context, when set, is the focus the expression starts on and %context, such as the
	// element an invariant is declared on; by default it is the resource.
	Context *Value
	// RootResource is %rootResource when the resource is contained in another; by
	// default it is the resource.
	RootResource map[string]any
	Terminology  Terminology
	Profiles     Profiles
	// Resolver, when set, loads literal references that are not contained resources or
	// entries of a Bundle being evaluated; without it resolve() gives a stub
	// {"resourceType": T, "id": id} of type T for them.
	Resolver Resolver
}

// Expr is a compiled expression. It is immutable and safe for concurrent use.
type Expr struct {
	src  string
	root node
	// usesNow is true when the expression calls now(), today() or timeOfDay(), which read
	// the clock once per evaluation.
	usesNow bool
}

// Compile parses an expression once. Syntax errors are reported as *Error with the byte
// offset of the offending token and what was expected there.
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
	return &Expr{src: expr, root: n, usesNow: p.usesNow}, nil
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
// result is never nil on success. Evaluation fails with *Error (Pos -1) when
// the data violates the expression's cardinality or types, e.g. a boolean
// operator applied to more than one item, or an undefined %variable.
func (e *Expr) Eval(resource map[string]any) ([]Value, error) {
	return e.EvalWith(resource, nil)
}

// EvalWith is Eval with caller-supplied environment variables: vars["x"] is %x. The
// names resource, rootResource, context, ucum, sct and loinc are the specification's and
// cannot be replaced.
func (e *Expr) EvalWith(resource map[string]any, vars map[string][]Value) ([]Value, error) {
	return e.eval(resource, Options{Vars: vars})
}

// EvalOptions is Eval with the options o (nil is the zero Options).
func (e *Expr) EvalOptions(resource map[string]any, o *Options) ([]Value, error) {
	if o == nil {
		return e.eval(resource, Options{})
	}
	return e.eval(resource, *o)
}

func (e *Expr) eval(resource map[string]any, o Options) ([]Value, error) {
	root := Value{Data: resource, Type: typeOf(Value{Data: resource}), fhir: true}
	s := &evalState{root: root, context: root, rootResource: root, opts: o, vars: o.Vars}
	if e.usesNow {
		s.now = time.Now()
	}
	if o.RootResource != nil {
		s.rootResource = Value{Data: o.RootResource, Type: typeOf(Value{Data: o.RootResource}), fhir: true}
	}
	if o.Context != nil {
		s.context = *o.Context
	}
	env := &s.top
	env.evalState = s
	env.setThis(s.context, -1)
	out, err := e.root.eval(env, env.thisFocus[:])
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
	if isSharedResult(out) {
		out = []Value{out[0]} // the caller may change what it is given
	}
	return out, nil
}

// evalState is what one evaluation shares between the contexts of its subexpressions.
type evalState struct {
	root Value // %resource
	// context is %context and rootResource %rootResource.
	context, rootResource Value
	opts                  Options
	vars                  map[string][]Value
	now                   time.Time // now(), today() and timeOfDay() are fixed for one evaluation
	top                   env       // the context of the whole expression, allocated with the state
}

// env is the evaluation context of a (sub)expression.
type env struct {
	*evalState
	this Value
	// thisFocus is $this as a collection, the focus plain arguments are evaluated on; it is
	// kept equal to this (setThis) so that evaluating an argument allocates nothing.
	thisFocus [1]Value
	index     int // $index, -1 outside an iteration
	total     []Value
	// hasTotal is true inside aggregate(), where $total is defined.
	hasTotal bool
}

// setThis makes v at position i $this.
func (e *env) setThis(v Value, i int) {
	e.this, e.thisFocus[0], e.index = v, v, i
}

// iter returns the context for evaluating an argument on item v at position i.
func (e *env) iter(v Value, i int) *env {
	sub := *e
	sub.setThis(v, i)
	return &sub
}

// maxItems bounds what repeat() and descendants() may produce in one evaluation.
const maxItems = 1_000_000

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
	call             func(e *env, c *callNode, in []Value) ([]Value, error)
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

// memberKey is an element name with its JSON keys, spelled once at compile time.
type memberKey struct {
	name, companion string // name and "_" + name
}

func newMemberKey(name string) memberKey { return memberKey{name: name, companion: "_" + name} }

// member appends the children named k.name of v to out, flattening arrays and
// expanding choice elements (value -> valueQuantity with Type Quantity).
func member(out []Value, v Value, k memberKey) []Value {
	m, typ := elementsOf(v)
	if m == nil {
		return out
	}
	name := k.name
	if t, known := elementType(typ, name); known {
		if t != "" {
			return appendItems(out, m[name], m[k.companion], t)
		}
		return typedMember(out, m, typ, name, t)
	}
	if x, ok := m[name]; ok || m[k.companion] != nil {
		return appendItems(out, x, m[k.companion], "")
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
	return appendMember(out, m, best, bestType)
}

// elementsOf returns the JSON object holding v's elements and the type they are elements
// of: a complex value's own object, or a primitive's _name companion, which holds its id and
// extensions (the elements of Element). m is nil when v has no elements.
func elementsOf(v Value) (m map[string]any, typ string) {
	if m, ok := v.Data.(map[string]any); ok {
		return m, v.Type
	}
	if v.ext == nil {
		return nil, ""
	}
	return v.ext, "Element"
}

// typedMember appends element name of m, a value of type typ whose element types are known:
// an element of type t (t is "" when name is no element, or a choice element's base name).
func typedMember(out []Value, m map[string]any, typ, name, t string) []Value {
	if t != "" {
		return appendMember(out, m, name, t)
	}
	for _, c := range model.ChoiceElements(typ) {
		if c != name {
			continue
		}
		// Only a choice element's base name expands, to the one key present.
		elems := fhirElements[typ]
		best := ""
		for k := range m {
			if len(k) > len(name) && strings.HasPrefix(k, name) && isUpper(k[len(name):]) && elems[k] != "" && (best == "" || k < best) {
				best = k
			}
		}
		if best != "" {
			return appendMember(out, m, best, elems[best])
		}
	}
	return out
}

// appendMember appends the values of element key of m, with their _key companions.
func appendMember(out []Value, m map[string]any, key, typ string) []Value {
	return appendItems(out, m[key], m["_"+key], typ)
}

// appendItems appends the values of an element, x, with its companion: the id and
// extensions of primitives, which hold only those when they have no value.
func appendItems(out []Value, x, companion any, typ string) []Value {
	if companion == nil {
		return appendData(out, x, typ)
	}
	xs, isList := x.([]any)
	cs, csList := companion.([]any)
	if !isList && !csList {
		c, _ := companion.(map[string]any)
		v := withType(x, typ)
		v.ext = c
		if x == nil && c == nil {
			return out
		}
		return append(out, v)
	}
	for i := range max(len(xs), len(cs)) {
		var item any
		var c map[string]any
		if i < len(xs) {
			item = xs[i]
		}
		if i < len(cs) {
			c, _ = cs[i].(map[string]any)
		}
		if item == nil && c == nil {
			continue
		}
		v := withType(item, typ)
		v.ext = c
		out = append(out, v)
	}
	return out
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
	if typ == "" || typ == "Resource" || typ == "DomainResource" {
		if m, ok := x.(map[string]any); ok {
			typ, _ = m["resourceType"].(string)
		}
	}
	return Value{Data: x, Type: typ, fhir: true}
}

// dataEqual compares JSON data structurally, numbers by value.
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
		if fa, ok := parseFixed(string(a)); ok {
			if fb, ok := parseFixed(string(b)); ok {
				if c, ok := cmpFixed(fa, fb); ok {
					return c == 0
				}
			}
		}
		na, okA := parseNum(string(a))
		nb, okB := parseNum(string(b))
		return okA && okB && na.r.Cmp(nb.r) == 0
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, va := range a {
			vb, ok := b[k]
			if !ok || !dataEqual(va, vb) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !dataEqual(a[i], b[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// describe names the kind of v for error messages, without its content (which may be PHI).
func describe(v Value) string {
	if t := typeOf(v); t != "" {
		return t
	}
	return "an element"
}

func strconvInt(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }
