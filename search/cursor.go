package search

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// Sealer makes connection cursors opaque: a cursor holds the sort keys of the resource it
// names, which may be values the caller may not read (a hidden postal code sorts a page
// too), so it is sealed with authenticated encryption. A caller can neither read a cursor
// nor forge one. Processes that serve the same datastore behind a load balancer share a key.
type Sealer struct{ aead cipher.AEAD }

// NewSealer returns a Sealer with a 32-byte key (AES-256-GCM).
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("search: a cursor key has 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("search: cursor key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("search: cursor key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// processSealer seals the cursors of a Runner without a Sealer of its own, with a key made
// when the process starts: its cursors last as long as the process.
var processSealer = func() *Sealer {
	s, err := NewSealer(randomKey())
	if err != nil {
		panic(err) // 32 random bytes always make a key
	}
	return s
}()

func randomKey() []byte {
	k := make([]byte, 32)
	rand.Read(k) // never fails (crypto/rand documents it)
	return k
}

var errBadCursor = errors.New("not a cursor this server issued")

func (s *Sealer) or() *Sealer {
	if s == nil {
		return processSealer
	}
	return s
}

// seal encrypts plain under a fresh nonce, which it prepends.
func (s *Sealer) seal(plain []byte) []byte {
	a := s.or().aead
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(plain)+a.Overhead())
	rand.Read(nonce)
	return a.Seal(nonce, nonce, plain, nil)
}

// open decrypts what seal made, refusing anything else.
func (s *Sealer) open(sealed []byte) ([]byte, error) {
	a := s.or().aead
	if len(sealed) < a.NonceSize()+a.Overhead() {
		return nil, errBadCursor
	}
	plain, err := a.Open(nil, sealed[:a.NonceSize()], sealed[a.NonceSize():], nil)
	if err != nil {
		return nil, errBadCursor
	}
	return plain, nil
}
