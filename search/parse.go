package search

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/model"
)

// ErrInvalid marks a search the caller got wrong: an unknown parameter, a malformed
// value, a modifier the parameter type does not have.
var ErrInvalid = fault.New(fault.Invalid, "invalid search")

// ErrUnsupported marks a valid FHIR search feature this server does not implement.
var ErrUnsupported = fault.New(fault.Unsupported, "unsupported search")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}

// Arguments that control a search rather than filter it.
const (
	ArgCount     = "_count"
	ArgOffset    = "_offset"
	ArgSort      = "_sort"
	ArgCursor    = "_cursor"
	ArgTotal     = "_total"
	ArgFHIRPath  = "fhirpath"
	ArgReference = "_reference"
	ArgHas       = "_has"
	ArgFilter    = "_filter"
)

// ArgName is the GraphQL argument name of a search parameter code: "-" becomes "_".
func ArgName(code string) string { return strings.ReplaceAll(code, "-", "_") }

// paramByArg finds typ's parameter whose argument name is arg.
func paramByArg(typ, arg string) *model.SearchParam {
	if p := lookup(typ, arg); p != nil {
		return p
	}
	if p := lookup(typ, strings.ReplaceAll(arg, "_", "-")); p != nil {
		return p
	}
	// Codes mixing "_" and "-" (none in R4 today): scan.
	ps := model.SearchParams(typ)
	for i := range ps {
		if ArgName(ps[i].Code) == arg {
			return &ps[i]
		}
	}
	return nil
}

// node is a boolean tree of conditions: an AND or OR of children, or one leaf.
type node struct {
	and, or []*node
	leaf    *cond
}

// cond is one condition on one parameter.
type cond struct {
	typ    string // resource type searched
	param  *model.SearchParam
	mod    string // modifier without the colon: "exact", "not", "Patient", ...
	prefix string // eq, ne, gt, ... for ordered types
	value  string
	chain  *Query // chained search on the reference's target type
	chainT string
	has    *hasCond
}

type hasCond struct {
	source string // the type that refers to the searched one
	param  string // its reference parameter
	query  *Query
}

// Query is a parsed search over one resource type: the filtering arguments ANDed.
type Query struct {
	Type  string
	root  *node
	Sort  []SortKey
	Count *int
	// Offset is the number of matches to skip.
	Offset int
	// Cursor is the _cursor argument, opaque to this package's parser.
	Cursor string
	// Total is the _total argument: "none", "estimate" or "accurate" ("" when absent).
	Total string
	// FHIRPath is the fhirpath argument: an expression a match must satisfy.
	FHIRPath string
	// Reference is the _reference argument of a reverse reference.
	Reference string

	digest string
	depth  int // how many chained or _has searches this one is nested in
}

// MaxChainDepth is how deep chained and reverse-chained (_has) searches may nest: each level
// runs a sub-search whose matches feed the level above, and no client needs many; a search
// nested deeper is refused rather than run.
const MaxChainDepth = 4

// SortKey is one _sort key.
type SortKey struct {
	Param *model.SearchParam
	Desc  bool
}

// Parse turns the arguments of a search over typ (as GraphQL delivers them: strings,
// booleans, numbers, lists and objects) into a Query. Every argument must be a search
// parameter of typ or a control argument; anything else is an ErrInvalid error.
func Parse(typ string, args map[string]any) (*Query, error) { return parse(typ, args, 0) }

// sub parses a chained or _has search over typ nested in q.
func (q *Query) sub(typ string, args map[string]any) (*Query, error) {
	if q.depth >= MaxChainDepth {
		return nil, invalid("chained and _has searches nest %d levels deep at most", MaxChainDepth)
	}
	return parse(typ, args, q.depth+1)
}

func parse(typ string, args map[string]any, depth int) (*Query, error) {
	if model.SearchParams(typ) == nil {
		return nil, invalid("unknown resource type %q", typ)
	}
	q := &Query{Type: typ, root: &node{}, depth: depth}
	// The digest names the search a cursor belongs to: its type and filtering and
	// sorting arguments, not the results of its sub-searches, which may change.
	canon := map[string]any{"": typ}
	for k, v := range args {
		switch k {
		case ArgCursor, ArgCount, ArgOffset, ArgTotal:
		default:
			canon[k] = v
		}
	}
	if b, err := json.Marshal(canon); err == nil {
		h := sha256.Sum256(b)
		q.digest = base64.RawURLEncoding.EncodeToString(h[:9])
	}
	// Sorted: deterministic filters and error messages.
	for _, name := range slices.Sorted(maps.Keys(args)) {
		v := args[name]
		if v == nil {
			continue
		}
		if err := q.arg(name, v); err != nil {
			return nil, err
		}
	}
	return q, nil
}

