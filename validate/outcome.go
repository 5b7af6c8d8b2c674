package validate

import (
	"fmt"
	"strings"

	"github.com/fhirgate/fhirgate/fault"
)

// Severities of an issue, as in OperationOutcome.issue.severity.
const (
	SeverityError       = "error"
	SeverityWarning     = "warning"
	SeverityInformation = "information"
)

// Issue is one finding of a validation, shaped like an OperationOutcome issue.
type Issue struct {
	Severity string // error, warning or information
	// Code is the OperationOutcome issue type: structure, required, value, invariant,
	// code-invalid, invalid.
	Code        string
	Diagnostics string
	// Expression is the FHIRPath location of the element, e.g. Patient.name[0].given[1].
	Expression string
	// Key names the invariant (per-1) for invariant issues.
	Key string
}

// Outcome is every issue found in one resource.
type Outcome struct {
	Issues []Issue
}

// HasErrors reports whether any issue is an error.
func (o *Outcome) HasErrors() bool { return o.Count(SeverityError) > 0 }

// Count returns how many issues have the severity.
func (o *Outcome) Count(severity string) int {
	n := 0
	for _, is := range o.Issues {
		if is.Severity == severity {
			n++
		}
	}
	return n
}

// Only returns the issues of the severity.
func (o *Outcome) Only(severity string) *Outcome {
	out := &Outcome{}
	for _, is := range o.Issues {
		if is.Severity == severity {
			out.Issues = append(out.Issues, is)
		}
	}
	return out
}

// JSON returns the outcome as a FHIR OperationOutcome, ready for encoding.
func (o *Outcome) JSON() map[string]any {
	issues := make([]any, 0, len(o.Issues))
	for _, is := range o.Issues {
		m := map[string]any{"severity": is.Severity, "code": is.Code, "diagnostics": is.Diagnostics}
		if is.Expression != "" {
			m["expression"] = []any{is.Expression}
		}
		issues = append(issues, m)
	}
	if len(issues) == 0 {
		issues = append(issues, map[string]any{"severity": SeverityInformation, "code": "informational", "diagnostics": "No issues found."})
	}
	return map[string]any{"resourceType": "OperationOutcome", "issue": issues}
}

// String lists the issues one per line, for logs and tests.
func (o *Outcome) String() string {
	var b strings.Builder
	for _, is := range o.Issues {
		fmt.Fprintf(&b, "%s %s @ %s: %s\n", is.Severity, is.Code, is.Expression, is.Diagnostics)
	}
	return b.String()
}

// ErrInvalid is the kind of error a write refused by validation carries: its message and
// what follows it are written for the client.
var ErrInvalid = fault.New(fault.Invalid, "the resource does not conform to the FHIR R4 specification")

// Error is a validation that found errors. It wraps ErrInvalid and carries the whole
// OperationOutcome for the client.
type Error struct {
	Outcome *Outcome
}

func (e *Error) Error() string {
	errs := e.Outcome.Only(SeverityError).Issues
	var b strings.Builder
	b.WriteString(ErrInvalid.Error())
	fmt.Fprintf(&b, ": %d error(s)", len(errs))
	for i, is := range errs {
		if i == 3 {
			b.WriteString("; ...")
			break
		}
		fmt.Fprintf(&b, "; %s: %s", is.Expression, is.Diagnostics)
	}
	return b.String()
}

// Unwrap returns ErrInvalid.
func (e *Error) Unwrap() error { return ErrInvalid }

// OperationOutcome returns the whole outcome as a FHIR OperationOutcome.
func (e *Error) OperationOutcome() map[string]any { return e.Outcome.JSON() }
