package resolvers

import (
	"context"

	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/graph"
	"github.com/fhirgate/fhirgate/storage"
)

// Datastores administers the deployment's datastores.
type Datastores interface {
	// List returns every datastore's name, sorted.
	List(ctx context.Context) ([]string, error)
	// Create creates an empty datastore; an existing name is an error wrapping storage.ErrExists.
	Create(ctx context.Context, name string) error
	// Delete deletes a datastore and everything in it.
	Delete(ctx context.Context, name string) error
}

// errNoDatastores answers the datastore fields of a server that serves one datastore only.
var errNoDatastores = fault.New(fault.Unsupported, "this server serves one datastore")

// Datastores lists the datastores.
func (r *queryResolver) Datastores(ctx context.Context) ([]*graph.Datastore, error) {
	if r.Resolver.Datastores == nil {
		return nil, errNoDatastores
	}
	names, err := r.Resolver.Datastores.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*graph.Datastore, len(names))
	for i, n := range names {
		out[i] = &graph.Datastore{Name: n, Default: n == storage.DefaultDatastore}
	}
	return out, nil
}

// DatastoreCreate creates a datastore.
func (r *mutationResolver) DatastoreCreate(ctx context.Context, name string) (*graph.Datastore, error) {
	if r.Resolver.Datastores == nil {
		return nil, errNoDatastores
	}
	if err := r.Resolver.Datastores.Create(ctx, name); err != nil {
		return nil, err
	}
	return &graph.Datastore{Name: name}, nil
}

// DatastoreDelete deletes a datastore.
func (r *mutationResolver) DatastoreDelete(ctx context.Context, name string) (*bool, error) {
	if r.Resolver.Datastores == nil {
		return nil, errNoDatastores
	}
	if err := r.Resolver.Datastores.Delete(ctx, name); err != nil {
		return nil, err
	}
	ok := true
	return &ok, nil
}
