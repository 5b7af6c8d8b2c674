package demo

import (
	"encoding/json"
	"testing"
)

func TestAppendJSONOmitsEmptyValues(t *testing.T) {
	o := object{
		{"resourceType", "Basic"},
		{"empty", ""},
		{"nilObject", object(nil)},
		{"hollow", object{{"a", ""}, {"b", []string{""}}}},
		{"list", []object{{{"x", ""}}, {{"y", 1}}}},
		{"strings", []string{"", "kept"}},
		{"number", json.Number("72.50")},
		{"flag", false},
	}
	got := string(appendJSON(nil, o))
	want := `{"resourceType":"Basic","list":[{"y":1}],"strings":["kept"],"number":72.50,"flag":false}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestAppendStringRoundTrips(t *testing.T) {
	for _, s := range []string{
		"plain", `quote " and \ backslash`, "line\nbreak\ttab\r", "\x00\x1f control",
		"José Muñoz <a&b>", "bad utf8 \xff end", "\u2028 separator",
	} {
		b := appendString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%q encoded as invalid JSON %s: %v", s, b, err)
		}
		want := s
		if s == "bad utf8 \xff end" {
			want = "bad utf8 \ufffd end"
		}
		if back != want {
			t.Errorf("%q round-tripped to %q", s, back)
		}
	}
}
