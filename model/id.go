package model

// ValidID reports whether s is a FHIR id: 1 to 64 letters, digits, '-' and '.'.
func ValidID(s string) bool { return reID.MatchString(s) }
