package resolvers

import (
	"context"

	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/graph"
	"github.com/fhirgate/fhirgate/search"
)

// errPending answers the fields whose implementation is being built in this round; each
// owner replaces its placeholders below with a file of its own.
var errPending = fault.New(fault.Unsupported, "not supported yet")

// Aggregate is a placeholder (issue 13).
func (r *queryResolver) Aggregate(context.Context, graph.ResourceType, *search.Value, []*graph.AggregateKey, []*graph.AggregateMeasure) (*graph.Aggregate, error) {
	return nil, errPending
}
