package operation

import (
	"context"
	"fmt"
	"maps"
	"slices"

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
