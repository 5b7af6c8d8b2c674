package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
)

// errPanicked is the error of a field whose resolver panicked.
var errPanicked = errors.New("internal server error")

// panicValueBytes and panicWhereFrames bound what the log says about a panic.
const (
	panicValueBytes  = 200
	panicWhereFrames = 3
)

// panicLog collects the panics recovered while one request runs, so that the request logs
// one bounded line about them however many there were: a query that makes every field of a
// large answer panic must not fill the disk with stack traces.
type panicLog struct {
	mu    sync.Mutex
	count int
	value string // the first panic's value, truncated
	path  string // the field path of the first panic
	where string // the first panic's innermost frames, as function file:line
}

type panicLogKey struct{}

// withPanicLog returns ctx carrying a fresh panicLog.
func withPanicLog(ctx context.Context) (context.Context, *panicLog) {
	l := &panicLog{}
	return context.WithValue(ctx, panicLogKey{}, l), l
}

// recoverPanic is gqlgen's recover function: it notes the panic in the request's panicLog
// and fails the field with errPanicked. A panic outside a request (none is expected) is
// logged on its own, bounded the same way.
func recoverPanic(logger *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, v any) error {
		l, _ := ctx.Value(panicLogKey{}).(*panicLog)
		if l == nil {
			l = &panicLog{}
			defer l.flush(ctx, logger)
		}
		l.add(ctx, v)
		return errPanicked
	}
}

// add notes one panic; only the first is described.
func (l *panicLog) add(ctx context.Context, v any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.count++
	if l.count > 1 {
		return
	}
	l.value = truncateString(fmt.Sprint(v), panicValueBytes)
	if fc := graphql.GetFieldContext(ctx); fc != nil {
		l.path = truncateString(fc.Path().String(), panicValueBytes)
	}
	l.where = panicSite()
}

// flush logs the request's panics, if any, on one line.
func (l *panicLog) flush(ctx context.Context, logger *slog.Logger) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.count == 0 {
		return
	}
	logger.ErrorContext(ctx, "graphql panic", "count", l.count, "first", l.value, "path", l.path, "at", l.where)
}

// panicSite returns the innermost frames of the panicking goroutine below runtime.gopanic:
// where the panic happened, without the rest of the stack.
func panicSite() string {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	var out []string
	panicking := false
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			panicking = true
		case panicking && !strings.HasPrefix(f.Function, "runtime."):
			file := f.File
			if i := strings.LastIndex(file, "/"); i >= 0 {
				file = file[i+1:]
			}
			out = append(out, fmt.Sprintf("%s %s:%d", f.Function, file, f.Line))
		}
		if !more || len(out) == panicWhereFrames {
			break
		}
	}
	return truncateString(strings.Join(out, " < "), 3*panicValueBytes)
}

// truncateString cuts s to at most n bytes, at a character boundary.
func truncateString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
