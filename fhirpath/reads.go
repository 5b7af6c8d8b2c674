package fhirpath

import (
	"fmt"
	"strings"

	"github.com/fhirgate/fhirgate/model"
)

// Schema describes the structure of FHIR types for Reads.
type Schema interface {
	// Elements returns the elements of the complex type typ, by JSON name (valueQuantity, not
	// value[x]), with their types; a primitive element's type starts with a lower-case letter.
	// ok is false when typ is not a concrete complex type the schema knows: a primitive, an
	// abstract type such as Resource, or an unknown name.
	Elements(typ string) (elements map[string]string, ok bool)
}

// Read is one element an expression reads: element Name of a value of type Owner, itself of
// type Type. Owner is "" when the value's type cannot be known before evaluation (a resolved
// reference, a contained resource); Type is "" when the element's type cannot. Whole means
// the value is used whole (compared, or handed to a function that looks inside it), so
// everything below the element is read too; a Whole read of the root has no Owner and Name.
type Read struct {
	Owner, Name, Type string
	Whole             bool
}

// Reads returns every element the expression reads when it is evaluated on a resource of
// type root, resolved with the types s gives, not by the expression's text: a choice name
// (deceased) reads each of its choices (deceasedBoolean, deceasedDateTime) or only those an
// ofType or as cast keeps; names inside function arguments read relative to their focus. A
// name that is no element of a known type is an error, since the expression could only mean
// something else than it says. results are the elements the expression's result comes from,
// for a caller that goes on to read inside them (a search parameter's index does).
func (e *Expr) Reads(root string, s Schema) (reads, results []Read, err error) {
	return e.ReadsIn(root, root, s)
}

// ReadsIn is Reads for an expression evaluated on a value of type focus inside a resource of
// type resource (%resource), such as a composite search parameter's component.
func (e *Expr) ReadsIn(resource, focus string, s Schema) (reads, results []Read, err error) {
	a := &analysis{s: s, root: resource, focus: focus}
	start := []item{{typ: focus}}
	for _, it := range a.walkResult(e.root, start) {
		results = append(results, Read{Owner: it.owner, Name: it.name, Type: it.typ})
	}
	if fe, ok := a.err.(*Error); ok {
		fe.Expr = e.src
	}
	return a.reads, results, a.err
}

// ReadsReturned is ReadsIn for an expression whose results the caller receives as they are,
// such as a column of a SQL on FHIR view: each result is read whole, everything below it
// included, unless it is a primitive or a value the expression computed.
func (e *Expr) ReadsReturned(resource, focus string, s Schema) (reads, results []Read, err error) {
	a := &analysis{s: s, root: resource, focus: focus}
	items := a.walkResult(e.root, []item{{typ: focus}})
	a.whole(items)
	for _, it := range items {
		results = append(results, Read{Owner: it.owner, Name: it.name, Type: it.typ})
	}
	if fe, ok := a.err.(*Error); ok {
		fe.Expr = e.src
	}
	return a.reads, results, a.err
}

// ResultTypes returns the FHIR types of the values the expression yields when it is evaluated
// on a value of type focus inside a resource of type resource, typed with the R4
// StructureDefinitions, one per way a value can arise ("" where only evaluation can tell: a
// caller's variable, a resolved reference). A name that is no element of the type it applies
// to is an *Error, as for CompileFor.
func (e *Expr) ResultTypes(resource, focus string) ([]string, error) {
	_, results, err := e.ReadsIn(resource, focus, fhirSchema{})
	if err != nil {
		return nil, err
	}
	types := make([]string, len(results))
	for i, r := range results {
		types[i] = r.Type
	}
	return types, nil
}

// walkResult walks the expression's top node. A union there only gathers the values the
// caller receives, who reads inside them anyway: its dedup is not a whole read, as it is
// below, where a count or a position can reveal whether two values were equal.
func (a *analysis) walkResult(n node, start []item) []item {
	if b, ok := n.(*binaryNode); ok && b.op == "|" {
		return append(a.walkResult(b.l, start), a.walkResult(b.r, start)...)
	}
	return a.walk(n, start, start)
}

// item is what the analysis knows of one value: the element it came from and its type.
// computed marks a value the expression made (a literal, an arithmetic or function result)
// rather than read: its inputs' reads are recorded where it was made.
type item struct {
	owner, name, typ string
	computed         bool
}

type analysis struct {
	s     Schema
	root  string
	focus string // %context
	reads []Read
	err   error
	total [][]item // what $total may hold, innermost aggregate() last
}

