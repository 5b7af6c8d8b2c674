// Package resolvers holds fhirgate's hand-written GraphQL resolvers. They are thin: each one
// validates its arguments and reaches storage through the per-request loaders in this package.
// The root query and mutation resolvers, one line per resource type, are generated into roots_gen.go.
package resolvers

import (
	"context"

	"github.com/fhirgate/fhirgate/bundle"
	"github.com/fhirgate/fhirgate/enrich"
	"github.com/fhirgate/fhirgate/graph"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
)

// Store is the storage a request needs: one datastore's current and historical versions.
type Store interface {
	Read(ctx context.Context, typ, id string) (*storage.Record, error)
	ReadMany(ctx context.Context, typ string, ids []string) (map[string]*storage.Record, error)
	ReadVersion(ctx context.Context, typ, id string, version int64) (*storage.Record, error)
	History(ctx context.Context, typ, id string) ([]*storage.Record, error)
	Commit(ctx context.Context, writes []storage.Write) ([]*storage.Record, error)
	search.Store
}

var _ Store = (*storage.Store)(nil)

// Guard checks, for the caller in ctx, what field middleware cannot see: the search
// parameters a search filters and sorts by, which read fields as surely as selecting them.
type Guard interface {
	CheckSearch(ctx context.Context, q *search.Query) error
}

// Resolver is the root of all resolvers and the one place where their dependencies are injected.
type Resolver struct {
	// Store is the datastore requests read and write.
	Store Store
	// ListLimit is the most resources a list may return; a list that would hold more is an
	// error, never a silent cut.
	ListLimit int
	// PageSize is a connection's page size when _count is absent.
	PageSize int
	// FHIRVersion is reported by the fhirVersion query.
	FHIRVersion string
	// Guard, when set, vets every search before it runs.
	Guard Guard
	// Cursors seals connection cursors; nil uses a key of this process.
	Cursors *search.Sealer
	// Changes serves subscriptions to the datastore's changes; nil answers them with an error.
	Changes Changes
	// NLP analyses notes and writes their enrichment (analyzeText, DocumentReferenceAnalyze);
	// nil answers those fields with an error.
	NLP *enrich.Enricher
	// Bundles runs the transaction mutation's bundles; nil answers it with an error.
	Bundles *bundle.Processor
	// Datastores administers the deployment's datastores; nil answers those fields with an error.
	Datastores Datastores
}

// Query returns the query root resolver.
func (r *Resolver) Query() graph.QueryResolver { return &queryResolver{r} }

// Mutation returns the mutation root resolver.
func (r *Resolver) Mutation() graph.MutationResolver { return &mutationResolver{r} }

// Reference returns the resolver of Reference.resource.
func (r *Resolver) Reference() graph.ReferenceResolver { return &referenceResolver{r} }

type queryResolver struct{ Resolver *Resolver }

type mutationResolver struct{ Resolver *Resolver }

// FhirVersion returns the FHIR version the server implements.
func (r *queryResolver) FhirVersion(ctx context.Context) (string, error) {
	return r.Resolver.FHIRVersion, nil
}

// Ping returns true.
func (r *mutationResolver) Ping(ctx context.Context) (bool, error) { return true, nil }
