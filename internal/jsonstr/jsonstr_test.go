package jsonstr

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

// encodingJSON is what encoding/json writes for s, with or without HTML escaping.
func encodingJSON(t *testing.T, s string, html bool) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(html)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// strs are every single byte, each beside other characters, edge cases and random strings
// of the characters escaping treats apart.
func strs() []string {
	var out []string
	for b := range 256 {
		out = append(out, string([]byte{byte(b)}), "a"+string([]byte{byte(b)})+"é")
	}
	out = append(out, "", "plain", "\u2028\u2029", "a\u2028b\u2029c", "日本\U0001F600", "\xc3", "\xe2\x80",
		"é\xffé", `<b>"O'Brien" & \ </b>`)
	alphabet := []string{"a", "\"", "\\", "/", "<", ">", "&", "\n", "\b", "\f", "\x00", "\x1f", "\x7f", "é",
		"\u2028", "\u2029", "\xff", "\xe2\x80", "日", "\U0001F600"}
	r := rand.New(rand.NewPCG(3, 5))
	for range 20000 {
		var sb strings.Builder
		for range r.IntN(10) {
			sb.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		out = append(out, sb.String())
	}
	return out
}

// TestAppend: Append writes what encoding/json writes, with HTML escaping and without.
func TestAppend(t *testing.T) {
	for _, s := range strs() {
		for _, html := range []bool{true, false} {
			if got, want := string(Append([]byte("x"), s, html)), "x"+encodingJSON(t, s, html); got != want {
				t.Fatalf("Append(%q, html %v) = %s, encoding/json: %s", s, html, got[1:], want[1:])
			}
		}
	}
}

// TestUnescape: Unescape reads back every string encoding/json wrote, and decodes escapes
// encoding/json does not write (\/, \u0041, surrogate pairs, lone surrogates) as
// encoding/json decodes them; an escape JSON does not have is refused.
func TestUnescape(t *testing.T) {
	check := func(quoted string) {
		t.Helper()
		var want string
		wantErr := json.Unmarshal([]byte(quoted), &want)
		got, ok := Unescape([]byte("x"), []byte(quoted[1:len(quoted)-1]))
		if ok != (wantErr == nil) || ok && string(got) != "x"+want {
			t.Fatalf("Unescape(%s) = %q, %v; encoding/json: %q, %v", quoted, got, ok, want, wantErr)
		}
	}
	for _, s := range strs() {
		check(encodingJSON(t, s, true))
	}
	for _, q := range []string{`"a\/b"`, `"\u0041\u00e9\u65e5"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ud83dx"`, `"\ude00\ud83d"`,
		`"\ud83d\u0041"`, `"\u12"`, `"\uzzzz"`, `"\x"`, `"\a"`, `"end\\"`} {
		check(q)
	}
	if _, ok := Unescape(nil, []byte(`trailing\`)); ok {
		t.Error("a trailing backslash was read")
	}
}
