package authz

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/fhirgate/fhirgate/model"
)

// ErrUnauthenticated is wrapped by every token refusal. Its messages say what is wrong
// with the token and never echo claims.
var ErrUnauthenticated = errors.New("unauthenticated")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnauthenticated, fmt.Sprintf(format, args...))
}

// VerifierConfig says which tokens a Verifier accepts.
type VerifierConfig struct {
	// Local is the server's own signing key; tokens it signed (by `fhirgate token`) are
	// accepted with LocalIssuer and LocalAudience.
	Local *LocalKey
	// JWKSFile and JWKSURL name the public keys (RS256, ES256) of an external issuer.
	JWKSFile, JWKSURL string
	// HMACSecret, when set, also accepts HS256 tokens signed with it.
	HMACSecret []byte
	// Issuer and Audience are required of external tokens (iss, aud); empty skips the check.
	Issuer, Audience string
	// Leeway is the clock skew allowed on exp and nbf.
	Leeway time.Duration
	// HTTPClient fetches JWKSURL; http.DefaultClient when nil.
	HTTPClient *http.Client
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Verifier authenticates bearer tokens. It is safe for concurrent use.
type Verifier struct {
	cfg VerifierConfig

	mu        sync.Mutex
	keys      jose.JSONWebKeySet // external public keys
	fetchedAt time.Time
}

// jwksRefresh is how often an unknown key id may trigger a refetch of JWKSURL: key
// rotation is picked up, and a flood of bad tokens cannot turn into a flood of fetches.
const jwksRefresh = time.Minute

// NewVerifier loads the configured keys.
func NewVerifier(ctx context.Context, cfg VerifierConfig) (*Verifier, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	v := &Verifier{cfg: cfg}
	if cfg.JWKSFile != "" {
		b, err := os.ReadFile(cfg.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("jwks: %w", err)
		}
		if err := json.Unmarshal(b, &v.keys); err != nil {
			return nil, fmt.Errorf("jwks %s: %w", cfg.JWKSFile, err)
		}
	}
	if cfg.JWKSURL != "" {
		if err := v.fetch(ctx); err != nil {
			return nil, err
		}
	}
	if cfg.Local == nil && len(v.keys.Keys) == 0 && cfg.JWKSURL == "" && len(cfg.HMACSecret) == 0 {
		return nil, errors.New("authentication needs a key: a local key, a JWKS or an HMAC secret")
	}
	return v, nil
}

func (v *Verifier) fetch(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil)
	if err != nil {
		return fmt.Errorf("jwks url: %w", err)
	}
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetch jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch jwks: status %s", resp.Status)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return fmt.Errorf("fetch jwks: %w", err)
	}
	v.keys, v.fetchedAt = set, v.cfg.Now()
	return nil
}

// claims are the token claims fhirgate reads.
type claims struct {
	jwt.Claims
	Roles    []string `json:"roles,omitempty"`
	Scope    string   `json:"scope,omitempty"`
	Patient  string   `json:"patient,omitempty"`
	ClientID string   `json:"client_id,omitempty"`
	// Datastores limits the token to these datastores (a fhirgate claim); absent means any.
	Datastores []string `json:"datastores,omitempty"`
}

