package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/api"
	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/storage"
)

const (
	bundleNPI     = "http://hl7.org/fhir/sid/us-npi"
	bundlePatient = `{"resourceType":"Patient","name":[{"family":"Bundle"}]}`
)

func bundleOf(typ string, entries ...string) []byte {
	return []byte(`{"resourceType":"Bundle","type":"` + typ + `","entry":[` + strings.Join(entries, ",") + `]}`)
}

func postEntry(fullURL, res string, extra string) string {
	var h struct{ ResourceType string }
	json.Unmarshal([]byte(res), &h)
	if extra != "" {
		extra = "," + extra
	}
	return `{"fullUrl":"` + fullURL + `","resource":` + res + `,"request":{"method":"POST","url":"` + h.ResourceType + `"` + extra + `}}`
}

func bundleObservation(subject string) string {
	return `{"resourceType":"Observation","status":"final","code":{"text":"hr"},"subject":{"reference":"` + subject + `"},"performer":[{"reference":"Practitioner?identifier=` + bundleNPI + `|42"}]}`
}

// responseEntries returns a response Bundle's entries' response elements.
func responseEntries(t *testing.T, body map[string]any) []map[string]any {
	t.Helper()
	es, _ := body["entry"].([]any)
	var out []map[string]any
	for _, e := range es {
		r, _ := e.(map[string]any)["response"].(map[string]any)
		out = append(out, r)
	}
	return out
}

