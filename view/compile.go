package view

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/fhirgate/fhirgate/fhirpath"
	"github.com/fhirgate/fhirgate/model"
)

// sqlName is the specification's sql-name invariant, for the view's, columns' and constants'
// names: usable as table and column names in most databases.
var sqlName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// rowIndexVar is the specification's environment variable %rowIndex.
const rowIndexVar = "rowIndex"

// Keys every element may carry (FHIR's Element and BackboneElement).
var elementKeys = []string{"id", "extension", "modifierExtension"}

// The keys of the ViewDefinition (a CanonicalResource) and of its parts.
var (
	viewKeys = []string{
		"resourceType", "id", "meta", "implicitRules", "language", "text", "contained", "extension",
		"modifierExtension", "url", "identifier", "version", "versionAlgorithmString",
		"versionAlgorithmCoding", "name", "title", "status", "experimental", "date", "publisher",
		"contact", "description", "useContext", "jurisdiction", "purpose", "copyright",
		"copyrightLabel", "resource", "profile", "fhirVersion", "constant", "select", "where",
	}
	selectKeys   = append([]string{"column", "select", "forEach", "forEachOrNull", "repeat", "unionAll"}, elementKeys...)
	columnKeys   = append([]string{"name", "path", "description", "collection", "type", "tag", "tags"}, elementKeys...)
	whereKeys    = append([]string{"path", "description"}, elementKeys...)
	tagKeys      = append([]string{"name", "value"}, elementKeys...)
	constantKeys = append([]string{"name"}, elementKeys...) // and one value[x]
)

// iteration is how a selection chooses the nodes it makes rows of.
type iteration int

const (
	iterNone          iteration = iota // the parent's node
	iterForEach                        // each node forEach yields
	iterForEachOrNull                  // the same, or one row of nulls when there are none
	iterRepeat                         // every node the repeat paths reach, at any depth
)

// selection is a compiled select (or unionAll branch).
type selection struct {
	label string // select[0].select[1], for messages
	iter  iteration
	// iterLabel names the iteration's key: select[0].forEach, select[0].repeat.
	iterLabel string
	// iterExprs is the forEach or forEachOrNull expression, or repeat's expressions.
	iterExprs []*fhirpath.Expr
	columns   []colExpr
	selects   []*selection
	unionAll  []*selection
	// positions are the output columns this selection's rows bind, in column order.
	positions []int
	// rowIndexPositions are those among positions whose path is %rowIndex: 0, not null, in a
	// forEachOrNull's null row.
	rowIndexPositions []int
}

// colExpr is a compiled column.
type colExpr struct {
	pos        int    // in View.Columns
	label      string // select[0].column[1].path
	name       string
	expr       *fhirpath.Expr
	collection bool
}

// compiler holds what compiling one ViewDefinition gathers.
type compiler struct {
	resource  string
	constants map[string][]fhirpath.Value
	columns   []Column
}

// assigner gives a compiled column its output position: a new one, or, in a unionAll branch
// after the first, the position of the first branch's column at the same place.
type assigner func(label string, col Column) (int, error)

func (c *compiler) view(def map[string]any) (*View, error) {
	if err := checkKeys(def, "", viewKeys); err != nil {
		return nil, err
	}
	if rt, ok := def["resourceType"]; ok && rt != "ViewDefinition" {
		return nil, fmt.Errorf("resourceType: %s, not ViewDefinition", describe(rt))
	}
	name, err := optString(def, "name", "name")
	if err != nil {
		return nil, err
	}
	if name != "" && !sqlName.MatchString(name) {
		return nil, fmt.Errorf("name: %q is not a SQL name (a letter, then letters, digits and underscores)", name)
	}
	res, err := reqString(def, "resource", "resource")
	if err != nil {
		return nil, err
	}
	if !model.IsResourceType(res) {
		return nil, fmt.Errorf("resource: %q is not an R4 resource type", res)
	}
	c.resource = res
	if c.constants, err = constants(def["constant"]); err != nil {
		return nil, err
	}
	selects, err := objects(def, "select", "select")
	if err != nil {
		return nil, err
	}
	if len(selects) == 0 {
		return nil, fmt.Errorf("select: a view needs at least one select")
	}
	root := &selection{label: ""}
	for i, raw := range selects {
		s, err := c.selection(raw, fmt.Sprintf("select[%d]", i), []string{res}, c.newColumn)
		if err != nil {
			return nil, err
		}
		root.selects = append(root.selects, s)
		root.positions = append(root.positions, s.positions...)
	}
	where, err := c.where(def)
	if err != nil {
		return nil, err
	}
	for i := range c.columns {
		if c.columns[i].Kind, err = kindOf(c.columns[i]); err != nil {
			return nil, fmt.Errorf("column %q: %s", c.columns[i].Name, err)
		}
	}
	return &View{Name: name, Resource: res, Columns: c.columns, root: root, where: where, constants: c.constants}, nil
}

