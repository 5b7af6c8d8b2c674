package api_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/graph"
	"github.com/fhirgate/fhirgate/metrics"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/search"
)

// introspectionQuery is what GraphiQL sends to load the schema: graphql-js's
// getIntrospectionQuery() with its default options (descriptions, typeDepth 9).
const introspectionQuery = `
    query IntrospectionQuery {
      __schema {
        queryType { name kind }
        mutationType { name kind }
        subscriptionType { name kind }
        types {
          ...FullType
        }
        directives {
          name
          description
          locations
          args {
            ...InputValue
          }
        }
      }
    }

    fragment FullType on __Type {
      kind
      name
      description
      fields(includeDeprecated: true) {
        name
        description
        args {
          ...InputValue
        }
        type {
          ...TypeRef
        }
        isDeprecated
        deprecationReason
      }
      inputFields {
        ...InputValue
      }
      interfaces {
        ...TypeRef
      }
      enumValues(includeDeprecated: true) {
        name
        description
        isDeprecated
        deprecationReason
      }
      possibleTypes {
        ...TypeRef
      }
    }

    fragment InputValue on __InputValue {
      name
      description
      type { ...TypeRef }
      defaultValue
    }

    fragment TypeRef on __Type {
      kind
      name
      ofType {
        name
        kind
        ofType {
          name
          kind
          ofType {
            name
            kind
            ofType {
              name
              kind
              ofType {
                name
                kind
                ofType {
                  name
                  kind
                  ofType {
                    name
                    kind
                    ofType {
                      name
                      kind
                      ofType {
                        name
                        kind
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  `

// typeRef is an introspected type reference: a named type, or a list or non-null of one.
type typeRef struct {
	Kind   string
	Name   *string
	OfType *typeRef
}

// named returns the name at the bottom of the reference.
func (t *typeRef) named() string {
	for ; t != nil; t = t.OfType {
		if t.Name != nil {
			return *t.Name
		}
	}
	return ""
}

type inputValue struct {
	Name string
	Type *typeRef
}

type introField struct {
	Name string
	Args []inputValue
	Type *typeRef
}

type introType struct {
	Kind          string
	Name          string
	Fields        []introField
	InputFields   []inputValue
	Interfaces    []typeRef
	PossibleTypes []typeRef
	EnumValues    []struct{ Name string }
}

type introSchema struct {
	QueryType, MutationType, SubscriptionType *typeRef
	Types                                     []introType
	Directives                                []struct {
		Name string
		Args []inputValue
	}
}

// policyRoles returns every role the default policy names, read from the policy file itself.
func policyRoles(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("../authz/policy.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var roles []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ",")
		if len(fields) < 3 {
			continue
		}
		switch strings.TrimSpace(fields[0]) {
		case "p":
			roles = append(roles, strings.TrimSpace(fields[1]))
		case "g":
			roles = append(roles, strings.TrimSpace(fields[1]), strings.TrimSpace(fields[2]))
		}
	}
	slices.Sort(roles)
	roles = slices.Compact(roles)
	if len(roles) < 5 {
		t.Fatalf("the default policy names only %v", roles)
	}
	return roles
}

// roleToken signs a token for role; the patient role's token is bound to a patient, as the
// server requires.
func roleToken(t *testing.T, a *authEnv, role string) string {
	patient := ""
	if role == authz.RolePatient {
		patient = "example"
	}
	return a.token(t, role, patient)
}

