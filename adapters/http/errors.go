package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"github.com/fastdeal/fastdeal/application"
	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/waitline"
)

// Error codes of problem responses. They are part of the API: clients switch on them.
const (
	CodeDropNotFound       = "drop_not_found"
	CodeInvalidID          = "invalid_id"
	CodeValidationFailed   = "validation_failed"
	CodeDropExists         = "drop_exists"
	CodeDropNotOpen        = "drop_not_open"
	CodeDropNotQueued      = "drop_not_queued"
	CodeSeatRequired       = "seat_required"
	CodeSeatNotAllowed     = "seat_not_allowed"
	CodeUnknownSeat        = "unknown_seat"
	CodeNotAdmitted        = "not_admitted"
	CodeNotInLine          = "not_in_line"
	CodeUnavailable        = "unavailable"
	CodeInternal           = "internal"
	CodeInvalidBody        = "invalid_body"
	CodeInvalidQuery       = "invalid_query"
	CodeInvalidUserID      = "invalid_user_id"
	CodeInvalidIdempotency = "invalid_idempotency_key"
	CodeUnauthorized       = "unauthorized"
	CodeInvalidToken       = "invalid_token"
	CodeForbidden          = "forbidden"
	CodeRateLimited        = "rate_limited"
	CodeNotFound           = "not_found"
	CodeMethodNotAllowed   = "method_not_allowed"
	CodeBodyTooLarge       = "body_too_large"
	CodeNotReady           = "not_ready"
	// CodeMalformedRequest answers a request the server could not parse or
	// will not trust: its line, headers or framing.
	CodeMalformedRequest = "malformed_request"
	// CodeHeaderTooLarge answers headers over the server's read buffer.
	CodeHeaderTooLarge      = "header_too_large"
	problemContentType      = "application/problem+json"
	internalDetail          = "the server failed to handle the request; it has been logged"
	unavailableDetail       = "a store did not answer in time; nothing was issued, retry later"
	validationFailedDefault = "a value breaks a rule"
	malformedDetail         = "the request line, a header or the message framing is malformed; see RFC 9112"
)

// problem is an RFC 9457 body with fastdeal's extension members.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
	// Field names the request member at fault (validation and body errors).
	Field string `json:"field,omitempty"`
	// Failing names the checks /readyz found down.
	Failing   []string `json:"failing,omitempty"`
	RequestID string   `json:"request_id,omitempty"`
}

// apiError is an error the adapter itself raises with its answer decided.
type apiError struct {
	status     int
	code       string
	detail     string
	field      string
	failing    []string
	retryAfter int
}

func (e *apiError) Error() string { return e.code + ": " + e.detail }

func badRequest(code, field, detail string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, field: field, detail: detail}
}

func invalidField(field, detail string) *apiError {
	return &apiError{status: http.StatusUnprocessableEntity, code: CodeValidationFailed, field: field, detail: detail}
}

func unauthorized(code, detail string) *apiError {
	return &apiError{status: http.StatusUnauthorized, code: code, detail: detail}
}

func notReady(failing []string) *apiError {
	return &apiError{status: http.StatusServiceUnavailable, code: CodeNotReady, failing: failing,
		detail: "not ready: " + strings.Join(failing, ", ") + " did not answer"}
}

// errorRule maps one sentinel error to its answer.
type errorRule struct {
	err    error
	status int
	code   string
	detail string
}

// errorTable is the single place where domain and application errors become
// statuses. Order matters only where one error wraps another.
var errorTable = []errorRule{
	{drop.ErrInvalidID, http.StatusBadRequest, CodeInvalidID, "an id is 1 to 64 of [A-Za-z0-9_-]"},
	{drop.ErrNotFound, http.StatusNotFound, CodeDropNotFound, "no drop has that id"},
	{drop.ErrInvalid, http.StatusUnprocessableEntity, CodeValidationFailed, validationFailedDefault},
	{drop.ErrExists, http.StatusConflict, CodeDropExists, "a drop with that id already exists"},
	{drop.ErrNotOpen, http.StatusConflict, CodeDropNotOpen, "the drop is not selling now (before its window, after it, or paused)"},
	{drop.ErrNotQueued, http.StatusConflict, CodeDropNotQueued, "the drop has open admission and no waiting line"},
	{drop.ErrSeatRequired, http.StatusUnprocessableEntity, CodeSeatRequired, "a seated drop is claimed with a seat"},
	{drop.ErrSeatNotAllowed, http.StatusUnprocessableEntity, CodeSeatNotAllowed, "a general drop has no seats"},
	{drop.ErrUnknownSeat, http.StatusUnprocessableEntity, CodeUnknownSeat, "the drop has no seat with that label"},
	{waitline.ErrNotAdmitted, http.StatusForbidden, CodeNotAdmitted, "the drop is queued: join the line and claim with a valid pass"},
	{waitline.ErrNotInLine, http.StatusNotFound, CodeNotInLine, "you are not in this drop's line"},
	{application.ErrUnavailable, http.StatusServiceUnavailable, CodeUnavailable, unavailableDetail},
}

