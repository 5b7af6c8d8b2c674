package api_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/metrics"
)

// everyIntrospectionField selects every field of every introspection type, with deprecated
// members included, aliases, __typename and a skipped and an included field.
const everyIntrospectionField = `query($yes: Boolean!) {
  __schema {
    description
    types { ...T }
    queryType { name kind }
    mutationType { name }
    subscriptionType { name }
    directives { name description locations isRepeatable args(includeDeprecated: true) { ...IV } }
    __typename
  }
}
fragment IV on __InputValue { name description type { ...R } defaultValue isDeprecated deprecationReason }
fragment R on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }
fragment T on __Type {
  kind name description specifiedByURL isOneOf __typename
  fields(includeDeprecated: true) {
    name description isDeprecated deprecationReason
    args(includeDeprecated: true) { ...IV }
    type { ...R }
    alias: name @include(if: $yes)
    skipped: name @skip(if: $yes)
  }
  inputFields(includeDeprecated: true) { ...IV }
  interfaces { ...R }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...R }
  ... on __Type { again: kind }
}`

// typeQueries read single types by name: shown, hidden from some roles, and unknown.
const typeQueries = `query($name: String!) {
  byVar: __type(name: $name) { name kind fields { name type { name kind ofType { name } } } }
  patient: __type(name: "Patient") { name description interfaces { name } fields(includeDeprecated: false) { name args { name defaultValue } } }
  human: __type(name: "HumanName") { name fields { name } }
  kinds: __type(name: "ResourceType") { enumValues { name } }
  input: __type(name: "PatientCreateInput") { inputFields { name type { kind name } } }
  none: __type(name: "NoSuchType") { name }
}`

// TestIntrospectionAnswerMatchesExecutor holds the direct introspection answer (an operation
// that only introspects) to gqlgen's executor's (the same fields beside a data field, which
// the executor answers), byte for byte, for every policy role, a set of two roles and a
// server without authorisation.
func TestIntrospectionAnswerMatchesExecutor(t *testing.T) {
	m := metrics.New()
	a := newAuthEnv(t, authz.VerifierConfig{}, func(c *api.Config) { c.Metrics = m })
	open := newEnv(t, func(c *api.Config) { c.Auth = api.Auth{Off: true} })
	type caller struct {
		name string
		post func(query string, vars map[string]any) *gqlResponse
	}
	var callers []caller
	for _, role := range append(policyRoles(t), "analyst,partner") {
		tok := roleToken(t, a, role)
		callers = append(callers, caller{role, func(q string, vars map[string]any) *gqlResponse { return a.postAsVars(tok, "", q, vars) }})
	}
	callers = append(callers, caller{"auth off", func(q string, vars map[string]any) *gqlResponse { return open.post("", q, vars) }})

	// The data field that sends the operation through the executor: every role reads Patients.
	const dataField = "PatientList(_count: 1) { id }\n"
	mixed := func(q string) string {
		i := strings.Index(q, "{")
		return q[:i+1] + "\n" + dataField + q[i+1:]
	}
	cases := []struct {
		name, query string
		vars        map[string]any
		keys        []string
		all         bool // for every caller, not only the first two (the executor takes seconds)
	}{
		{"every field", everyIntrospectionField, map[string]any{"yes": true}, []string{"__schema"}, true},
		{"types by name", typeQueries, map[string]any{"name": "Observation"}, []string{"byVar", "patient", "human", "kinds", "input", "none"}, true},
		{"every field, skip and include reversed", everyIntrospectionField, map[string]any{"yes": false}, []string{"__schema"}, false},
		{"GraphiQL's query", introspectionQuery, nil, []string{"__schema"}, false},
	}
	compared, direct := 0, 0
	for i, c := range callers {
		for _, tc := range cases {
			if i >= 2 && !tc.all {
				continue
			}
			got := c.post(tc.query, tc.vars)
			want := c.post(mixed(tc.query), tc.vars)
			if len(got.Errors) > 0 || len(want.Errors) > 0 {
				t.Fatalf("%s, %s: errors %+v / %+v", c.name, tc.name, got.Errors, want.Errors)
			}
			if _, ok := want.Data["PatientList"]; !ok {
				t.Fatalf("%s, %s: the mixed operation has no data field: not executed by gqlgen", c.name, tc.name)
			}
			for _, k := range tc.keys {
				if g, w := got.Data[k], want.Data[k]; len(g) == 0 || !bytes.Equal(g, w) {
					t.Errorf("%s, %s: %s differs: direct %d bytes %s, executor %d bytes %s", c.name, tc.name, k, len(g), truncate(string(g), 200), len(w), truncate(string(w), 200))
				} else {
					compared += len(g)
				}
			}
			if c.name != "auth off" {
				direct++
			}
		}
	}
	// Only direct answers are kept: as many as the operations that only introspect.
	if n := gauge(t, a.handler, "introspection"); n != direct {
		t.Errorf("%d introspection answers kept, want %d: some were not answered directly", n, direct)
	}
	t.Logf("%d callers, %d direct answers: %d bytes compared", len(callers), direct, compared)
	if compared < 10<<20 {
		t.Errorf("only %d bytes compared", compared)
	}
}

// gauge reads fhirgate_cache_entries of cache from /metrics.
func gauge(t testing.TB, h http.Handler, cache string) int {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	prefix := fmt.Sprintf(`fhirgate_cache_entries{cache=%q} `, cache)
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			var n int
			if _, err := fmt.Sscan(v, &n); err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s gauge in /metrics", cache)
	return 0
}

// TestIntrospectionWarmedAtPolicyLoad: with WarmIntrospection, every role's view of the schema
// is built in the background when the server starts and again after a policy reload, before
// any introspection is asked.
func TestIntrospectionWarmedAtPolicyLoad(t *testing.T) {
	m := metrics.New()
	a := newAuthEnv(t, authz.VerifierConfig{}, func(c *api.Config) { c.Metrics, c.WarmIntrospection = m, true })
	roles := a.policy.Roles()
	if want := policyRoles(t); !slices.Equal(roles, want) {
		t.Fatalf("Policy.Roles() = %v, the policy file names %v", roles, want)
	}
	built := func() int { return gauge(t, a.handler, "introspection_schemas") }
	waitFor := func(what string) {
		deadline := time.Now().Add(30 * time.Second)
		for built() != len(roles) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d of %d role views built after 30 s", what, built(), len(roles))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("at start")
	if err := a.policy.Reload(); err != nil {
		t.Fatal(err)
	}
	waitFor("after a reload")
	// The warmed view is the one introspection answers from: no new view is built.
	resp := a.postAs(roleToken(t, a, "analyst"), "", `{ __type(name: "Patient") { name } }`)
	if len(resp.Errors) > 0 || dataString(resp) == "" {
		t.Fatalf("introspection after warming: %+v", resp.Errors)
	}
	if n := built(); n != len(roles) {
		t.Errorf("%d views after an introspection by a warmed role, want %d", n, len(roles))
	}
}