func (a *analysis) fail(format string, args ...any) {
	if a.err == nil {
		a.err = &Error{Pos: -1, Msg: fmt.Sprintf(format, args...)}
	}
}

var boolean = []item{{typ: "boolean", computed: true}}

// walk returns the items node n yields on focus, with this as $this, recording what it
// reads. It mirrors evaluation: a function's plain arguments are walked on $this, its
// per-item (lambda) arguments on its input.
func (a *analysis) walk(n node, focus, this []item) []item {
	switch n := n.(type) {
	case *literalNode:
		if n.empty {
			return nil
		}
		return []item{{typ: n.v.Type, computed: true}}
	case *thisNode:
		return this
	case *indexVarNode:
		return []item{{typ: "integer", computed: true}}
	case *totalNode:
		if len(a.total) == 0 {
			return []item{{}} // $total outside aggregate() is an error at evaluation
		}
		return a.total[len(a.total)-1]
	case *rootNode:
		if n.name == "context" {
			return []item{{typ: a.focus}}
		}
		return []item{{typ: a.root}}
	case *varNode:
		if _, ok := builtinVar(n.name); ok {
			return []item{{typ: "string", computed: true}}
		}
		// A caller's variable: a value of any type that the caller supplied, not one read
		// from the resource, so using it whole reads nothing (names read inside it still
		// count, as on any value of unknown type).
		return []item{{computed: true}}
	case *identNode:
		if isUpper(n.name) { // a type name selects the focus values of that type
			var out []item
			for _, it := range focus {
				if it.typ == n.name || n.name == "Resource" || n.name == "DomainResource" || it.typ == "" {
					out = append(out, it)
				}
			}
			return out
		}
		return a.member(focus, n.name, "")
	case *memberNode:
		return a.member(a.walk(n.target, focus, this), n.name, "")
	case *indexNode:
		a.walk(n.idx, this, this)
		return a.walk(n.target, focus, this)
	case *unaryNode:
		in := a.walk(n.arg, focus, this)
		a.whole(in)
		return synthesized(in)
	case *binaryNode:
		l, r := a.walk(n.l, focus, this), a.walk(n.r, focus, this)
		switch n.op {
		case "|": // dedups by equality, so how many items come out depends on their values
			a.whole(l)
			a.whole(r)
			return append(l, r...)
		case "and", "or", "xor", "implies": // only whether an operand is there, or its boolean
			return boolean
		}
		a.whole(l) // every other operator looks at its operands' values
		a.whole(r)
		return arithmeticResult(n.op, l)
	case *typeOpNode:
		if n.op == "as" {
			return a.cast(n.arg, n.typ, focus, this)
		}
		a.walk(n.arg, focus, this) // is: which choice is present is a read of each
		return boolean
	case *callNode:
		return a.call(n, focus, this)
	}
	a.fail("internal: cannot analyse %T", n)
	return nil
}

// synthesized returns items of the types of in that come from no element: values an
// operator computed from in.
func synthesized(in []item) []item {
	out := make([]item, len(in))
	for i, it := range in {
		out[i] = item{typ: it.typ, computed: true}
	}
	return out
}

// arithmeticResult is the type of an arithmetic or comparison result on left operands l.
func arithmeticResult(op string, l []item) []item {
	switch op {
	case "=", "!=", "~", "!~", "<", ">", "<=", ">=", "in", "contains":
		return boolean
	case "&":
		return []item{{typ: "string", computed: true}}
	case "div":
		return []item{{typ: "integer", computed: true}}
	}
	var out []item
	for _, it := range l {
		switch {
		case it.typ != "" && !isUpper(it.typ), isSubtype(it.typ, "Quantity"):
			out = append(out, item{typ: it.typ, computed: true})
		default:
			out = append(out, item{}) // unknown: a value of any type
		}
	}
	return out
}

