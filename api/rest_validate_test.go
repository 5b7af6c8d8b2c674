package api_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/fhirpkg"
	"github.com/fhirgate/fhirgate/terminology"
	"github.com/fhirgate/fhirgate/validate"
)

// The US Core 5.0.1 subset package (testdata/packages/SOURCE.md), loaded once, as the
// server's --package loads it.
const (
	usCorePackage  = "../testdata/packages/hl7.fhir.us.core-5.0.1-subset.tgz"
	usCorePatient  = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"
	usCoreBP       = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-blood-pressure"
	usCoreMedReq   = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-medicationrequest"
	usCoreRace     = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
	usCoreEthnic   = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"
	testCondition  = "http://example.org/fhir/StructureDefinition/test-condition"
	cdcRaceSystem  = "urn:oid:2.16.840.1.113883.6.238"
	loinc          = "http://loinc.org"
	ucum           = "http://unitsofmeasure.org"
	vitalSignsCode = "http://terminology.hl7.org/CodeSystem/observation-category"
)

var usCore = sync.OnceValues(func() (*validate.ProfileSet, error) {
	pkg, err := fhirpkg.Open(usCorePackage)
	if err != nil {
		return nil, err
	}
	set := validate.NewProfileSet()
	if _, err := fhirpkg.Install(pkg, set, terminology.Default()); err != nil {
		return nil, err
	}
	return set, nil
})

// newProfileEnv is a server with authentication on and the US Core subset loaded.
func newProfileEnv(t *testing.T) *authEnv {
	t.Helper()
	set, err := usCore()
	if err != nil {
		t.Fatal(err)
	}
	return newAuthEnv(t, authz.VerifierConfig{}, func(c *api.Config) { c.Profiles = set })
}

// vIssue is one OperationOutcome issue as the tests compare it.
type vIssue struct {
	Severity, Code, Expression, Diagnostics string
}

func (i vIssue) String() string {
	return fmt.Sprintf("%s %s @ %s: %s", i.Severity, i.Code, i.Expression, i.Diagnostics)
}

// outcomeIssues reads the issues of an OperationOutcome (JSON).
func outcomeIssues(t *testing.T, raw []byte) []vIssue {
	t.Helper()
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Severity    string   `json:"severity"`
			Code        string   `json:"code"`
			Diagnostics string   `json:"diagnostics"`
			Expression  []string `json:"expression"`
		} `json:"issue"`
	}
	if err := json.Unmarshal(raw, &oo); err != nil || oo.ResourceType != "OperationOutcome" {
		t.Fatalf("not an OperationOutcome: %s", truncate(string(raw), 400))
	}
	var out []vIssue
	for _, is := range oo.Issue {
		vi := vIssue{Severity: is.Severity, Code: is.Code, Diagnostics: is.Diagnostics}
		if len(is.Expression) > 0 {
			vi.Expression = is.Expression[0]
		}
		out = append(out, vi)
	}
	return out
}

// bySeverity returns the issues of one severity, as "expression: diagnostics" lines, sorted.
func bySeverity(issues []vIssue, sev string) []vIssue {
	var out []vIssue
	for _, is := range issues {
		if is.Severity == sev {
			out = append(out, is)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Expression+out[i].Diagnostics < out[j].Expression+out[j].Diagnostics
	})
	return out
}

// wantIssues checks that the issues of severity sev are exactly at the locations want
// (each with a diagnostic holding the paired text).
func wantIssues(t *testing.T, name string, issues []vIssue, sev string, want [][2]string) {
	t.Helper()
	got := bySeverity(issues, sev)
	if len(got) != len(want) {
		t.Errorf("%s: %d %s issues, want %d:\n%s", name, len(got), sev, len(want), issueLines(issues))
		return
	}
	sort.Slice(want, func(i, j int) bool { return want[i][0]+want[i][1] < want[j][0]+want[j][1] })
	for _, w := range want {
		found := false
		for _, g := range got {
			if g.Expression == w[0] && strings.Contains(g.Diagnostics, w[1]) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no %s issue at %s saying %q:\n%s", name, sev, w[0], w[1], issueLines(issues))
		}
	}
}

