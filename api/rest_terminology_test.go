package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/authz"
)

// outParams returns a Parameters answer's parameters by name (the first of each name), and
// every parameter in order.
func txOut(t *testing.T, r *fhirResponse) (map[string]map[string]any, []map[string]any) {
	t.Helper()
	if r.Status != http.StatusOK || r.Body["resourceType"] != "Parameters" {
		t.Fatalf("status %d, body %s", r.Status, truncate(string(r.Raw), 500))
	}
	byName := map[string]map[string]any{}
	var all []map[string]any
	ps, _ := r.Body["parameter"].([]any)
	for _, p := range ps {
		m := p.(map[string]any)
		all = append(all, m)
		if _, ok := byName[m["name"].(string)]; !ok {
			byName[m["name"].(string)] = m
		}
	}
	return byName, all
}

// contains returns an expansion's codes, in order, as system|code.
func txExpansion(t *testing.T, r *fhirResponse) (codes []string, total, offset float64) {
	t.Helper()
	if r.Status != http.StatusOK || r.Body["resourceType"] != "ValueSet" {
		t.Fatalf("status %d, body %s", r.Status, truncate(string(r.Raw), 500))
	}
	exp := r.Body["expansion"].(map[string]any)
	cs, _ := exp["contains"].([]any)
	for _, c := range cs {
		m := c.(map[string]any)
		codes = append(codes, m["system"].(string)+"|"+m["code"].(string)+"|"+m["display"].(string))
	}
	return codes, exp["total"].(float64), exp["offset"].(float64)
}

// wantOutcome checks an OperationOutcome answer's status and that its message holds want.
func txWantOutcome(t *testing.T, what string, r *fhirResponse, status int, want string) {
	t.Helper()
	if r.Status != status || r.Body["resourceType"] != "OperationOutcome" {
		t.Errorf("%s: status %d, body %s; want %d OperationOutcome", what, r.Status, truncate(string(r.Raw), 300), status)
		return
	}
	if d, _ := r.issues()[0]["diagnostics"].(string); !strings.Contains(d, want) {
		t.Errorf("%s: diagnostics %q, want it to say %q", what, d, want)
	}
}

func TestTerminologyExpand(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{})
	tok := a.token(t, "clinician", "")
	gender := "http://hl7.org/fhir/ValueSet/administrative-gender"
	g := "http://hl7.org/fhir/administrative-gender|"

	codes, total, _ := txExpansion(t, a.fhir("GET", "/fhir/ValueSet/$expand?url="+url.QueryEscape(gender+"|4.0.1"), tok, nil))
	want := []string{g + "male|Male", g + "female|Female", g + "other|Other", g + "unknown|Unknown"}
	if strings.Join(codes, ",") != strings.Join(want, ",") || total != 4 {
		t.Errorf("administrative-gender: total %v, %v; want 4, %v", total, codes, want)
	}

	// Filter then page: "male" matches male and female; the second page of one is female.
	codes, total, offset := txExpansion(t, a.fhir("POST", "/fhir/ValueSet/$expand", tok, txParams(
		"url", "valueUri", gender, "filter", "valueString", "MALE", "offset", "valueInteger", 1, "count", "valueInteger", 1)))
	if total != 2 || offset != 1 || len(codes) != 1 || codes[0] != g+"female|Female" {
		t.Errorf("filter and page: total %v offset %v %v; want 2, 1, [female]", total, offset, codes)
	}

	// An is-a filter over v3 ActCode: every code of ActEncounterCode is below it.
	codes, total, _ = txExpansion(t, a.fhir("GET", "/fhir/ValueSet/$expand?url=http://terminology.hl7.org/ValueSet/v3-ActEncounterCode", tok, nil))
	if total < 10 || !txHasPrefix(codes, "http://terminology.hl7.org/CodeSystem/v3-ActCode|AMB|") || txHasPrefix(codes, "http://terminology.hl7.org/CodeSystem/v3-ActCode|CASH|") {
		t.Errorf("v3-ActEncounterCode: %v codes %v", total, codes)
	}

	// What the specification cannot expand answers so, never an empty expansion.
	txWantOutcome(t, "SNOMED intensional", a.fhir("GET", "/fhir/ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/clinical-findings", tok, nil),
		http.StatusNotImplemented, "snomed")
	txWantOutcome(t, "unknown value set", a.fhir("GET", "/fhir/ValueSet/$expand?url=http://example.org/none", tok, nil),
		http.StatusNotFound, "not known")
	txWantOutcome(t, "no url", a.fhir("GET", "/fhir/ValueSet/$expand", tok, nil), http.StatusBadRequest, "url")
	txWantOutcome(t, "bad count", a.fhir("GET", "/fhir/ValueSet/$expand?url="+gender+"&count=x", tok, nil), http.StatusBadRequest, "count")
	if r := a.fhir("GET", "/fhir/ValueSet/$expand?url="+gender, "", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("no token: status %d, want 401", r.Status)
	}
}