func (q *Query) arg(name string, v any) error {
	switch name {
	case ArgCount:
		n, err := intArg(name, v)
		if err != nil {
			return err
		}
		if n < 0 {
			return invalid("_count must not be negative, got %d", n)
		}
		q.Count = &n
		return nil
	case ArgOffset:
		n, err := intArg(name, v)
		if err != nil {
			return err
		}
		if n < 0 {
			return invalid("_offset must not be negative, got %d", n)
		}
		q.Offset = n
		return nil
	case ArgSort:
		return q.parseSort(v)
	case ArgCursor, ArgTotal, ArgFHIRPath, ArgReference:
		s, ok := v.(string)
		if !ok {
			return invalid("%s takes a string", name)
		}
		switch name {
		case ArgCursor:
			q.Cursor = s
		case ArgTotal:
			if s != "none" && s != "estimate" && s != "accurate" {
				return invalid("_total takes none, estimate or accurate, got %q", s)
			}
			q.Total = s
		case ArgFHIRPath:
			q.FHIRPath = s
		case ArgReference:
			q.Reference = s
		}
		return nil
	case ArgFilter:
		m, ok := v.(map[string]any)
		if !ok {
			return invalid("_filter takes an object of search arguments")
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			switch k {
			case ArgCount, ArgOffset, ArgSort, ArgCursor, ArgTotal, ArgFHIRPath, ArgReference, ArgFilter:
				return invalid("_filter takes search parameters; %s is an argument of its own", k)
			}
			if err := q.arg(k, m[k]); err != nil {
				return err
			}
		}
		return nil
	case ArgHas:
		n, err := q.parseHas(v)
		if err != nil {
			return err
		}
		q.root.and = append(q.root.and, n)
		return nil
	}
	p := paramByArg(q.Type, name)
	if p == nil {
		return invalid("%s has no search parameter %q", q.Type, name)
	}
	n, err := q.parseValue(p, v)
	if err != nil {
		return err
	}
	q.root.and = append(q.root.and, n)
	return nil
}

func intArg(name string, v any) (int, error) {
	switch n := v.(type) {
	case int:
		return n, nil
	case int64:
		return int(n), nil
	case float64:
		if n == float64(int(n)) {
			return int(n), nil
		}
	case string:
		if i, err := strconv.Atoi(n); err == nil {
			return i, nil
		}
	}
	return 0, invalid("%s takes an integer, got %v", name, v)
}

func (q *Query) parseSort(v any) error {
	var keys []string
	switch s := v.(type) {
	case string:
		keys = strings.Split(s, ",")
	case []any:
		for _, e := range s {
			str, ok := e.(string)
			if !ok {
				return invalid("_sort takes parameter names, got %v", e)
			}
			keys = append(keys, strings.Split(str, ",")...)
		}
	default:
		return invalid("_sort takes parameter names, got %v", v)
	}
	for _, k := range keys {
		k = strings.TrimSpace(k)
		desc := strings.HasPrefix(k, "-")
		k = strings.TrimPrefix(k, "-")
		p := paramByArg(q.Type, k)
		if p == nil {
			return invalid("cannot sort %s by %q: no such search parameter", q.Type, k)
		}
		switch p.Type {
		case "composite", "special":
			return invalid("cannot sort by %s: a %s parameter has no order", k, p.Type)
		}
		if p.Expression == "" {
			return unsupported("sorting by %s", k)
		}
		q.Sort = append(q.Sort, SortKey{Param: p, Desc: desc})
	}
	return nil
}

var prefixes = map[string]bool{"eq": true, "ne": true, "gt": true, "lt": true, "ge": true, "le": true, "sa": true, "eb": true, "ap": true}

// modifiers lists the modifiers each parameter type accepts, "missing" aside.
var modifiers = map[string][]string{
	"string":    {"exact", "contains"},
	"token":     {"text", "not", "of_type", "in", "not_in", "above", "below"},
	"reference": {"identifier", "above", "below"},
	"uri":       {"above", "below"},
}

