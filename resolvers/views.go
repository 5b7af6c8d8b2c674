package resolvers

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/fhirgate/fhirgate/graph"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/view"
	"github.com/fhirgate/fhirgate/viewrun"
)

// ViewDefinitionRun runs a SQL on FHIR ViewDefinition, as $viewdefinition-run does (package
// viewrun checks it against the caller's policy the same way), and answers its rows, each a
// list of JSON values in column order. The answer holds the rows: at most ListLimit of them,
// or _limit when smaller; a view giving more is an error that points at _limit and at the REST
// operation, which streams. The rows are ordered by the id of the resource each comes from,
// whatever order storage reads them in (viewrun.Runner.Collect); _limit keeps the first rows
// storage reaches.
func (r *queryResolver) ViewDefinitionRun(ctx context.Context, def any, viewReference *string, resources []model.RawResource, patient *string, limit *int, since *model.Instant) (*graph.ViewRows, error) {
	runner := &viewrun.Runner{Store: r.Resolver.Store}
	req := &viewrun.Request{}
	var err error
	switch {
	case def != nil && viewReference != nil:
		return nil, fmt.Errorf("%w: give view or viewReference, not both", viewrun.ErrInvalid)
	case def != nil:
		b, merr := json.Marshal(def)
		if merr != nil {
			return nil, fmt.Errorf("%w: view is not JSON", viewrun.ErrInvalid)
		}
		req.View, err = view.Parse(b)
	case viewReference != nil:
		req.View, err = runner.LoadStored(ctx, *viewReference)
	default:
		return nil, fmt.Errorf("%w: a ViewDefinition is needed: view (inline) or viewReference (a stored Binary)", viewrun.ErrInvalid)
	}
	if err != nil {
		return nil, err
	}
	if limit != nil {
		if *limit <= 0 || *limit > r.Resolver.ListLimit {
			return nil, fmt.Errorf("%w: _limit must be between 1 and %d", viewrun.ErrInvalid, r.Resolver.ListLimit)
		}
		req.Limit = *limit
	}
	if patient != nil {
		req.Patient = strings.TrimPrefix(*patient, "Patient/")
		if !model.ValidID(req.Patient) {
			return nil, fmt.Errorf("%w: patient must be a Patient id or Patient/id", viewrun.ErrInvalid)
		}
	}
	if since != nil {
		req.Since = string(*since)
	}
	for _, raw := range resources {
		res, err := view.DecodeResources(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: %s", viewrun.ErrInvalid, err)
		}
		req.Resources, req.Inline = append(req.Resources, res...), true
	}
	out := &graph.ViewRows{Rows: [][]any{}}
	for _, c := range req.View.Columns {
		col := &graph.ViewColumn{Name: c.Name, Collection: c.Collection}
		if c.Type != "" {
			col.Type = &c.Type
		}
		out.Columns = append(out.Columns, col)
	}
	rows, err := runner.Collect(ctx, req, r.Resolver.ListLimit, func() error {
		return fmt.Errorf("%w: the view gives more than %d rows; set _limit, or stream them with POST /fhir/$viewdefinition-run", ErrTooMany, r.Resolver.ListLimit)
	})
	if err != nil {
		return nil, err
	}
	for _, row := range rows {
		out.Rows = append(out.Rows, []any(row))
	}
	return out, nil
}
