package api_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/audit"
	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/storage"
)

// authEnv is a server with authentication on: tokens signed by a local key, the default policy.
type authEnv struct {
	*env
	key    *authz.LocalKey
	policy *authz.Policy
	audit  *audit.Writer
}

var (
	groupsOnce sync.Once
	groups     map[string][]string
)

func objectGroups() map[string][]string {
	groupsOnce.Do(func() { groups = api.ObjectGroups() })
	return groups
}

func newAuthEnv(t testing.TB, vc authz.VerifierConfig, mutate ...func(*api.Config)) *authEnv {
	t.Helper()
	key, err := authz.LoadLocalKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	vc.Local = key
	verifier, err := authz.NewVerifier(context.Background(), vc)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := authz.NewPolicy(authz.PolicyConfig{Groups: objectGroups()})
	if err != nil {
		t.Fatal(err)
	}
	a := &authEnv{key: key, policy: policy}
	a.env = newEnv(t, append([]func(*api.Config){func(c *api.Config) {
		c.Auth = api.Auth{Authenticator: verifier, Policy: policy}
		a.audit = audit.NewWriter(c.Store.(*storage.Store), 1024, nil)
		c.Audit = a.audit
	}}, mutate...)...)
	t.Cleanup(func() { a.audit.Close(context.Background()) })
	return a
}