// TestTerminologyInlineResources: a POST carries its own CodeSystem (tx-resource) and a
// ValueSet drawing on it and on the specification, and $expand, $validate-code, $lookup and
// $subsumes answer over them; nothing stays behind for the next request.
func TestTerminologyInlineResources(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{})
	tok := a.token(t, "analyst", "")
	cs := map[string]any{"resourceType": "CodeSystem", "url": "http://example.org/cs/colour", "name": "Colour", "content": "complete",
		"concept": []any{
			map[string]any{"code": "warm", "display": "Warm", "concept": []any{
				map[string]any{"code": "red", "display": "Red"}, map[string]any{"code": "orange", "display": "Orange"}}},
			map[string]any{"code": "blue", "display": "Blue"}}}
	vs := map[string]any{"resourceType": "ValueSet", "url": "http://example.org/vs/warm-or-gender", "compose": map[string]any{
		"include": []any{
			map[string]any{"system": "http://example.org/cs/colour", "filter": []any{map[string]any{"property": "concept", "op": "descendent-of", "value": "warm"}}},
			map[string]any{"valueSet": []any{"http://hl7.org/fhir/ValueSet/administrative-gender"}}},
		"exclude": []any{map[string]any{"system": "http://hl7.org/fhir/administrative-gender", "concept": []any{map[string]any{"code": "unknown"}}}}}}
	body := func(extra ...any) map[string]any {
		p := txParams(append([]any{"valueSet", "resource", vs}, extra...)...)
		p["parameter"] = append(p["parameter"].([]any), map[string]any{"name": "tx-resource", "resource": cs})
		return p
	}
	codes, total, _ := txExpansion(t, a.fhir("POST", "/fhir/ValueSet/$expand", tok, body()))
	var bare []string
	for _, c := range codes {
		bare = append(bare, strings.Split(c, "|")[1])
	}
	if strings.Join(bare, ",") != "red,orange,male,female,other" || total != 5 {
		t.Errorf("inline expansion: %v %v; want red,orange,male,female,other", total, bare)
	}
	check := func(what string, ps map[string]any, result bool, display string) {
		t.Helper()
		out, _ := txOut(t, a.fhir("POST", "/fhir/ValueSet/$validate-code", tok, ps))
		if out["result"]["valueBoolean"] != result || (display != "" && out["display"]["valueString"] != display) {
			t.Errorf("%s: %v, want result %v display %q", what, out, result, display)
		}
		if !result && out["message"] == nil {
			t.Errorf("%s: a false result without a message", what)
		}
	}
	check("red", body("system", "valueUri", "http://example.org/cs/colour", "code", "valueCode", "red"), true, "Red")
	check("warm is not below itself", body("system", "valueUri", "http://example.org/cs/colour", "code", "valueCode", "warm"), false, "")
	check("excluded unknown", body("system", "valueUri", "http://hl7.org/fhir/administrative-gender", "code", "valueCode", "unknown"), false, "")
	check("wrong display", body("coding", "valueCoding", map[string]any{"system": "http://example.org/cs/colour", "code": "red", "display": "Blue"}), false, "Red")

	txOnly := func(extra ...any) map[string]any {
		p := txParams(extra...)
		p["parameter"] = append(p["parameter"].([]any), map[string]any{"name": "tx-resource", "resource": cs})
		return p
	}
	out, _ := txOut(t, a.fhir("POST", "/fhir/CodeSystem/$subsumes", tok, txOnly("system", "valueUri", "http://example.org/cs/colour", "codeA", "valueCode", "warm", "codeB", "valueCode", "orange")))
	if out["outcome"]["valueCode"] != "subsumes" {
		t.Errorf("inline $subsumes warm orange: %v", out)
	}
	out, _ = txOut(t, a.fhir("POST", "/fhir/CodeSystem/$lookup", tok, txOnly("system", "valueUri", "http://example.org/cs/colour", "code", "valueCode", "red")))
	if out["display"]["valueString"] != "Red" || out["name"]["valueString"] != "Colour" {
		t.Errorf("inline $lookup red: %v", out)
	}
	// The request registry is gone with its request.
	txWantOutcome(t, "inline code system after its request", a.fhir("GET", "/fhir/CodeSystem/$lookup?system=http://example.org/cs/colour&code=red", tok, nil),
		http.StatusNotFound, "not known")
	txWantOutcome(t, "a Patient as tx-resource", a.fhir("POST", "/fhir/ValueSet/$expand", tok, map[string]any{"resourceType": "Parameters", "parameter": []any{
		map[string]any{"name": "url", "valueUri": "http://hl7.org/fhir/ValueSet/administrative-gender"},
		map[string]any{"name": "tx-resource", "resource": map[string]any{"resourceType": "Patient"}}}}), http.StatusBadRequest, "not a terminology resource")
}