// selection compiles the select raw at label, evaluated on nodes of the types foci.
func (c *compiler) selection(raw any, label string, foci []string, assign assigner) (*selection, error) {
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: %s, not an object", label, describe(raw))
	}
	if err := checkKeys(m, label, selectKeys); err != nil {
		return nil, err
	}
	s := &selection{label: label}
	inner, err := c.iteration(s, m, foci)
	if err != nil {
		return nil, err
	}
	cols, err := objects(m, "column", label+".column")
	if err != nil {
		return nil, err
	}
	for i, rc := range cols {
		col, err := c.column(rc, fmt.Sprintf("%s.column[%d]", label, i), inner, assign)
		if err != nil {
			return nil, err
		}
		s.columns = append(s.columns, col)
		s.positions = append(s.positions, col.pos)
		if strings.TrimSpace(c.columns[col.pos].Path) == "%"+rowIndexVar {
			s.rowIndexPositions = append(s.rowIndexPositions, col.pos)
		}
	}
	subs, err := objects(m, "select", label+".select")
	if err != nil {
		return nil, err
	}
	for i, rs := range subs {
		sub, err := c.selection(rs, fmt.Sprintf("%s.select[%d]", label, i), inner, assign)
		if err != nil {
			return nil, err
		}
		s.selects = append(s.selects, sub)
		s.adopt(sub)
	}
	if err := c.unionAll(s, m, inner, assign); err != nil {
		return nil, err
	}
	if len(s.positions) == 0 {
		return nil, fmt.Errorf("%s: has no column, select or unionAll giving a column", label)
	}
	return s, nil
}

// adopt adds the columns of a nested selection (or of a union's first branch) to s's.
func (s *selection) adopt(sub *selection) {
	s.positions = append(s.positions, sub.positions...)
	s.rowIndexPositions = append(s.rowIndexPositions, sub.rowIndexPositions...)
}

// iteration compiles s's forEach, forEachOrNull or repeat, and returns the types of the nodes
// its columns and nested selects are evaluated on.
func (c *compiler) iteration(s *selection, m map[string]any, foci []string) ([]string, error) {
	var present []string
	for _, k := range []string{"forEach", "forEachOrNull", "repeat"} {
		if _, ok := m[k]; ok {
			present = append(present, k)
		}
	}
	switch len(present) {
	case 0:
		return foci, nil
	case 1:
	default:
		return nil, fmt.Errorf("%s: has %s; a select may have only one of forEach, forEachOrNull and repeat", s.label, strings.Join(present, " and "))
	}
	key := present[0]
	label := s.label + "." + key
	s.iterLabel = label
	if key == "repeat" {
		return c.repeat(s, m, label, foci)
	}
	s.iter = iterForEach
	if key == "forEachOrNull" {
		s.iter = iterForEachOrNull
	}
	path, err := reqString(m, key, label)
	if err != nil {
		return nil, err
	}
	e, types, err := c.expr(label, path, foci)
	if err != nil {
		return nil, err
	}
	s.iterExprs = []*fhirpath.Expr{e}
	return types, nil
}

// maxRepeatTypes bounds the rounds of type inference through repeat's paths: the types of
// the nodes reached stop changing after a few rounds in any real structure.
const maxRepeatTypes = 32

