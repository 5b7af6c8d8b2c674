package fhirjson

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestHead(t *testing.T) {
	for _, c := range []struct {
		in, typ, id string
		ok          bool
	}{
		{`{"resourceType":"Patient","id":"p1","name":[{"family":"x"}]}`, "Patient", "p1", true},
		{` { "id" : "a\u002db", "resourceType" : "Observation" } `, "Observation", "a-b", true},
		{`{"resourceType":"Patient"}`, "Patient", "", true},
		{`{"id":"p1"}`, "", "", false},
		{`{"resourceType":7}`, "", "", false},
		{`[1]`, "", "", false},
		{`{"resourceType":"Patient",}`, "", "", false},
		{`{"resourceType":"Patient"} x`, "", "", false},
		{`{"resourceType":"Patient","a":"unterminated}`, "", "", false},
	} {
		typ, id, err := Head([]byte(c.in))
		if (err == nil) != c.ok || typ != c.typ || id != c.id {
			t.Errorf("Head(%s) = %q, %q, %v; want %q, %q, ok %v", c.in, typ, id, err, c.typ, c.id, c.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("Head(%s): %v is not ErrInvalid", c.in, err)
		}
	}
}

// TestStampAndID: id after resourceType, meta after id with the server's fields first and
// the client's kept; every other value byte for byte (decimals, escapes, key order).
func TestStampAndID(t *testing.T) {
	in := `{"resourceType":"Observation","status":"final","meta":{"profile":["http://x/p"],"versionId":"9"},"valueQuantity":{"value":1.50},"note":[{"text":"a\u00e9<b>"}]}`
	r, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	r.SetID("o1")
	r.StampMeta("3", time.Date(2024, 5, 6, 7, 8, 9, 12e6, time.UTC))
	got, _ := r.MarshalJSON()
	want := `{"resourceType":"Observation","id":"o1","status":"final","meta":{"versionId":"3","lastUpdated":"2024-05-06T07:08:09.012Z","profile":["http://x/p"]},"valueQuantity":{"value":1.50},"note":[{"text":"a\u00e9<b>"}]}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// Stamping again replaces, and a resource without meta gets one after its id.
	r2, _ := Parse([]byte(`{"resourceType":"Patient","id":"p","active":true}`))
	r2.StampMeta("1", time.Unix(0, 0))
	r2.StampMeta("2", time.Unix(0, 0))
	got, _ = r2.MarshalJSON()
	if want := `{"resourceType":"Patient","id":"p","meta":{"versionId":"2","lastUpdated":"1970-01-01T00:00:00.000Z"},"active":true}`; string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestRewrite(t *testing.T) {
	in := `{"resourceType":"Encounter","subject":{"reference":"urn:uuid:1"},"participant":[{"individual":{"reference":"Practitioner?identifier=a|b","display":"urn:uuid:1"}},{"individual":{"reference":"Practitioner/x"}}],"text":{"div":"<a href=\"urn:uuid:1\">x</a>"},"extension":[{"url":"urn:uuid:1","valueDecimal":2.50}]}`
	r, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	err = r.Rewrite(map[string]bool{"reference": true, "div": true}, func(key, v string) (string, error) {
		seen = append(seen, key+"="+v)
		switch {
		case v == "urn:uuid:1":
			return "Patient/p", nil
		case strings.HasPrefix(v, "Practitioner?"):
			return "Practitioner/d", nil
		case key == "div":
			return strings.ReplaceAll(v, "urn:uuid:1", "Patient/p"), nil
		}
		return v, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := r.MarshalJSON()
	want := `{"resourceType":"Encounter","subject":{"reference":"Patient/p"},"participant":[{"individual":{"reference":"Practitioner/d","display":"urn:uuid:1"}},{"individual":{"reference":"Practitioner/x"}}],"text":{"div":"<a href=\"Patient/p\">x</a>"},"extension":[{"url":"urn:uuid:1","valueDecimal":2.50}]}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if len(seen) != 4 {
		t.Errorf("asked about %q, want the 3 references and the div", seen)
	}
	boom := errors.New("boom")
	if err := r.Rewrite(map[string]bool{"reference": true}, func(string, string) (string, error) { return "", boom }); !errors.Is(err, boom) {
		t.Errorf("Rewrite error: %v, want boom", err)
	}
}

func TestSameContent(t *testing.T) {
	stored := `{"resourceType":"Patient","id":"p","meta":{"versionId":"4","lastUpdated":"2024-01-01T00:00:00.000Z"},"birthDate":"1970-01-01","x":1.50}`
	for _, c := range []struct {
		in   string
		same bool
	}{
		{`{"resourceType":"Patient","id":"p","birthDate":"1970-01-01","x":1.50}`, true},
		{`{"resourceType":"Patient", "x":1.50, "id":"p","birthDate":"1970-01-01","meta":{"lastUpdated":"2020-01-01T00:00:00Z"}}`, true},
		{`{"resourceType":"Patient","id":"p","birthDate":"1970-01-01","x":1.5}`, false},
		{`{"resourceType":"Patient","id":"p","birthDate":"1970-01-02","x":1.50}`, false},
		{`{"resourceType":"Patient","id":"p","meta":{"tag":[{"code":"t"}]},"birthDate":"1970-01-01","x":1.50}`, false},
	} {
		if got := SameContent([]byte(stored), []byte(c.in)); got != c.same {
			t.Errorf("SameContent(stored, %s) = %v, want %v", c.in, got, c.same)
		}
	}
}

func BenchmarkStamp(b *testing.B) {
	in := []byte(`{"resourceType":"Observation","id":"o","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/p"},"valueQuantity":{"value":72,"unit":"/min"}}`)
	for b.Loop() {
		r, _ := Parse(in)
		r.StampMeta("1", time.Unix(0, 0))
		_, _ = r.MarshalJSON()
	}
}
