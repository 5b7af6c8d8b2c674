package resolvers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fhirgate/fhirgate/bundle"
	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/model"
)

// errNoBundles answers the transaction mutation on a server built without a bundle runner.
var errNoBundles = fault.New(fault.Unsupported, "transactions are not supported by this server")

// Transaction runs a batch or transaction Bundle, as POST /fhir does, and returns its
// response Bundle. Each entry is checked for its own interaction; a failed transaction's
// error names the entry that failed it.
func (r *mutationResolver) Transaction(ctx context.Context, res model.RawResource) (*model.Bundle, error) {
	if r.Resolver.Bundles == nil {
		return nil, errNoBundles
	}
	out, err := r.Resolver.Bundles.Run(ctx, res, bundle.ReturnRepresentation)
	var ee *bundle.EntryError
	if errors.As(err, &ee) {
		if k := kindOf(ee.Err); k != nil {
			return nil, entryError{kind: k, msg: ee.Message(), outcome: ee.Outcome.Outcome}
		}
	}
	return out, err
}

// entryError is a failed transaction as the client is told of it: the failing entry named,
// its OperationOutcome whole.
type entryError struct {
	kind    error
	msg     string
	outcome []byte
}

func (e entryError) Error() string { return e.msg }

// OperationOutcome returns the outcome of the failed entry (see api's error presenter).
func (e entryError) OperationOutcome() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(e.outcome, &m)
	return m
}

// Unwrap returns a public sentinel of the failure's kind with the message after it, so
// that the presenter tells the client the message (see fault.ClientDetail).
func (e entryError) Unwrap() error {
	return fmt.Errorf("%w: %s", fault.New(e.kind, "transaction failed"), e.msg)
}

// kindOf returns the kind of failure of err (see fault.Kinds), or nil.
func kindOf(err error) error {
	for _, k := range fault.Kinds() {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}