// wantAllClear checks an outcome is the all-clear of the FHIR specification: one
// information issue.
func wantAllClear(t *testing.T, name string, issues []vIssue) {
	t.Helper()
	if len(issues) != 1 || issues[0].Severity != "information" || issues[0].Code != "informational" || issues[0].Diagnostics != "No issues found." {
		t.Errorf("%s: want the all-clear outcome, got:\n%s", name, issueLines(issues))
	}
}

func issueLines(issues []vIssue) string {
	var b strings.Builder
	for _, is := range issues {
		b.WriteString("  " + is.String() + "\n")
	}
	return b.String()
}

// validateREST posts res to /fhir/{type}/$validate, as a Parameters body with a profile
// parameter when asParams, else as the body with ?profile=.
func validateREST(t *testing.T, a *authEnv, tok string, res map[string]any, profile string, asParams bool) []vIssue {
	t.Helper()
	typ := res["resourceType"].(string)
	path := "/fhir/" + typ + "/$validate"
	var body any = res
	if asParams {
		ps := map[string]any{"resourceType": "Parameters", "parameter": []any{map[string]any{"name": "resource", "resource": res}}}
		if profile != "" {
			ps["parameter"] = append(ps["parameter"].([]any), map[string]any{"name": "profile", "valueCanonical": profile})
		}
		body = ps
	} else if profile != "" {
		path += "?profile=" + url.QueryEscape(profile)
	}
	r := a.fhir("POST", path, tok, body)
	if r.Status != 200 {
		t.Fatalf("POST %s: status %d: %s", path, r.Status, truncate(string(r.Raw), 400))
	}
	return outcomeIssues(t, r.Raw)
}

// validateGraphQL runs the Validate query with res and profile.
func validateGraphQL(t *testing.T, a *authEnv, tok string, res map[string]any, profile string) []vIssue {
	t.Helper()
	vars := map[string]any{"res": res}
	if profile != "" {
		vars["profile"] = profile
	}
	r := a.postAsVars(tok, "", `query($res: ResourceInput!, $profile: String) { Validate(res: $res, profile: $profile) { resourceType issue { severity code diagnostics expression } } }`, vars)
	if len(r.Errors) > 0 {
		t.Fatalf("Validate: %+v", r.Errors)
	}
	return outcomeIssues(t, r.Data["Validate"])
}

// validateBoth validates through REST (both body forms) and GraphQL and checks they agree.
func validateBoth(t *testing.T, a *authEnv, tok string, res map[string]any, profile string) []vIssue {
	t.Helper()
	rest := validateREST(t, a, tok, res, profile, true)
	bare := validateREST(t, a, tok, res, profile, false)
	gql := validateGraphQL(t, a, tok, res, profile)
	if issueLines(rest) != issueLines(bare) || issueLines(rest) != issueLines(gql) {
		t.Errorf("REST (Parameters), REST (bare) and GraphQL disagree:\n%s---\n%s---\n%s", issueLines(rest), issueLines(bare), issueLines(gql))
	}
	return rest
}

// narrative is a resource's text: without one, dom-6 warns.
func narrative(s string) map[string]any {
	return map[string]any{"status": "generated", "div": `<div xmlns="http://www.w3.org/1999/xhtml">` + s + `</div>`}
}

func raceExt(system, code string, text bool) map[string]any {
	ext := []any{map[string]any{"url": "ombCategory", "valueCoding": map[string]any{"system": system, "code": code, "display": "White"}}}
	if text {
		ext = append(ext, map[string]any{"url": "text", "valueString": "White"})
	}
	return map[string]any{"url": usCoreRace, "extension": ext}
}

func usCorePatientJSON() map[string]any {
	return map[string]any{
		"resourceType": "Patient", "text": narrative("Amy Shaw"),
		"extension": []any{raceExt(cdcRaceSystem, "2106-3", true), map[string]any{"url": usCoreEthnic, "extension": []any{
			map[string]any{"url": "ombCategory", "valueCoding": map[string]any{"system": cdcRaceSystem, "code": "2186-5"}},
			map[string]any{"url": "text", "valueString": "Not Hispanic or Latino"}}}},
		"identifier":    []any{map[string]any{"system": "http://hospital.example.org", "value": "1032702"}},
		"name":          []any{map[string]any{"family": "Shaw", "given": []any{"Amy"}}},
		"gender":        "female",
		"birthDate":     "1987-02-20",
		"telecom":       []any{map[string]any{"system": "phone", "value": "555-555-5555", "use": "home"}},
		"address":       []any{map[string]any{"line": []any{"49 Meadow St"}, "city": "Mounds", "state": "OK", "postalCode": "74047", "period": map[string]any{"start": "1987-02-20"}}},
		"communication": []any{map[string]any{"language": map[string]any{"coding": []any{map[string]any{"system": "urn:ietf:bcp:47", "code": "en"}}}}},
	}
}