// TestFHIRTransaction posts transactions to /fhir as a clinician: references between
// entries and conditional references resolved, reads answered by the REST API after the
// writes, and a failing entry failing the whole transaction with an OperationOutcome that
// names it.
func TestFHIRTransaction(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{})
	clin := a.token(t, "clinician", "")
	ctx := context.Background()

	seed := a.fhir(http.MethodPost, "/fhir", clin, bundleOf("transaction",
		postEntry("urn:uuid:doc", `{"resourceType":"Practitioner","identifier":[{"system":"`+bundleNPI+`","value":"42"}]}`, "")))
	if seed.Status != http.StatusOK || seed.Body["type"] != "transaction-response" {
		t.Fatalf("seed: %d %s", seed.Status, seed.Raw)
	}
	docID := strings.Split(responseEntries(t, seed.Body)[0]["location"].(string), "/")[1]

	out := a.fhir(http.MethodPost, "/fhir/", clin, bundleOf("transaction",
		postEntry("urn:uuid:o", bundleObservation("urn:uuid:p"), ""),
		postEntry("urn:uuid:p", bundlePatient, ""),
		`{"request":{"method":"GET","url":"CodeSystem/$lookup?system=http://hl7.org/fhir/administrative-gender&code=female"}}`,
	))
	if out.Status != http.StatusOK {
		t.Fatalf("transaction: %d %s", out.Status, out.Raw)
	}
	rs := responseEntries(t, out.Body)
	if len(rs) != 3 || rs[0]["status"] != "201 Created" || rs[1]["status"] != "201 Created" || rs[2]["status"] != "200 OK" {
		t.Fatalf("responses %v", rs)
	}
	if got := out.Body["entry"].([]any)[2].(map[string]any)["resource"].(map[string]any)["resourceType"]; got != "Parameters" {
		t.Errorf("the GET entry answered %v, want the $lookup Parameters from the REST API", got)
	}
	obsID := strings.Split(rs[0]["location"].(string), "/")[1]
	patID := strings.Split(rs[1]["location"].(string), "/")[1]
	rec, err := a.store.Read(ctx, "Observation", obsID)
	if err != nil {
		t.Fatal(err)
	}
	var obs struct {
		Subject   struct{ Reference string }
		Performer []struct{ Reference string }
	}
	json.Unmarshal(rec.JSON, &obs)
	if obs.Subject.Reference != "Patient/"+patID || obs.Performer[0].Reference != "Practitioner/"+docID {
		t.Errorf("stored references %+v, want Patient/%s and Practitioner/%s", obs, patID, docID)
	}

	// Reads after the writes go through the REST API; a JSON Patch rides in a Binary.
	patch := base64.StdEncoding.EncodeToString([]byte(`[{"op":"add","path":"/gender","value":"female"}]`))
	rw := a.fhir(http.MethodPost, "/fhir", clin, bundleOf("transaction",
		`{"request":{"method":"GET","url":"Patient/`+patID+`"}}`,
		`{"resource":{"resourceType":"Binary","contentType":"application/json-patch+json","data":"`+patch+`"},"request":{"method":"PATCH","url":"Patient/`+patID+`"}}`,
	))
	rrs := responseEntries(t, rw.Body)
	if rw.Status != http.StatusOK || rrs[0]["status"] != "200 OK" || rrs[0]["etag"] != `W/"2"` || rrs[1]["status"] != "200 OK" {
		t.Fatalf("GET and PATCH: %d %s", rw.Status, rw.Raw)
	}
	if got := rw.Body["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)["gender"]; got != "female" {
		t.Errorf("the GET entry read %v: it ran before the PATCH", got)
	}
	if rec, err := a.store.Read(ctx, "Patient", patID); err != nil || rec.Op != storage.OpPatch {
		t.Errorf("the PATCH entry's version: %+v, %v; want it recorded as a patch", rec, err)
	}

	// Entry 1 is invalid: nothing of the transaction is stored, and the outcome names it.
	bad := a.fhir(http.MethodPost, "/fhir", clin, bundleOf("transaction",
		`{"resource":`+bundlePatient+`,"request":{"method":"PUT","url":"Patient/tx-kept-out"}}`,
		postEntry("urn:uuid:bad", `{"resourceType":"Patient","gender":"robot"}`, ""),
	))
	issues := bad.issues()
	if bad.Status != http.StatusUnprocessableEntity || len(issues) == 0 || !strings.HasPrefix(fmt.Sprint(issues[0]["diagnostics"]), "Bundle.entry[1] (fullUrl urn:uuid:bad)") {
		t.Fatalf("failing transaction: %d %s", bad.Status, bad.Raw)
	}
	if !strings.Contains(string(bad.Raw), "Bundle.entry[1].resource.gender") {
		t.Errorf("the outcome does not locate the invalid element: %s", bad.Raw)
	}
	if _, err := a.store.Read(ctx, "Patient", "tx-kept-out"); err == nil {
		t.Error("a failed transaction stored its first entry")
	}

	// Each entry needs its own permission; an analyst may not create.
	analyst := a.token(t, "analyst", "")
	denied := a.fhir(http.MethodPost, "/fhir", analyst, bundleOf("transaction", postEntry("urn:uuid:x", bundlePatient, "")))
	if denied.Status != http.StatusForbidden || !strings.Contains(string(denied.Raw), "Bundle.entry[0]") {
		t.Errorf("analyst's transaction: %d %s, want 403 naming entry 0", denied.Status, denied.Raw)
	}

	// A batch: entries fail alone.
	batch := a.fhir(http.MethodPost, "/fhir", clin, bundleOf("batch",
		postEntry("urn:uuid:b1", bundlePatient, ""),
		postEntry("urn:uuid:b2", `{"resourceType":"Patient","gender":"robot"}`, ""),
	))
	if rs := responseEntries(t, batch.Body); batch.Status != http.StatusOK || batch.Body["type"] != "batch-response" || rs[0]["status"] != "201 Created" || rs[1]["status"] != "422 Unprocessable Entity" || rs[1]["outcome"] == nil {
		t.Errorf("batch: %d %s", batch.Status, batch.Raw)
	}

	for _, c := range []struct {
		body string
		want int
	}{
		{`{"resourceType":"Bundle","type":"collection"}`, http.StatusBadRequest},
		{`{"resourceType":"Patient"}`, http.StatusBadRequest},
		{`{"resourceType":"Bundle","type":"transaction","entry":[{`, http.StatusBadRequest},
	} {
		if r := a.fhir(http.MethodPost, "/fhir", clin, []byte(c.body)); r.Status != c.want || r.Body["resourceType"] != "OperationOutcome" {
			t.Errorf("POST /fhir %s: %d %s, want %d with an OperationOutcome", c.body, r.Status, r.Raw, c.want)
		}
	}
}

