package authz

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func TestParseScopes(t *testing.T) {
	cases := []struct {
		claim   string
		want    []Scope
		wantErr bool
	}{
		{"openid fhirUser launch/patient offline_access", []Scope{}, false},
		{"patient/Observation.rs", []Scope{{"patient", "Observation", Read | Search}}, false},
		{"user/*.cruds", []Scope{{"user", "*", Create | Read | Update | Delete | Search}}, false},
		{"system/Patient.read user/Observation.write", []Scope{{"system", "Patient", Read | Search}, {"user", "Observation", Create | Update | Delete}}, false},
		{"user/*.*", []Scope{{"user", "*", Create | Read | Update | Delete | Search}}, false},
		{"user/Patient.c", []Scope{{"user", "Patient", Create}}, false},
		{"user/Patient.sr", nil, true},     // out of order
		{"user/Patient.rr", nil, true},     // repeated
		{"user/Patient.", nil, true},       // empty
		{"user/Patient", nil, true},        // no permissions
		{"admin/Patient.rs", nil, true},    // unknown context
		{"user/Nope.rs", nil, true},        // unknown type
		{"user/Patient.rs?x=1", nil, true}, // granular
	}
	for _, c := range cases {
		got, err := ParseScopes(c.claim)
		if (err != nil) != c.wantErr {
			t.Errorf("%q: error %v", c.claim, err)
			continue
		}
		if !c.wantErr && len(got) != len(c.want) {
			t.Errorf("%q: got %v, want %v", c.claim, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%q: got %v, want %v", c.claim, got, c.want)
			}
		}
	}
	p := &Principal{Scopes: []Scope{{"user", "Observation", Read | Search}, {"user", "*", Read}}}
	for _, c := range []struct {
		typ, act string
		want     bool
	}{{"Observation", ActSearch, true}, {"Patient", ActRead, true}, {"Patient", ActSearch, false}, {"Observation", ActCreate, false}, {"Observation", ActSubscribe, true}, {"Observation", ActAnalyze, false}} {
		if got := p.ScopeAllows(c.typ, c.act); got != c.want {
			t.Errorf("ScopeAllows(%s, %s) = %v", c.typ, c.act, got)
		}
	}
	if !(&Principal{}).ScopeAllows("Patient", ActDelete) {
		t.Error("a principal without scopes is limited by them")
	}
}

// TestLocalKey: the key is created once, kept private to its owner, and its tokens verify.
func TestLocalKey(t *testing.T) {
	dir := t.TempDir()
	k1, err := LoadLocalKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadLocalKey(dir)
	if err != nil || k2.KeyID() != k1.KeyID() {
		t.Fatalf("reloaded key %v differs: %v", k2, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, localKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode: %v %v", fi.Mode(), err)
	}
	v, err := NewVerifier(context.Background(), VerifierConfig{Local: k1})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := k1.Sign(TokenRequest{Subject: "Patient/p1", Roles: []string{RolePatient}, Patient: "p1", Scopes: []string{"patient/*.rs"}, TTL: time.Minute}, now)
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(context.Background(), tok)
	if err != nil || p.Subject != "Patient/p1" || p.Patient != "p1" || !p.HasRole(RolePatient) || len(p.Scopes) != 1 {
		t.Fatalf("principal %+v, %v", p, err)
	}
	if _, err := k1.Sign(TokenRequest{Subject: "x", Roles: []string{RolePatient}, TTL: time.Minute}, now); err == nil {
		t.Error("signed a patient token without a patient")
	}
	v.cfg.Now = func() time.Time { return now.Add(2 * time.Minute) }
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("expired token: %v", err)
	}
}

// TestJWKSURLRotation: keys come from a JWKS URL, and a new key id triggers one refetch.
func TestJWKSURLRotation(t *testing.T) {
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var current atomic.Pointer[jose.JSONWebKeySet]
	current.Store(&jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k1.PublicKey, KeyID: "k1", Algorithm: "ES256"}}})
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		json.NewEncoder(w).Encode(current.Load())
	}))
	defer srv.Close()
	clock := time.Now()
	v, err := NewVerifier(context.Background(), VerifierConfig{JWKSURL: srv.URL, Issuer: "idp", Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(key *ecdsa.PrivateKey, kid string) string {
		s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", kid))
		tok, _ := jwt.Signed(s).Claims(map[string]any{"iss": "idp", "sub": "u", "roles": []string{"admin"}, "exp": clock.Add(time.Hour).Unix()}).Serialize()
		return tok
	}
	if _, err := v.Verify(context.Background(), sign(k1, "k1")); err != nil {
		t.Fatal(err)
	}
	current.Store(&jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k2.PublicKey, KeyID: "k2", Algorithm: "ES256"}}})
	if _, err := v.Verify(context.Background(), sign(k2, "k2")); err == nil {
		t.Error("a rotated key was accepted before the refetch interval")
	}
	clock = clock.Add(2 * jwksRefresh)
	if _, err := v.Verify(context.Background(), sign(k2, "k2")); err != nil {
		t.Errorf("rotated key: %v", err)
	}
	for range 5 {
		v.Verify(context.Background(), sign(k2, "unknown"))
	}
	if n := fetches.Load(); n != 2 {
		t.Errorf("%d JWKS fetches, want 2 (start, rotation)", n)
	}
}

// TestPatientCompartmentFilter: the compartment is the spec's: Patient by id or link,
// Observation by subject or performer, none of Practitioner; its scope filters by exactly
// those (one alternative per parameter, and the Patient's own id).
func TestPatientCompartmentFilter(t *testing.T) {
	c := PatientCompartment{ID: "p1"}
	data := c.Compartment()
	if data.Type != "Patient" || data.ID != "p1" {
		t.Errorf("compartment of %s/%s, want Patient/p1", data.Type, data.ID)
	}
	if got := data.Params("Observation"); !slices.Equal(got, []string{"subject", "performer"}) {
		t.Errorf("Observation params %v, want [subject performer]", got)
	}
	sc := c.Scope()
	if _, ok := sc.Filter("Practitioner"); ok || data.Params("Practitioner") != nil {
		t.Error("Practitioner is not in the Patient compartment")
	}
	for typ, want := range map[string]int{"Observation": 2, "Patient": len(data.Params("Patient")) + 1} {
		f, ok := sc.Filter(typ)
		b, _ := json.Marshal(f)
		var or map[string][]any
		if err := json.Unmarshal(b, &or); !ok || err != nil || len(or) != 1 || len(or["$or"]) != want {
			t.Errorf("%s filter %s (%v), want an $or of %d", typ, b, err, want)
		}
	}
}