func TestValidateUSCorePatient(t *testing.T) {
	a := newProfileEnv(t)
	tok := a.token(t, authz.RoleClinician, "")

	// It carries every must-support element of US Core Patient: not even an information issue.
	wantAllClear(t, "conformant", validateBoth(t, a, tok, usCorePatientJSON(), usCorePatient))

	missing := usCorePatientJSON()
	delete(missing, "identifier")
	delete(missing, "name")
	delete(missing, "gender")
	got := validateBoth(t, a, tok, missing, usCorePatient)
	wantIssues(t, "missing identifier, name, gender", got, "error", [][2]string{
		{"Patient.identifier", "Patient.identifier: minimum required = 1, but only found 0 (from " + usCorePatient + "|5.0.1)"},
		{"Patient.name", "Patient.name: minimum required = 1, but only found 0"},
		{"Patient.gender", "Patient.gender: minimum required = 1, but only found 0"},
		{"Patient", "us-core-6: Either Patient.name.given and/or Patient.name.family SHALL be present"},
	})
	// Without the profile the same patient conforms to the base specification.
	wantIssues(t, "missing, base only", validateBoth(t, a, tok, missing, ""), "error", nil)

	badRace := usCorePatientJSON()
	badRace["extension"].([]any)[0] = raceExt("http://example.org/not-omb", "2106-3", false)
	got = validateBoth(t, a, tok, badRace, usCorePatient)
	wantIssues(t, "bad race", got, "error", [][2]string{
		{"Patient.extension[0].extension[0].value.ofType(Coding)", "is in the value set http://hl7.org/fhir/us/core/ValueSet/omb-race-category (required binding)"},
		{"Patient.extension[0].extension", "Extension.extension:text: minimum required = 1, but only found 0 (from " + usCoreRace + "|5.0.1)"},
	})
	// meta.profile names the profile as well as the parameter does.
	badRace["meta"] = map[string]any{"profile": []any{usCorePatient}}
	if got2 := validateBoth(t, a, tok, badRace, ""); len(bySeverity(got2, "error")) != 2 {
		t.Errorf("meta.profile: want the same 2 errors:\n%s", issueLines(got2))
	}
}

func bloodPressure(sys, dia string, sysUnit string) map[string]any {
	comp := func(code, display, unit string, v int) map[string]any {
		return map[string]any{"code": map[string]any{"coding": []any{map[string]any{"system": loinc, "code": code, "display": display}}},
			"valueQuantity": map[string]any{"value": v, "unit": unit, "system": ucum, "code": unit}}
	}
	var comps []any
	if sys != "" {
		comps = append(comps, comp(sys, "Systolic blood pressure", sysUnit, 107))
	}
	if dia != "" {
		comps = append(comps, comp(dia, "Diastolic blood pressure", "mm[Hg]", 60))
	}
	obs := map[string]any{
		"resourceType": "Observation", "status": "final", "text": narrative("Blood pressure"),
		"category":          []any{map[string]any{"coding": []any{map[string]any{"system": vitalSignsCode, "code": "vital-signs"}}}},
		"code":              map[string]any{"coding": []any{map[string]any{"system": loinc, "code": "85354-9", "display": "Blood pressure panel"}}},
		"subject":           map[string]any{"reference": "Patient/example"},
		"effectiveDateTime": "1999-07-02",
	}
	if comps != nil {
		obs["component"] = comps
	}
	return obs
}

