//go:build !cgo

package sqlquery

import "context"

// Available reports whether queries can run: this binary has no DuckDB (it was built without
// cgo), so every Run fails with ErrUnavailable.
func Available() bool { return false }

func (e *Engine) run(ctx context.Context, q *Query, res Result) error { return ErrUnavailable }