// repeat compiles s's repeat paths; the nodes they reach, at any depth, have the types reached
// by applying them again and again.
func (c *compiler) repeat(s *selection, m map[string]any, label string, foci []string) ([]string, error) {
	list, ok := m["repeat"].([]any)
	if !ok || len(list) == 0 {
		return nil, fmt.Errorf("%s: %s, not a non-empty list of FHIRPath expressions", label, describe(m["repeat"]))
	}
	s.iter = iterRepeat
	for i, raw := range list {
		path, ok := raw.(string)
		if !ok || strings.TrimSpace(path) == "" {
			return nil, fmt.Errorf("%s[%d]: %s, not a FHIRPath expression", label, i, describe(raw))
		}
		e, _, err := c.expr(fmt.Sprintf("%s[%d]", label, i), path, nil)
		if err != nil {
			return nil, err
		}
		s.iterExprs = append(s.iterExprs, e)
	}
	// Each path applies to the nodes it reaches and to those the others reach (answer.item
	// below an item, not on the resource): it must apply to some type among them.
	var reached []string
	frontier := foci
	errs := make([]error, len(s.iterExprs))
	applies := make([]bool, len(s.iterExprs))
	for round := 0; len(frontier) > 0; round++ {
		if round == maxRepeatTypes {
			return nil, fmt.Errorf("%s: the paths reach values of ever more types", label)
		}
		var next []string
		for i, e := range s.iterExprs {
			types, err := c.types(fmt.Sprintf("%s[%d]", label, i), e, frontier)
			if err != nil {
				errs[i] = err
				continue
			}
			applies[i] = true
			for _, t := range types {
				if !slices.Contains(reached, t) {
					reached = append(reached, t)
					next = append(next, t)
				}
			}
		}
		frontier = next
	}
	for i, err := range errs {
		if !applies[i] && err != nil {
			return nil, err
		}
	}
	return reached, nil
}

// unionAll compiles s's unionAll branches: the first gives the columns, each other branch
// must give the same names in the same order (the specification's "Union Branches
// Inconsistent"), of the same declared types and collection flags.
func (c *compiler) unionAll(s *selection, m map[string]any, foci []string, assign assigner) error {
	if _, ok := m["unionAll"]; !ok {
		return nil
	}
	label := s.label + ".unionAll"
	branches, err := objects(m, "unionAll", label)
	if err != nil {
		return err
	}
	if len(branches) == 0 {
		return fmt.Errorf("%s: an empty unionAll", label)
	}
	first, err := c.selection(branches[0], label+"[0]", foci, assign)
	if err != nil {
		return err
	}
	s.unionAll = append(s.unionAll, first)
	for k := 1; k < len(branches); k++ {
		bl := fmt.Sprintf("%s[%d]", label, k)
		u := &unionColumns{c: c, label: bl, want: first.positions}
		b, err := c.selection(branches[k], bl, foci, u.assign)
		if err != nil {
			return err
		}
		if u.next < len(u.want) {
			return fmt.Errorf("%s: gives %d columns where %s[0] gives %d (%s); the branches of a unionAll must give the same columns", bl, u.next, label, len(u.want), c.names(u.want))
		}
		s.unionAll = append(s.unionAll, b)
	}
	s.adopt(first)
	return nil
}

// unionColumns assigns the columns of a unionAll branch after the first to the positions of
// the first branch's, in order, checking that they match.
type unionColumns struct {
	c     *compiler
	label string
	want  []int
	next  int
}

func (u *unionColumns) assign(label string, col Column) (int, error) {
	if u.next >= len(u.want) {
		return 0, fmt.Errorf("%s: column %q is one more than the first branch of the unionAll gives (%s); the branches of a unionAll must give the same columns", label, col.Name, u.c.names(u.want))
	}
	pos := u.want[u.next]
	u.next++
	have := &u.c.columns[pos]
	switch {
	case col.Name != have.Name:
		return 0, fmt.Errorf("%s.name: %q where the first branch of the unionAll has %q; the branches of a unionAll must give the same columns in the same order", label, col.Name, have.Name)
	case col.Collection != have.Collection:
		return 0, fmt.Errorf("%s.collection: column %q is a collection in one branch of the unionAll and not in another", label, col.Name)
	case col.Declared && have.Declared && col.Type != have.Type:
		return 0, fmt.Errorf("%s.type: column %q is of type %s here and %s in the first branch of the unionAll", label, col.Name, col.Type, have.Type)
	}
	switch {
	case col.Declared && !have.Declared:
		have.Type, have.Declared = col.Type, true
	case !have.Declared && have.Type != col.Type:
		have.Type = "" // inferred differently in two branches: a value of either
	}
	return pos, nil
}

