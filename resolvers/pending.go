package resolvers

import (
	"context"

	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/graph"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/search"
)

// errPending answers the fields whose implementation is being built in this round; each
// owner replaces its placeholders below with a file of its own.
var errPending = fault.New(fault.Unsupported, "not supported yet")

// Transaction is a placeholder (issue 12).
func (r *mutationResolver) Transaction(context.Context, model.RawResource) (*model.Bundle, error) {
	return nil, errPending
}

// Aggregate is a placeholder (issue 13).
func (r *queryResolver) Aggregate(context.Context, graph.ResourceType, *search.Value, []*graph.AggregateKey, []*graph.AggregateMeasure) (*graph.Aggregate, error) {
	return nil, errPending
}

// ViewDefinitionRun is a placeholder (issue 13).
func (r *queryResolver) ViewDefinitionRun(context.Context, any, *string, []model.RawResource, *string, *int, *model.Instant) (*graph.ViewRows, error) {
	return nil, errPending
}