func TestValidateUSCoreBloodPressure(t *testing.T) {
	a := newProfileEnv(t)
	tok := a.token(t, authz.RoleClinician, "")

	good := validateBoth(t, a, tok, bloodPressure("8480-6", "8462-4", "mm[Hg]"), usCoreBP)
	wantIssues(t, "conformant", good, "error", nil)
	wantIssues(t, "conformant", good, "warning", nil)

	from := " (from " + usCoreBP + "|"
	got := validateBoth(t, a, tok, bloodPressure("8480-6", "", "mm[Hg]"), usCoreBP)
	wantIssues(t, "no diastolic", got, "error", [][2]string{
		{"Observation.component", "Observation.component: minimum required = 2, but only found 1" + from},
		{"Observation.component", "Observation.component:diastolic: minimum required = 1, but only found 0" + from},
	})
	got = validateBoth(t, a, tok, bloodPressure("", "", ""), usCoreBP)
	wantIssues(t, "no components", got, "error", [][2]string{
		{"Observation.component", "Observation.component: minimum required = 2, but only found 0"},
		{"Observation.component", "Observation.component:systolic: minimum required = 1, but only found 0"},
		{"Observation.component", "Observation.component:diastolic: minimum required = 1, but only found 0"},
		{"Observation", "vs-2: If there is no component or hasMember element then either a value[x] or a data absent reason must be present." + from},
	})
	// A systolic pressure in kPa: the slice fixes the unit code mm[Hg]; ucum-vitals-common
	// (extensible) does not hold kPa.
	got = validateBoth(t, a, tok, bloodPressure("8480-6", "8462-4", "kPa"), usCoreBP)
	wantIssues(t, "wrong units", got, "error", [][2]string{
		{"Observation.component[0].value.ofType(Quantity).code", `The value must be exactly "mm[Hg]".`},
	})
	wantIssues(t, "wrong units", got, "warning", [][2]string{
		{"Observation.component[0].value.ofType(Quantity)", "is not in the value set http://hl7.org/fhir/ValueSet/ucum-vitals-common"},
	})
	// The category slice (value discriminators on coding.code and coding.system).
	noCat := bloodPressure("8480-6", "8462-4", "mm[Hg]")
	noCat["category"] = []any{map[string]any{"coding": []any{map[string]any{"system": vitalSignsCode, "code": "laboratory"}}}}
	wantIssues(t, "no vital-signs category", validateBoth(t, a, tok, noCat, usCoreBP), "error", [][2]string{
		{"Observation.category", "Observation.category:VSCat: minimum required = 1, but only found 0"},
	})
	// A subject that US Core Patient cannot be (the base allows a Group).
	group := bloodPressure("8480-6", "8462-4", "mm[Hg]")
	group["subject"] = map[string]any{"reference": "Group/g1"}
	wantIssues(t, "group subject", validateBoth(t, a, tok, group, usCoreBP), "error", [][2]string{
		{"Observation.subject.reference", "A reference to a Group is not allowed here"},
	})
}