// logBuffer is a concurrency-safe log sink for a server under test.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) lines() []string {
	s := strings.TrimSpace(l.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// withLog sends the server's logs to a buffer.
func withLog(l *logBuffer) func(*api.Config) {
	return func(c *api.Config) {
		c.Logger = slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}

// TestFullIntrospectionEveryRole runs GraphiQL's introspection query as every role of the
// default policy and checks the role's view of the schema against the policy file: no
// errors, no hidden field or type, every type shown is complete (an object type has a field,
// every type a field, argument or possible type names is itself shown), and the same
// answer again comes fast.
func TestFullIntrospectionEveryRole(t *testing.T) {
	var logs logBuffer
	a := newAuthEnv(t, authz.VerifierConfig{}, withLog(&logs))
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	m := &matrix{t: t, policy: a.policy, schema: schema, cells: map[string]int{}}
	for _, role := range policyRoles(t) {
		tok := roleToken(t, a, role)
		start := time.Now()
		resp := a.postAs(tok, "", introspectionQuery)
		cold := time.Since(start)
		start = time.Now()
		again := a.postAs(tok, "", introspectionQuery)
		warm := time.Since(start)
		if resp.Status != http.StatusOK || len(resp.Errors) > 0 {
			t.Fatalf("%s: status %d, %d errors, first %+v", role, resp.Status, len(resp.Errors), resp.Errors[0])
		}
		if dataString(again) != dataString(resp) {
			t.Errorf("%s: a second introspection answered differently", role)
		}
		var s introSchema
		if err := json.Unmarshal(resp.Data["__schema"], &s); err != nil {
			t.Fatal(err)
		}
		n := checkIntrospection(t, m, role, &s)
		t.Logf("%s: %d types, %d checks; first introspection %v, second %v, %d bytes", role, len(s.Types), n, cold.Round(time.Millisecond), warm.Round(time.Millisecond), len(dataString(resp)))
		if n < 1000 {
			t.Errorf("%s: only %d checks", role, n)
		}
	}
	if strings.Contains(logs.String(), "panic") {
		t.Errorf("introspection logged panics: %s", truncate(logs.String(), 500))
	}
}

// checkIntrospection checks one role's introspected schema against the policy and returns
// the number of checks made.
func checkIntrospection(t *testing.T, m *matrix, role string, s *introSchema) int {
	t.Helper()
	checks := 0
	fail := func(format string, args ...any) {
		t.Helper()
		checks++
		m.failf("%s: "+format, append([]any{role}, args...)...)
	}
	shown := map[string]*introType{}
	for i := range s.Types {
		shown[s.Types[i].Name] = &s.Types[i]
	}
	// Every type named anywhere is shown.
	refer := func(where string, r *typeRef) {
		checks++
		if n := r.named(); n == "" || shown[n] == nil {
			fail("%s names type %q, which is not shown", where, n)
		}
	}
	refer("queryType", s.QueryType)
	if s.MutationType != nil {
		refer("mutationType", s.MutationType)
	}
	for _, d := range s.Directives {
		for _, a := range d.Args {
			refer("@"+d.Name+"("+a.Name+")", a.Type)
		}
	}
	for _, typ := range s.Types {
		for _, f := range typ.Fields {
			refer(typ.Name+"."+f.Name, f.Type)
			for _, a := range f.Args {
				refer(typ.Name+"."+f.Name+"("+a.Name+")", a.Type)
			}
		}
		for _, f := range typ.InputFields {
			refer(typ.Name+"."+f.Name, f.Type)
		}
		for i := range typ.Interfaces {
			refer(typ.Name+" implements", &typ.Interfaces[i])
		}
		for i := range typ.PossibleTypes {
			refer(typ.Name+" possible type", &typ.PossibleTypes[i])
			if pt := shown[typ.PossibleTypes[i].named()]; pt != nil && !slices.ContainsFunc(pt.Interfaces, func(r typeRef) bool { return r.named() == typ.Name }) && typ.Kind == "INTERFACE" {
				fail("%s lists %s as a possible type, which does not implement it", typ.Name, pt.Name)
			}
		}
		// An object or interface type has a field, and an interface's fields are its members'.
		if typ.Kind == "OBJECT" || typ.Kind == "INTERFACE" {
			checks++
			if len(typ.Fields) == 0 {
				fail("%s %s is shown without a field", typ.Kind, typ.Name)
			}
		}
		for _, i := range typ.Interfaces {
			it := shown[i.named()]
			if it == nil {
				continue
			}
			for _, f := range it.Fields {
				checks++
				if !slices.ContainsFunc(typ.Fields, func(g introField) bool { return g.Name == f.Name }) {
					fail("%s implements %s without its field %s", typ.Name, it.Name, f.Name)
				}
			}
		}
		if typ.Kind == "INTERFACE" || typ.Kind == "UNION" {
			checks++
			if len(typ.PossibleTypes) == 0 {
				fail("%s %s is shown without a possible type", typ.Kind, typ.Name)
			}
		}
	}
	// The ResourceType enum names exactly the resource types shown.
	if rt := shown["ResourceType"]; rt != nil {
		values := map[string]bool{}
		for _, v := range rt.EnumValues {
			checks++
			values[v.Name] = true
			if shown[v.Name] == nil {
				fail("ResourceType lists %s, which is not shown", v.Name)
			}
		}
		for name := range shown {
			checks++
			if model.IsResourceType(name) && !values[name] {
				fail("ResourceType lacks %s, which is shown", name)
			}
		}
	}
	// What is shown, the policy allows: types, fields, root fields, search and filter arguments.
	for _, typ := range s.Types {
		def := m.schema.Types[typ.Name]
		checks++
		if def == nil {
			fail("type %s is not in the schema", typ.Name)
			continue
		}
		if def.Kind == ast.Object && !strings.HasPrefix(typ.Name, "__") && typ.Name != "Query" && typ.Name != "Mutation" && !m.policy.Allows(role, typ.Name, authz.ActRead) {
			fail("type %s is shown, but the role may not read it", typ.Name)
		}
		for _, f := range typ.Fields {
			checks++
			switch {
			case strings.HasPrefix(typ.Name, "__"):
			case typ.Name == "Query" || typ.Name == "Mutation":
				if rt, act := rootAction(f.Name); rt != "" && !m.policy.Allows(role, rt, act) {
					fail("root field %s.%s is shown, but the role may not %s %s", typ.Name, f.Name, act, rt)
				}
				checkSearchArgs(fail, m, role, f)
			default:
				if !m.visible(role, typ.Name, f.Name) {
					fail("hidden field %s.%s is shown", typ.Name, f.Name)
				}
				checkFilterArgs(fail, m, role, f)
			}
		}
	}
	// What the policy allows, is shown: every root field of an action the role may do on a
	// type it may read.
	for _, root := range []*ast.Definition{m.schema.Query, m.schema.Mutation} {
		st := shown[root.Name]
		for _, f := range root.Fields {
			rt, act := rootAction(f.Name)
			if rt == "" {
				continue
			}
			checks++
			may := m.policy.Allows(role, rt, act) && m.policy.Allows(role, rt, authz.ActRead)
			if may && (st == nil || !slices.ContainsFunc(st.Fields, func(g introField) bool { return g.Name == f.Name })) {
				fail("root field %s.%s is missing, but the role may %s %s", root.Name, f.Name, act, rt)
			}
		}
	}
	return checks
}

// checkSearchArgs checks that each search argument of a shown XList or XConnection filters
// by a parameter whose first element the role may read.
func checkSearchArgs(fail func(string, ...any), m *matrix, role string, f introField) {
	typ, act := rootAction(f.Name)
	if act != authz.ActSearch {
		return
	}
	for _, a := range f.Args {
		p := search.ParamOf(typ, a.Name)
		if p == nil {
			continue
		}
		field := firstField(typ, p.Expression)
		if field != "" && m.schema.Types[typ].Fields.ForName(field) != nil && !m.visible(role, typ, field) {
			fail("%s(%s:) is shown, but it searches the hidden %s.%s", f.Name, a.Name, typ, field)
		}
	}
}

// checkFilterArgs checks that each sub-field filter argument of a shown field names a field
// of the element type that the role may read.
func checkFilterArgs(fail func(string, ...any), m *matrix, role string, f introField) {
	elem := m.schema.Types[f.Type.named()]
	if elem == nil || elem.Kind != ast.Object || model.IsResourceType(elem.Name) {
		return
	}
	for _, a := range f.Args {
		if elem.Fields.ForName(a.Name) != nil && !m.visible(role, elem.Name, a.Name) {
			fail("%s(%s:) is shown, but it filters by the hidden %s.%s", f.Name, a.Name, elem.Name, a.Name)
		}
	}
}

// TestIntrospectionShowsWhatTheRoleUses checks named examples of the policy: the analyst
// sees no names and no birth dates, the partner no practitioners and no documents, as types,
// fields, root fields or search arguments, and asking for them by name answers null.
func TestIntrospectionShowsWhatTheRoleUses(t *testing.T) {
	var logs logBuffer
	a := newAuthEnv(t, authz.VerifierConfig{}, withLog(&logs))
	cases := []struct {
		role                  string
		hiddenTypes           []string
		hiddenFields          map[string][]string
		shownTypes            []string
		shownFields           map[string][]string
		hiddenArgs, shownArgs map[string][]string
	}{
		{
			role:         "analyst",
			hiddenTypes:  []string{"HumanName", "ContactPoint", "Identifier", "Annotation", "AuditEvent", "AuditEventConnection"},
			hiddenFields: map[string][]string{"Patient": {"name", "birthDate", "_birthDate", "deceasedDateTime", "telecom", "photo"}, "Address": {"city", "line", "postalCode"}, "Query": {"AuditEvent", "AuditEventList"}, "Mutation": {"PatientCreate"}},
			shownTypes:   []string{"Patient", "Address", "Observation"},
			shownFields:  map[string][]string{"Patient": {"gender", "address", "deceasedBoolean"}, "Address": {"state", "country"}, "Query": {"Patient", "PatientList", "PatientConnection"}},
			hiddenArgs:   map[string][]string{"PatientList": {"name", "family", "birthdate", "address_city", "telecom"}, "Patient.address": {"city", "postalCode"}, "Patient.generalPractitioner": {"display"}},
			shownArgs:    map[string][]string{"PatientList": {"gender", "_id"}, "Patient.address": {"state", "use"}},
		},
		{
			role:         "partner",
			hiddenTypes:  []string{"Practitioner", "DocumentReference", "DocumentReferenceConnection", "PractitionerRole"},
			hiddenFields: map[string][]string{"Query": {"Practitioner", "DocumentReferenceList"}, "Mutation": {"PatientCreate"}},
			shownTypes:   []string{"Patient", "Observation", "HumanName"},
			shownFields:  map[string][]string{"Patient": {"name", "birthDate"}, "Query": {"Patient", "ObservationConnection"}},
		},
	}
	for _, c := range cases {
		tok := a.token(t, c.role, "")
		resp := a.postAs(tok, "", introspectionQuery)
		if len(resp.Errors) > 0 {
			t.Fatalf("%s: %+v", c.role, resp.Errors[0])
		}
		var s introSchema
		json.Unmarshal(resp.Data["__schema"], &s)
		types := map[string]*introType{}
		for i := range s.Types {
			types[s.Types[i].Name] = &s.Types[i]
		}
		fieldOf := func(typ, name string) *introField {
			if tt := types[typ]; tt != nil {
				for i := range tt.Fields {
					if tt.Fields[i].Name == name {
						return &tt.Fields[i]
					}
				}
			}
			return nil
		}
		for _, typ := range c.hiddenTypes {
			if types[typ] != nil {
				t.Errorf("%s sees type %s", c.role, typ)
			}
			r := a.postAs(tok, "", `{ __type(name: "`+typ+`") { name fields { name } } }`)
			if len(r.Errors) > 0 || string(r.Data["__type"]) != "null" {
				t.Errorf("%s: __type(name: %q) = %s %+v, want null", c.role, typ, r.Data["__type"], r.Errors)
			}
		}
		for _, typ := range c.shownTypes {
			if types[typ] == nil {
				t.Errorf("%s misses type %s", c.role, typ)
			}
		}
		for typ, fs := range c.hiddenFields {
			for _, f := range fs {
				if fieldOf(typ, f) != nil {
					t.Errorf("%s sees %s.%s", c.role, typ, f)
				}
			}
		}
		for typ, fs := range c.shownFields {
			for _, f := range fs {
				if fieldOf(typ, f) == nil {
					t.Errorf("%s misses %s.%s", c.role, typ, f)
				}
			}
		}
		argsOf := func(coord string) []string {
			typ, field, ok := strings.Cut(coord, ".")
			if !ok {
				typ, field = "Query", coord
			}
			var out []string
			if f := fieldOf(typ, field); f != nil {
				for _, a := range f.Args {
					out = append(out, a.Name)
				}
			}
			return out
		}
		for coord, args := range c.hiddenArgs {
			got := argsOf(coord)
			if len(got) == 0 {
				t.Errorf("%s: %s has no arguments", c.role, coord)
			}
			for _, a := range args {
				if slices.Contains(got, a) {
					t.Errorf("%s sees argument %s(%s:)", c.role, coord, a)
				}
			}
		}
		for coord, args := range c.shownArgs {
			got := argsOf(coord)
			for _, a := range args {
				if !slices.Contains(got, a) {
					t.Errorf("%s misses argument %s(%s:) (has %v)", c.role, coord, a, got)
				}
			}
		}
		// The ResourceType enum lists the types the role may read, and nothing else.
		if rt := types["ResourceType"]; rt != nil {
			for _, v := range rt.EnumValues {
				if !a.policy.Allows(c.role, v.Name, authz.ActRead) {
					t.Errorf("%s: ResourceType lists %s", c.role, v.Name)
				}
			}
		}
	}
	if strings.Contains(logs.String(), "panic") {
		t.Errorf("introspection logged panics: %s", truncate(logs.String(), 500))
	}
}

// TestIntrospectionTypeRefs runs the query, which walked into a nil ofType, over every
// type each role sees, and checks the type references it answers against the schema.
func TestIntrospectionTypeRefs(t *testing.T) {
	var logs logBuffer
	a := newAuthEnv(t, authz.VerifierConfig{}, withLog(&logs))
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	checked := 0
	for _, role := range policyRoles(t) {
		tok := roleToken(t, a, role)
		list := a.postAs(tok, "", `{ __schema { types { name } } }`)
		var s struct{ Types []struct{ Name string } }
		json.Unmarshal(list.mustData(t, "__schema"), &s)
		// In batches that stay under the parser's token limit.
		for start := 0; start < len(s.Types); start += 200 {
			batch := s.Types[start:min(start+200, len(s.Types))]
			var q strings.Builder
			q.WriteString("{")
			for i, typ := range batch {
				q.WriteString(" t" + strconv.Itoa(i) + `: __type(name: "` + typ.Name + `") { name fields { name type { name kind ofType { name kind ofType { name kind ofType { name } } } } } }`)
			}
			q.WriteString(" }")
			resp := a.postAs(tok, "", q.String())
			if len(resp.Errors) > 0 {
				t.Fatalf("%s: %d errors, first %+v", role, len(resp.Errors), resp.Errors[0])
			}
			for i, typ := range batch {
				var got struct {
					Name   string
					Fields []introField
				}
				json.Unmarshal(resp.Data["t"+strconv.Itoa(i)], &got)
				def := schema.Types[typ.Name]
				if got.Name != typ.Name || def == nil {
					t.Errorf("%s: __type(name: %q) answered %q", role, typ.Name, got.Name)
					continue
				}
				for _, f := range got.Fields {
					checked++
					fd := def.Fields.ForName(f.Name)
					if fd == nil {
						t.Errorf("%s: %s.%s is not in the schema", role, typ.Name, f.Name)
						continue
					}
					if want := wantRef(fd.Type); !refPrefix(f.Type, want) {
						t.Errorf("%s: %s.%s has type %s, the schema says %s", role, typ.Name, f.Name, mustMarshal(f.Type), fd.Type)
					}
				}
			}
		}
	}
	t.Logf("%d field types checked", checked)
	if checked < 10_000 {
		t.Errorf("only %d field types checked", checked)
	}
	if strings.Contains(logs.String(), "panic") {
		t.Errorf("introspection logged panics: %s", truncate(logs.String(), 500))
	}
}

// wantRef is the introspection of a schema type reference.
func wantRef(t *ast.Type) *typeRef {
	if t == nil {
		return nil
	}
	if t.NonNull {
		cp := *t
		cp.NonNull = false
		return &typeRef{Kind: "NON_NULL", OfType: wantRef(&cp)}
	}
	if t.Elem != nil {
		return &typeRef{Kind: "LIST", OfType: wantRef(t.Elem)}
	}
	name := t.NamedType
	return &typeRef{Name: &name}
}

// refPrefix reports whether got matches want as deep as got goes.
func refPrefix(got, want *typeRef) bool {
	for ; got != nil; got, want = got.OfType, want.OfType {
		if want == nil || (got.Name == nil) != (want.Name == nil) || got.Name != nil && *got.Name != *want.Name {
			return false
		}
		if want.Kind != "" && got.Kind != "" && got.Kind != want.Kind {
			return false
		}
	}
	return true
}

// TestIntrospectionGzip checks that a client that accepts gzip gets the introspection
// compressed, and the same JSON once inflated.
func TestIntrospectionGzip(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{})
	tok := a.token(t, "analyst", "")
	body, _ := json.Marshal(map[string]any{"query": introspectionQuery})
	send := func(gz bool) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/$graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		if gz {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		resp, err := http.DefaultTransport.RoundTrip(req) // no transparent decompression
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	plainResp, plain := send(false)
	gzResp, packed := send(true)
	if plainResp.Header.Get("Content-Encoding") != "" {
		t.Errorf("uncompressed request answered with Content-Encoding %q", plainResp.Header.Get("Content-Encoding"))
	}
	if gzResp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", gzResp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(packed))
	if err != nil {
		t.Fatal(err)
	}
	inflated, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(inflated, plain) {
		t.Errorf("inflated answer (%d bytes) differs from the plain one (%d bytes)", len(inflated), len(plain))
	}
	t.Logf("introspection: %d bytes, %d gzipped", len(plain), len(packed))
	if len(packed)*4 > len(plain) {
		t.Errorf("gzip took %d bytes to %d only", len(plain), len(packed))
	}
}

// BenchmarkFullIntrospection measures GraphiQL's introspection as an admin through the whole
// handler: the first answer after a policy load without warming (the role's view of the
// schema is built by the request), the first answer after the view was warmed in the
// background (what a client of a running server waits), and a repeated answer, plain and
// gzipped.
func BenchmarkFullIntrospection(b *testing.B) {
	a := newAuthEnv(b, authz.VerifierConfig{})
	warmed := newAuthEnv(b, authz.VerifierConfig{}, func(c *api.Config) { c.Metrics, c.WarmIntrospection = metrics.New(), true })
	body, _ := json.Marshal(map[string]any{"query": introspectionQuery})
	runAs := func(b *testing.B, a *authEnv, roles string, gz bool) int {
		req := httptest.NewRequest(http.MethodPost, "/$graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+a.token(b, roles, ""))
		if gz {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		rec := httptest.NewRecorder()
		a.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, truncate(rec.Body.String(), 300))
		}
		return rec.Body.Len()
	}
	run := func(b *testing.B, a *authEnv, gz bool) int { return runAs(b, a, "admin", gz) }
	b.Run("first-unwarmed", func(b *testing.B) {
		for b.Loop() {
			if err := a.policy.Reload(); err != nil {
				b.Fatal(err)
			}
			run(b, a, true)
		}
	})
	// After a reload the warm-up builds each role's view, untimed; then one introspection.
	roles := len(warmed.policy.Roles())
	firstWarmed := func(roleSet string) func(*testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				if err := warmed.policy.Reload(); err != nil {
					b.Fatal(err)
				}
				for gauge(b, warmed.handler, "introspection_schemas") != roles {
					time.Sleep(5 * time.Millisecond)
				}
				b.StartTimer()
				runAs(b, warmed, roleSet, true)
			}
		}
	}
	b.Run("first-warmed", firstWarmed("admin"))
	// A token with two roles: the set's view is built from its roles' warmed views.
	b.Run("first-two-roles-warmed", firstWarmed("analyst,partner"))
	for _, gz := range []bool{false, true} {
		b.Run(fmt.Sprintf("repeated/gzip=%v", gz), func(b *testing.B) {
			n := run(b, a, gz)
			for b.Loop() {
				run(b, a, gz)
			}
			b.ReportMetric(float64(n), "bytes/op")
		})
	}
}
