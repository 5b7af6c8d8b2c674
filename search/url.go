package search

import (
	"maps"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/fhirgate/fhirgate/model"
)

// ResultParams are the FHIR search parameters that shape the answer rather than filter it.
// ParseURL skips them (with any modifier, such as _include:iterate); the REST layer reads them.
var ResultParams = []string{"_include", "_revinclude", "_summary", "_elements", "_format", "_pretty", "_contained", "_containedType"}

// urlModifiers maps the modifiers of FHIR search syntax to the keys search.Parse takes.
var urlModifiers = map[string]string{
	"exact": "exact", "contains": "contains", "text": "text", "not": "not", "of-type": "of_type",
	"in": "in", "not-in": "not_in", "above": "above", "below": "below", "identifier": "identifier",
	"missing": "missing",
}

// urlControls are the control parameters ParseURL passes to Parse as they come; each may
// appear once.
var urlControls = map[string]bool{ArgCount: true, ArgOffset: true, ArgSort: true, ArgTotal: true, ArgCursor: true}

// ParseURL turns the query parameters of a FHIR search over typ (GET /fhir/typ?... or the
// form body of POST _search) into a Query. It reads FHIR search syntax:
//
//   - name=value and name:modifier=value (modifiers as FHIR spells them: of-type, not-in,
//     missing, a target type on a reference);
//   - a comma separates values that are ORed ("\," is a literal comma, "\\" a backslash;
//     other escapes such as "\|" reach the parameter's own syntax unchanged);
//   - a repeated name is ANDed, each occurrence on its own;
//   - prefixes inside values (date=ge2020-01-01), as the parameter type takes them;
//   - chains: subject:Patient.name=x, and subject.name=x when subject has one target type;
//   - reverse chains: _has:Observation:patient:code=x, nested;
//   - _sort=-date,name, _count, _offset, _total, _id, _lastUpdated; _cursor as the REST
//     layer's paging links carry it.
//
// The result parameters (see [ResultParams]) are skipped. A parameter with an empty value
// is ignored, as FHIR says. _filter is ErrUnsupported; an unknown parameter, modifier or
// malformed value is an ErrInvalid error naming the parameter.
func ParseURL(typ string, q url.Values) (*Query, error) {
	if model.SearchParams(typ) == nil {
		return nil, invalid("unknown resource type %q", typ)
	}
	args, err := urlArgs(typ, q)
	if err != nil {
		return nil, err
	}
	return Parse(typ, args)
}

// ParseCriteria parses a FHIR search with its type, such as
// "Observation?code=http://loinc.org|4548-4&subject=Patient/123" (the form of conditional
// references, subscription criteria and conditional writes). A bare type searches every
// resource of it.
func ParseCriteria(s string) (typ string, q *Query, err error) {
	typ, query, _ := strings.Cut(s, "?")
	if !model.IsResourceType(typ) {
		return "", nil, invalid("search criteria %q do not start with a resource type", clip(typ))
	}
	vals, err := url.ParseQuery(query)
	if err != nil {
		return "", nil, invalid("search criteria for %s are not a valid query string", typ)
	}
	q, err = ParseURL(typ, vals)
	if err != nil {
		return "", nil, err
	}
	return typ, q, nil
}

// IsResultParam reports whether the URL parameter name (with or without a modifier) is one
// of [ResultParams].
func IsResultParam(name string) bool {
	base, _, _ := strings.Cut(name, ":")
	return slices.Contains(ResultParams, base)
}

// urlArgs builds Parse's argument map from URL parameters, in a deterministic order.
func urlArgs(typ string, q url.Values) (map[string]any, error) {
	args := map[string]any{}
	occurrences := map[string][]any{}
	for _, key := range slices.Sorted(maps.Keys(q)) {
		if IsResultParam(key) {
			continue
		}
		switch key {
		case ArgFilter:
			return nil, unsupported("_filter (the FHIR filter expression language); use search parameters")
		case ArgFHIRPath, ArgReference:
			return nil, invalid("%s has no search parameter %q", typ, clip(key))
		}
		if urlControls[key] {
			if len(q[key]) > 1 {
				return nil, invalid("%s may appear once", key)
			}
			if v := q[key][0]; v != "" {
				args[key] = v
			}
			continue
		}
		for _, raw := range q[key] {
			if raw == "" {
				continue
			}
			name, v, err := urlTerm(typ, key, raw, 0)
			if err != nil {
				return nil, err
			}
			occurrences[name] = append(occurrences[name], v)
		}
	}
	for name, vs := range occurrences {
		args[name] = combine(name, vs)
	}
	return args, nil
}

// combine joins the occurrences of one argument: _has conditions as a list (each its own
// reverse chain), others under "and" (each its own condition).
func combine(name string, vs []any) any {
	if len(vs) == 1 {
		return vs[0]
	}
	if name == ArgHas {
		return vs
	}
	return map[string]any{"and": vs}
}

