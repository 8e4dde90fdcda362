package httpapi

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"

	"github.com/fastdeal/fastdeal/domain/drop"
)

// HeaderUserID names the buyer when no JWT secret is configured.
const HeaderUserID = "X-User-ID"

type authenticator struct {
	admin  []byte
	secret []byte
	parser *jwt.Parser
}

func newAuthenticator(adminToken, jwtSecret string) *authenticator {
	a := &authenticator{
		parser: jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithExpirationRequired()),
	}
	if adminToken != "" {
		a.admin = []byte(adminToken)
	}
	if jwtSecret != "" {
		a.secret = []byte(jwtSecret)
	}
	return a
}

var errBadSubject = errors.New("sub is not a valid user id")

// buyer verifies a buyer token and returns its subject.
func (a *authenticator) buyer(token string) (string, error) {
	var claims jwt.RegisteredClaims
	if _, err := a.parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return a.secret, nil }); err != nil {
		return "", err
	}
	if !drop.ValidID(claims.Subject) {
		return "", errBadSubject
	}
	return claims.Subject, nil
}

// isAdmin compares in constant time so that the token cannot be guessed
// byte by byte from response times.
func (a *authenticator) isAdmin(token string) bool {
	return a.admin != nil && subtle.ConstantTimeCompare([]byte(token), a.admin) == 1
}

// bearer extracts the token of an "Authorization: Bearer <token>" header.
func bearer(h string) (string, bool) {
	const scheme = "bearer "
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	tok := strings.TrimSpace(h[len(scheme):])
	return tok, tok != ""
}

// buyerOf identifies the buyer: by JWT when a secret is configured, by
// X-User-ID otherwise. The id is copied because the application keeps it,
// unless borrow: then an X-User-ID aliases the request's buffer, which
// Fiber reuses once the request is answered.
func (s *Server) buyerOf(c *fiber.Ctx, borrow bool) (string, error) {
	if s.auth.secret == nil {
		id := c.Get(HeaderUserID)
		if id == "" {
			return "", unauthorized(CodeUnauthorized, "send "+HeaderUserID+" to name the buyer")
		}
		if !drop.ValidID(id) {
			return "", badRequest(CodeInvalidUserID, HeaderUserID, "a user id is 1 to 64 of [A-Za-z0-9_-]")
		}
		if borrow {
			return id, nil
		}
		return strings.Clone(id), nil
	}
	h := c.Get(fiber.HeaderAuthorization)
	if h == "" {
		return "", unauthorized(CodeUnauthorized, "send Authorization: Bearer <token>")
	}
	tok, ok := bearer(h)
	if !ok {
		return "", unauthorized(CodeInvalidToken, "the Authorization header is not a bearer token")
	}
	// The subject is decoded into a fresh string, so it does not alias Fiber's buffer.
	sub, err := s.auth.buyer(tok)
	if err != nil {
		return "", unauthorized(CodeInvalidToken, "the token is expired, malformed or not signed by this service")
	}
	return sub, nil
}

// buyerHandler serves a buyer's request once buyerOf has named the buyer
// and the limiter has let the request through.
type buyerHandler func(c *fiber.Ctx, user string) error

// buyer wraps h with the buyer's identification and rate limit, in one
// Fiber handler: passing the buyer along as an argument, rather than in
// Fiber's Locals through two more handlers, took about a fifth off the
// server's own work for a ticketed status poll (BenchmarkTicketedPollHandler).
func (s *Server) buyer(h buyerHandler) fiber.Handler { return s.buyerWith(h, false) }

// buyerBorrowed is buyer for a handler that copies the buyer's id itself
// before anything can keep it past the request (see buyerOf).
func (s *Server) buyerBorrowed(h buyerHandler) fiber.Handler { return s.buyerWith(h, true) }

func (s *Server) buyerWith(h buyerHandler, borrow bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		user, err := s.buyerOf(c, borrow)
		if err != nil {
			return err
		}
		if err := s.rateLimit(c, user); err != nil {
			return err
		}
		return h(c, user)
	}
}

// adminAuth admits only the admin token; a valid buyer token is recognised
// and refused with 403, so a client knows it authenticated but may not do this.
func (s *Server) adminAuth(c *fiber.Ctx) error {
	h := c.Get(fiber.HeaderAuthorization)
	if h == "" {
		return unauthorized(CodeUnauthorized, "send Authorization: Bearer <admin token>")
	}
	tok, ok := bearer(h)
	if ok && s.auth.isAdmin(tok) {
		return c.Next()
	}
	if ok && s.auth.secret != nil {
		if _, err := s.auth.buyer(tok); err == nil {
			return &apiError{status: http.StatusForbidden, code: CodeForbidden, detail: "a buyer token cannot make admin calls"}
		}
	}
	return unauthorized(CodeUnauthorized, "the admin token is wrong")
}
