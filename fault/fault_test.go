package fault

import (
	"errors"
	"fmt"
	"testing"
)

// TestClientDetail checks what a client is told of each shape of chain: the public
// sentinel's text on, never a wrapper above it, and nothing past an opaque sentinel.
func TestClientDetail(t *testing.T) {
	public := New(Invalid, "invalid search")
	inner := New(Invalid, "invalid FHIR resource")
	opaque := Opaque(Invalid, "invalid argument")
	tooMany := Opaque(TooMany, "too many matches")
	cases := []struct {
		name string
		err  error
		kind error
		want string // "" when the client gets the presenter's sentence
	}{
		{"public with detail", fmt.Errorf("%w: unknown parameter foo", public), Invalid, "invalid search: unknown parameter foo"},
		{"wrappers above are cut", fmt.Errorf("resolve Patient/x: %w", fmt.Errorf("%w: unknown parameter foo", public)), Invalid, "invalid search: unknown parameter foo"},
		{"the sentinel alone", fmt.Errorf("search Patient: %w", public), Invalid, ""},
		{"opaque", fmt.Errorf("storage: commit: write 0: %w", opaque), Invalid, ""},
		{"opaque with detail after", fmt.Errorf("%w: pat-secret", opaque), Invalid, ""},
		{"public over an opaque one", fmt.Errorf("%w: %w", public, fmt.Errorf("storage: pat-secret: %w", tooMany)), Invalid, ""},
		{"public under an opaque one", fmt.Errorf("storage: index: %w: %w", opaque, fmt.Errorf("%w: bad date", inner)), Invalid, "invalid FHIR resource: bad date"},
		{"outermost public wins", fmt.Errorf("%w: birthdate: %w", public, fmt.Errorf("%w: bad date", inner)), Invalid, "invalid search: birthdate: invalid FHIR resource: bad date"},
		{"another kind", fmt.Errorf("%w: unknown parameter foo", public), TooMany, ""},
		{"no sentinel", errors.New("socket closed"), Invalid, ""},
		{"a wrapper that replaces the text", replaced{fmt.Errorf("%w: depth 7", public)}, Invalid, "invalid search: depth 7"},
	}
	for _, c := range cases {
		got, ok := ClientDetail(c.err, c.kind)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("%s: ClientDetail(%q) = %q, %v; want %q", c.name, c.err, got, ok, c.want)
		}
	}
	for _, k := range Kinds() {
		if s := New(k, "x"); !errors.Is(s, k) || !errors.Is(fmt.Errorf("w: %w", Opaque(k, "y")), k) {
			t.Errorf("a sentinel of kind %v is not of its kind", k)
		}
	}
}

// replaced is an error whose text is not that of what it wraps, as a GraphQL error's.
type replaced struct{ err error }

func (r replaced) Error() string { return "input: depth 7" }
func (r replaced) Unwrap() error { return r.err }
