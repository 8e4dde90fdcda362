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
type lingerListener struct {
	net.Listener
}

func (l lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &lingerConn{Conn: c}, nil
}

type lingerConn struct {
	net.Conn
	linger atomic.Bool
}

// Close drains unread input first when an error answer asked for it.
func (c *lingerConn) Close() error {
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
