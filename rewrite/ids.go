package rewrite

import (
	"regexp"
	"slices"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

// IDLiterals accepts the FHIR GraphQL specification's sample queries that write an id as a bare
// name, Patient(id: example): GraphQL reads `example` as an enum value, which an ID argument
// refuses. Before validation, an enum value given to an argument of type ID (or a list of IDs)
// becomes the string of the same text; true, false and null stay what they are. It is safe for
// concurrent use.
type IDLiterals struct {
	schema *ast.Schema
	// mention matches an argument of type ID given a name: a cheap test before parsing.
	mention *regexp.Regexp
}

// NewIDLiterals returns the rewrite of ID arguments of schema.
func NewIDLiterals(schema *ast.Schema) *IDLiterals {
	names := map[string]bool{}
	for _, def := range schema.Types {
		for _, f := range def.Fields {
			for _, a := range f.Arguments {
				if a.Type.Name() == "ID" {
					names[a.Name] = true
				}
			}
		}
	}
	quoted := make([]string, 0, len(names))
	for n := range names {
		quoted = append(quoted, regexp.QuoteMeta(n))
	}
	slices.Sort(quoted)
	re := `\b(?:` + strings.Join(quoted, "|") + `)\s*:\s*\[?\s*[_A-Za-z]`
	if len(quoted) == 0 {
		re = `$^`
	}
	return &IDLiterals{schema: schema, mention: regexp.MustCompile(re)}
}

// Mentions reports whether query may give an ID argument a bare name; when it does not, it need
// not be parsed.
func (r *IDLiterals) Mentions(query string) bool { return r.mention.MatchString(query) }

// Rewrite turns the enum values given to ID arguments in doc into strings, in place, and reports
// whether it changed any. Fields the schema does not know are left for validation to report.
func (r *IDLiterals) Rewrite(doc *ast.QueryDocument) bool {
	w := &idWriter{IDLiterals: r, seen: map[*ast.Field]bool{}}
	for _, op := range doc.Operations {
		var root *ast.Definition
		switch op.Operation {
		case ast.Mutation:
			root = r.schema.Mutation
		case ast.Subscription:
			root = r.schema.Subscription
		default:
			root = r.schema.Query
		}
		if root != nil {
			w.set(op.SelectionSet, root.Name)
		}
	}
	for _, frag := range doc.Fragments {
		w.set(frag.SelectionSet, frag.TypeCondition)
	}
	return w.changed
}

type idWriter struct {
	*IDLiterals
	seen    map[*ast.Field]bool // fields shared between fragments are rewritten once
	changed bool
}

func (w *idWriter) set(set ast.SelectionSet, typeName string) {
	parent := w.schema.Types[typeName]
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if parent == nil || w.seen[s] {
				continue
			}
			w.seen[s] = true
			def := parent.Fields.ForName(s.Name)
			if def == nil {
				continue
			}
			for _, a := range s.Arguments {
				if ad := def.Arguments.ForName(a.Name); ad != nil && ad.Type.Name() == "ID" {
					w.value(a.Value)
				}
			}
			w.set(s.SelectionSet, def.Type.Name())
		case *ast.InlineFragment:
			cond := s.TypeCondition
			if cond == "" {
				cond = typeName
			}
			w.set(s.SelectionSet, cond)
		}
	}
}

// value turns an enum value, or the enum values of a list, into strings.
func (w *idWriter) value(v *ast.Value) {
	if v == nil {
		return
	}
	switch v.Kind {
	case ast.EnumValue:
		v.Kind = ast.StringValue
		w.changed = true
	case ast.ListValue:
		for _, c := range v.Children {
			w.value(c.Value)
		}
	}
}
