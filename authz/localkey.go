package authz

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// The issuer and audience of tokens signed with the local key.
const (
	LocalIssuer   = "fhirgate-local"
	LocalAudience = "fhirgate"
)

// LocalKey is the ES256 key a server keeps in its data directory to sign tokens for
// local use (`fhirgate token`).
type LocalKey struct {
	jwk jose.JSONWebKey
}

// localKeyFile is the key's path under the data directory.
const localKeyFile = "auth/signing-key.jwk"

// LoadLocalKey reads the key under dataDir, creating it on first use. The file is
// readable by its owner only.
func LoadLocalKey(dataDir string) (*LocalKey, error) {
	path := filepath.Join(dataDir, localKeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createLocalKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("local signing key: %w", err)
	}
	var k LocalKey
	if err := json.Unmarshal(b, &k.jwk); err != nil || k.jwk.IsPublic() || !k.jwk.Valid() {
		return nil, fmt.Errorf("local signing key %s is not a private JWK", path)
	}
	return &k, nil
}

func createLocalKey(path string) (*LocalKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("local signing key: %w", err)
	}
	k := &LocalKey{jwk: jose.JSONWebKey{Key: priv, Algorithm: string(jose.ES256), Use: "sig"}}
	tp, err := k.jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("local signing key: %w", err)
	}
	k.jwk.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	b, err := json.Marshal(k.jwk)
	if err != nil {
		return nil, fmt.Errorf("local signing key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("local signing key: %w", err)
	}
	// O_EXCL: when two processes start at once, one key wins and the other reads it.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadLocalKey(filepath.Dir(filepath.Dir(path)))
	}
	if err != nil {
		return nil, fmt.Errorf("local signing key: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, fmt.Errorf("local signing key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("local signing key: %w", err)
	}
	return k, nil
}

// KeyID is the key's id (its JWK thumbprint), carried in the kid header of its tokens.
func (k *LocalKey) KeyID() string { return k.jwk.KeyID }

func (k *LocalKey) public() any { return k.jwk.Public().Key }

// TokenRequest describes a token to sign with the local key.
type TokenRequest struct {
	Subject string
	Roles   []string
	// Patient binds the token to a patient's compartment.
	Patient string
	// Scopes are SMART scopes, space-separated in the token; none means the roles decide.
	Scopes []string
	// Datastores limits the token to these datastores; none means any.
	Datastores []string
	TTL        time.Duration
}

// Sign returns a token for r, signed with the local key.
func (k *LocalKey) Sign(r TokenRequest, now time.Time) (string, error) {
	if r.Subject == "" || len(r.Roles) == 0 || r.TTL <= 0 {
		return "", errors.New("a token needs a subject, a role and a positive lifetime")
	}
	c := claims{
		Claims: jwt.Claims{
			Issuer:   LocalIssuer,
			Subject:  r.Subject,
			Audience: jwt.Audience{LocalAudience},
			IssuedAt: jwt.NewNumericDate(now),
			Expiry:   jwt.NewNumericDate(now.Add(r.TTL)),
		},
		Roles:      r.Roles,
		Patient:    r.Patient,
		Scope:      strings.Join(r.Scopes, " "),
		Datastores: r.Datastores,
	}
	if _, err := principalOf(&c); err != nil { // refuse to print a token the server would refuse
		return "", err
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.jwk}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return jwt.Signed(sig).Claims(c).Serialize()
}
