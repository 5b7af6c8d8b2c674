package search

import (
	"encoding/json"
	"io"
)

// Value carries a search argument as GraphQL delivered it (a string, boolean, number,
// list or object), for the search scalars of the schema. Resolvers read search
// arguments from the field's raw arguments; Value exists so that gqlgen can type them.
type Value struct{ V any }

// UnmarshalGQL implements graphql.Unmarshaler: any value is accepted here and checked
// by Parse.
func (v *Value) UnmarshalGQL(x any) error {
	v.V = x
	return nil
}

// MarshalGQL implements graphql.Marshaler.
func (v Value) MarshalGQL(w io.Writer) {
	b, err := json.Marshal(v.V)
	if err != nil {
		b = []byte("null")
	}
	_, _ = w.Write(b)
}
