package api_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// heldConn is a client connection that, once held, keeps what the client writes and sends it
// all in one write when released: the server finds several messages in one read.
type heldConn struct {
	net.Conn
	mu   sync.Mutex
	held bool
	buf  []byte
}

func (c *heldConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *heldConn) hold() {
	c.mu.Lock()
	c.held = true
	c.mu.Unlock()
}

func (c *heldConn) release() (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held = false
	n, err := c.Conn.Write(c.buf)
	c.buf = nil
	return n, err
}

// TestWebsocketMessagesTogether: messages a client sends together arrive in one read of the
// server, which reads each of them: small ones that one read buffers whole (the server waits
// for a client's next message on the socket only when it has none buffered), and ones larger
// than the connection's read buffer.
func TestWebsocketMessagesTogether(t *testing.T) {
	e := newEnv(t)
	var conn *heldConn
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		conn = &heldConn{Conn: c}
		return conn, err
	}}}
	w := dialWSWith(t, e, "graphql-transport-ws", nil, client)
	subscribe := func(id string, pad int) {
		w.send(map[string]any{"type": "subscribe", "id": id, "payload": map[string]any{
			"query": `subscription { changed(type: Observation) { id } }`, "extensions": map[string]any{"pad": strings.Repeat("x", pad)}}})
	}
	sendTogether := func(send func(), min, max int) {
		t.Helper()
		conn.hold()
		send()
		w.send(map[string]any{"type": "ping"})
		if n, err := conn.release(); err != nil || n < min || n > max {
			t.Fatalf("sent %d bytes at once (%v), want %d to %d", n, err, min, max)
		}
	}
	sendTogether(func() { w.send(map[string]any{"type": "connection_init"}); subscribe("small", 0) }, 100, 400)
	for _, want := range []string{"connection_ack", "pong"} {
		if m := w.mustRead(); m.Type != want {
			t.Fatalf("got %s %s, want %s", m.Type, m.Payload, want)
		}
	}
	sendTogether(func() { subscribe("large", 1<<10); subscribe("larger", 3<<10) }, 4<<10, 5<<10)
	if m := w.mustRead(); m.Type != "pong" {
		t.Fatalf("got %s %s, want pong", m.Type, m.Payload)
	}
	time.Sleep(100 * time.Millisecond) // the subscriptions start after their messages are read
	writeObs(t, e, "", "together", "p1", "final")
	got := map[string]string{}
	for range 3 {
		m := w.mustRead()
		got[m.ID] = m.Type
	}
	if got["small"] != "next" || got["large"] != "next" || got["larger"] != "next" {
		t.Fatalf("got %v, want a next message for each subscription", got)
	}
}

// TestWebsocketMessagesWithUpgrade: messages a client sends with its upgrade request, before
// the server's answer, are read after the upgrade (they were buffered with the request when the
// connection was handed over).
func TestWebsocketMessagesWithUpgrade(t *testing.T) {
	e := newEnv(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	upgrade := "GET /$graphql HTTP/1.1\r\nHost: fhirgate\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
	out := append([]byte(upgrade), clientFrame(`{"type":"connection_init"}`)...)
	out = append(out, clientFrame(`{"type":"ping"}`)...)
	if _, err := conn.Write(out); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	for _, want := range []string{`{"type":"connection_ack"}`, `{"type":"pong"}`} {
		if got := serverFrame(t, br); got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
}

// clientFrame is a client's websocket text frame of payload (under 126 bytes), masked.
func clientFrame(payload string) []byte {
	mask := [4]byte{1, 2, 3, 4}
	f := []byte{0x81, 0x80 | byte(len(payload)), mask[0], mask[1], mask[2], mask[3]}
	for i := range len(payload) {
		f = append(f, payload[i]^mask[i%4])
	}
	return f
}

// serverFrame reads a server's websocket text frame (under 64 KB, unmasked) and returns its
// payload.
func serverFrame(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatalf("frame header: %v", err)
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		var l [2]byte
		if _, err := io.ReadFull(br, l[:]); err != nil {
			t.Fatalf("frame length: %v", err)
		}
		n = int(l[0])<<8 | int(l[1])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		t.Fatalf("frame payload: %v", err)
	}
	return string(p)
}
