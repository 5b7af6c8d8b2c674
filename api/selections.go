package api

import (
	"bytes"
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/fhirgate/fhirgate/rewrite"
)

// resourceSelections is the handler extension that rewrites the FHIR GraphQL forms of a
// query before validation (see rewrite.Selections and rewrite.IDLiterals), within the token
// bound.
type resourceSelections struct {
	rw  *rewrite.Selections
	ids *rewrite.IDLiterals
	// maxTokens bounds the rewritten query (see Limits.MaxTokens); zero: no bound.
	maxTokens int
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = (*resourceSelections)(nil)

func newResourceSelections(schema *ast.Schema, maxTokens int) *resourceSelections {
	return &resourceSelections{rw: rewrite.NewSelections(schema), ids: rewrite.NewIDLiterals(schema), maxTokens: maxTokens}
}

func (*resourceSelections) ExtensionName() string                   { return "FHIRResourceSelections" }
func (*resourceSelections) Validate(graphql.ExecutableSchema) error { return nil }

func (r *resourceSelections) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	selections, ids := r.rw.Mentions(p.Query), r.ids.Mentions(p.Query)
	if !selections && !ids {
		return nil
	}
	doc, err := parser.ParseQuery(&ast.Source{Input: p.Query})
	if err != nil {
		return nil // let the executor report the syntax error with its usual message
	}
	before := rewrite.SelectionTokens(doc)
	rewritten := selections && r.rw.Rewrite(doc)
	// After the selections, whose rewritten fields are then known to the schema.
	literals := ids && r.ids.Rewrite(doc)
	if !rewritten && !literals {
		return nil
	}
	// The rewritten selections share fields between fragments; printed, they repeat. Count
	// them before printing.
	if rewritten && r.maxTokens > 0 && countTokens(p.Query, r.maxTokens)-before+rewrite.SelectionTokens(doc) > r.maxTokens {
		return limitError(fmt.Sprintf("the query has more than %d tokens once its selections on resources are made for every resource type that has their fields; name the type with resource(type: X) or ... on X", r.maxTokens))
	}
	return printQuery(p, doc)
}

// printQuery replaces the query of p with doc, printed.
func printQuery(p *graphql.RawParams, doc *ast.QueryDocument) *gqlerror.Error {
	var buf bytes.Buffer
	formatter.NewFormatter(&buf, formatter.WithComments()).FormatQueryDocument(doc)
	p.Query = buf.String()
	return nil
}
