package httpapi

import (
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Bounds of a lingering close: how long and how much of the client's unread
// request is drained before the connection is closed anyway.
const (
	lingerTimeout = 2 * time.Second
	lingerMax     = 64 << 20
)

// lingerListener hands out connections that can close gracefully after an
// early error answer. fasthttp rejects a body over the limit from its
// Content-Length, answers 413 and closes the connection while the client is
// still sending; closing a socket with unread data makes the kernel send a
// reset, which destroys the 413 before the client reads it. Draining first
// (what nginx calls lingering close) lets the client see the answer.
//
// The same wrapper carries the connection timeouts (see connTimeouts) when
// timeouts is set.
type lingerListener struct {
	net.Listener
	timeouts *connTimeouts
}

func (l lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	lc := &lingerConn{Conn: c, timeouts: l.timeouts}
	if lc.timeouts != nil {
		lc.timeouts.add(lc)
	}
	return lc, nil
}

type lingerConn struct {
	net.Conn
	linger atomic.Bool

	// With timeouts set, the connTimeouts clock when a Read or Write now
	// blocked began (0: none), and when the request being read began (0:
	// between requests).
	timeouts                   *connTimeouts
	readAt, writeAt, requestAt atomic.Int64
	spoke                      atomic.Bool // the client has sent something
}

func (c *lingerConn) Read(b []byte) (int, error) {
	t := c.timeouts
	if t == nil {
		return c.Conn.Read(b)
	}
	c.readAt.Store(t.now())
	n, err := c.Conn.Read(b)
	c.readAt.Store(0)
	if n > 0 && c.requestAt.Load() == 0 {
		c.requestAt.Store(t.now())
		c.spoke.Store(true)
	}
	return n, err
}

func (c *lingerConn) Write(b []byte) (int, error) {
	t := c.timeouts
	if t == nil {
		return c.Conn.Write(b)
	}
	// A large answer goes out in chunks, each timed on its own, so that the
	// write timeout counts from the reader's last progress.
	n := 0
	for {
		chunk := b[n:min(len(b), n+writeChunk)]
		c.writeAt.Store(t.now())
		m, err := c.Conn.Write(chunk)
		n += m
		if err != nil || n == len(b) {
			c.writeAt.Store(0)
			// An answer is going out: the next bytes read begin a new request.
			c.requestAt.Store(0)
			return n, err
		}
	}
}

// writeChunk is the most one timed write sends.
const writeChunk = 256 << 10

// Close drains unread input first when an error answer asked for it.
func (c *lingerConn) Close() error {
	if c.timeouts != nil {
		c.timeouts.remove(c)
	}
	if c.linger.Load() {
		if hc, ok := c.Conn.(interface{ CloseWrite() error }); ok && hc.CloseWrite() == nil {
			_ = c.SetReadDeadline(time.Now().Add(lingerTimeout))
			_, _ = io.CopyN(io.Discard, c.Conn, lingerMax)
		}
	}
	return c.Conn.Close()
}

// lingerOnClose marks the request's connection for a lingering close.
func lingerOnClose(c *fiber.Ctx) {
	if lc, ok := c.Context().Conn().(*lingerConn); ok {
		lc.linger.Store(true)
	}
}
