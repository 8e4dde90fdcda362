package httpapi

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
)

const maxRequestID = 128

// unmatchedRoute labels requests no route matched, so that scanners probing
// random paths cannot create unbounded metric series.
const unmatchedRoute = "unmatched"

// requestIDs makes ids unique across processes without a random read per
// request: a random per-process prefix, then the connection's and the
// request's numbers, which fasthttp keeps anyway. An id used to take a
// counter that every request of the process added to; on two cores each
// addition had to fetch the counter from the other core's cache.
type requestIDs struct {
	prefix string
}

func newRequestIDs() *requestIDs {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &requestIDs{prefix: hex.EncodeToString(b[:]) + "-"}
}

// appendID appends the id of the request ctx serves to b.
func (r *requestIDs) appendID(b []byte, ctx *fasthttp.RequestCtx) []byte {
	b = strconv.AppendUint(append(b, r.prefix...), ctx.ConnID(), 36)
	return strconv.AppendUint(append(b, '-'), ctx.ConnRequestNum(), 36)
}

// headerRequestID is X-Request-ID as fasthttp stores it, so that setting it
// skips the normalising copy of the name.
var headerRequestID = []byte("X-Request-Id")

// setRequestID takes the client's X-Request-ID when it is sane, or makes
// one, and echoes it; the answer's header is where the rest of the request
// reads it. A profile of the ticketed status poll showed the id's string
// concatenation and the normalising Set at about 4% of the server's work.
func (s *Server) setRequestID(c *fiber.Ctx) {
	rid := c.Request().Header.PeekBytes(headerRequestID)
	if validHeaderToken(utils.UnsafeString(rid), maxRequestID) {
		c.Response().Header.SetCanonical(headerRequestID, rid)
		return
	}
	var buf [64]byte
	c.Response().Header.SetCanonical(headerRequestID, s.ids.appendID(buf[:0], c.Context()))
}

// requestID sets the request id (see setRequestID) and returns a copy.
func (s *Server) requestID(c *fiber.Ctx) string {
	s.setRequestID(c)
	return requestIDOf(c)
}

// requestIDOf returns a copy of the id setRequestID answered with.
func requestIDOf(c *fiber.Ctx) string {
	return string(c.Response().Header.PeekBytes(headerRequestID))
}

// observe wraps every request: it sets the request id, turns panics and
// errors into problem responses here (so the status is known), then counts
// the request and logs it when it failed on our side or was slow.
func (s *Server) observe(c *fiber.Ctx) (err error) {
	// When fasthttp finished reading the request: it has read the clock for
	// it already.
	start := c.Context().Time()
	s.setRequestID(c)
	self := c.Route()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic serving request", zap.String("request_id", requestIDOf(c)),
				zap.String("panic", fmt.Sprint(r)), zap.Stack("stack"))
			err = fmt.Errorf("panic: %v", r)
		}
		if err != nil {
			if werr := s.writeError(c, err); werr != nil {
				s.log.Error("write error response", zap.Error(werr))
				c.Status(fiber.StatusInternalServerError)
			}
			err = nil
		}
		route := c.Route()
		path := route.Path
		if route == self {
			path = unmatchedRoute
		}
		status := c.Response().StatusCode()
		d := time.Since(start)
		method := methodLabel(c.Method())
		s.metrics.request(path, method, status, d)
		if status >= 500 || d >= s.cfg.SlowRequest {
			s.log.Warn("request", zap.String("request_id", requestIDOf(c)), zap.String("method", method),
				zap.String("route", path), zap.String("path", strings.Clone(c.Path())),
				zap.Int("status", status), zap.Duration("duration", d))
		}
	}()
	if !wellFramed(&c.Request().Header) {
		// What follows on the connection cannot be trusted to start a
		// request: answer, drain and close rather than read it as one.
		c.Context().SetConnectionClose()
		lingerOnClose(c)
		return badRequest(CodeMalformedRequest, "", malformedDetail)
	}
	return c.Next()
}

// wellFramed rejects what fasthttp parses leniently and RFC 9112 says a
// server must reject or may only accept at a proxy's peril: a version other
// than HTTP/1.0 or 1.1, a field name that is not a token (fasthttp keeps
// "Bad Header"), an obs-fold continuation line, and Content-Length together
// with Transfer-Encoding (fasthttp lets chunked win, and drops identity
// without a trace). fasthttp itself refuses duplicate Content-Lengths, an
// unknown or repeated Transfer-Encoding, Transfer-Encoding on HTTP/1.0 and a
// missing or repeated Host.
func wellFramed(h *fasthttp.RequestHeader) bool {
	if p := h.Protocol(); string(p) != "HTTP/1.1" && string(p) != "HTTP/1.0" {
		return false
	}
	raw := h.RawHeaders()
	contentLength, transferEncoding := false, false
	for len(raw) > 0 {
		var line []byte
		line, raw, _ = bytes.Cut(raw, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			return false
		}
		name, _, ok := bytes.Cut(line, []byte{':'})
		if !ok || !isToken(name) {
			return false
		}
		switch {
		case bytes.EqualFold(name, []byte(fiber.HeaderContentLength)):
			contentLength = true
		case bytes.EqualFold(name, []byte(fiber.HeaderTransferEncoding)):
			transferEncoding = true
		}
	}
	return !(contentLength && transferEncoding)
}

// tokenChars marks the bytes of an RFC 9110 token. A table, because every
// header name of every request is checked (the per-byte search of the
// special characters showed in the ticketed poll's profile).
var tokenChars = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c))
	}
	return t
}()

// isToken reports whether b is an RFC 9110 token, the syntax of a field name.
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenChars[c] {
			return false
		}
	}
	return true
}

// methodLabel maps the method to a constant: c.Method aliases the request
// buffer, and a metric label is kept forever (it read "GETT" once a later
// request reused the bytes), and unknown methods must not add series.
func methodLabel(m string) string {
	switch m {
	case fiber.MethodGet:
		return fiber.MethodGet
	case fiber.MethodHead:
		return fiber.MethodHead
	case fiber.MethodPost:
		return fiber.MethodPost
	case fiber.MethodPut:
		return fiber.MethodPut
	case fiber.MethodPatch:
		return fiber.MethodPatch
	case fiber.MethodDelete:
		return fiber.MethodDelete
	case fiber.MethodOptions:
		return fiber.MethodOptions
	}
	return "OTHER"
}