// resultTypes gives the type of what a function returns when it is a computed value that
// comes from no element of its input.
var resultTypes = map[string]string{
	"empty": "boolean", "exists": "boolean", "all": "boolean", "allTrue": "boolean", "anyTrue": "boolean",
	"allFalse": "boolean", "anyFalse": "boolean", "subsetOf": "boolean", "supersetOf": "boolean",
	"isDistinct": "boolean", "not": "boolean", "is": "boolean", "startsWith": "boolean", "endsWith": "boolean",
	"contains": "boolean", "matches": "boolean", "convertsToBoolean": "boolean", "convertsToInteger": "boolean",
	"convertsToDecimal": "boolean", "convertsToString": "boolean", "convertsToDate": "boolean",
	"convertsToDateTime": "boolean", "convertsToTime": "boolean", "convertsToQuantity": "boolean",
	"count": "integer", "indexOf": "integer", "length": "integer", "toInteger": "integer",
	"ceiling": "integer", "floor": "integer", "truncate": "integer",
	"toDecimal": "decimal", "exp": "decimal", "ln": "decimal", "log": "decimal", "sqrt": "decimal",
	"power": "decimal", "round": "decimal", "toBoolean": "boolean",
	"toString": "string", "upper": "string", "lower": "string", "replace": "string",
	"replaceMatches": "string", "substring": "string", "toChars": "string", "trim": "string",
	"split": "string", "join": "string", "encode": "string", "decode": "string", "escape": "string",
	"unescape": "string",
	"toDate":   "date", "today": "date", "toDateTime": "dateTime", "now": "dateTime",
	"toTime": "time", "timeOfDay": "time", "toQuantity": "Quantity",
	"hasValue": "boolean", "htmlChecks": "boolean", "memberOf": "boolean", "conformsTo": "boolean",
}

// inspectsNothing lists the functions that look at no value of their input beyond whether
// it is there, how many items it has, or which of them an argument keeps (arguments are
// walked separately), and return their input's items or a count.
var inspectsNothing = map[string]bool{
	"empty": true, "exists": true, "count": true, "where": true, "first": true, "last": true,
	"tail": true, "skip": true, "take": true, "single": true, "all": true, "trace": true,
	"select": true, "combine": true, "now": true, "today": true, "timeOfDay": true,
	"allTrue": true, "anyTrue": true, "allFalse": true, "anyFalse": true, "not": true, "is": true,
}

func (a *analysis) call(n *callNode, focus, this []item) []item {
	switch n.name {
	case "ofType", "as":
		if n.target == nil {
			return narrow(focus, n.typ)
		}
		return a.cast(n.target, n.typ, focus, this)
	}
	in := focus
	if n.target != nil {
		in = a.walk(n.target, focus, this)
	}
	switch n.name {
	case "iif": // arguments run on the input, with it as $this when it is one item
		var out []item
		for i, arg := range n.args {
			r := append(a.walk(arg, in, in), a.walk(arg, in, this)...)
			if i > 0 { // the criterion is only tested
				out = append(out, r...)
			}
		}
		return out
	case "repeat":
		return a.repeat(n.args[0], in)
	case "aggregate":
		var init []item
		if len(n.args) == 2 {
			init = a.walk(n.args[1], this, this)
		}
		// $total holds the initial value or a result of the aggregator, whose type this
		// analysis does not follow: a value of any type.
		a.total = append(a.total, append(init, item{}))
		out := a.walk(n.args[0], in, in)
		a.total = a.total[:len(a.total)-1]
		return append(init, out...)
	case "resolve":
		a.resolveReads(in)
		return []item{{}} // a resource of a type known only when evaluated
	case "extension":
		for _, arg := range n.args {
			a.whole(a.walk(arg, this, this))
		}
		return a.member(in, "extension", "") // of a primitive, in its _name companion
	}
	if f, ok := extensions[n.name]; ok { // an application's function reads what it declares
		for _, el := range f.Reads {
			a.member(in, el, "")
		}
		return []item{{typ: f.Result, computed: true}}
	}
	var args [][]item
	for i, arg := range n.args {
		if n.isLambda(i) {
			args = append(args, a.walk(arg, in, in))
		} else {
			args = append(args, a.walk(arg, this, this))
		}
	}
	if !inspectsNothing[n.name] {
		// The function looks inside its input and its arguments as it likes: comparing
		// items (distinct, intersect, subsetOf), converting or computing on them, or,
		// for a function this analysis does not know (children, descendants), anything.
		a.whole(in)
		for i, arg := range args {
			if !n.isLambda(i) {
				a.whole(arg)
			}
		}
	}
	switch n.name {
	case "where", "first", "last", "tail", "skip", "take", "single", "trace",
		"distinct", "intersect", "exclude":
		return in
	case "select":
		return args[0]
	case "union", "combine":
		return append(in, args[0]...)
	}
	if t, ok := resultTypes[n.name]; ok {
		return []item{{typ: t, computed: true}}
	}
	return []item{{}}
}

