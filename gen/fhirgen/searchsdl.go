package main

import (
	"fmt"
	"regexp"
	"strings"
)

// searchScalars documents the scalar each search parameter type takes. One Go type
// (search.Value) carries them all; the scalars exist so that GraphiQL shows each
// parameter's syntax.
var searchScalars = []struct{ Type, Name, Doc string }{
	{"string", "StringSearch", "A string search: starts-with, case- and accent-insensitive (\"chalm\"). A list ORs; an object ANDs its keys: {exact: \"Chalmers\"}, {contains: \"alm\"}, {missing: true}, {and: [\"a\", \"b\"]}."},
	{"token", "TokenSearch", "A token search: \"code\", \"system|code\", \"|code\" (no system) or \"system|\". A list ORs; an object ANDs its keys: {not: \"...\"}, {text: \"...\"}, {of_type: \"system|code|value\"}, {missing: true}, {and: [...]}."},
	{"date", "DateSearch", "A date search with optional prefix eq ne gt lt ge le sa eb ap and the value's own precision: \"1970\" matches all of 1970; \"ge1970-05\". Typed form: {ge: \"1970\", lt: \"1980\"}. A list ORs."},
	{"number", "NumberSearch", "A number search with optional prefix eq ne gt lt ge le sa eb ap; \"100\" matches 99.5 to 100.5, \"100.00\" 99.995 to 100.005. Typed form: {gt: \"5\"}. A list ORs."},
	{"quantity", "QuantitySearch", "A quantity search: [prefix]number[|system|code] or [prefix]number||unit, e.g. \"gt5.4|http://unitsofmeasure.org|mg\". Typed form: {le: \"100||kg\"}. A list ORs."},
	{"reference", "ReferenceSearch", "A reference search: \"Type/id\", \"id\" or an absolute or canonical URL. An object ANDs its keys: {Patient: \"id\"} (the :Type modifier), {Patient: {name: \"peter\"}} (a chained search on the target type), {identifier: \"system|value\"}, {missing: true}."},
	{"uri", "UriSearch", "A uri search: exact by default; {below: \"http://acme.org/fhir\"} matches URIs under it, {above: \"...\"} URIs it starts with. A list ORs."},
	{"composite", "CompositeSearch", "A composite search: the components' values joined by $, e.g. \"http://loinc.org|8480-6$gt100\". A list ORs."},
	{"special", "SpecialSearch", "A special search; near takes latitude|longitude|distance|unit (km, m or mi)."},
}

// HasSearch is the scalar of _has.
const hasScalarDoc = "Reverse chaining (_has): {SourceType: {referenceParameter: {search arguments of SourceType}}}; matches resources that a SourceType matching the arguments refers to through that parameter. Keys AND."

const paramsScalarDoc = "Search arguments as an object: {name: value}, each name a search parameter with - replaced by _ and each value as the parameter's typed argument takes it. XList and XConnection take it as _filter, for any parameter (such as _source beside source) that has no argument of its own."

func searchScalar(ptype string) string {
	for _, s := range searchScalars {
		if s.Type == ptype {
			return s.Name
		}
	}
	panic("no search scalar for parameter type " + ptype)
}

var graphqlNameRE = regexp.MustCompile(`^[_A-Za-z][_0-9A-Za-z]*$`)

// argName is a search parameter's GraphQL argument name: "-" becomes "_".
func argName(code string) string {
	n := strings.ReplaceAll(code, "-", "_")
	if !graphqlNameRE.MatchString(n) {
		panic(fmt.Sprintf("search parameter %q has no GraphQL argument name", code))
	}
	return n
}

// paramsOf returns the search parameters of a resource type, sorted by code.
func (d *Defs) paramsOf(typ string) []SearchParam {
	var out []SearchParam
	for _, p := range d.Search {
		if p.Resource == typ {
			out = append(out, p)
		}
	}
	return out
}

// typedParams returns the parameters of typ that get their own argument. gqlgen names
// the Go variable of an argument _x like that of x, so where both exist (AuditEvent has
// source and _source) the underscored one is left to the _filter argument.
func (d *Defs) typedParams(typ string) []SearchParam {
	all := d.paramsOf(typ)
	names := map[string]bool{}
	for _, p := range all {
		names[argName(p.Code)] = true
	}
	var out []SearchParam
	for _, p := range all {
		n := argName(p.Code)
		if strings.HasPrefix(n, "_") && names[strings.TrimLeft(n, "_")] {
			continue
		}
		out = append(out, p)
	}
	return out
}