// token signs a token for roles (comma-separated), bound to patient when set.
func (a *authEnv) token(t testing.TB, roles, patient string, scopes ...string) string {
	t.Helper()
	tok, err := a.key.Sign(authz.TokenRequest{Subject: roles + "-user", Roles: strings.Split(roles, ","), Patient: patient, Scopes: scopes, TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// postAs sends a GraphQL request with a bearer token to path (default /$graphql).
func (e *env) postAs(token, path, query string) *gqlResponse {
	e.t.Helper()
	return e.postAsVars(token, path, query, nil)
}

// postAsVars sends a GraphQL request with variables and a bearer token to path (default
// /$graphql).
func (e *env) postAsVars(token, path, query string, vars map[string]any) *gqlResponse {
	e.t.Helper()
	if path == "" {
		path = "/$graphql"
	}
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := &gqlResponse{body: b}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		e.t.Fatalf("%s: status %d, undecodable body %q", path, resp.StatusCode, truncate(string(b), 300))
	}
	out.Status = resp.StatusCode
	out.header = resp.Header
	return out
}

// dataString is the response's data as one string, for containment checks.
func dataString(r *gqlResponse) string {
	b, _ := json.Marshal(r.Data)
	return string(b)
}

func codes(r *gqlResponse) []string {
	var out []string
	for _, e := range r.Errors {
		c, _ := e.Extensions["code"].(string)
		out = append(out, c)
	}
	return out
}

// TestTokenValidation refuses every bad token with 401, a reason and no data.
func TestTokenValidation(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	strangerKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &rsaKey.PublicKey, KeyID: "rsa-1", Algorithm: "RS256", Use: "sig"},
		{Key: &ecKey.PublicKey, KeyID: "ec-1", Algorithm: "ES256", Use: "sig"},
	}}
	jwksFile := filepath.Join(t.TempDir(), "jwks.json")
	b, _ := json.Marshal(jwks)
	os.WriteFile(jwksFile, b, 0o600)
	secret := []byte("0123456789abcdef0123456789abcdef")
	a := newAuthEnv(t, authz.VerifierConfig{JWKSFile: jwksFile, Issuer: "https://idp.example", Audience: "fhirgate-api", HMACSecret: secret})
	a.put(`{"resourceType":"Patient","id":"p1","gender":"female"}`)

	now := time.Now()
	good := map[string]any{"iss": "https://idp.example", "aud": "fhirgate-api", "sub": "alice", "roles": []string{"admin"},
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
	with := func(k string, v any) map[string]any {
		c := map[string]any{}
		for kk, vv := range good {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	sign := func(alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
		opts := (&jose.SignerOptions{}).WithType("JWT")
		if kid != "" {
			opts = opts.WithHeader("kid", kid)
		}
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jwt.Signed(s).Claims(claims).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	unsigned := func(claims map[string]any) string { // alg: none
		h, _ := json.Marshal(map[string]any{"alg": "none", "typ": "JWT"})
		c, _ := json.Marshal(claims)
		return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "."
	}
	rs := sign(jose.RS256, rsaKey, "rsa-1", good)
	tampered := rs[:strings.LastIndex(rs, ".")-4] + "AAAA" + rs[strings.LastIndex(rs, "."):]

	query := `{ Patient(id: "p1") { gender } }`
	accepted := []struct{ name, token string }{
		{"RS256 from the JWKS", rs},
		{"ES256 from the JWKS", sign(jose.ES256, ecKey, "ec-1", good)},
		{"HS256 with the configured secret", sign(jose.HS256, secret, "", good)},
		{"local key", a.token(t, "admin", "")},
	}
	for _, c := range accepted {
		r := a.postAs(c.token, "", query)
		if r.Status != http.StatusOK || len(r.Errors) > 0 || !has(string(r.Data["Patient"]), "female") {
			t.Errorf("%s: status %d, errors %+v, data %s", c.name, r.Status, r.Errors, r.Data["Patient"])
		}
	}
	refused := []struct{ name, token, reason string }{
		{"missing", "", "missing bearer token"},
		{"malformed", "not.a.jwt", "malformed"},
		{"garbage", "eyJhbGciOiJSUzI1NiJ9.!!!.???", "malformed"},
		{"alg none", unsigned(good), "algorithm not accepted"},
		{"HS256 signed with the RSA public key (algorithm confusion)", sign(jose.HS256, []byte("wrong-secret-wrong-secret-wrong-s"), "rsa-1", good), "invalid signature"},
		{"tampered signature", tampered, "invalid signature"},
		{"unknown key id", sign(jose.ES256, strangerKey, "nope", good), "unknown key id"},
		{"right kid, wrong key", sign(jose.ES256, strangerKey, "ec-1", good), "invalid signature"},
		{"expired", sign(jose.RS256, rsaKey, "rsa-1", with("exp", now.Add(-time.Hour).Unix())), "expired"},
		{"no expiry", sign(jose.RS256, rsaKey, "rsa-1", with("exp", nil)), "no expiry"},
		{"not yet valid", sign(jose.RS256, rsaKey, "rsa-1", with("nbf", now.Add(time.Hour).Unix())), "not valid yet"},
		{"wrong issuer", sign(jose.RS256, rsaKey, "rsa-1", with("iss", "https://evil.example")), "wrong issuer"},
		{"wrong audience", sign(jose.RS256, rsaKey, "rsa-1", with("aud", "someone-else")), "wrong audience"},
		{"no subject", sign(jose.RS256, rsaKey, "rsa-1", with("sub", nil)), "no subject"},
		{"no roles", sign(jose.RS256, rsaKey, "rsa-1", with("roles", nil)), "no roles"},
		{"scope that does not parse", sign(jose.RS256, rsaKey, "rsa-1", with("scope", "patient/Observation.xyz")), "scope"},
		{"scope of an unknown type", sign(jose.RS256, rsaKey, "rsa-1", with("scope", "user/Nonsense.rs")), "unknown resource type"},
		{"granular scope", sign(jose.RS256, rsaKey, "rsa-1", with("scope", "user/Observation.rs?category=laboratory")), "granular"},
		{"patient scope without patient", sign(jose.RS256, rsaKey, "rsa-1", with("scope", "patient/*.rs")), "patient claim"},
		{"patient role without patient", sign(jose.RS256, rsaKey, "rsa-1", with("roles", []string{"patient"})), "patient claim"},
	}
	for _, c := range refused {
		r := a.postAs(c.token, "", query)
		if r.Status != http.StatusUnauthorized || len(r.Data) > 0 || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "UNAUTHENTICATED" || !has(r.Errors[0].Message, c.reason) {
			t.Errorf("%s: status %d, data %v, errors %+v; want 401 saying %q", c.name, r.Status, r.Data, r.Errors, c.reason)
			continue
		}
		if outcomeIssue(t, r.Errors[0]) != "login" || !has(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: issue %q, WWW-Authenticate %q", c.name, outcomeIssue(t, r.Errors[0]), r.header.Get("WWW-Authenticate"))
		}
	}
	// The instance-level endpoint is guarded the same way.
	if r := a.postAs("", "/Patient/p1/$graphql", `{ gender }`); r.Status != http.StatusUnauthorized || len(r.Data) > 0 {
		t.Errorf("instance endpoint without a token: status %d, data %v", r.Status, r.Data)
	}
	t.Logf("token cases: %d accepted, %d refused", len(accepted), len(refused)+1)
}

// TestScopesNarrowRoles: SMART scopes restrict what a role allows, per type and interaction.
func TestScopesNarrowRoles(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{})
	a.put(`{"resourceType":"Patient","id":"p1","gender":"female"}`,
		`{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"hr"},"subject":{"reference":"Patient/p1"}}`)
	tok := a.token(t, "clinician", "", "user/Observation.rs")
	r := a.postAs(tok, "", `{ Observation(id: "o1") { status subject { resource { ... on Patient { gender } } } } PatientList { id } }`)
	if got := strings.Join(codes(r), ","); got != "FORBIDDEN,FORBIDDEN" || !has(string(r.Data["Observation"]), `"final"`) || has(string(r.Data["Observation"]), "female") {
		t.Errorf("user/Observation.rs: codes %s, data %s", got, r.Data)
	}
	r = a.postAs(tok, "", `mutation { ObservationCreate(res: {resourceType: "Observation", status: "final", code: {text: "x"}}) { id } }`)
	if strings.Join(codes(r), ",") != "FORBIDDEN" {
		t.Errorf("create with a read scope: %+v", r.Errors)
	}
	if n, _ := a.store.Count(context.Background(), "Observation", storage.Query{}); n != 1 {
		t.Errorf("a denied create wrote: %d observations", n)
	}
	// v1 write scope lets the same role write.
	r = a.postAs(a.token(t, "clinician", "", "user/Observation.write", "user/Observation.read"), "", `mutation { ObservationCreate(res: {resourceType: "Observation", status: "final", code: {text: "x"}}) { id } }`)
	if len(r.Errors) > 0 {
		t.Errorf("create with user/Observation.write: %+v", r.Errors)
	}
}

// TestCompartmentIsolation: two patients' tokens each see their own compartment and nothing of
// the other's, on every path: read by id, batch read through references, search, reverse
// references, chained search, history-free writes, the instance endpoint.
func TestCompartmentIsolation(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{})
	a.put(
		`{"resourceType":"Practitioner","id":"doc","name":[{"family":"House"}]}`,
		`{"resourceType":"Patient","id":"alice","name":[{"family":"Alpha"}],"generalPractitioner":[{"reference":"Practitioner/doc"}]}`,
		`{"resourceType":"Patient","id":"bob","name":[{"family":"Beta"}]}`,
		`{"resourceType":"Observation","id":"oa1","status":"final","code":{"text":"hr"},"subject":{"reference":"Patient/alice"}}`,
		`{"resourceType":"Observation","id":"oa2","status":"final","code":{"text":"bp"},"subject":{"reference":"Patient/alice"},"performer":[{"reference":"Practitioner/doc"}]}`,
		`{"resourceType":"Observation","id":"ob1","status":"final","code":{"text":"hr"},"subject":{"reference":"Patient/bob"},"hasMember":[{"reference":"Observation/oa1"}]}`,
		`{"resourceType":"Condition","id":"ca","subject":{"reference":"Patient/alice"},"code":{"text":"flu"}}`,
		`{"resourceType":"Condition","id":"cb","subject":{"reference":"Patient/bob"},"code":{"text":"gout"}}`,
		`{"resourceType":"Observation","id":"ob2","status":"final","code":{"text":"link"},"subject":{"reference":"Patient/bob"},"focus":[{"reference":"Patient/alice"}]}`,
	)
	alice, bob := a.token(t, "patient", "alice"), a.token(t, "patient", "bob")

	q := `{ ObservationList { id } ConditionList { id code { text } } PatientList { id }
	  ob1: Observation(id: "ob1") { id } oa1: Observation(id: "oa1") { id }
	  Patient(id: "alice") { ObservationList(_reference: subject) { id } ConditionList(_reference: patient) { id } }
	  chained: ObservationList(subject: {Patient: {name: "Beta"}}) { id }
	  doc: Practitioner(id: "doc") { id } }`
	r := a.postAs(alice, "", q)
	body := dataString(r)
	if len(r.Errors) != 2 { // the two reads of what is not hers: not found
		t.Errorf("alice's errors: %+v", r.Errors)
	}
	for _, want := range []string{"oa1", "oa2", "ca", "flu", "alice"} {
		if !has(body, want) {
			t.Errorf("alice misses %s: %s", want, body)
		}
	}
	for _, hidden := range []string{`"ob1"`, `"ob2"`, `"cb"`, "gout", `"bob"`, "Beta", "House"} {
		if has(body, `:`+hidden) {
			t.Errorf("alice sees %s: %s", hidden, body)
		}
	}
	if string(r.Data["ob1"]) != "null" || string(r.Data["doc"]) != "null" || string(r.Data["chained"]) != "[]" {
		t.Errorf("alice: ob1 %s, doc %s, chained %s", r.Data["ob1"], r.Data["doc"], r.Data["chained"])
	}
	// The refusal of another's resource is indistinguishable from absence.
	missing := a.postAs(alice, "", `{ Observation(id: "does-not-exist") { id } }`)
	other := a.postAs(alice, "", `{ Observation(id: "ob1") { id } }`)
	if fmt.Sprint(codes(missing)) != fmt.Sprint(codes(other)) || strings.ReplaceAll(other.Errors[0].Message, "ob1", "X") != strings.ReplaceAll(missing.Errors[0].Message, "does-not-exist", "X") {
		t.Errorf("another's resource answers differently from a missing one: %+v vs %+v", other.Errors, missing.Errors)
	}

	r = a.postAs(bob, "", `{ ObservationList { id hasMember { resource { ... on Observation { id } } } } ConditionList { id } PatientList { id } }`)
	body = dataString(r)
	if want := `{"ConditionList":[{"id":"cb"}],"ObservationList":[{"id":"ob1","hasMember":[{"resource":null}]},{"id":"ob2","hasMember":null}],"PatientList":[{"id":"bob"}]}`; body != want {
		t.Errorf("bob's view:\n got %s\nwant %s", body, want)
	}
	// Instance endpoint.
	if r := a.postAs(bob, "/Patient/alice/$graphql", `{ id name { family } }`); r.Status != http.StatusNotFound || has(fmt.Sprint(r.Data), "Alpha") {
		t.Errorf("bob at /Patient/alice/$graphql: status %d, data %v", r.Status, r.Data)
	}
	// Writes stay inside the compartment too: storage refuses, even for a role allowed to write.
	writer := a.token(t, "clinician", "bob")
	r = a.postAs(writer, "", `mutation { ObservationCreate(res: {resourceType: "Observation", status: "final", code: {text: "x"}, subject: {reference: "Patient/alice"}}) { id } }`)
	if strings.Join(codes(r), ",") != "FORBIDDEN" {
		t.Errorf("write into another's compartment: %+v", r.Errors)
	}
	r = a.postAs(writer, "", `mutation { ObservationUpdate(id: "oa1", res: {resourceType: "Observation", id: "oa1", status: "final", code: {text: "x"}, subject: {reference: "Patient/bob"}}) { id } }`)
	if strings.Join(codes(r), ",") != "NOT_FOUND" { // outside answers like absent
		t.Errorf("taking over another's resource: %+v", r.Errors)
	}
	if rec, err := a.store.Read(context.Background(), "Observation", "oa1"); err != nil || rec.VersionID != 1 {
		t.Errorf("oa1 after refused update: %v %v", rec, err)
	}
	r = a.postAs(writer, "", `mutation { ObservationCreate(res: {resourceType: "Observation", status: "final", code: {text: "own"}, subject: {reference: "Patient/bob"}}) { id } }`)
	if len(r.Errors) > 0 {
		t.Errorf("write into own compartment: %+v", r.Errors)
	}
}

// TestAuditEvents: every request leaves one AuditEvent naming who, what and the outcome; a
// request refused before any data is read leaves only the refusal.
func TestAuditEvents(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{})
	a.put(`{"resourceType":"Patient","id":"p1","gender":"female"}`,
		`{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"hr"},"subject":{"reference":"Patient/p1"}}`)
	admin, analyst := a.token(t, "admin", ""), a.token(t, "analyst", "")

	a.postAs(analyst, "", `{ Observation(id: "o1") { status subject { resource { ... on Patient { gender } } } } }`)
	a.postAs(admin, "", `mutation { PatientUpdate(id: "p1", res: {resourceType: "Patient", id: "p1", gender: "male"}) { id } }`)
	a.postAs("bad-token", "", `{ Patient(id: "p1") { gender } }`)
	a.postAs(analyst, "", `mutation { PatientDelete(id: "p1") { id } }`)
	if err := a.audit.Close(context.Background()); err != nil { // flushes the buffer
		t.Fatal(err)
	}
	recs, err := a.store.Search(context.Background(), "AuditEvent", storage.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 {
		t.Fatalf("%d AuditEvents for 4 requests", len(recs))
	}
	type event struct {
		Action, Outcome, OutcomeDesc string
		Recorded                     string
		Agent                        []struct {
			Who struct {
				Identifier struct{ Value string }
				Display    string
			}
			Role []struct{ Text string }
		}
		Entity []struct {
			What struct{ Reference string }
		}
	}
	var evs []event
	for _, rec := range recs {
		var e event
		json.Unmarshal(rec.JSON, &e)
		evs = append(evs, e)
	}
	find := func(action, outcome string) *event {
		for i := range evs {
			if evs[i].Action == action && evs[i].Outcome == outcome {
				return &evs[i]
			}
		}
		return nil
	}
	refs := func(e *event) string {
		var s []string
		for _, en := range e.Entity {
			if en.What.Reference != "" {
				s = append(s, en.What.Reference)
			}
		}
		return strings.Join(s, " ")
	}
	if e := find("R", "0"); e == nil || e.Agent[0].Who.Identifier.Value != "analyst-user" || refs(e) != "Observation/o1 Patient/p1" {
		t.Errorf("read event: %+v", e)
	}
	if e := find("U", "0"); e == nil || e.Agent[0].Role[0].Text != "admin" || refs(e) != "Patient/p1" {
		t.Errorf("update event: %+v", e)
	}
	if e := find("E", "4"); e == nil || e.Agent[0].Who.Display != "unauthenticated" || len(refs(e)) > 0 || !has(e.OutcomeDesc, "malformed") {
		t.Errorf("refused request's event: %+v", e)
	}
	if e := find("D", "4"); e == nil || !has(e.OutcomeDesc, "FORBIDDEN") || len(refs(e)) > 0 {
		t.Errorf("denied delete's event: %+v", e)
	}
	// Admins read the trail through GraphQL; no one else does.
	a2 := a.postAs(admin, "", `{ AuditEventList { action } }`)
	if len(a2.Errors) > 0 || strings.Count(string(a2.Data["AuditEventList"]), "action") != 4 {
		t.Errorf("admin reads the trail: %s %+v", a2.Data["AuditEventList"], a2.Errors)
	}
	for _, role := range []string{"clinician", "analyst", "partner"} {
		if r := a.postAs(a.token(t, role, ""), "", `{ AuditEventList { action } }`); strings.Join(codes(r), ",") != "FORBIDDEN" {
			t.Errorf("%s reads the audit trail: %+v", role, r)
		}
	}
}

// TestAuditWriterKeepsEveryEvent: events queued faster than storage takes them all arrive,
// through a small buffer, by Close; one recorded after Close is counted as lost, not written.
func TestAuditWriterKeepsEveryEvent(t *testing.T) {
	e := newEnv(t)
	w := audit.NewWriter(e.store, 8, nil)
	const n = 300
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			w.Record(audit.Event{Time: time.Now(), Subject: fmt.Sprint("s", i), Action: audit.Read, Interaction: "read", Outcome: audit.Success})
		})
	}
	wg.Wait()
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.Record(audit.Event{Time: time.Now(), Subject: "late", Action: audit.Read, Interaction: "read", Outcome: audit.Success})
	if got, err := e.store.Count(context.Background(), "AuditEvent", storage.Query{}); err != nil || got != n || w.Lost() != 1 {
		t.Errorf("%d AuditEvents stored and %d lost for %d recorded before Close and 1 after (%v)", got, w.Lost(), n, err)
	}
}

