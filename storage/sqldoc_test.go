package storage

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/fhirgate/fhirgate/internal/datasets"
)

// storedText returns a document as FerretDB stores it: compact JSON, its type schema first.
func storedText(t testing.TB, id, resource string, del bool) []byte {
	t.Helper()
	type doc struct {
		Schema json.RawMessage `json:"$s"`
		ID     string          `json:"_id"`
		V      int64           `json:"v"`
		TS     int64           `json:"ts"`
		Seq    int64           `json:"seq"`
		Del    bool            `json:"del,omitempty"`
		JSON   string          `json:"json,omitempty"`
		IX     []byte          `json:"ix,omitempty"`
	}
	b, err := json.Marshal(doc{
		Schema: json.RawMessage(`{"p":{"_id":{"t":"string"},"v":{"t":"long"},"ts":{"t":"date"},"seq":{"t":"long"},"json":{"t":"string"},"ix":{"t":"binData","s":0},"ij":{"t":"string"}},"$k":["_id","v","ts","seq","json","ix"]}`),
		ID:     id, V: 3, TS: 1795746265251, Seq: -7, Del: del, JSON: resource, IX: []byte{5, 0, 0, 0, 0, 255},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseStored reads every official example, stored as FerretDB stores it, back to the
// same bytes: the resource JSON's escapes, including those encoding/json adds (<, >, &,
// U+2028) and surrogate pairs, decode exactly.
func TestParseStored(t *testing.T) {
	files := datasets.Files(t, datasets.FHIRExamples, "*.json")
	extra := []string{`"quote" \back\slash / <tag> & ` + "\u2028\u2029\t\n\r\b\f" + ` 😀 é`, "", `\u0041`, `ends with a backslash \`, `\"\\"`}
	checked := 0
	check := func(id, resource string, del bool) {
		t.Helper()
		d, err := parseStored(storedText(t, id, resource, del), true)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if d.id != id || d.v != 3 || d.ts != 1795746265251 || d.seq != -7 || d.del != del ||
			string(d.json) != resource || !bytes.Equal(d.packed, []byte{5, 0, 0, 0, 0, 255}) {
			t.Fatalf("%s: read %+v", id, d)
		}
		checked++
	}
	for _, f := range files {
		check(f.Name, string(f.Data), false)
	}
	for i, s := range extra {
		check(string(rune('a'+i)), s, i == 1)
	}
	if checked != len(files)+len(extra) || checked < 600 {
		t.Fatalf("checked %d documents", checked)
	}
	t.Logf("%d documents read back", checked)

	// Without withPacked the search fields are skipped; a lone surrogate decodes as
	// encoding/json decodes it.
	d, err := parseStored([]byte(`{"ix":"AAAA","json":"\ud800x","_id":"a"}`), false)
	if err != nil || d.packed != nil || string(d.json) != "\ufffdx" || d.id != "a" {
		t.Errorf("got %+v, %v", d, err)
	}
}

// TestParseStoredRefusesMalformed cuts a stored document at every byte and mangles it: each
// is an error, never a panic or a partial document taken as whole.
func TestParseStoredRefusesMalformed(t *testing.T) {
	text := storedText(t, "x", `{"resourceType":"Patient","name":[{"family":"Ch\u00e9"}]}`, false)
	for i := range len(text) - 1 {
		if _, err := parseStored(text[:i], true); err == nil {
			t.Fatalf("prefix %q parsed", text[:i])
		}
	}
	for _, bad := range []string{`[]`, `{"v":1.5}`, `{"v":"1"}`, `{"del":nope}`, `{"json":"\x"}`, `{"json":"\u12"}`, `{"ix":"!!"}`, `{"_id" "a"}`, `{"v":1 "seq":2}`} {
		if _, err := parseStored([]byte(bad), true); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}