// searchArgs writes the search arguments of type typ, one per parameter, with docs.
func (w *sdlWriter) searchArgs(typ string) {
	for _, p := range w.defs.typedParams(typ) {
		doc := p.Type + " search parameter"
		if p.Expression != "" {
			doc += ": " + p.Expression
		}
		w.p("    %s\n    %s: [%s]\n", sdlString(doc), argName(p.Code), searchScalar(p.Type))
	}
}

// searchRoots writes XList and XConnection and the connection types of a resource type.
func (w *sdlWriter) searchRoots(n string) {
	w.p("  %s\n  %sList(\n", sdlString("Searches "+n+" resources: every match, or an error when more match than the server's list limit (or than _count after _offset). Arguments AND; a list inside one ORs."), n)
	w.searchArgs(n)
	w.p("    _count: Int\n    _offset: Int\n    \"Sort keys: parameter names, - before a name for descending.\"\n    _sort: [String]\n    _has: HasSearch\n    _filter: SearchParams\n    \"A FHIRPath expression each result must satisfy.\"\n    fhirpath: String\n  ): [%s]\n", n)
	w.p("  %s\n  %sConnection(\n", sdlString("Searches "+n+" resources one page at a time. _cursor takes first, previous, next or last from a page of the same search."), n)
	w.searchArgs(n)
	w.p("    _count: Int\n    _offset: Int\n    _sort: [String]\n    _has: HasSearch\n    _filter: SearchParams\n    _cursor: String\n    \"none, estimate or accurate: whether count is computed.\"\n    _total: String\n  ): %sConnection\n", n)
}

func (w *sdlWriter) connectionTypes(n string) {
	w.p("%s\ntype %sConnection {\n", sdlString("A page of "+n+" search results."), n)
	w.connectionFields()
	w.p("  edges: [%sEdge!]!\n}\n\n", n)
	w.p("%s\ntype %sEdge {\n  \"match\"\n  mode: String\n  score: Float\n  resource: %s\n}\n\n", sdlString("One "+n+" of a search page."), n, n)
}

func (w *sdlWriter) connectionFields() {
	w.p("  \"How many resources match (null when _total is none).\"\n  count: Int\n")
	w.p("  \"The position of this page's first resource among all matches.\"\n  offset: Int\n")
	w.p("  pagesize: Int!\n")
	w.p("  \"Cursors for _cursor; previous and next are null at the ends.\"\n  first: String\n  previous: String\n  next: String\n  last: String\n")
}

// reverseFields writes the reverse-reference fields of a resource type. The FHIR GraphQL
// form, ConditionList(_reference: patient, ...) inside a Patient, exists for 5,550
// (source type, reference parameter) pairs in R4; typed fields for each would make the
// executor millions of lines. The server rewrites that form into these two generic
// fields before validation (see package api), so queries use the spec's form.
func (w *sdlWriter) reverseFields(n string) {
	w.p("extend type %s {\n", n)
	w.p("  %s\n  _reverse(type: ResourceType!, _reference: String!, _params: SearchParams, _count: Int, _offset: Int, _sort: [String]): [Resource!] @goField(name: \"ReverseList\")\n",
		sdlString("Resources of type that refer to this one through search parameter _reference; queries write this as TypeList(_reference: param, ...)."))
	w.p("  %s\n  _reverseConnection(type: ResourceType!, _reference: String!, _params: SearchParams, _count: Int, _offset: Int, _sort: [String], _cursor: String, _total: String): ResourceConnection @goField(name: \"ReverseConnection\")\n",
		sdlString("A page of the resources of type that refer to this one; queries write this as TypeConnection(_reference: param, ...)."))
	w.p("}\n\n")
}

// searchBase writes the shared search scalars and the generic connection types.
func (w *sdlWriter) searchBase() {
	for _, s := range searchScalars {
		w.p("%s\nscalar %s\n\n", sdlString(s.Doc), s.Name)
	}
	w.p("%s\nscalar HasSearch\n\n%s\nscalar SearchParams\n\n", sdlString(hasScalarDoc), sdlString(paramsScalarDoc))
	w.p("%s\ntype ResourceConnection {\n", sdlString("A page of search results of any resource type."))
	w.connectionFields()
	w.p("  edges: [ResourceEdge!]!\n}\n\n")
	w.p("%s\ntype ResourceEdge {\n  mode: String\n  score: Float\n  resource: Resource\n}\n\n", sdlString("One resource of a search page."))
}
