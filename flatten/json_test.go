package flatten

import (
	"bytes"
	"testing"
)

// TestJSONRoundTrip: an answer decoded and encoded again keeps its keys' order, numbers as
// written (1.50, 1e400) and strings' text, without HTML escapes.
func TestJSONRoundTrip(t *testing.T) {
	for _, in := range []string{
		`{"z":1,"a":{"y":[1.50,-0.0e1,1e400,null,true,false],"b":{}},"s":"<a & b> \"q\" \\ é 😀","e":[]}`,
		`[]`,
		`"x"`,
		`null`,
	} {
		v, err := decode([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		var buf bytes.Buffer
		if err := encode(&buf, v); err != nil {
			t.Fatal(err)
		}
		if buf.String() != in {
			t.Errorf("got  %s\nwant %s", buf.String(), in)
		}
	}
	for _, bad := range []string{`{"a":1`, `{"a":1} x`, `[1,]`} {
		if _, err := decode([]byte(bad)); err == nil {
			t.Errorf("%s decoded", bad)
		}
	}
}