func medicationRequest() map[string]any {
	return map[string]any{
		"resourceType": "MedicationRequest", "status": "active", "intent": "order", "text": narrative("Order"),
		"category":                  []any{map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category", "code": "community"}}}},
		"reportedBoolean":           false,
		"medicationCodeableConcept": map[string]any{"coding": []any{map[string]any{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "582620"}}},
		"subject":                   map[string]any{"reference": "Patient/example"},
		"encounter":                 map[string]any{"reference": "Encounter/example"},
		"authoredOn":                "2008-04-05",
		"requester":                 map[string]any{"reference": "Practitioner/practitioner-1"},
		"dosageInstruction":         []any{map[string]any{"text": "Take one tablet daily"}},
	}
}

func TestValidateUSCoreMedicationRequest(t *testing.T) {
	a := newProfileEnv(t)
	tok := a.token(t, authz.RoleClinician, "")
	// Every must-support element is there, the us-core category slice too (told apart by its
	// required binding).
	wantAllClear(t, "conformant", validateBoth(t, a, tok, medicationRequest(), usCoreMedReq))

	bad := medicationRequest()
	delete(bad, "requester")
	delete(bad, "authoredOn")
	bad["subject"] = map[string]any{"reference": "Group/g1"}
	got := validateBoth(t, a, tok, bad, usCoreMedReq)
	wantIssues(t, "non-conformant", got, "error", [][2]string{
		{"MedicationRequest.requester", "MedicationRequest.requester: minimum required = 1, but only found 0"},
		{"MedicationRequest.subject.reference", "A reference to a Group is not allowed here"},
	})
	wantIssues(t, "non-conformant", got, "information", [][2]string{
		{"MedicationRequest.authoredOn", "mustSupport element MedicationRequest.authoredOn is absent"},
	})
}

// TestValidateExtensions: an extension is checked against its own definition wherever it is,
// with or without a profile, and an unknown one is a warning.
func TestValidateExtensions(t *testing.T) {
	a := newProfileEnv(t)
	tok := a.token(t, authz.RoleClinician, "")
	p := usCorePatientJSON()
	p["extension"] = []any{raceExt(cdcRaceSystem, "2106-3", false), map[string]any{"url": "http://example.org/unknown-ext", "valueString": "x"}}
	p["name"].([]any)[0].(map[string]any)["extension"] = []any{map[string]any{"url": usCoreRace, "valueString": "not a complex extension"}}
	got := validateBoth(t, a, tok, p, "")
	wantIssues(t, "extensions", got, "error", [][2]string{
		{"Patient.extension[0].extension", "Extension.extension:text: minimum required = 1, but only found 0"},
		{"Patient.name[0].extension[0].value", "Extension.value[x]: maximum allowed = 0, but found 1"},
		{"Patient.name[0].extension[0].extension", "Extension.extension:text: minimum required = 1, but only found 0"},
	})
	wantIssues(t, "extensions", got, "warning", [][2]string{
		{"Patient.extension[1]", "Unknown extension http://example.org/unknown-ext"},
	})
}

// TestValidateAuthorization: validating a resource of a type needs read permission on it,
// on both surfaces.
func TestValidateAuthorization(t *testing.T) {
	a := newProfileEnv(t)
	partner := a.token(t, "partner", "")
	device := map[string]any{"resourceType": "Device", "status": "active", "text": narrative("A device")}
	if r := a.fhir("POST", "/fhir/Device/$validate", partner, device); r.Status != 403 {
		t.Errorf("partner validating a Device over REST: status %d, want 403", r.Status)
	}
	r := a.postAsVars(partner, "", `query($res: ResourceInput!) { Validate(res: $res) { issue { severity } } }`, map[string]any{"res": device})
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" {
		t.Errorf("partner validating a Device in GraphQL: %+v, want one FORBIDDEN error", r.Errors)
	}
	// A type they may read.
	issues := validateREST(t, a, partner, bloodPressure("8480-6", "8462-4", "mm[Hg]"), usCoreBP, true)
	wantIssues(t, "partner", issues, "error", nil)
	if r := a.fhir("POST", "/fhir/Device/$validate", "", device); r.Status != 401 {
		t.Errorf("no token: status %d, want 401", r.Status)
	}
	// All clear: one information issue, per the FHIR specification.
	admin := a.token(t, authz.RoleAdmin, "")
	wantAllClear(t, "device", validateREST(t, a, admin, device, "", true))
	// Errors of the request itself.
	if r := a.fhir("POST", "/fhir/Patient/$validate", admin, device); r.Status != 400 {
		t.Errorf("a Device posted to Patient/$validate: status %d, want 400", r.Status)
	}
	if r := a.fhir("POST", "/fhir/Nonsense/$validate", admin, device); r.Status != 404 {
		t.Errorf("unknown type: status %d, want 404", r.Status)
	}
	got := validateREST(t, a, admin, device, "http://example.org/no-such-profile", true)
	wantIssues(t, "unknown profile parameter", got, "error", [][2]string{{"Device", "is not known to this server"}})
}

func readTestCondition(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("../testdata/packages/test-condition-profile.json")
	if err != nil {
		t.Fatal(err)
	}
	var sd map[string]any
	if err := json.Unmarshal(b, &sd); err != nil {
		t.Fatal(err)
	}
	return sd
}

func condition() map[string]any {
	return map[string]any{
		"resourceType": "Condition", "text": narrative("Diabetes"),
		"clinicalStatus": map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}}},
		"category":       []any{map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "problem-list-item"}}}},
		"code":           map[string]any{"coding": []any{map[string]any{"system": "http://snomed.info/sct", "code": "44054006"}}, "text": "Diabetes"},
		"subject":        map[string]any{"reference": "Patient/example"},
		"onsetDateTime":  "2010-01-01",
	}
}