// Verify checks raw's signature, algorithm, expiry, issuer and audience and returns
// its principal. Every refusal wraps ErrUnauthenticated.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Principal, error) {
	algs := []jose.SignatureAlgorithm{jose.RS256, jose.ES256}
	if len(v.cfg.HMACSecret) > 0 {
		algs = append(algs, jose.HS256)
	}
	tok, err := jwt.ParseSigned(raw, algs)
	if err != nil {
		if strings.Contains(err.Error(), "unexpected signature algorithm") {
			return nil, refuse("signature algorithm not accepted (want %s)", joinAlgs(algs))
		}
		return nil, refuse("malformed token")
	}
	if len(tok.Headers) != 1 {
		return nil, refuse("malformed token")
	}
	h := tok.Headers[0]
	key, local, err := v.key(ctx, h)
	if err != nil {
		return nil, err
	}
	var c claims
	if err := tok.Claims(key, &c); err != nil {
		return nil, refuse("invalid signature")
	}
	if c.Expiry == nil {
		return nil, refuse("token has no expiry (exp)")
	}
	want := jwt.Expected{Issuer: v.cfg.Issuer, Time: v.cfg.Now()}
	if v.cfg.Audience != "" {
		want.AnyAudience = jwt.Audience{v.cfg.Audience}
	}
	if local {
		want.Issuer, want.AnyAudience = LocalIssuer, jwt.Audience{LocalAudience}
	}
	if err := c.ValidateWithLeeway(want, v.cfg.Leeway); err != nil {
		switch {
		case errors.Is(err, jwt.ErrExpired):
			return nil, refuse("token expired")
		case errors.Is(err, jwt.ErrNotValidYet):
			return nil, refuse("token not valid yet (nbf)")
		case errors.Is(err, jwt.ErrIssuedInTheFuture):
			return nil, refuse("token issued in the future (iat)")
		case errors.Is(err, jwt.ErrInvalidIssuer):
			return nil, refuse("wrong issuer")
		case errors.Is(err, jwt.ErrInvalidAudience):
			return nil, refuse("wrong audience")
		default:
			return nil, refuse("invalid claims")
		}
	}
	p, err := principalOf(&c)
	if err != nil {
		return nil, err
	}
	p.Expires = c.Expiry.Time()
	return p, nil
}

func principalOf(c *claims) (*Principal, error) {
	if c.Subject == "" {
		return nil, refuse("token has no subject (sub)")
	}
	p := &Principal{Subject: c.Subject, Roles: c.Roles, Patient: c.Patient, Client: c.ClientID, Datastores: c.Datastores}
	if c.Scope != "" {
		scopes, err := ParseScopes(c.Scope)
		if err != nil {
			return nil, refuse("%v", err)
		}
		p.Scopes = scopes
	}
	if p.Patient != "" && !model.ValidID(p.Patient) {
		return nil, refuse("patient claim is not a FHIR id")
	}
	for _, s := range p.Scopes {
		if s.Context == "patient" && p.Patient == "" {
			return nil, refuse("patient scopes need a patient claim")
		}
	}
	if p.HasRole(RolePatient) && p.Patient == "" {
		return nil, refuse("the patient role needs a patient claim")
	}
	if len(p.Roles) == 0 {
		return nil, refuse("token grants no roles")
	}
	return p, nil
}

// key returns the verification key for a token header and whether it is the local key.
func (v *Verifier) key(ctx context.Context, h jose.Header) (any, bool, error) {
	alg := jose.SignatureAlgorithm(h.Algorithm)
	if alg == jose.HS256 {
		return v.cfg.HMACSecret, false, nil
	}
	if l := v.cfg.Local; l != nil && h.KeyID == l.KeyID() {
		return l.public(), true, nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	k, err := pick(v.keys, h.KeyID, alg)
	if err != nil && v.cfg.JWKSURL != "" && v.cfg.Now().Sub(v.fetchedAt) > jwksRefresh {
		if ferr := v.fetch(ctx); ferr == nil {
			k, err = pick(v.keys, h.KeyID, alg)
		}
	}
	return k, false, err
}

// pick finds the key of kid in set, of a kind that fits alg. A token without kid is
// accepted only when the set has exactly one such key.
func pick(set jose.JSONWebKeySet, kid string, alg jose.SignatureAlgorithm) (any, error) {
	fits := func(k jose.JSONWebKey) bool {
		if k.Use != "" && k.Use != "sig" || k.Algorithm != "" && k.Algorithm != string(alg) {
			return false
		}
		switch k.Key.(type) {
		case *rsa.PublicKey:
			return alg == jose.RS256
		case *ecdsa.PublicKey:
			return alg == jose.ES256
		}
		return false
	}
	var found []jose.JSONWebKey
	for _, k := range set.Keys {
		if (kid == "" || k.KeyID == kid) && fits(k) {
			found = append(found, k)
		}
	}
	switch {
	case len(found) == 1:
		return found[0].Key, nil
	case kid == "" && len(found) > 1:
		return nil, refuse("token has no key id (kid) and several keys fit")
	case kid != "":
		return nil, refuse("unknown key id")
	default:
		return nil, refuse("no key fits the token")
	}
}

func joinAlgs(algs []jose.SignatureAlgorithm) string {
	s := make([]string, len(algs))
	for i, a := range algs {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}
