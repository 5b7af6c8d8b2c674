package operation

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/fhirgate/fhirgate/validate"
)

type profilesKey struct{}

// WithProfiles returns ctx whose $validate operations find profiles in src (the loaded
// packages and the StructureDefinitions of the request's datastore).
func WithProfiles(ctx context.Context, src validate.ProfileSource) context.Context {
	return context.WithValue(ctx, profilesKey{}, src)
}

func profilesFrom(ctx context.Context) validate.ProfileSource {
	src, _ := ctx.Value(profilesKey{}).(validate.ProfileSource)
	return src
}

// Validate runs $validate on a resource of type typ: the resource parameter (the resource
// itself), checked against the base specification, its meta.profile and the profile
// parameters (valueUri, valueCanonical or valueString). It answers an OperationOutcome of
// every issue found, or of one information issue when there are none. Invalid input is an
// ErrInvalid error; a resource that does not conform is not an error.
func Validate(ctx context.Context, typ string, ps *Parameters) (any, error) {
	p := ps.Get("resource")
	if p == nil || p.Resource == nil {
		return nil, fmt.Errorf("%w: $validate needs a resource parameter", ErrInvalid)
	}
	var head struct {
		ResourceType string `json:"resourceType"`
	}
	if err := json.Unmarshal(p.Resource, &head); err != nil {
		return nil, fmt.Errorf("%w: the resource parameter is not a JSON object", ErrInvalid)
	}
	if typ != "" && head.ResourceType != typ {
		return nil, fmt.Errorf("%w: $validate of %s was given a resource of type %q", ErrInvalid, typ, head.ResourceType)
	}
	var profiles []string
	for _, q := range ps.Parameter {
		if q.Name != "profile" {
			continue
		}
		for _, raw := range q.Value {
			var url string
			if json.Unmarshal(raw, &url) != nil || url == "" {
				return nil, fmt.Errorf("%w: the profile parameter must be a canonical URL", ErrInvalid)
			}
			profiles = append(profiles, url)
		}
	}
	v, err := validate.Default()
	if err != nil {
		return nil, fmt.Errorf("$validate: %w", err)
	}
	return v.ValidateProfiles(ctx, p.Resource, profilesFrom(ctx), profiles...).JSON(), nil
}
