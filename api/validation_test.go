package api_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/validate"
)

// issueLocations returns the severity and code of the OperationOutcome issues of a GraphQL
// error by location (expression), failing when the error carries no outcome.
func issueLocations(t *testing.T, e gqlError) map[string][]string {
	t.Helper()
	res, ok := e.Extensions["resource"].(map[string]any)
	if !ok || res["resourceType"] != "OperationOutcome" {
		t.Fatalf("error %q carries no OperationOutcome: %+v", e.Message, e.Extensions)
	}
	out := map[string][]string{}
	issues, _ := res["issue"].([]any)
	for _, is := range issues {
		m := is.(map[string]any)
		exprs, _ := m["expression"].([]any)
		for _, x := range exprs {
			out[x.(string)] = append(out[x.(string)], m["severity"].(string)+" "+m["code"].(string)+": "+m["diagnostics"].(string))
		}
	}
	return out
}

// TestWritesAreValidated sends the issue's three invalid resources through real GraphQL
// mutations over HTTP: each is refused with BAD_USER_INPUT and an OperationOutcome naming
// every problem at its FHIRPath location, and nothing is stored.
func TestWritesAreValidated(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, mutation string
		res            map[string]any
		want           map[string]string // location -> issue code
	}{
		{"gender outside its required binding", "PatientCreate",
			map[string]any{"resourceType": "Patient", "gender": "blah"},
			map[string]string{"Patient.gender": "code-invalid"}},
		{"Observation without status and code", "ObservationCreate",
			map[string]any{"resourceType": "Observation", "subject": map[string]any{"reference": "Patient/p1"}},
			map[string]string{"Observation.status": "required", "Observation.code": "required"}},
		{"Encounter period ending before it starts (per-1)", "EncounterCreate",
			map[string]any{"resourceType": "Encounter", "status": "finished", "class": map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
				"period": map[string]any{"start": "2024-03-02T10:00:00Z", "end": "2024-03-01T10:00:00Z"}},
			map[string]string{"Encounter.period": "invariant"}},
		{"reference to a type the element does not allow", "ObservationCreate",
			map[string]any{"resourceType": "Observation", "status": "final", "code": map[string]any{"text": "x"}, "performer": []any{map[string]any{"reference": "Medication/m1"}}},
			map[string]string{"Observation.performer[0].reference": "structure"}},
		{"unknown elements and a malformed date, refused by the model and located by the validator", "PatientCreate",
			map[string]any{"resourceType": "Patient", "favouriteColour": "blue", "birthDate": "1990-13-45", "name": []any{map[string]any{"nickname": "x"}}},
			map[string]string{"Patient.favouriteColour": "structure", "Patient.birthDate": "value", "Patient.name[0].nickname": "structure"}},
		{"script in the narrative", "PatientCreate",
			map[string]any{"resourceType": "Patient", "text": map[string]any{"status": "generated", "div": `<div xmlns="http://www.w3.org/1999/xhtml"><p onclick="steal()">hi</p><script>alert(1)</script></div>`}},
			map[string]string{"Patient.text.div": "invariant"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			typ := c.res["resourceType"].(string)
			r := e.post("", `mutation($r: `+typ+`Input!) { `+c.mutation+`(res: $r) { id } }`, map[string]any{"r": c.res})
			if len(r.Errors) != 1 {
				t.Fatalf("got %d errors, want 1: %+v (data %s)", len(r.Errors), r.Errors, r.Data[c.mutation])
			}
			if code := r.Errors[0].Extensions["code"]; code != "BAD_USER_INPUT" {
				t.Errorf("code %v, want BAD_USER_INPUT", code)
			}
			got := issueLocations(t, r.Errors[0])
			for loc, code := range c.want {
				if !slices.ContainsFunc(got[loc], func(s string) bool { return hasIssue(s, code) }) {
					t.Errorf("no %s issue at %s; issues: %v", code, loc, got)
				}
			}
			if n, err := e.store.Count(context.Background(), typ, storage.Query{}); err != nil || n != 0 {
				t.Errorf("%d %s stored (err %v), want none", n, typ, err)
			}
		})
	}
}

// hasIssue reports whether an issue line ("error required: ...") is an error or warning of code.
func hasIssue(s, code string) bool {
	return strings.HasPrefix(s, "error "+code+":") || strings.HasPrefix(s, "warning "+code+":")
}

// TestValidationWarningsBesideResult checks that a valid resource with warnings (a code
// outside an extensible binding) is stored in strict mode and its warnings come back in
// extensions.validation; in warn mode an invalid one is stored with its errors there; off
// stores it silently.
func TestValidationWarningsBesideResult(t *testing.T) {
	// Condition.category is bound extensibly; this code is not in the value set.
	warned := map[string]any{"resourceType": "Condition", "subject": map[string]any{"reference": "Patient/p1"},
		"category": []any{map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "not-a-category"}}}}}
	invalid := map[string]any{"resourceType": "Patient", "gender": "blah"}
	mutate := func(e *env, res map[string]any) *gqlResponse {
		typ := res["resourceType"].(string)
		return e.post("", `mutation($r: `+typ+`Input!) { `+typ+`Create(res: $r) { id } }`, map[string]any{"r": res})
	}
	validation := func(r *gqlResponse) []any {
		v, _ := r.Extensions["validation"].([]any)
		return v
	}

	strict := newEnv(t)
	r := mutate(strict, warned)
	r.mustData(t, "ConditionCreate")
	if v := validation(r); len(v) != 1 {
		t.Fatalf("strict: extensions.validation = %v, want one resource's warnings", r.Extensions)
	} else if oo := v[0].(map[string]any)["outcome"].(map[string]any); len(oo["issue"].([]any)) == 0 {
		t.Errorf("strict: empty outcome %v", oo)
	}

	warn := newEnv(t, func(c *api.Config) { c.Validation = validate.Warn })
	r = mutate(warn, invalid)
	r.mustData(t, "PatientCreate")
	if v := validation(r); len(v) != 1 {
		t.Fatalf("warn: extensions.validation = %v, want the invalid Patient's issues", r.Extensions)
	}

	off := newEnv(t, func(c *api.Config) { c.Validation = validate.Off })
	r = mutate(off, invalid)
	r.mustData(t, "PatientCreate")
	if r.Extensions["validation"] != nil {
		t.Errorf("off: extensions.validation = %v, want none", r.Extensions["validation"])
	}
}

// TestStoreCommitValidates checks the chokepoint below the API: a commit made straight to
// storage (as the demo loader, audit and import do) is refused whole in strict mode.
func TestStoreCommitValidates(t *testing.T) {
	e := newEnv(t)
	good, _ := model.Unmarshal([]byte(`{"resourceType":"Patient","id":"ok","gender":"female"}`))
	bad, _ := model.Unmarshal([]byte(`{"resourceType":"Patient","id":"bad","gender":"blah"}`))
	_, err := e.store.Commit(context.Background(), []storage.Write{
		{Op: storage.OpPut, Type: "Patient", ID: "ok", Resource: good},
		{Op: storage.OpPut, Type: "Patient", ID: "bad", Resource: bad},
	})
	var verr *validate.Error
	if !errors.As(err, &verr) || len(verr.Outcome.Only(validate.SeverityError).Issues) != 1 {
		t.Fatalf("commit error %v, want one validation error", err)
	}
	if n, _ := e.store.Count(context.Background(), "Patient", storage.Query{}); n != 0 {
		t.Errorf("%d Patients stored, want none: the commit is all or nothing", n)
	}
}
