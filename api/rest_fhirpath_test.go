package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/authz"
)

func fhirpathBody(expr string, resource any, extra ...map[string]any) map[string]any {
	ps := []any{map[string]any{"name": "expression", "valueString": expr}}
	if resource != nil {
		ps = append(ps, map[string]any{"name": "resource", "resource": resource})
	}
	for _, e := range extra {
		ps = append(ps, e)
	}
	return map[string]any{"resourceType": "Parameters", "parameter": ps}
}

// resultParts renders the parts of each result parameter as name=value[x] JSON.
func resultParts(t *testing.T, r *fhirResponse) [][]string {
	t.Helper()
	var out [][]string
	for _, p := range r.Body["parameter"].([]any) {
		pm := p.(map[string]any)
		if pm["name"] != "result" {
			t.Fatalf("parameter %v, want result", pm["name"])
		}
		var row []string
		parts, _ := pm["part"].([]any)
		for _, part := range parts {
			m := part.(map[string]any)
			s := m["name"].(string) + "="
			for k, v := range m {
				if strings.HasPrefix(k, "value") || k == "resource" {
					b, _ := json.Marshal(v)
					s += k + ":" + string(b)
				}
			}
			row = append(row, s)
		}
		out = append(out, row)
	}
	return out
}

// TestFHIRPathOperation evaluates expressions through POST /fhir/$fhirpath over real HTTP
// with a real token.
func TestFHIRPathOperation(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{})
	tok := a.token(t, "admin", "")
	pat := map[string]any{"resourceType": "Patient", "id": "p1", "birthDate": "1974-12-25", "active": true,
		"name":                 []any{map[string]any{"family": "Chalmers", "given": []any{"Peter", "James"}}, map[string]any{"given": []any{"Jim"}}},
		"contained":            []any{map[string]any{"resourceType": "Organization", "id": "o", "name": "Acme"}},
		"managingOrganization": map[string]any{"reference": "#o"},
		"generalPractitioner":  []any{map[string]any{"reference": "Practitioner/secret"}},
	}
	for _, tc := range []struct {
		expr  string
		extra []map[string]any
		want  string
	}{
		{"name.given", nil, `[[string=valueString:"Peter" string=valueString:"James" string=valueString:"Jim"]]`},
		{"birthDate", nil, `[[date=valueDate:"1974-12-25"]]`},
		{"active and name.count() = 2", nil, `[[boolean=valueBoolean:true]]`},
		{"name.first()", nil, `[[HumanName=valueHumanName:{"family":"Chalmers","given":["Peter","James"]}]]`},
		{"1 + 2.5 | 3", nil, `[[decimal=valueDecimal:3.5 integer=valueInteger:3]]`},
		{"@2020-01-01 + 1 month", nil, `[[date=valueDate:"2020-02-01"]]`},
		{"5 'mg'", nil, `[[Quantity=valueQuantity:{"code":"mg","system":"http://unitsofmeasure.org","unit":"mg","value":5}]]`},
		{"managingOrganization.resolve().name", nil, `[[string=valueString:"Acme"]]`},
		{"generalPractitioner.resolve()", nil, `[[]]`}, // not in the store
		{"given.first()", []map[string]any{{"name": "context", "valueString": "name"}}, `[[string=valueString:"Peter"] [string=valueString:"Jim"]]`},
		{"%x & name.family", []map[string]any{{"name": "variables", "part": []any{map[string]any{"name": "x", "valueString": "Dr "}}}}, `[[string=valueString:"Dr Chalmers"]]`},
	} {
		r := a.fhir(http.MethodPost, "/fhir/$fhirpath", tok, fhirpathBody(tc.expr, pat, tc.extra...))
		if r.Status != http.StatusOK || r.Body["resourceType"] != "Parameters" {
			t.Errorf("%s: status %d, %s", tc.expr, r.Status, r.Raw)
			continue
		}
		got := resultParts(t, r)
		if s := strings.Join(strings.Fields(strings.Trim(jsonRows(got), "")), " "); s != tc.want {
			t.Errorf("%s = %s, want %s", tc.expr, s, tc.want)
		}
	}
	for _, bad := range []map[string]any{
		fhirpathBody("name.given.(", pat),
		fhirpathBody("name.nosuchfunction()", pat),
		fhirpathBody("", pat),
		fhirpathBody("name.given + 1", pat), // an evaluation error
		{"resourceType": "Patient"},
	} {
		r := a.fhir(http.MethodPost, "/fhir/$fhirpath", tok, bad)
		if r.Status != http.StatusBadRequest || r.Body["resourceType"] != "OperationOutcome" || len(r.issues()) != 1 {
			t.Errorf("%v: status %d, body %s; want 400 OperationOutcome", bad["parameter"], r.Status, r.Raw)
		}
	}
	if r := a.fhir(http.MethodPost, "/fhir/$fhirpath", "", fhirpathBody("1", nil)); r.Status != http.StatusUnauthorized {
		t.Errorf("no token: status %d, want 401", r.Status)
	}
}

func jsonRows(rows [][]string) string {
	var b strings.Builder
	b.WriteString("[")
	for i, r := range rows {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString("[" + strings.Join(r, " ") + "]")
	}
	b.WriteString("]")
	return b.String()
}

// TestFHIRPathResolvesThroughStore: resolve() in $fhirpath reads what the supplied resource
// does not hold from the store, but only what the caller may read whole, within their
// compartment: an analyst (names hidden) and another patient resolve nothing.
func TestFHIRPathResolvesThroughStore(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{})
	a.put(
		`{"resourceType":"Practitioner","id":"doc","name":[{"family":"House"}]}`,
		`{"resourceType":"Patient","id":"alice","name":[{"family":"Alpha"}]}`,
		`{"resourceType":"Patient","id":"bob","name":[{"family":"Beta"}]}`,
	)
	obs := map[string]any{"resourceType": "Observation", "status": "final", "code": map[string]any{"text": "hr"},
		"subject": map[string]any{"reference": "Patient/bob"}, "performer": []any{map[string]any{"reference": "Practitioner/doc"}}}
	cases := []struct {
		who, expr, want string
	}{
		{"admin", "performer.resolve().name.family", `[[string=valueString:"House"]]`},
		{"admin", "subject.resolve().name.family", `[[string=valueString:"Beta"]]`},
		{"admin", "subject.resolve() is Patient", `[[boolean=valueBoolean:true]]`},
		{"analyst", "performer.resolve().name.family", `[[]]`}, // names are hidden from analysts
		{"analyst", "performer.resolve().exists()", `[[boolean=valueBoolean:false]]`},
		{"patient:alice", "subject.resolve().exists()", `[[boolean=valueBoolean:false]]`}, // bob is outside her compartment
	}
	for _, c := range cases {
		role, patient, _ := strings.Cut(c.who, ":")
		r := a.fhir(http.MethodPost, "/fhir/$fhirpath", a.token(t, role, patient), fhirpathBody(c.expr, obs))
		if r.Status != http.StatusOK {
			t.Errorf("%s %s: status %d, %s", c.who, c.expr, r.Status, r.Raw)
			continue
		}
		if got := strings.Join(strings.Fields(jsonRows(resultParts(t, r))), " "); got != c.want {
			t.Errorf("%s %s = %s, want %s", c.who, c.expr, got, c.want)
		}
	}
}
