package model

import "strings"

// ValidID reports whether s is a FHIR id: 1 to 64 letters, digits, '-' and '.'.
// It is the one id check of the project (the grammar of the id primitive, reID, written
// out so that the hot paths that check every id they read pay no regexp).
func ValidID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// LiteralRef is a parsed literal reference to a resource: [Base]Type/ID[/_history/Version].
type LiteralRef struct {
	// Base is the text before Type: "" for a relative reference, else ending in '/', as the
	// service base URL of an absolute reference ("http://example.org/fhir/") does.
	Base string
	// Type is an R4 resource type.
	Type string
	// ID is a FHIR id.
	ID string
	// Version is the version id after "_history/", or "" when the reference names no version.
	Version string
}

// historySegment separates a resource's id from its version id in a reference.
const historySegment = "_history"

// ParseReference parses a literal reference "Type/id", "Type/id/_history/vid", or either of
// them after a base such as an absolute URL's service base. It reports false for anything
// else: a contained ("#id") or logical reference, a search ("Type?..."), a urn, a type that
// is not an R4 resource type, an id or version id that is not a FHIR id.
func ParseReference(ref string) (LiteralRef, bool) {
	var r LiteralRef
	rest := ref
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		if j := strings.LastIndexByte(rest[:i], '/'); j >= 0 && rest[j+1:i] == historySegment {
			r.Version, rest = rest[i+1:], rest[:j]
			if !ValidID(r.Version) {
				return LiteralRef{}, false
			}
		}
	}
	i := strings.LastIndexByte(rest, '/')
	if i < 0 {
		return LiteralRef{}, false
	}
	r.ID, rest = rest[i+1:], rest[:i]
	j := strings.LastIndexByte(rest, '/')
	r.Base, r.Type = rest[:j+1], rest[j+1:]
	if !IsResourceType(r.Type) || !ValidID(r.ID) {
		return LiteralRef{}, false
	}
	return r, true
}

// Relative returns the reference's relative form without a version: "Type/id".
func (r LiteralRef) Relative() string { return r.Type + "/" + r.ID }

// IsRelative reports whether the reference has no base: it names a resource on this server.
func (r LiteralRef) IsRelative() bool { return r.Base == "" }
