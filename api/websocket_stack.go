package api

import (
	"bufio"
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"syscall"
)

// A websocket connection is served, for its life, by the goroutine that runs gqlgen's read
// loop, blocked in a read between messages. On net/http's connection goroutine that read sat
// under net/http's frames and the middleware's, nearly 6 KB deep: the runtime kept it a
// 16 KB stack. Two things make it shallower, and its stack 8 KB:
//
//   - serveUpgrade runs the upgrade request on a goroutine of its own and lets net/http's
//     return once the connection is hijacked (net/http lets go of hijacked connections);
//   - wsConn.NextReader waits for the client's next message in awaitInput, a wait a few
//     frames deep, before it calls the websocket library's reader, which is 1.7 KB deeper.
//
// The middleware the read loop runs under (auditing, authenticate, bodyLimit) keeps small
// frames for the same reason. The stack stays 8 KB while the loop, blocked, uses under 4 KB,
// counting 800 bytes the runtime reserves: it uses 3.6 KB, 3.8 with auditing. Its depth can be
// read from a traceback with GOTRACEBACK=system (each frame's sp and fp) taken while
// BenchmarkSubscriptions1000 runs, which measures what a subscriber costs.

// serveUpgrade serves websocket upgrade request r with h on a goroutine of its own, and
// returns once the connection is upgraded, or once h returns without upgrading it. The
// request's context does not end when net/http's handler returns, but with the connection.
// A panic of h before the upgrade aborts the request, as net/http does; after it, it is
// logged.
func serveUpgrade(h http.Handler, w http.ResponseWriter, r *http.Request, logger *slog.Logger) {
	uw := &upgradeWriter{ResponseWriter: w, upgraded: make(chan struct{})}
	done := make(chan struct{})
	var failed bool
	ctx := context.WithValue(context.WithoutCancel(r.Context()), upgradedKey{}, uw)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				logger.Error("panic serving a websocket connection", "panic", v, "stack", string(debug.Stack()))
				failed = true
			}
			close(done)
		}()
		h.ServeHTTP(uw, r.WithContext(ctx))
	}()
	select {
	case <-uw.upgraded:
	case <-done:
		if failed {
			panic(http.ErrAbortHandler)
		}
	}
}

// upgradeWriter is the ResponseWriter of an upgrade request served by serveUpgrade. Once the
// connection is upgraded, it lets go of net/http's, which handlers keep for the connection's
// life (gqlgen's, to answer a panic), and with it net/http's connection and the response's
// headers: it answers as net/http does for a hijacked connection.
type upgradeWriter struct {
	http.ResponseWriter
	upgraded chan struct{}
}

func (w *upgradeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type upgradedKey struct{}

// noteUpgraded tells serveUpgrade, if it serves ctx's request, that the connection is
// upgraded and the ResponseWriter no longer used. It is called on the goroutine that serves
// the request.
func noteUpgraded(ctx context.Context) {
	if w, ok := ctx.Value(upgradedKey{}).(*upgradeWriter); ok {
		w.ResponseWriter = hijackedWriter{}
		close(w.upgraded)
	}
}

// hijackedWriter answers as net/http's ResponseWriter does once its connection is hijacked.
type hijackedWriter struct{}

func (hijackedWriter) Header() http.Header       { return http.Header{} }
func (hijackedWriter) Write([]byte) (int, error) { return 0, http.ErrHijacked }
func (hijackedWriter) WriteHeader(int)           {}

// input is what awaitInput waits on: the connection's socket, the buffer the websocket
// library reads it through, and what the client sent before the upgrade, read first.
type input struct {
	raw   syscall.RawConn
	br    *bufio.Reader
	early *earlyConn
}

// awaitInput returns when the client has sent something the websocket library has not read
// yet, or the socket is closed or failed: the library's read that follows then does not
// block, or fails. It waits only when nothing is buffered; the buffers are otherwise read
// only by this goroutine and, as the connection closes, by the library's close handshake,
// which then closes the socket and ends the wait.
func (in input) awaitInput() {
	if in.raw == nil || in.br.Buffered() > 0 || len(in.early.early) > 0 {
		return
	}
	_ = in.raw.Read(pending)
}