// parseValue parses one parameter argument: a string (FHIR search value syntax,
// prefix included), a list (OR), or an object whose keys are modifiers, prefixes,
// "value", "and" (a list ANDed) or, on a reference, a target type (":Type" with a
// string, a chained search with an object).
func (q *Query) parseValue(p *model.SearchParam, v any) (*node, error) {
	switch x := v.(type) {
	case string:
		return q.leaf(p, "", x)
	case bool:
		return q.leaf(p, "", strconv.FormatBool(x))
	case int, int64, float64:
		return q.leaf(p, "", fmt.Sprint(x))
	case []any:
		if len(x) == 0 {
			return nil, invalid("%s: an empty list matches nothing; leave the argument out instead", ArgName(p.Code))
		}
		n := &node{}
		for _, e := range x {
			c, err := q.parseValue(p, e)
			if err != nil {
				return nil, err
			}
			n.or = append(n.or, c)
		}
		return n, nil
	case map[string]any:
		n := &node{}
		for _, k := range slices.Sorted(maps.Keys(x)) {
			c, err := q.parseKey(p, k, x[k])
			if err != nil {
				return nil, err
			}
			n.and = append(n.and, c)
		}
		if len(n.and) == 0 {
			return nil, invalid("%s: an empty object has no condition", ArgName(p.Code))
		}
		return n, nil
	}
	return nil, invalid("%s: unexpected value %v", ArgName(p.Code), v)
}

func (q *Query) parseKey(p *model.SearchParam, k string, v any) (*node, error) {
	arg := ArgName(p.Code)
	// eachString applies fn to a string or to each string of a list (OR).
	eachString := func(fn func(s string) (*node, error)) (*node, error) {
		switch x := v.(type) {
		case string:
			return fn(x)
		case bool, int, int64, float64:
			return fn(fmt.Sprint(x))
		case []any:
			n := &node{}
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					return nil, invalid("%s.%s takes strings, got %v", arg, k, e)
				}
				c, err := fn(s)
				if err != nil {
					return nil, err
				}
				n.or = append(n.or, c)
			}
			return n, nil
		}
		return nil, invalid("%s.%s takes a string or a list of strings, got %v", arg, k, v)
	}
	switch {
	case k == "value":
		return eachString(func(s string) (*node, error) { return q.leaf(p, "", s) })
	case k == "and":
		l, ok := v.([]any)
		if !ok {
			return nil, invalid("%s.and takes a list of values that must all match", arg)
		}
		n := &node{}
		for _, e := range l {
			c, err := q.parseValue(p, e)
			if err != nil {
				return nil, err
			}
			n.and = append(n.and, c)
		}
		return n, nil
	case k == "missing":
		var b bool
		switch x := v.(type) {
		case bool:
			b = x
		case string:
			if x != "true" && x != "false" {
				return nil, invalid("%s.missing takes true or false, got %q", arg, x)
			}
			b = x == "true"
		default:
			return nil, invalid("%s.missing takes true or false", arg)
		}
		return &node{leaf: &cond{typ: q.Type, param: p, mod: "missing", value: strconv.FormatBool(b)}}, nil
	case prefixes[k]:
		if !ordered(p.Type) {
			return nil, invalid("%s is a %s parameter: prefix %s applies to number, date and quantity parameters only", arg, p.Type, k)
		}
		return eachString(func(s string) (*node, error) {
			if len(s) >= 2 && prefixes[s[:2]] {
				return nil, invalid("%s.%s: the value %q carries a second prefix", arg, k, s)
			}
			return q.leaf(p, "", k+s)
		})
	case p.Type == "reference" && model.SearchParams(k) != nil:
		if !targets(p, k) {
			return nil, invalid("%s cannot refer to %s (targets: %s)", arg, k, strings.Join(p.Targets, ", "))
		}
		if m, ok := v.(map[string]any); ok { // chained search
			sub, err := q.sub(k, m)
			if err != nil {
				return nil, fmt.Errorf("%s.%s: %w", arg, k, err)
			}
			if sub.Count != nil || sub.Offset != 0 || len(sub.Sort) > 0 || sub.Cursor != "" || sub.FHIRPath != "" {
				return nil, invalid("%s.%s: a chained search takes search parameters only", arg, k)
			}
			return &node{leaf: &cond{typ: q.Type, param: p, chain: sub, chainT: k}}, nil
		}
		return eachString(func(s string) (*node, error) { return q.leaf(p, k, s) })
	}
	allowed := modifiers[p.Type]
	for _, m := range allowed {
		if m == k {
			return eachString(func(s string) (*node, error) { return q.leaf(p, k, s) })
		}
	}
	return nil, invalid("%s is a %s parameter: unknown modifier or prefix %q (accepted: %s)", arg, p.Type, k, strings.Join(accepted(p), ", "))
}