func TestTerminologyLookupValidateSubsumes(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{})
	tok := a.token(t, "clinician", "")
	const actCode = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

	// $lookup of a v3 code: its display, and its parent and children in the is-a hierarchy.
	out, all := txOut(t, a.fhir("GET", "/fhir/CodeSystem/$lookup?system="+actCode+"&code=_ActEncounterCode", tok, nil))
	if out["name"]["valueString"] != "v3.ActCode" || out["display"]["valueString"] != "ActEncounterCode" {
		t.Errorf("$lookup _ActEncounterCode: %v", out)
	}
	props := map[string][]string{}
	for _, p := range all {
		if p["name"] != "property" {
			continue
		}
		var code, value string
		for _, part := range p["part"].([]any) {
			m := part.(map[string]any)
			if m["name"] == "code" {
				code = m["valueCode"].(string)
			} else if v, ok := m["valueCode"].(string); ok {
				value = v
			}
		}
		props[code] = append(props[code], value)
	}
	if !txHas(props["child"], "AMB") || !txHas(props["child"], "IMP") || strings.Join(props["parent"], ",") != "_ActCareProvisionCode" {
		t.Errorf("$lookup _ActEncounterCode properties: %v", props)
	}
	out, _ = txOut(t, a.fhir("GET", "/fhir/CodeSystem/$lookup?system="+actCode+"&code=AMB", tok, nil))
	if out["display"]["valueString"] != "ambulatory" {
		t.Errorf("$lookup AMB display: %v", out["display"])
	}
	txWantOutcome(t, "$lookup of a code not in ActCode", a.fhir("GET", "/fhir/CodeSystem/$lookup?system="+actCode+"&code=NOPE", tok, nil), http.StatusNotFound, "NOPE")
	txWantOutcome(t, "$lookup in SNOMED CT", a.fhir("GET", "/fhir/CodeSystem/$lookup?system=http://snomed.info/sct&code=22298006", tok, nil), http.StatusNotImplemented, "snomed")

	subsumes := func(a1, b1 string) any {
		out, _ := txOut(t, a.fhir("GET", "/fhir/CodeSystem/$subsumes?system="+actCode+"&codeA="+a1+"&codeB="+b1, tok, nil))
		return out["outcome"]["valueCode"]
	}
	for _, c := range [][3]string{{"_ActEncounterCode", "AMB", "subsumes"}, {"AMB", "_ActEncounterCode", "subsumed-by"}, {"AMB", "AMB", "equivalent"}, {"AMB", "IMP", "not-subsumed"}} {
		if got := subsumes(c[0], c[1]); got != c[2] {
			t.Errorf("$subsumes %s %s = %v, want %s", c[0], c[1], got, c[2])
		}
	}
	txWantOutcome(t, "$subsumes unknown code", a.fhir("GET", "/fhir/CodeSystem/$subsumes?system="+actCode+"&codeA=AMB&codeB=NOPE", tok, nil), http.StatusBadRequest, "NOPE")

	vcs := func(path string) map[string]map[string]any {
		out, _ := txOut(t, a.fhir("GET", path, tok, nil))
		return out
	}
	gender := "http://hl7.org/fhir/ValueSet/administrative-gender"
	if r := vcs("/fhir/ValueSet/$validate-code?url=" + gender + "&code=female"); r["result"]["valueBoolean"] != true || r["display"]["valueString"] != "Female" {
		t.Errorf("female in gender: %v", r)
	}
	if r := vcs("/fhir/ValueSet/$validate-code?url=" + gender + "&code=blah"); r["result"]["valueBoolean"] != false || r["message"] == nil {
		t.Errorf("blah in gender: %v", r)
	}
	if r := vcs("/fhir/CodeSystem/$validate-code?url=" + actCode + "&code=AMB&display=ambulatory"); r["result"]["valueBoolean"] != true {
		t.Errorf("AMB in ActCode: %v", r)
	}
	if r := vcs("/fhir/CodeSystem/$validate-code?url=" + actCode + "&code=NOPE"); r["result"]["valueBoolean"] != false {
		t.Errorf("NOPE in ActCode: %v", r)
	}
	txWantOutcome(t, "$validate-code of a SNOMED code in an intensional SNOMED value set",
		a.fhir("GET", "/fhir/ValueSet/$validate-code?url=http://hl7.org/fhir/ValueSet/clinical-findings&system=http://snomed.info/sct&code=22298006", tok, nil),
		http.StatusNotImplemented, "cannot be evaluated")
}

