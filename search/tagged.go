package search

import (
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/fhirgate/fhirgate/storage"
)

// Tagged is a storage scope that confines one resource type to the resources carrying a tag
// (meta.tag, as _tag indexes it) and leaves every other type alone. authz confines a
// principal to the Subscriptions it created with it: storage then applies it to every read,
// search, history read and write of that type, and the resources of others answer like
// resources that do not exist.
type Tagged struct {
	Type         string
	System, Code string
}

var _ storage.Scope = Tagged{}

// Filter implements storage.Scope.
func (t Tagged) Filter(typ string) (bson.D, bool) {
	if typ != t.Type {
		return nil, true
	}
	return bson.D{{Key: FieldIndex, Value: bson.D{{Key: "$elemMatch", Value: bson.D{
		{Key: fParam, Value: "_tag"}, {Key: fSystem, Value: t.System}, {Key: fCode, Value: t.Code},
	}}}}}, true
}

// Admit implements storage.Scope: Filter decides alone. A write needs the version it replaces
// and the one it writes to carry the tag, so a caller neither changes the resources of
// others nor gives its own away.
func (Tagged) Admit(storage.Version) error { return nil }