// TestFHIRBundleLimits: bundles get their own body limit, above other requests', per role;
// and the entry limit applies.
func TestFHIRBundleLimits(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{}, func(c *api.Config) {
		c.MaxBodyBytes, c.MaxBundleBytes, c.MaxBundleEntries = 4000, 200_000, 50
		c.Auth.Limits = api.PrincipalLimits{MaxBodyBytes: 2000, BundleByRole: map[string]int64{"clinician": 100_000}}
	})
	clin := a.token(t, "clinician", "")
	entries := func(n int) []string {
		var es []string
		for i := range n {
			es = append(es, postEntry(fmt.Sprintf("urn:uuid:%d", i), bundlePatient, ""))
		}
		return es
	}
	big := bundleOf("transaction", entries(40)...) // about 4.6 KB: over every limit but the bundle one
	if r := a.fhir(http.MethodPost, "/fhir", clin, big); r.Status != http.StatusOK {
		t.Fatalf("a %d-byte bundle within the bundle limit: %d %s", len(big), r.Status, r.Raw)
	}
	patient := a.token(t, "patient", "p1")
	if r := a.fhir(http.MethodPost, "/fhir", patient, big); r.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("a role without a bundle limit sent %d bytes: %d, want 413", len(big), r.Status)
	}
	if r := a.fhir(http.MethodPost, "/fhir", clin, bundleOf("transaction", entries(51)...)); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Raw), "limit of 50") {
		t.Errorf("51 entries over a limit of 50: %d %s", r.Status, r.Raw)
	}
	huge := bundleOf("transaction", entries(900)...)
	if r := a.fhir(http.MethodPost, "/fhir", clin, huge); r.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("a %d-byte bundle over the clinician's bundle limit: %d, want 413", len(huge), r.Status)
	}
}

// TestGraphQLTransaction runs the transaction mutation: any authenticated caller may call it,
// each entry is checked, and a failed transaction's error names its entry.
func TestGraphQLTransaction(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{})
	q := `mutation($b: BundleInput!) { transaction(res: $b) { type entry { response { status location } } } }`
	vars := func(b []byte) map[string]any {
		var m map[string]any
		json.Unmarshal(b, &m)
		return map[string]any{"b": m}
	}
	clin := a.token(t, "clinician", "")
	ok := a.postAsVars(clin, "", q, vars(bundleOf("transaction", postEntry("urn:uuid:p", bundlePatient, ""), postEntry("urn:uuid:o", `{"resourceType":"Observation","status":"final","code":{"text":"hr"},"subject":{"reference":"urn:uuid:p"}}`, ""))))
	if len(ok.Errors) > 0 {
		t.Fatalf("transaction: %+v", ok.Errors)
	}
	var data struct {
		Transaction struct {
			Type  string
			Entry []struct {
				Response struct{ Status, Location string }
			}
		}
	}
	json.Unmarshal(ok.Data["transaction"], &data.Transaction)
	if data.Transaction.Type != "transaction-response" || len(data.Transaction.Entry) != 2 || data.Transaction.Entry[1].Response.Status != "201 Created" {
		t.Fatalf("transaction answered %s", ok.Data["transaction"])
	}

	bad := a.postAsVars(clin, "", q, vars(bundleOf("transaction", postEntry("urn:uuid:p", bundlePatient, ""), postEntry("urn:uuid:x", `{"resourceType":"Observation","status":"final","code":{"text":"hr"},"subject":{"reference":"urn:uuid:nowhere"}}`, ""))))
	if len(bad.Errors) != 1 || bad.Errors[0].Extensions["code"] != "BAD_USER_INPUT" || !strings.Contains(bad.Errors[0].Message, "Bundle.entry[1] (fullUrl urn:uuid:x)") {
		t.Errorf("failing transaction: %+v", bad.Errors)
	}

	analyst := a.token(t, "analyst", "")
	denied := a.postAsVars(analyst, "", q, vars(bundleOf("transaction", postEntry("urn:uuid:p", bundlePatient, ""))))
	if len(denied.Errors) != 1 || denied.Errors[0].Extensions["code"] != "FORBIDDEN" || !strings.Contains(denied.Errors[0].Message, "Bundle.entry[0]") {
		t.Errorf("analyst's transaction: %+v, want FORBIDDEN naming entry 0", denied.Errors)
	}
}
