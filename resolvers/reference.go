package resolvers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/graph"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/storage"
)

type referenceResolver struct{ Resolver *Resolver }

// ErrUnresolvable reports a reference that names nothing this server holds.
var ErrUnresolvable = fault.New(fault.NotFound, "unresolvable reference")

// Resource resolves a reference: "#id" within the containing resource, "Type/id" (optionally
// "/_history/n") through the request's loader. An unresolvable reference is an error unless
// optional is true; type narrows the expected target, and a reference to another type resolves to null.
func (r *referenceResolver) Resource(ctx context.Context, obj *model.Reference, optional *bool, typeArg *graph.ResourceType) (model.Resource, error) {
	res, err := r.resolve(ctx, obj, typeArg)
	if err != nil && optional != nil && *optional && (errors.Is(err, ErrUnresolvable) || errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrDeleted)) {
		return nil, nil
	}
	return res, err
}

func (r *referenceResolver) resolve(ctx context.Context, obj *model.Reference, typeArg *graph.ResourceType) (model.Resource, error) {
	if obj == nil || obj.Reference == nil {
		return nil, fmt.Errorf("%w: the reference has no literal reference", ErrUnresolvable)
	}
	ref := *obj.Reference
	if local, ok := strings.CutPrefix(ref, "#"); ok {
		res := containedResource(ctx, local)
		if res == nil {
			return nil, fmt.Errorf("reference %q: %w: no contained resource has its id", ref, ErrUnresolvable)
		}
		if typeArg != nil && res.TypeName() != string(*typeArg) {
			return nil, nil
		}
		return res, nil
	}
	typ, id, version, ok := parseReference(ref)
	if !ok {
		return nil, fmt.Errorf("reference %q: %w: it is not a Type/id reference to this server", ref, ErrUnresolvable)
	}
	if typeArg != nil && typ != string(*typeArg) {
		return nil, nil
	}
	if version > 0 {
		rec, err := r.Resolver.Store.ReadVersion(ctx, typ, id, version)
		if err != nil {
			return nil, err
		}
		return decode(rec)
	}
	return r.Resolver.loadResource(ctx, typ, id)
}

// parseReference returns the parts of a relative literal reference "Type/id" or
// "Type/id/_history/n": one to this server, whose versions are numbered from 1.
func parseReference(ref string) (typ, id string, version int64, ok bool) {
	r, ok := model.ParseReference(ref)
	if !ok || !r.IsRelative() {
		return "", "", 0, false
	}
	if r.Version != "" {
		v, err := strconv.ParseInt(r.Version, 10, 64)
		if err != nil || v < 1 {
			return "", "", 0, false
		}
		version = v
	}
	return r.Type, r.ID, version, true
}

// containedResource finds the contained resource with the given id in the nearest enclosing
// resource that has one, walking up the fields being resolved.
func containedResource(ctx context.Context, id string) model.Resource {
	for fc := graphql.GetFieldContext(ctx); fc != nil; fc = fc.Parent {
		if res, ok := fc.Result.(model.Resource); ok && res != nil {
			if c := findContained(res, id); c != nil {
				return c
			}
		}
	}
	return nil
}

func findContained(res model.Resource, id string) model.Resource {
	for _, c := range res.ContainedResources() {
		if c != nil && c.ResourceID() == id {
			return c
		}
	}
	return nil
}
