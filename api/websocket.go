package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
)

// gqlgen's websocket transport speaks both protocols, but leaves some of graphql-transport-ws's
// rules to the application: it takes a second connection_init or an unknown message as a
// generic protocol error (1002), runs a subscribe that reuses a live operation id, and has
// one close code for whatever ends a connection. wsConn sits between it and the socket and
// enforces those rules with the protocol's close codes (4400, 4401, 4408, 4409, 4429), and
// closes connections whose token expires (4403) and on shutdown (1001).

// wsImplementation accepts websocket connections with gqlgen's own adapter, wrapped in wsConn.
type wsImplementation struct {
	s *subscriptions
}

func (i wsImplementation) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	hw := &hijacker{ResponseWriter: w}
	inner, err := transport.CoderWebsocketImplementation{}.Accept(hw, r, opts)
	if err != nil {
		return nil, err
	}
	noteUpgraded(r.Context())
	c := &wsConn{WebsocketConn: inner, input: hw.in, s: i.s, proto: inner.Subprotocol(), active: map[string]bool{}}
	if h, ok := r.Context().Value(connKey{}).(*connHolder); ok {
		h.conn = c
	}
	c.lastRead.Store(time.Now().UnixNano())
	i.s.streams.add(c, i.s.cfg.KeepAlive)
	c.initTimer = time.AfterFunc(i.s.cfg.InitTimeout, func() {
		c.mu.Lock()
		acked := c.acked
		c.mu.Unlock()
		if !acked {
			c.closeWith(closeInitTimeout, "Connection initialisation timeout")
		}
	})
	return c, nil
}

// The sizes of a websocket connection's buffers. net/http hands a hijacked connection a 4 KB
// reader and a 4 KB writer, held for the connection's life. What a subscriber sends is mostly
// much smaller (connection_init, subscribe, pong), and bufio reads a larger message into place
// directly. The writer sends an event in one system call when it fits, in two otherwise: 2 KB
// holds an event of a resource of a few dozen fields. (A new writer of net/http's size would
// cost 8 KB, not 4: the allocator's 4 KB objects come two to a span, and the reader freed
// beside each writer would leave its half of the span unused.)
const (
	wsReadBuffer  = 512
	wsWriteBuffer = 2 << 10
)

// hijacker is a ResponseWriter whose Hijack shrinks the connection's buffers to
// wsReadBuffer and wsWriteBuffer, and notes what awaitInput waits on.
type hijacker struct {
	http.ResponseWriter
	in input
}

func (w *hijacker) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack hijacks the connection and replaces its buffers in place: net/http's connection
// keeps pointers to them, so new ones would leave the old alive for as long as anything keeps
// the request's ResponseWriter (see upgradeWriter). What the client sent before the hijack
// (it may send its first message as soon as it reads the upgrade's answer) is read first, from
// the connection returned, so that the reader's buffer is empty: the websocket library
// discards what it holds (it reads those bytes through a reader of its own, which awaitInput
// would not see). A writer that cannot flush is left as it is.
func (w *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return conn, brw, err
	}
	early, _ := brw.Reader.Peek(brw.Reader.Buffered())
	ec := &earlyConn{Conn: conn, early: bytes.Clone(early)}
	*brw.Reader = *bufio.NewReaderSize(ec, wsReadBuffer)
	if brw.Writer.Flush() == nil {
		*brw.Writer = *bufio.NewWriterSize(conn, wsWriteBuffer)
	}
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			w.in = input{raw: raw, br: brw.Reader, early: ec}
		}
	}
	return ec, brw, nil
}

// earlyConn is a hijacked connection that reads first what the client sent before the hijack.
// Only the reader of the connection's messages reads it.
type earlyConn struct {
	net.Conn
	early []byte
}