// newColumn assigns a column a new position, refusing a name already used (the
// specification's "Column Already Defined").
func (c *compiler) newColumn(label string, col Column) (int, error) {
	for _, have := range c.columns {
		if have.Name == col.Name {
			return 0, fmt.Errorf("%s.name: column %q is already defined; column names must be unique", label, col.Name)
		}
	}
	c.columns = append(c.columns, col)
	return len(c.columns) - 1, nil
}

// names lists the names of the columns at positions.
func (c *compiler) names(positions []int) string {
	var out []string
	for _, p := range positions {
		out = append(out, c.columns[p].Name)
	}
	return strings.Join(out, ", ")
}

// column compiles the column raw at label, evaluated on nodes of the types foci.
func (c *compiler) column(raw map[string]any, label string, foci []string, assign assigner) (colExpr, error) {
	if err := checkKeys(raw, label, columnKeys); err != nil {
		return colExpr{}, err
	}
	name, err := reqString(raw, "name", label+".name")
	if err != nil {
		return colExpr{}, err
	}
	if !sqlName.MatchString(name) {
		return colExpr{}, fmt.Errorf("%s.name: %q is not a SQL name (a letter, then letters, digits and underscores)", label, name)
	}
	path, err := reqString(raw, "path", label+".path")
	if err != nil {
		return colExpr{}, err
	}
	col := Column{Name: name, Path: path}
	if col.Description, err = optString(raw, "description", label+".description"); err != nil {
		return colExpr{}, err
	}
	if v, ok := raw["collection"]; ok {
		if col.Collection, ok = v.(bool); !ok {
			return colExpr{}, fmt.Errorf("%s.collection: %s, not a boolean", label, describe(v))
		}
	}
	if col.Tags, err = tags(raw, label); err != nil {
		return colExpr{}, err
	}
	e, types, err := c.expr(label+".path", path, foci)
	if err != nil {
		return colExpr{}, err
	}
	declared, err := optString(raw, "type", label+".type")
	if err != nil {
		return colExpr{}, err
	}
	if declared != "" {
		t, err := columnType(declared)
		if err != nil {
			return colExpr{}, fmt.Errorf("%s.type: %s", label, err)
		}
		if err := fits(t, types); err != nil {
			return colExpr{}, fmt.Errorf("%s.type: column %q: %s", label, name, err)
		}
		col.Type, col.Declared = t, true
	} else {
		col.Type = inferred(types)
	}
	pos, err := assign(label, col)
	if err != nil {
		return colExpr{}, err
	}
	return colExpr{pos: pos, label: label + ".path", name: name, expr: e, collection: col.Collection}, nil
}

// tags reads a column's tags ("tag" in the model; the specification's own examples spell
// it "tags", which is read alike).
func tags(raw map[string]any, label string) ([]Tag, error) {
	var out []Tag
	for _, key := range []string{"tag", "tags"} {
		list, err := objects(raw, key, label+"."+key)
		if err != nil {
			return nil, err
		}
		for i, t := range list {
			tl := fmt.Sprintf("%s.%s[%d]", label, key, i)
			if err := checkKeys(t, tl, tagKeys); err != nil {
				return nil, err
			}
			name, err := reqString(t, "name", tl+".name")
			if err != nil {
				return nil, err
			}
			value, err := reqString(t, "value", tl+".value")
			if err != nil {
				return nil, err
			}
			out = append(out, Tag{Name: name, Value: value})
		}
	}
	return out, nil
}

