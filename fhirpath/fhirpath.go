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
	"fmt"
	"time"
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
