// Package view evaluates SQL on FHIR v2 ViewDefinitions (https://sql-on-fhir.org, the
// ViewDefinition logical model and its Processing Algorithm): tabular projections of FHIR
// resources whose columns and filters are FHIRPath expressions, run with the project's own
// engine (package fhirpath).
//
// Compile (or Parse) validates a ViewDefinition once and compiles its expressions; the View it
// returns evaluates one resource at a time (Rows), calling back with each row, so a run over
// any number of resources holds one resource's rows at a time. Writers in this package stream
// rows as CSV, NDJSON, a JSON array or Parquet.
//
// Supported: select with column, nested select (cross product), forEach, forEachOrNull,
// repeat, unionAll; where (every clause must be true; a clause whose value is not a boolean is
// an error); constant of every valueX the model lists (%name in expressions); %rowIndex, the
// 0-based position in the enclosing forEach, forEachOrNull or repeat (0 outside one); the
// functions getResourceKey() and getReferenceKey([type]); collection columns; column types,
// declared (a FHIR type name, a StructureDefinition URL, or an element path such as
// Observation.referenceRange) or inferred from the path with the R4 StructureDefinitions, and
// mapped to output types by the specification's default SQL type table, or by an ansi/type tag.
//
// Keys: getResourceKey() is "Type/id" of the resource; getReferenceKey() is the same string for
// a relative literal reference (Patient/1, Patient/1/_history/2) and empty for any other
// (absolute, contained, logical). Keys of different types never collide.
//
// Choices where the specification leaves room: a collection column is always a list (empty
// when the path yields nothing; null only in the null row of forEachOrNull); a name that is no
// element of the type it is read on is an error when the view is compiled, as a typo would
// otherwise silently give nulls; unknown keys in the ViewDefinition are errors.
package view

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/fhirpath"
)

// ErrInvalid reports a ViewDefinition that cannot be run: malformed JSON, unknown keys, bad
// FHIRPath, duplicate or inconsistent columns, unknown types, bad constants. Its messages
// name the element at fault (select[0].column[1].path).
var ErrInvalid = fault.New(fault.Invalid, "invalid ViewDefinition")

// ErrEval reports a view that fails on a resource: a column that is not a collection yields
// several values, a where clause yields something other than a boolean, an expression fails.
// Its messages name the resource (Type/id) and the column or clause, never a value.
var ErrEval = fault.New(fault.Invalid, "view evaluation failed")

// View is a compiled ViewDefinition. It is immutable and safe for concurrent use.
type View struct {
	// Name is the view's name ("" when it has none); Resource the resource type it projects.
	Name     string
	Resource string
	// Columns are the output columns, in the specification's column order.
	Columns []Column

	root      *selection // the view's select list, as the children of a selection of the resource
	where     []clause
	constants map[string][]fhirpath.Value
}

// Column is one output column.
type Column struct {
	Name        string
	Path        string
	Description string
	// Collection is true when the column holds a list of values.
	Collection bool
	// Type is the column's FHIR type: the declared one (a type name, a backbone element path
	// such as Observation.referenceRange), else the one inferred from the path, else "" when
	// the path can yield values of several types or of a type only evaluation tells.
	Type string
	// Declared is true when Type was given by the ViewDefinition.
	Declared bool
	// Kind is how writers represent each value (of each item, for a collection).
	Kind Kind
	Tags []Tag
}

// Tag is a column's tag: metadata such as a database type hint (ansi/type).
type Tag struct{ Name, Value string }

// Row is one output row: a value per column, in the order of View.Columns. A value is nil
// (SQL null), a string, a bool, a json.Number, a map[string]any (a complex FHIR value, as
// JSON), or for a collection column a []any of those.
type Row []any

// clause is a compiled where clause.
type clause struct {
	label string // where[0], for messages
	path  string
	expr  *fhirpath.Expr
}

// Parse compiles a ViewDefinition from its JSON.
func Parse(data []byte) (*View, error) {
	def, err := decodeJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, err)
	}
	return Compile(def)
}

// Compile compiles a ViewDefinition decoded as generic JSON (numbers as json.Number or
// float64): it checks the structure against the ViewDefinition model, every FHIRPath
// expression against the R4 types it is evaluated on, the column names (unique, SQL names,
// the same in every unionAll branch) and the constants, and infers the columns' types.
func Compile(def map[string]any) (*View, error) {
	c := &compiler{}
	v, err := c.view(def)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, err)
	}
	return v, nil
}

// decodeJSON decodes one JSON object, numbers as json.Number.
func decodeJSON(data []byte) (map[string]any, error) {
	var def map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&def); err != nil {
		return nil, fmt.Errorf("not a JSON object: %s", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("more than one JSON value")
	}
	if def == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	return def, nil
}

// ParseBinary compiles the ViewDefinition a stored Binary resource holds (its JSON given):
// FHIR R4 has no ViewDefinition resource, and R4 servers keep one as a Binary whose
// contentType is application/json or application/fhir+json and whose data is the
// ViewDefinition's JSON, as the SQL on FHIR implementation guide's own R4 build does.
func ParseBinary(binary []byte) (*View, error) {
	var b struct {
		ResourceType string `json:"resourceType"`
		ContentType  string `json:"contentType"`
		Data         []byte `json:"data"` // base64 in JSON
	}
	if err := json.Unmarshal(binary, &b); err != nil || b.ResourceType != "Binary" {
		return nil, fmt.Errorf("%w: the stored view is not a Binary resource holding a ViewDefinition", ErrInvalid)
	}
	ct, _, _ := strings.Cut(b.ContentType, ";")
	switch strings.TrimSpace(ct) {
	case "application/json", "application/fhir+json":
	default:
		return nil, fmt.Errorf("%w: the stored Binary's contentType is %q; a ViewDefinition is application/json or application/fhir+json", ErrInvalid, b.ContentType)
	}
	return Parse(b.Data)
}

// DecodeResource decodes a resource's JSON as Rows reads it (numbers as json.Number).
func DecodeResource(data []byte) (map[string]any, error) {
	m, err := decodeJSON(data)
	if err != nil {
		return nil, fmt.Errorf("a resource: %s", err)
	}
	return m, nil
}

// DecodeResources decodes a resource given to run a view on: a Bundle gives the resources of
// its entries (the specification's $viewdefinition-run unwraps them), anything else itself.
func DecodeResources(data []byte) ([]map[string]any, error) {
	res, err := DecodeResource(data)
	if err != nil {
		return nil, err
	}
	if res["resourceType"] != "Bundle" {
		return []map[string]any{res}, nil
	}
	var out []map[string]any
	entries, _ := res["entry"].([]any)
	for _, e := range entries {
		entry, _ := e.(map[string]any)
		if m, ok := entry["resource"].(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out, nil
}