func accepted(p *model.SearchParam) []string {
	out := []string{"value", "and", "missing"}
	if ordered(p.Type) {
		out = append(out, "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
	}
	out = append(out, modifiers[p.Type]...)
	if p.Type == "reference" {
		out = append(out, "a target type (:Type, or a chained search)")
	}
	return out
}

func ordered(t string) bool { return t == "date" || t == "number" || t == "quantity" }

func targets(p *model.SearchParam, typ string) bool {
	for _, t := range p.Targets {
		if t == typ {
			return true
		}
	}
	return false
}

// leaf checks a value against its parameter type now, so that a malformed value is an
// error even when another condition would have matched nothing.
func (q *Query) leaf(p *model.SearchParam, mod, value string) (*node, error) {
	c := &cond{typ: q.Type, param: p, mod: mod, value: value}
	if _, err := c.filter(&finderCtx{}); err != nil && !errors.Is(err, errNeedsFinder) {
		return nil, err
	}
	return &node{leaf: c}, nil
}

// parseHas parses _has: {SourceType: {referenceParam: {search args of SourceType}}},
// the GraphQL form of _has:SourceType:referenceParam:param=value.
// A list of such objects ANDs them, each its own reverse chain (a repeated _has in a URL).
func (q *Query) parseHas(v any) (*node, error) {
	if l, ok := v.([]any); ok {
		if len(l) == 0 {
			return nil, invalid("_has: an empty list has no condition")
		}
		n := &node{}
		for _, e := range l {
			if _, ok := e.(map[string]any); !ok {
				return nil, invalid("_has takes an object or a list of objects {SourceType: {referenceParameter: {search arguments}}}")
			}
			c, err := q.parseHas(e)
			if err != nil {
				return nil, err
			}
			n.and = append(n.and, c)
		}
		return n, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, invalid("_has takes an object {SourceType: {referenceParameter: {search arguments}}}")
	}
	n := &node{}
	for _, src := range slices.Sorted(maps.Keys(m)) {
		if model.SearchParams(src) == nil {
			return nil, invalid("_has: unknown resource type %q", src)
		}
		byParam, ok := m[src].(map[string]any)
		if !ok {
			return nil, invalid("_has.%s takes an object {referenceParameter: {search arguments}}", src)
		}
		for _, rp := range slices.Sorted(maps.Keys(byParam)) {
			p := paramByArg(src, rp)
			if p == nil || p.Type != "reference" {
				return nil, invalid("_has.%s: %q is not a reference parameter of %s", src, rp, src)
			}
			if !targets(p, q.Type) {
				return nil, invalid("_has.%s.%s cannot refer to %s", src, rp, q.Type)
			}
			sargs, ok := byParam[rp].(map[string]any)
			if !ok {
				return nil, invalid("_has.%s.%s takes an object of %s search arguments", src, rp, src)
			}
			sub, err := q.sub(src, sargs)
			if err != nil {
				return nil, fmt.Errorf("_has.%s.%s: %w", src, rp, err)
			}
			n.and = append(n.and, &node{leaf: &cond{typ: q.Type, has: &hasCond{source: src, param: p.Code, query: sub}}})
		}
	}
	return n, nil
}

// ParamOf finds typ's search parameter by code or by GraphQL argument name.
func ParamOf(typ, name string) *model.SearchParam { return paramByArg(typ, name) }

// Uses calls fn for each search parameter q filters or sorts by, with the resource type
// it belongs to and the modifier it is used with (ModSort when it sorts, ModMissing for
// :missing, "" when plain), chained and reverse-chained (_has) searches included, and with
// a nil parameter for each further type those sub-searches run over. Authorisation reads it:
// filtering or sorting by a parameter reads the fields behind it.
func (q *Query) Uses(fn func(typ string, p *model.SearchParam, mod string)) {
	for _, k := range q.Sort {
		fn(q.Type, k.Param, ModSort)
	}
	q.root.uses(fn)
}

func (n *node) uses(fn func(typ string, p *model.SearchParam, mod string)) {
	if n == nil {
		return
	}
	for _, c := range n.and {
		c.uses(fn)
	}
	for _, c := range n.or {
		c.uses(fn)
	}
	c := n.leaf
	if c == nil {
		return
	}
	if c.param != nil {
		mod := c.mod
		if model.IsResourceType(mod) { // reference:Type reads the reference like a plain search
			mod = ""
		}
		fn(c.typ, c.param, mod)
	}
	if c.chain != nil {
		fn(c.chain.Type, nil, "")
		c.chain.Uses(fn)
	}
	if h := c.has; h != nil {
		fn(h.source, nil, "")
		if p := paramByArg(h.source, ArgName(h.param)); p != nil {
			fn(h.source, p, "")
		}
		if h.query != nil {
			h.query.Uses(fn)
		}
	}
}