func (c *earlyConn) Read(p []byte) (int, error) {
	if len(c.early) > 0 {
		n := copy(p, c.early)
		c.early = c.early[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// wsConn is one websocket connection: gqlgen's socket, with the protocol rules above.
type wsConn struct {
	transport.WebsocketConn
	input // the client's socket, where NextReader waits for its messages
	s     *subscriptions
	proto string

	// live counts the connection's subscriptions (guarded by s.mu).
	live int

	initTimer, expiry *time.Timer

	// lastRead is when the client last sent anything, in Unix nanoseconds.
	lastRead atomic.Int64

	mu       sync.Mutex
	initSeen bool
	acked    bool
	active   map[string]bool // operation ids from subscribe until the server completes them
	closed   bool
}

// The optional interfaces of gqlgen's adapter, passed through.
var (
	_ transport.WebsocketReadLimiter   = (*wsConn)(nil)
	_ transport.WebsocketReadDeadliner = (*wsConn)(nil)
)

func (c *wsConn) SetReadLimit(limit int64) {
	if l, ok := c.WebsocketConn.(transport.WebsocketReadLimiter); ok {
		l.SetReadLimit(limit)
	}
}

func (c *wsConn) SetReadDeadline(t time.Time) error {
	if d, ok := c.WebsocketConn.(transport.WebsocketReadDeadliner); ok {
		return d.SetReadDeadline(t)
	}
	return nil
}

// clientMessage is what wsConn reads of a client message.
type clientMessage struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// NextReader reads the next client message and checks it against the protocol before
// gqlgen sees it; a violation closes the connection with the protocol's code.
func (c *wsConn) NextReader() (int, io.Reader, error) {
	c.awaitInput()
	kind, r, err := c.WebsocketConn.NextReader()
	if err != nil {
		return kind, r, err
	}
	c.lastRead.Store(time.Now().UnixNano())
	data, err := io.ReadAll(r)
	if err != nil {
		return kind, nil, err
	}
	var m clientMessage
	if json.Unmarshal(data, &m) != nil || m.Type == "" {
		return c.violation(closeBadMessage, "Invalid message received")
	}
	c.mu.Lock()
	code, reason := c.check(m)
	c.mu.Unlock()
	if code != 0 {
		return c.violation(code, reason)
	}
	return kind, bytes.NewReader(data), nil
}

// Client message types of both protocols.
var (
	transportWSClientTypes = map[string]bool{"connection_init": true, "subscribe": true, "complete": true, "ping": true, "pong": true}
	legacyWSClientTypes    = map[string]bool{"connection_init": true, "start": true, "stop": true, "connection_terminate": true}
)

// check applies the protocol's rules to message m; c.mu is held. It returns the close code
// and reason of a violation, or 0.
func (c *wsConn) check(m clientMessage) (int, string) {
	types, start := transportWSClientTypes, "subscribe"
	if c.proto != "graphql-transport-ws" {
		types, start = legacyWSClientTypes, "start"
	}
	switch {
	case !types[m.Type]:
		return closeBadMessage, "Invalid message received"
	case m.Type == "connection_init":
		if c.initSeen {
			return closeTooManyInitReqs, "Too many initialisation requests"
		}
		c.initSeen = true
	case m.Type == start:
		switch {
		case !c.acked:
			return closeUnauthorized, "Unauthorized"
		case m.ID == "":
			return closeBadMessage, "Invalid message received"
		case c.active[m.ID]:
			return closeDuplicateID, "Subscriber for " + clipID(m.ID) + " already exists"
		}
		c.active[m.ID] = true
	}
	return 0, ""
}

func clipID(id string) string {
	if len(id) > 64 {
		return id[:64]
	}
	return id
}

// violation closes the connection with code and reports it closed to gqlgen.
func (c *wsConn) violation(code int, reason string) (int, io.Reader, error) {
	c.closeWith(code, reason)
	return 0, nil, transport.ErrWebsocketClosed
}

// WriteJSON writes a server message, noting the acknowledgement of the connection and the
// end of operations.
func (c *wsConn) WriteJSON(v any) error {
	typ, id := messageTypeID(v)
	c.mu.Lock()
	switch typ {
	case "connection_ack":
		c.acked = true
	case "complete", "error":
		delete(c.active, id)
	}
	c.mu.Unlock()
	if typ == "connection_ack" && c.initTimer != nil {
		c.initTimer.Stop()
	}
	return c.WebsocketConn.WriteJSON(v)
}

// messageTypeID reads the type and id of one of gqlgen's message values (of both protocols,
// each a struct with string fields Type and ID), without marshalling it twice.
func messageTypeID(v any) (string, string) {
	rv := reflect.Indirect(reflect.ValueOf(v))
	if rv.Kind() != reflect.Struct {
		return "", ""
	}
	var typ, id string
	if f := rv.FieldByName("Type"); f.IsValid() && f.Kind() == reflect.String {
		typ = f.String()
	}
	if f := rv.FieldByName("ID"); f.IsValid() && f.Kind() == reflect.String {
		id = f.String()
	}
	return typ, id
}

// WriteClose closes the connection unless it was closed already, with another code.
func (c *wsConn) WriteClose(code int, reason string) error {
	c.mu.Lock()
	closed := c.closed
	c.closed = true
	c.mu.Unlock()
	if closed {
		return nil
	}
	c.forget()
	return c.WebsocketConn.WriteClose(code, reason)
}

// Close releases the connection.
func (c *wsConn) Close() error {
	c.forget()
	return c.WebsocketConn.Close()
}

// closeWith closes the connection with code and reason; a later close, gqlgen's own, does
// nothing. The close handshake then fails gqlgen's reader, which tears the connection down
// and ends its subscriptions.
func (c *wsConn) closeWith(code int, reason string) {
	_ = c.WriteClose(code, reason)
}

// keepAlive pings the client, once acknowledged, unless it has sent nothing for two intervals
// although pinged: then its peer is gone and the connection is dropped. The ping is written
// apart, so that a client that does not read holds up only its own.
func (c *wsConn) keepAlive(now time.Time, interval time.Duration) {
	c.mu.Lock()
	acked, closed := c.acked, c.closed
	c.mu.Unlock()
	if !acked || closed {
		return
	}
	if now.Sub(time.Unix(0, c.lastRead.Load())) > 2*interval+interval/2 {
		_ = c.WebsocketConn.Close()
		return
	}
	ping := map[string]string{"type": "ping"}
	if c.proto != "graphql-transport-ws" {
		ping["type"] = "ka"
	}
	go func() { _ = c.WebsocketConn.WriteJSON(ping) }()
}

// expireAt closes the connection with 4403 when its token expires.
func (c *wsConn) expireAt(t time.Time) {
	c.expiry = time.AfterFunc(time.Until(t), func() {
		c.closeWith(closeForbidden, "Forbidden: token expired")
	})
}

// forget stops the connection's timers and unregisters it.
func (c *wsConn) forget() {
	if c.initTimer != nil {
		c.initTimer.Stop()
	}
	if c.expiry != nil {
		c.expiry.Stop()
	}
	c.s.streams.remove(c)
}

// connHolder carries a websocket request's connection, once accepted, to the handlers that
// run on it (connection_init, subscriptions).
type connHolder struct{ conn *wsConn }

type connKey struct{}

// withConnHolder returns ctx with room for the connection the request upgrades to.
func withConnHolder(ctx context.Context) context.Context {
	return context.WithValue(ctx, connKey{}, &connHolder{})
}

// connFrom returns the websocket connection of ctx, or nil (an event stream, a request).
func connFrom(ctx context.Context) *wsConn {
	if h, ok := ctx.Value(connKey{}).(*connHolder); ok {
		return h.conn
	}
	return nil
}
