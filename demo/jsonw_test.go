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
