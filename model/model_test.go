package model_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/internal/datasets"
	"github.com/fhirgate/fhirgate/model"
)

// jsonValue decodes JSON keeping numbers as their text, so 1.50 and 1.5 differ.
func jsonValue(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func TestOfficialExamplesRoundTrip(t *testing.T) {
	files := datasets.Files(t, datasets.FHIRExamples, "*.json")
	if len(files) != 699 {
		t.Fatalf("want the 699 official examples, got %d", len(files))
	}
	types := map[string]bool{}
	for _, f := range files {
		r, err := model.Unmarshal(f.Data)
		if err != nil {
			t.Errorf("%s: %v", f.Name, err)
			continue
		}
		types[r.TypeName()] = true
		out, err := model.Marshal(r)
		if err != nil {
			t.Errorf("%s: marshal: %v", f.Name, err)
			continue
		}
		if want, got := jsonValue(t, f.Data), jsonValue(t, out); !reflect.DeepEqual(want, got) {
			t.Errorf("%s: round trip differs:\n got %s", f.Name, truncate(string(out)))
		}
	}
	if len(types) < 120 {
		t.Errorf("examples covered %d resource types, want at least 120", len(types))
	}
}

func truncate(s string) string {
	if len(s) > 400 {
		return s[:400]
	}
	return s
}

func TestDecimalKeepsDigits(t *testing.T) {
	in := `{"resourceType":"Observation","status":"final","code":{"text":"w"},"valueQuantity":{"value":1.50,"unit":"kg"}}`
	r, err := model.Unmarshal([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	obs := r.(*model.Observation)
	if got := string(*obs.ValueQuantity.Value); got != "1.50" {
		t.Fatalf("decimal = %q, want 1.50", got)
	}
	out, _ := model.Marshal(r)
	if !strings.Contains(string(out), `"value":1.50`) {
		t.Fatalf("marshalled %s, want value 1.50", out)
	}
}

func TestInvalidInput(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"not json", `{"resourceType":`, "invalid FHIR resource"},
		{"no resourceType", `{"id":"a"}`, "resourceType is missing"},
		{"unknown type", `{"resourceType":"Patientt"}`, `unknown resourceType "Patientt"`},
		{"unknown element", `{"resourceType":"Patient","foo":1}`, `unknown element "foo"`},
		{"bad date", `{"resourceType":"Patient","birthDate":"1970-13-01"}`, `"1970-13-01" is not a valid date`},
		{"bad id", `{"resourceType":"Patient","id":"a b"}`, `"a b" is not a valid id`},
		{"decimal as string", `{"resourceType":"Observation","status":"final","code":{},"valueQuantity":{"value":"1.5"}}`, "decimal must be a JSON number"},
		{"wrong json type", `{"resourceType":"Patient","active":"yes"}`, "active"},
		{"trailing data", `{"resourceType":"Patient"} {}`, "after top-level value"},
		{"bad contained", `{"resourceType":"Patient","contained":[{"resourceType":"Nope"}]}`, `unknown resourceType "Nope"`},
		{"nested unknown", `{"resourceType":"Bundle","type":"batch","entry":[{"resource":{"resourceType":"Patient","bogus":true}}]}`, `unknown element "bogus"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := model.Unmarshal([]byte(c.in))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, model.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func TestUnmarshalAsRefusesOtherType(t *testing.T) {
	_, err := model.UnmarshalAs[*model.Patient]([]byte(`{"resourceType":"Observation","status":"final","code":{}}`))
	if err == nil || !strings.Contains(err.Error(), "expected Patient") {
		t.Fatalf("err = %v, want a resourceType mismatch", err)
	}
}

func TestSearchParamsTable(t *testing.T) {
	byCode := map[string]model.SearchParam{}
	for _, p := range model.SearchParams("Observation") {
		byCode[p.Code] = p
	}
	if p := byCode["code"]; p.Type != "token" || p.Expression != "Observation.code" {
		t.Errorf("Observation code = %+v", p)
	}
	if p := byCode["subject"]; p.Type != "reference" || !strings.Contains(strings.Join(p.Targets, ","), "Patient") {
		t.Errorf("Observation subject = %+v", p)
	}
	if p := byCode["code-value-quantity"]; p.Type != "composite" || len(p.Components) != 2 {
		t.Errorf("Observation code-value-quantity = %+v", p)
	}
	if _, ok := byCode["_id"]; !ok {
		t.Error("Observation lacks _id")
	}
	if n := len(model.ResourceTypes()); n < 145 {
		t.Errorf("%d resource types", n)
	}
}