// where compiles the view's where clauses, each evaluated on the resource.
func (c *compiler) where(def map[string]any) ([]clause, error) {
	list, err := objects(def, "where", "where")
	if err != nil {
		return nil, err
	}
	var out []clause
	for i, w := range list {
		label := fmt.Sprintf("where[%d]", i)
		if err := checkKeys(w, label, whereKeys); err != nil {
			return nil, err
		}
		path, err := reqString(w, "path", label+".path")
		if err != nil {
			return nil, err
		}
		if _, err := optString(w, "description", label+".description"); err != nil {
			return nil, err
		}
		e, types, err := c.expr(label+".path", path, []string{c.resource})
		if err != nil {
			return nil, err
		}
		if len(types) > 0 && !slices.Contains(types, "boolean") && !slices.Contains(types, "") {
			return nil, fmt.Errorf("%s.path: yields %s, not a boolean; a where clause must be true or false", label, strings.Join(types, " or "))
		}
		out = append(out, clause{label: label, path: path, expr: e})
	}
	return out, nil
}

// expr compiles the FHIRPath expression path at label and returns the types of what it
// yields on nodes of the types foci. Every %variable it uses must be a constant of the view
// or %rowIndex.
func (c *compiler) expr(label, path string, foci []string) (*fhirpath.Expr, []string, error) {
	if strings.TrimSpace(path) == "" {
		return nil, nil, fmt.Errorf("%s: an empty FHIRPath expression", label)
	}
	e, err := fhirpath.Cached(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %s", label, err)
	}
	for _, v := range e.Variables() {
		if _, ok := c.constants[v]; !ok && v != rowIndexVar {
			return nil, nil, fmt.Errorf("%s: %%%s is not a constant of the view", label, v)
		}
	}
	types, err := c.types(label, e, foci)
	if err != nil {
		return nil, nil, err
	}
	return e, types, nil
}

// types returns the types of what e yields on nodes of the types foci, checking that every
// name it reads is an element of the type it is read on. When the nodes may be of several
// types (below a repeat), an expression need apply to one of them only: the others yield
// nothing.
func (c *compiler) types(label string, e *fhirpath.Expr, foci []string) ([]string, error) {
	var out []string
	var firstErr error
	applies := false
	for _, f := range foci {
		ts, err := e.ResultTypes(c.resource, f)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		applies = true
		for _, t := range ts {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	if firstErr != nil && !applies {
		return nil, fmt.Errorf("%s: %s", label, firstErr)
	}
	return out, nil
}

// checkKeys refuses any key of m outside allowed (and their _name companions).
func checkKeys(m map[string]any, label string, allowed []string) error {
	var unknown []string
	for k := range m {
		if !slices.Contains(allowed, strings.TrimPrefix(k, "_")) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	where := "the ViewDefinition"
	if label != "" {
		where = label
	}
	return fmt.Errorf("%s: unknown key %q (allowed: %s)", where, unknown[0], strings.Join(allowed, ", "))
}

// reqString returns the non-empty string m[key].
func reqString(m map[string]any, key, label string) (string, error) {
	v, ok := m[key]
	if !ok {
		return "", fmt.Errorf("%s: missing", label)
	}
	s, ok := v.(string)
	if !ok || strings.TrimSpace(s) == "" {
		return "", fmt.Errorf("%s: %s, not a non-empty string", label, describe(v))
	}
	return s, nil
}

// optString returns the string m[key], "" when absent.
func optString(m map[string]any, key, label string) (string, error) {
	v, ok := m[key]
	if !ok {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: %s, not a string", label, describe(v))
	}
	return s, nil
}

// objects returns the list of objects m[key] (nil when absent).
func objects(m map[string]any, key, label string) ([]map[string]any, error) {
	v, ok := m[key]
	if !ok {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: %s, not a list", label, describe(v))
	}
	out := make([]map[string]any, len(list))
	for i, x := range list {
		if out[i], ok = x.(map[string]any); !ok {
			return nil, fmt.Errorf("%s[%d]: %s, not an object", label, i, describe(x))
		}
	}
	return out, nil
}

// describe names the JSON kind of v for messages (never its content, which may be long).
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		if len(v) <= 40 {
			return fmt.Sprintf("the string %q", v)
		}
		return "a string"
	case bool:
		return fmt.Sprintf("the boolean %t", v)
	case json.Number, float64:
		return fmt.Sprintf("the number %v", v)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}
