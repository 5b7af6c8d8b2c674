package operation

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/fhirgate/fhirgate/fault"
)

// Func runs one operation on its input parameters and returns the resource it answers with.
type Func func(ctx context.Context, ps *Parameters) (any, error)

var errNoOperation = fault.New(fault.NotFound, "this server has no operation")

// ops are the operations by path below the FHIR base, such as "ValueSet/$expand".
var ops = map[string]Func{}

func register(path string, f Func) { ops[path] = f }

// Paths returns the path of every operation, sorted.
func Paths() []string { return slices.Sorted(maps.Keys(ops)) }

// Run runs the operation at path (see Paths).
func Run(ctx context.Context, path string, ps *Parameters) (any, error) {
	f, ok := ops[path]
	if !ok {
		return nil, fmt.Errorf("%w %s", errNoOperation, path)
	}
	return f(ctx, ps)
}

// Field returns the resource type an operation at path is an operation of ("" for a
// system-level one such as "$fhirpath") and the name of its GraphQL field:
// "ValueSet/$validate-code" is ValueSet's, and its field is ValueSetValidateCode.
func Field(path string) (typ, field string) {
	typ, op, ok := strings.Cut(path, "/$")
	if !ok {
		typ, op = "", strings.TrimPrefix(path, "$")
	}
	var b strings.Builder
	b.WriteString(typ)
	for _, part := range strings.Split(op, "-") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return typ, b.String()
}
