package api

// ErrorClass is a row of the error table, for the package's external tests.
type ErrorClass struct {
	Target error
	Code   string
}

// ErrorClasses returns the error table's rows.
func ErrorClasses() []ErrorClass {
	out := make([]ErrorClass, len(errorClasses))
	for i, c := range errorClasses {
		out[i] = ErrorClass{c.target, c.code}
	}
	return out
}
