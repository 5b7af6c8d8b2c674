package search

import (
	"regexp"

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
	return c.FilterAll(typ, []string{c.ID})
}

// FilterAll is Filter for the compartments of several owners of c's type at once (c.ID
// aside): a document in any of them. Bulk export of a Group uses it.
func (c Compartment) FilterAll(typ string, ids []string) (filter bson.D, ok bool) {
	params := c.Params(typ)
	if len(params) == 0 && typ != c.Type || len(ids) == 0 {
		return nil, false
	}
	refs := make([]string, len(ids))
	for i, id := range ids {
		refs[i] = c.Type + "/" + id
	}
	or := bson.A{}
	if typ == c.Type {
		if len(ids) == 1 {
			or = append(or, bson.D{{Key: fieldID, Value: ids[0]}})
		} else {
			in := make(bson.A, len(ids))
			for i, id := range ids {
				in[i] = id
			}
			or = append(or, bson.D{{Key: fieldID, Value: bson.D{{Key: "$in", Value: in}}}})
		}
	}
	for _, p := range params {
		or = append(or, RefFilter(p, refs))
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

// FilterAny is the condition a current document of typ meets when it is in the
// compartment of any owner of c's type: it is such an owner, or refers to one through
// one of its type's parameters. Bulk export at Patient level uses it.
func (c Compartment) FilterAny(typ string) (filter bson.D, ok bool) {
	if typ == c.Type {
		return bson.D{}, true
	}
	params := c.Params(typ)
	if len(params) == 0 {
		return nil, false
	}
	or := bson.A{}
	for _, p := range params {
		or = append(or, bson.D{{Key: FieldIndex, Value: bson.D{{Key: "$elemMatch", Value: bson.D{
			{Key: fParam, Value: p}, {Key: fRef, Value: regex("^" + regexp.QuoteMeta(c.Type+"/"))},
		}}}}})
	}
	return bson.D{{Key: "$or", Value: or}}, true
}

// And returns the condition that both filters hold; an empty filter holds always.
func And(a, b bson.D) bson.D { return and(a, b) }

// Filter is a condition on stored documents, as this package builds them. Other packages
// pass filters to storage without looking inside, so they need not know MongoDB's types.
type Filter = bson.D

// Or returns the condition that any of fs holds.
func Or(fs ...Filter) Filter {
	or := make(bson.A, len(fs))
	for i, f := range fs {
		or[i] = f
	}
	return bson.D{{Key: "$or", Value: or}}
}