// resolveReads records what resolve() reads: the reference element of each Reference (the
// result's type and id come from it) and, for "#id" references, the root's contained.
func (a *analysis) resolveReads(in []item) {
	for _, it := range in {
		if it.typ == "" {
			a.reads = append(a.reads, Read{Name: "reference"})
			continue
		}
		if elems, ok := a.s.Elements(it.typ); ok {
			if t, has := elems["reference"]; has {
				a.reads = append(a.reads, Read{Owner: it.typ, Name: "reference", Type: t})
			}
		}
	}
	if elems, ok := a.s.Elements(a.root); ok {
		if t, has := elems["contained"]; has {
			a.reads = append(a.reads, Read{Owner: a.root, Name: "contained", Type: t})
		}
	}
}

// repeat walks the projection on its input, then on what it yields, until no item of a
// new type appears; past a bound it gives up and reads everything the input holds.
func (a *analysis) repeat(proj node, in []item) []item {
	seen := map[item]bool{}
	var out []item
	cur := in
	for range 20 {
		var next []item
		for _, it := range a.walk(proj, cur, cur) {
			if !seen[it] {
				seen[it] = true
				out = append(out, it)
				next = append(next, it)
			}
		}
		if len(next) == 0 {
			return out
		}
		cur = next
	}
	a.whole(in)
	return append(out, item{})
}

// cast walks target narrowed to typ: a choice element read through a cast reads only the
// choices of that type.
func (a *analysis) cast(target node, typ string, focus, this []item) []item {
	switch t := target.(type) {
	case *memberNode:
		return a.member(a.walk(t.target, focus, this), t.name, typ)
	case *identNode:
		if !isUpper(t.name) {
			return a.member(focus, t.name, typ)
		}
	}
	return narrow(a.walk(target, focus, this), typ)
}

// narrow keeps the items that may be of type typ; an item of unknown type becomes one of typ.
func narrow(in []item, typ string) []item {
	var out []item
	for _, it := range in {
		switch {
		case it.typ == "":
			it.typ = typ
			out = append(out, it)
		case isSubtype(it.typ, typ):
			out = append(out, it)
		case specialises(typ, it.typ):
			it.typ = typ // a contained Resource narrowed to Patient has Patient's elements
			out = append(out, it)
		}
	}
	return out
}

func isSubtype(t, want string) bool {
	if t == want || want == "Resource" || want == "DomainResource" && isUpper(t) {
		return true
	}
	return specialises(t, want)
}

// member reads element name of each item; cast, when set, keeps only the choices of that type.
// primitiveElements are the elements of every primitive (those of Element), held in its
// _name companion in JSON.
var primitiveElements = map[string]string{"id": "string", "extension": "Extension"}

func (a *analysis) member(in []item, name, cast string) []item {
	var out []item
	for _, it := range in {
		elems, ok := a.s.Elements(it.typ)
		if !ok {
			if it.typ != "" && !isUpper(it.typ) {
				// A primitive's id and extensions are in its _name companion, read whole
				// (the guard governs _birthDate with birthDate).
				if t := primitiveElements[name]; t != "" && it.name != "" {
					a.reads = append(a.reads, Read{Owner: it.owner, Name: "_" + it.name, Type: "Element", Whole: true})
					out = append(out, item{typ: t})
				}
				continue
			}
			// Unknown type: the name is read on whatever the value turns out to be.
			a.reads = append(a.reads, Read{Name: name})
			out = append(out, item{typ: cast})
			continue
		}
		if t, ok := elems[name]; ok {
			if cast != "" && !isSubtype(t, cast) {
				if !specialises(cast, t) {
					continue
				}
				t = cast // a Resource element cast to Patient holds a Patient
			}
			a.reads = append(a.reads, Read{Owner: it.typ, Name: name, Type: t})
			out = append(out, item{owner: it.typ, name: name, typ: t})
			continue
		}
		if name == "resourceType" {
			out = append(out, item{typ: "string"})
			continue
		}
		if !model.IsChoiceElement(it.typ, name) {
			a.fail("%s has no element %q", it.typ, name)
			continue
		}
		for el, t := range elems {
			suffix, ok := strings.CutPrefix(el, name)
			if !ok || !isUpper(suffix) {
				continue
			}
			if ct, ok := choiceType(suffix); !ok || cast != "" && !isSubtype(ct, cast) {
				continue
			}
			a.reads = append(a.reads, Read{Owner: it.typ, Name: el, Type: t})
			out = append(out, item{owner: it.typ, name: el, typ: t})
		}
	}
	return out
}

// whole records that the items are used whole.
func (a *analysis) whole(in []item) {
	for _, it := range in {
		if it.computed || it.typ != "" && !isUpper(it.typ) {
			continue // a primitive is read by itself: its element is among the reads already
		}
		a.reads = append(a.reads, Read{Owner: it.owner, Name: it.name, Type: it.typ, Whole: true})
	}
}