// TestValidateStoredProfile: a StructureDefinition written to the store is a profile for
// $validate and for writes naming it in meta.profile; unknown meta.profile is a warning.
func TestValidateStoredProfile(t *testing.T) {
	a := newProfileEnv(t)
	admin := a.token(t, authz.RoleAdmin, "")
	clin := a.token(t, authz.RoleClinician, "")

	// Before it is stored, the profile is unknown.
	got := validateREST(t, a, clin, condition(), testCondition, true)
	wantIssues(t, "before", got, "error", [][2]string{{"Condition", "The profile " + testCondition + " is not known"}})

	r := a.postAsVars(admin, "", `mutation($res: StructureDefinitionInput!) { StructureDefinitionCreate(res: $res) { id url } }`, map[string]any{"res": readTestCondition(t)})
	if len(r.Errors) > 0 {
		t.Fatalf("store the profile: %+v", r.Errors)
	}

	good := validateBoth(t, a, clin, condition(), testCondition)
	wantIssues(t, "conformant", good, "error", nil)
	wantIssues(t, "conformant", good, "warning", nil)

	bad := condition()
	delete(bad, "category")
	delete(bad, "onsetDateTime")
	bad["subject"] = map[string]any{"reference": "Group/g1"}
	bad["clinicalStatus"] = map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "resolved"}}}
	bad["abatementDateTime"] = "2012-01-01"
	bad["onsetString"] = "childhood" // a type the profile removes
	from := " (from " + testCondition + "|1.0.0)"
	got = validateBoth(t, a, clin, bad, testCondition)
	wantIssues(t, "non-conformant", got, "error", [][2]string{
		{"Condition.category", "Condition.category: minimum required = 1, but only found 0" + from},
		{"Condition.subject.reference", "A reference to a Group is not allowed here"},
		{"Condition.onset.ofType(string)", "The type string is not allowed for Condition.onset[x]"},
	})
	wantIssues(t, "non-conformant", got, "information", [][2]string{
		{"Condition.onset", "mustSupport element Condition.onset[x] is absent"},
	})
	// The profile's own invariant.
	inv := condition()
	inv["clinicalStatus"] = bad["clinicalStatus"]
	wantIssues(t, "invariant", validateBoth(t, a, clin, inv, testCondition), "error", [][2]string{
		{"Condition", "test-cond-1: A resolved condition has an abatement" + from},
	})

	// meta.profile on write: strict mode refuses what the profile refuses.
	create := `mutation($res: ConditionInput!) { ConditionCreate(res: $res) { id } }`
	bad["meta"] = map[string]any{"profile": []any{testCondition}}
	r = a.postAsVars(clin, "", create, map[string]any{"res": bad})
	if len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Message, "Condition.category: minimum required = 1") {
		t.Errorf("write of a non-conformant Condition naming the profile: %+v", r.Errors)
	}
	good2 := condition()
	good2["meta"] = map[string]any{"profile": []any{testCondition}}
	if r = a.postAsVars(clin, "", create, map[string]any{"res": good2}); len(r.Errors) > 0 {
		t.Errorf("write of a conformant Condition naming the profile: %+v", r.Errors)
	}
	// A US Core profile from the package, on write.
	p := usCorePatientJSON()
	delete(p, "identifier")
	p["meta"] = map[string]any{"profile": []any{usCorePatient}}
	r = a.postAsVars(clin, "", `mutation($res: PatientInput!) { PatientCreate(res: $res) { id } }`, map[string]any{"res": p})
	if len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Message, "Patient.identifier: minimum required = 1") {
		t.Errorf("write of a US Core Patient without identifier: %+v", r.Errors)
	}
	// An unknown meta.profile is a warning: the write succeeds and the warning is reported.
	unknown := condition()
	unknown["meta"] = map[string]any{"profile": []any{"http://example.org/fhir/StructureDefinition/nowhere"}}
	r = a.postAsVars(clin, "", create, map[string]any{"res": unknown})
	if len(r.Errors) > 0 {
		t.Fatalf("write naming an unknown profile: %+v", r.Errors)
	}
	b, _ := json.Marshal(r.Extensions["validation"])
	if !strings.Contains(string(b), `"warning"`) || !strings.Contains(string(b), "nowhere is not known to this server") {
		t.Errorf("write naming an unknown profile: validation extension %s, want the warning", b)
	}
}
