package model

// Element carries the id and extensions of a primitive value: the "_birthDate" beside "birthDate".
type Element struct {
	ID        *string      `json:"id,omitempty"`
	Extension []*Extension `json:"extension,omitempty"`
}
