package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"
)

const maxRequestID = 128

// unmatchedRoute labels requests no route matched, so that scanners probing
// random paths cannot create unbounded metric series.
const unmatchedRoute = "unmatched"

// requestIDs makes ids unique across processes without a random read per
// request: a random per-process prefix and a counter.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &requestIDs{prefix: hex.EncodeToString(b[:]) + "-"}
}

func (r *requestIDs) next() string {
	return r.prefix + strconv.FormatUint(r.n.Add(1), 36)
}

// requestID takes the client's X-Request-ID when it is sane, or makes one,
// and echoes it.
func (s *Server) requestID(c *fiber.Ctx) string {
	rid := c.Get(fiber.HeaderXRequestID)
	if !validHeaderToken(rid, maxRequestID) {
		rid = s.ids.next()
	}
	c.Set(fiber.HeaderXRequestID, rid)
	return rid
}

// observe wraps every request: it sets the request id, turns panics and
// errors into problem responses here (so the status is known), then counts
// the request and logs it when it failed on our side or was slow.
func (s *Server) observe(c *fiber.Ctx) (err error) {
	start := time.Now()
	rid := s.requestID(c)
	self := c.Route()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic serving request", zap.String("request_id", strings.Clone(rid)),
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
			s.log.Warn("request", zap.String("request_id", strings.Clone(rid)), zap.String("method", method),
				zap.String("route", path), zap.String("path", strings.Clone(c.Path())),
				zap.Int("status", status), zap.Duration("duration", d))
		}
	}()
	return c.Next()
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
