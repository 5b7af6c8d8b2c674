package search

import (
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/fhirgate/fhirgate/storage"
)

// Compartment is a compartment as plain data: a resource (its owner, such as a Patient)
// and the resources that refer to it through given reference parameters. Package authz
// describes the Patient compartment with it; search turns it into a storage filter.
type Compartment struct {
	// Type and ID name the owner.
	Type, ID string
	// Params returns the reference parameters of typ through which a resource of typ is
	// in the compartment, nil when typ is not in it.
	Params func(typ string) []string
}

// Filter returns the condition a current document of typ meets when it is in the
// compartment: it is the owner, or refers to the owner through one of the parameters
// of its type. ok is false when no resource of typ can be in the compartment.
func (c Compartment) Filter(typ string) (filter bson.D, ok bool) {
	params := c.Params(typ)
	if len(params) == 0 && typ != c.Type {
		return nil, false
	}
	ref := []string{c.Type + "/" + c.ID}
	or := bson.A{}
	if typ == c.Type {
		or = append(or, bson.D{{Key: fieldID, Value: c.ID}})
	}
	for _, p := range params {
		or = append(or, RefFilter(p, ref))
	}
	return bson.D{{Key: "$or", Value: or}}, true
}

// Scope returns the storage scope that confines a caller to the compartment: storage
// applies Filter to every read and write, and admit decides the writes among those
// (see [storage.Scope]).
func (c Compartment) Scope(admit func(storage.Version) error) storage.Scope {
	return compartmentScope{c, admit}
}

// compartmentScope is a Compartment with the rule that admits writes.
type compartmentScope struct {
	Compartment
	admit func(storage.Version) error
}

var _ storage.Scope = compartmentScope{}

// Admit implements storage.Scope.
func (s compartmentScope) Admit(v storage.Version) error { return s.admit(v) }
