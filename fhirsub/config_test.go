package fhirsub

import "testing"

// TestEndpointsAllow: an endpoint is allowed when it starts with a prefix at a boundary, so a
// prefix cannot be stretched into another host or path.
func TestEndpointsAllow(t *testing.T) {
	eps, err := ParseEndpoints(" https://hooks.example.com , http://127.0.0.1:9000/in/ ")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		url  string
		want bool
	}{
		{"https://hooks.example.com", true},
		{"https://hooks.example.com/a/b?x=1", true},
		{"https://hooks.example.com?x", true},
		{"https://hooks.example.com.evil.net/x", false},
		{"https://hooks.example.comx", false},
		{"http://hooks.example.com/x", false},
		{"https://user@hooks.example.com/x", false},
		{"http://127.0.0.1:9000/in/x", true},
		{"http://127.0.0.1:9000/inx", false},
		{"http://127.0.0.1:9000/", false},
		{"ftp://hooks.example.com/x", false},
		{"", false},
	} {
		if got := eps.Allows(c.url); got != c.want {
			t.Errorf("Allows(%q) = %v, want %v", c.url, got, c.want)
		}
	}
	if Endpoints(nil).Allows("https://hooks.example.com") {
		t.Error("no prefixes allow an endpoint")
	}
	for _, bad := range []string{"hooks.example.com", "ftp://x", "https://u:p@x.com", "https://"} {
		if _, err := ParseEndpoints(bad); err == nil {
			t.Errorf("ParseEndpoints(%q): no error", bad)
		}
	}
}