// TestRateAndSizeLimits: a principal over its rate is told to wait; one over its body size is
// refused; other principals are unaffected.
func TestRateAndSizeLimits(t *testing.T) {
	// The limiter's clock stands still unless the test moves it: no request refills a bucket
	// by being slow.
	var clockMu sync.Mutex
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return clock }
	advance := func(d time.Duration) { clockMu.Lock(); clock = clock.Add(d); clockMu.Unlock() }
	a := newAuthEnv(t, authz.VerifierConfig{}, func(c *api.Config) {
		c.Auth.Limits = api.PrincipalLimits{Rate: 1, Burst: 3, MaxBodyBytes: 2000, ByRole: map[string]int64{"admin": 100_000}, Now: now}
	})
	analyst, other := a.token(t, "analyst", ""), a.token(t, "clinician", "")
	var statuses []int
	for range 5 {
		statuses = append(statuses, a.postAs(analyst, "", `{ PatientList { id } }`).Status)
	}
	if fmt.Sprint(statuses) != "[200 200 200 429 429]" {
		t.Errorf("statuses of 5 requests at once at burst 3: %v", statuses)
	}
	r := a.postAs(analyst, "", `{ PatientList { id } }`)
	if r.Status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "1" || strings.Join(codes(r), ",") != "RATE_LIMITED" || outcomeIssue(t, r.Errors[0]) != "throttled" {
		t.Errorf("throttled answer: status %d, Retry-After %q, %+v", r.Status, r.header.Get("Retry-After"), r.Errors)
	}
	// One second at a rate of 1 per second buys exactly one more request.
	advance(time.Second)
	statuses = nil
	for range 2 {
		statuses = append(statuses, a.postAs(analyst, "", `{ PatientList { id } }`).Status)
	}
	if fmt.Sprint(statuses) != "[200 429]" {
		t.Errorf("statuses of 2 requests a second later: %v", statuses)
	}
	if r := a.postAs(other, "", `{ PatientList { id } }`); r.Status != http.StatusOK {
		t.Errorf("another principal throttled too: %d", r.Status)
	}
	big := `{ PatientList(name: "` + strings.Repeat("x", 3000) + `") { id } }`
	if r := a.postAs(other, "", big); r.Status != http.StatusRequestEntityTooLarge || strings.Join(codes(r), ",") != "PAYLOAD_TOO_LARGE" {
		t.Errorf("clinician over 2000 bytes: status %d %+v", r.Status, r.Errors)
	}
	if r := a.postAs(a.token(t, "admin", ""), "", big); r.Status != http.StatusOK {
		t.Errorf("admin under its own limit: status %d %+v", r.Status, r.Errors)
	}
}