// urlTerm turns one URL parameter occurrence key=raw of a search over typ into Parse's
// argument name and value. depth counts the chains and _has it is nested in.
func urlTerm(typ, key, raw string, depth int) (string, any, error) {
	if depth > MaxChainDepth {
		return "", nil, invalid("chained and _has searches nest %d levels deep at most", MaxChainDepth)
	}
	if rest, ok := strings.CutPrefix(key, ArgHas+":"); ok {
		return hasTerm(typ, rest, raw, depth)
	}
	if key == ArgHas {
		return "", nil, invalid("_has takes the form _has:Type:reference:parameter=value")
	}
	head, tail, chained := strings.Cut(key, ".")
	name, mod, hasMod := strings.Cut(head, ":")
	p := lookup(typ, name)
	if p == nil || urlControls[name] {
		return "", nil, invalid("%s has no search parameter %q", typ, clip(name))
	}
	if hasMod && mod == "" {
		return "", nil, invalid("%s: empty modifier", name)
	}
	if chained {
		return chainTerm(typ, p, mod, tail, raw, depth)
	}
	form, err := orValues(name, raw)
	if err != nil {
		return "", nil, err
	}
	switch {
	case mod == "":
		return name, form, nil
	case mod == "missing":
		return name, map[string]any{"missing": raw}, nil
	case urlModifiers[mod] != "":
		return name, map[string]any{urlModifiers[mod]: form}, nil
	case p.Type == "reference" && model.IsResourceType(mod):
		return name, map[string]any{mod: form}, nil
	}
	return "", nil, invalid("%s: unknown modifier %q", name, clip(mod))
}

// chainTerm turns a chained parameter (p:Type.tail or p.tail) into {Type: {tail args}}.
func chainTerm(typ string, p *model.SearchParam, target, tail, raw string, depth int) (string, any, error) {
	if p.Type != "reference" {
		return "", nil, invalid("%s is a %s parameter: only reference parameters chain", p.Code, p.Type)
	}
	if target == "" {
		if len(p.Targets) != 1 {
			return "", nil, invalid("%s refers to several types (%s): name one, as in %s:%s.%s", p.Code, strings.Join(p.Targets, ", "), p.Code, firstOr(p.Targets, "Type"), clip(tail))
		}
		target = p.Targets[0]
	}
	if !model.IsResourceType(target) {
		return "", nil, invalid("%s: a chain names a resource type, not %q", p.Code, clip(target))
	}
	if tail == "" {
		return "", nil, invalid("%s:%s: the chain names no parameter", p.Code, target)
	}
	subName, subV, err := urlTerm(target, tail, raw, depth+1)
	if err != nil {
		return "", nil, err
	}
	return p.Code, map[string]any{target: map[string]any{subName: subV}}, nil
}

// hasTerm turns _has:Source:reference:rest into {Source: {reference: {rest args}}}.
func hasTerm(typ, spec, raw string, depth int) (string, any, error) {
	parts := strings.SplitN(spec, ":", 3)
	if len(parts) < 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", nil, invalid("_has takes the form _has:Type:reference:parameter=value")
	}
	src, ref, rest := parts[0], parts[1], parts[2]
	if !model.IsResourceType(src) {
		return "", nil, invalid("_has: unknown resource type %q", clip(src))
	}
	subName, subV, err := urlTerm(src, rest, raw, depth+1)
	if err != nil {
		return "", nil, err
	}
	return ArgHas, map[string]any{src: map[string]any{ref: map[string]any{subName: subV}}}, nil
}

// orValues splits the value of parameter name on its unescaped commas: one string, or a
// list ORed.
func orValues(name, raw string) (any, error) {
	if !strings.Contains(raw, ",") && !strings.Contains(raw, `\`) {
		return raw, nil
	}
	var out []any
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '\\' && i+1 < len(raw) && (raw[i+1] == ',' || raw[i+1] == '\\'):
			i++
			b.WriteByte(raw[i])
		case c == '\\' && i+1 < len(raw):
			// Another escape belongs to the parameter's syntax (\| and \$): keep it whole.
			b.WriteByte(c)
			i++
			b.WriteByte(raw[i])
		case c == ',':
			out = append(out, b.String())
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	out = append(out, b.String())
	for _, v := range out {
		if v == "" {
			return nil, invalid("%s: an empty value between commas", name)
		}
	}
	if len(out) == 1 {
		return out[0], nil
	}
	return out, nil
}

func firstOr(l []string, def string) string {
	if len(l) > 0 {
		return l[0]
	}
	return def
}

// clip bounds client text quoted back in an error message.
func clip(s string) string {
	const maxLen = 64
	if len(s) <= maxLen {
		return s
	}
	cut := maxLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