func TestTerminologyTranslate(t *testing.T) {
	a := newAuthEnv(t, authz.VerifierConfig{})
	tok := a.token(t, "clinician", "")
	match := func(all []map[string]any) []string {
		var out []string
		for _, p := range all {
			if p["name"] != "match" {
				continue
			}
			var eq, code, src string
			for _, part := range p["part"].([]any) {
				m := part.(map[string]any)
				switch m["name"] {
				case "equivalence":
					eq = m["valueCode"].(string)
				case "concept":
					c := m["valueCoding"].(map[string]any)
					code = c["system"].(string) + "|" + c["code"].(string)
				case "source":
					src = m["valueUri"].(string)
				}
			}
			out = append(out, eq+" "+code+" "+src)
		}
		return out
	}
	// The specification's map from administrative gender to v2 table 0001.
	out, all := txOut(t, a.fhir("GET", "/fhir/ConceptMap/$translate?url=http://hl7.org/fhir/ConceptMap/cm-administrative-gender-v2&system=http://hl7.org/fhir/administrative-gender&code=female", tok, nil))
	want := "equal http://terminology.hl7.org/CodeSystem/v2-0001|F http://hl7.org/fhir/ConceptMap/cm-administrative-gender-v2"
	if got := match(all); out["result"]["valueBoolean"] != true || len(got) != 1 || got[0] != want {
		t.Errorf("$translate female to v2: %v, want [%s]", got, want)
	}
	// By source and target value sets, to v3.
	_, all = txOut(t, a.fhir("POST", "/fhir/ConceptMap/$translate", tok, txParams(
		"source", "valueUri", "http://hl7.org/fhir/ValueSet/administrative-gender", "target", "valueUri", "http://terminology.hl7.org/ValueSet/v3-AdministrativeGender",
		"coding", "valueCoding", map[string]any{"system": "http://hl7.org/fhir/administrative-gender", "code": "male"})))
	if got := match(all); len(got) != 1 || !strings.Contains(got[0], "v3-AdministrativeGender|M ") {
		t.Errorf("$translate male to v3: %v", got)
	}
	// Every map from administrative gender, back from v2's F.
	_, all = txOut(t, a.fhir("GET", "/fhir/ConceptMap/$translate?system=http://terminology.hl7.org/CodeSystem/v2-0001&code=F&reverse=true", tok, nil))
	if got := match(all); len(got) != 1 || !strings.HasPrefix(got[0], "equal http://hl7.org/fhir/administrative-gender|female ") {
		t.Errorf("$translate F reverse: %v", got)
	}
	out, all = txOut(t, a.fhir("GET", "/fhir/ConceptMap/$translate?url=http://hl7.org/fhir/ConceptMap/cm-administrative-gender-v2&system=http://hl7.org/fhir/administrative-gender&code=nope", tok, nil))
	if out["result"]["valueBoolean"] != false || len(match(all)) != 0 || out["message"] == nil {
		t.Errorf("$translate of an unmapped code: %v", all)
	}
	txWantOutcome(t, "$translate unknown map", a.fhir("GET", "/fhir/ConceptMap/$translate?url=http://example.org/cm&system=s&code=c", tok, nil), http.StatusNotFound, "not known")
}

// params builds a Parameters body from name, value[x] key, value triples ("resource" as
// the key puts the value in resource).
func txParams(nkv ...any) map[string]any {
	var ps []any
	for i := 0; i+2 < len(nkv)+1; i += 3 {
		p := map[string]any{"name": nkv[i]}
		p[nkv[i+1].(string)] = nkv[i+2]
		ps = append(ps, p)
	}
	return map[string]any{"resourceType": "Parameters", "parameter": ps}
}

func txHasPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

func txHas(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
