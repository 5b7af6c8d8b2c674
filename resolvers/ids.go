package resolvers

import (
	"crypto/rand"
	"encoding/hex"
)

// newID returns a random 128-bit FHIR id in hex; unguessable, so ids reveal nothing about volume or order.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