// toProblem decides the answer to err. The bool reports an unexpected error,
// which the caller logs.
func toProblem(err error) (problem, int, bool) {
	var ae *apiError
	if errors.As(err, &ae) {
		return problem{Status: ae.status, Code: ae.code, Detail: ae.detail, Field: ae.field, Failing: ae.failing}, ae.retryAfter, false
	}
	for _, r := range errorTable {
		if errors.Is(err, r.err) {
			p := problem{Status: r.status, Code: r.code, Detail: r.detail}
			var ve *drop.ValidationError
			if r.err == drop.ErrInvalid && errors.As(err, &ve) {
				p.Field, p.Detail = ve.Field, ve.Error()
			}
			return p, 0, false
		}
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		return fiberProblem(fe), 0, fe.Code >= 500
	}
	return problem{Status: http.StatusInternalServerError, Code: CodeInternal, Detail: internalDetail}, 0, true
}

// fiberProblem answers Fiber's and fasthttp's own errors (no route, wrong
// method, body too large, a request that does not parse, ...). fe.Message is
// never used: fasthttp's parse errors quote the request, headers and their
// credentials included.
func fiberProblem(fe *fiber.Error) problem {
	p := problem{Status: fe.Code}
	switch fe.Code {
	case http.StatusBadRequest:
		p.Code, p.Detail = CodeMalformedRequest, malformedDetail
	case http.StatusNotFound:
		p.Code, p.Detail = CodeNotFound, "no such route"
	case http.StatusMethodNotAllowed:
		p.Code, p.Detail = CodeMethodNotAllowed, "the route does not answer this method"
	case http.StatusRequestEntityTooLarge:
		p.Code, p.Detail = CodeBodyTooLarge, "the request body is over the limit"
	case http.StatusRequestHeaderFieldsTooLarge:
		p.Code, p.Detail = CodeHeaderTooLarge, "the request line and headers are over the server's limit"
	case http.StatusInternalServerError:
		p.Code, p.Detail = CodeInternal, internalDetail
	default:
		p.Code = strings.ReplaceAll(strings.ToLower(http.StatusText(fe.Code)), " ", "_")
		p.Detail = http.StatusText(fe.Code)
		if p.Code == "" {
			p.Code, p.Detail = "http_"+strconv.Itoa(fe.Code), "the request failed"
		}
	}
	return p
}

// writeError answers err as problem+json; unexpected errors are logged with
// the request id and answered with a generic detail.
func (s *Server) writeError(c *fiber.Ctx, err error) error {
	p, retryAfter, unexpected := toProblem(err)
	p.Type = "about:blank"
	p.Title = http.StatusText(p.Status)
	if p.Title == "" {
		p.Title = "Error"
	}
	p.RequestID = string(c.Response().Header.Peek(fiber.HeaderXRequestID))
	if p.RequestID == "" {
		// Errors raised before routing never passed through observe.
		p.RequestID = s.requestID(c)
	}
	if unexpected {
		s.log.Error("request failed", zap.String("request_id", p.RequestID), zap.String("method", methodLabel(c.Method())),
			zap.String("path", strings.Clone(c.Path())), zap.Error(err))
	}
	body, merr := json.Marshal(p)
	if merr != nil {
		return merr
	}
	if retryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(retryAfter))
	}
	c.Status(p.Status)
	c.Set(fiber.HeaderContentType, problemContentType)
	return c.Send(body)
}

// fiberErrorHandler answers errors that reach Fiber itself: those fasthttp
// raises before routing (413, malformed requests) and any the observe
// middleware did not get to.
func (s *Server) fiberErrorHandler(c *fiber.Ctx, err error) error {
	// Errors raised before routing end the connection, often with part of the
	// request unread.
	lingerOnClose(c)
	werr := s.writeError(c, err)
	s.metrics.request(unmatchedRoute, methodLabel(c.Method()), c.Response().StatusCode(), 0)
	return werr
}