// TestPolicyReload: a changed policy file takes effect on Reload, without a restart.
func TestPolicyReload(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policy.csv")
	os.WriteFile(file, []byte("p, reader, *, read, allow\np, reader, Patient.gender, read, deny\n"), 0o600)
	p, err := authz.NewPolicy(authz.PolicyConfig{PolicyFile: file, Groups: objectGroups()})
	if err != nil {
		t.Fatal(err)
	}
	if p.Allows("reader", "Patient.gender", "read") || !p.Allows("reader", "Patient.id", "read") {
		t.Fatal("policy file not in force")
	}
	os.WriteFile(file, []byte("p, reader, *, read, allow\n"), 0o600)
	if err := p.Reload(); err != nil {
		t.Fatal(err)
	}
	if !p.Allows("reader", "Patient.gender", "read") {
		t.Error("reloaded policy not in force")
	}
	os.WriteFile(file, []byte("p, reader\n"), 0o600)
	if err := p.Reload(); err == nil {
		t.Error("a broken policy file was accepted")
	}
	if !p.Allows("reader", "Patient.gender", "read") {
		t.Error("a failed reload dropped the policy in force")
	}
}

// TestStorageEnforcesScope calls storage directly, as a resolver that forgot every check
// would: with a patient's scope in the context, nothing outside the compartment comes back
// from any read, and nothing outside can be written (it answers like absent).
func TestStorageEnforcesScope(t *testing.T) {
	e := newEnv(t)
	e.put(`{"resourceType":"Patient","id":"alice","gender":"female"}`,
		`{"resourceType":"Patient","id":"bob","gender":"male"}`,
		`{"resourceType":"Practitioner","id":"doc"}`,
		`{"resourceType":"Observation","id":"oa","status":"final","code":{"text":"hr"},"subject":{"reference":"Patient/alice"}}`,
		`{"resourceType":"Observation","id":"ob","status":"final","code":{"text":"hr"},"subject":{"reference":"Patient/bob"}}`)
	// ob moves into alice's compartment in version 2: its version 1 stays bob's.
	e.put(`{"resourceType":"Observation","id":"ob","status":"final","code":{"text":"hr"},"subject":{"reference":"Patient/alice"}}`)
	ctx := storage.WithScope(context.Background(), authz.PatientCompartment{ID: "bob"}.Scope())
	s := e.store

	if _, err := s.Read(ctx, "Patient", "alice"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Read of another patient: %v", err)
	}
	if _, err := s.Read(ctx, "Practitioner", "doc"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Read outside the compartment's types: %v", err)
	}
	if r, err := s.Read(ctx, "Patient", "bob"); err != nil || r.ID != "bob" {
		t.Errorf("Read of own record: %v %v", r, err)
	}
	if m, err := s.ReadMany(ctx, "Observation", []string{"oa", "ob"}); err != nil || len(m) != 0 {
		t.Errorf("ReadMany: %v %v", m, err)
	}
	if r, err := s.ReadVersion(ctx, "Observation", "ob", 1); err != nil || r.VersionID != 1 {
		t.Errorf("ReadVersion of bob's version: %v %v", r, err)
	}
	if _, err := s.ReadVersion(ctx, "Observation", "ob", 2); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("ReadVersion of alice's version: %v", err)
	}
	if h, err := s.History(ctx, "Observation", "ob"); err != nil || len(h) != 1 || h[0].VersionID != 1 {
		t.Errorf("History: %d versions, %v", len(h), err)
	}
	if recs, err := s.Search(ctx, "Observation", storage.Query{}); err != nil || len(recs) != 0 {
		t.Errorf("Search: %d, %v", len(recs), err)
	}
	if recs, err := s.Search(ctx, "Patient", storage.Query{}); err != nil || len(recs) != 1 || recs[0].ID != "bob" {
		t.Errorf("Search of patients: %v, %v", recs, err)
	}
	if n, err := s.Count(ctx, "Patient", storage.Query{}); err != nil || n != 1 {
		t.Errorf("Count: %d %v", n, err)
	}
	if recs, err := s.Select(ctx, "Observation", storage.Selection{Limit: 10}); err != nil || len(recs) != 0 {
		t.Errorf("Select: %d %v", len(recs), err)
	}
	res, _ := model.Unmarshal([]byte(`{"resourceType":"Observation","id":"new","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/alice"}}`))
	if _, err := s.Commit(ctx, []storage.Write{{Op: storage.OpCreate, Type: "Observation", ID: "new", Resource: res}}); !errors.Is(err, storage.ErrForbidden) {
		t.Errorf("write into another compartment: %v", err)
	}
	if _, err := s.Commit(ctx, []storage.Write{{Op: storage.OpDelete, Type: "Patient", ID: "alice"}}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("delete of another patient: %v", err)
	}
	if n, _ := s.Count(context.Background(), "Patient", storage.Query{}); n != 2 {
		t.Errorf("patients after refused delete: %d", n)
	}
}
