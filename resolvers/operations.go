package resolvers

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/authz/guard"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/operation"
)

// runOperation runs the FHIR operation at path with the given string, integer and boolean
// arguments (nil ones are absent) and decodes its answer as T: the graph runs the very code
// /fhir runs.
func runOperation[T model.Resource](ctx context.Context, path string, args map[string]any) (T, error) {
	var zero T
	ps := operation.NewParameters()
	for name, v := range args {
		switch v := v.(type) {
		case *string:
			if v != nil {
				ps.Add(name, "valueString", *v)
			}
		case *int:
			if v != nil {
				ps.Add(name, "valueInteger", *v)
			}
		case *bool:
			if v != nil {
				ps.Add(name, "valueBoolean", *v)
			}
		default:
			return zero, fmt.Errorf("operation %s: argument %s of type %T", path, name, v)
		}
	}
	out, err := operation.Run(ctx, path, ps)
	if err != nil {
		return zero, err
	}
	b, err := json.Marshal(out)
	if err != nil {
		return zero, fmt.Errorf("operation %s: %w", path, err)
	}
	res, err := model.UnmarshalAs[T](b)
	if err != nil {
		return zero, fmt.Errorf("operation %s answered what the model cannot read: %w", path, err)
	}
	return res, nil
}

// ValueSetExpand runs ValueSet/$expand.
func (r *queryResolver) ValueSetExpand(ctx context.Context, url string, filter *string, offset, count *int) (*model.ValueSet, error) {
	return runOperation[*model.ValueSet](ctx, "ValueSet/$expand", map[string]any{"url": &url, "filter": filter, "offset": offset, "count": count})
}

// ValueSetValidateCode runs ValueSet/$validate-code.
func (r *queryResolver) ValueSetValidateCode(ctx context.Context, url string, system *string, code string, display *string) (*model.Parameters, error) {
	return runOperation[*model.Parameters](ctx, "ValueSet/$validate-code", map[string]any{"url": &url, "system": system, "code": &code, "display": display})
}

// CodeSystemValidateCode runs CodeSystem/$validate-code.
func (r *queryResolver) CodeSystemValidateCode(ctx context.Context, url string, code string, display *string) (*model.Parameters, error) {
	return runOperation[*model.Parameters](ctx, "CodeSystem/$validate-code", map[string]any{"url": &url, "code": &code, "display": display})
}

// CodeSystemLookup runs CodeSystem/$lookup.
func (r *queryResolver) CodeSystemLookup(ctx context.Context, system string, code string) (*model.Parameters, error) {
	return runOperation[*model.Parameters](ctx, "CodeSystem/$lookup", map[string]any{"system": &system, "code": &code})
}

// CodeSystemSubsumes runs CodeSystem/$subsumes.
func (r *queryResolver) CodeSystemSubsumes(ctx context.Context, system string, codeA string, codeB string) (*model.Parameters, error) {
	return runOperation[*model.Parameters](ctx, "CodeSystem/$subsumes", map[string]any{"system": &system, "codeA": &codeA, "codeB": &codeB})
}

// ConceptMapTranslate runs ConceptMap/$translate.
func (r *queryResolver) ConceptMapTranslate(ctx context.Context, url, source, target *string, system string, code string, reverse *bool) (*model.Parameters, error) {
	return runOperation[*model.Parameters](ctx, "ConceptMap/$translate", map[string]any{"url": url, "source": source, "target": target, "system": &system, "code": &code, "reverse": reverse})
}

// Validate runs $validate on a resource of any type; validating a resource of a type needs
// read permission on that type, as the type's other operations do.
func (r *queryResolver) Validate(ctx context.Context, res model.RawResource, profile *string) (*model.OperationOutcome, error) {
	var head struct {
		ResourceType string `json:"resourceType"`
	}
	if err := json.Unmarshal(res, &head); err != nil || !model.IsResourceType(head.ResourceType) {
		return nil, fmt.Errorf("%w: res must be a FHIR resource with a known resourceType", operation.ErrInvalid)
	}
	if err := guard.CheckType(ctx, head.ResourceType, authz.ActRead); err != nil {
		return nil, err
	}
	ps := operation.NewParameters()
	ps.Parameter = append(ps.Parameter, operation.Parameter{Name: "resource", Resource: json.RawMessage(res)})
	if profile != nil {
		ps.Add("profile", "valueCanonical", *profile)
	}
	out, err := operation.Validate(ctx, head.ResourceType, ps)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("$validate: %w", err)
	}
	return model.UnmarshalAs[*model.OperationOutcome](b)
}
