package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/fastdeal/fastdeal/application"
	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/waitline"
)

// HeaderIdempotencyKey scopes claim retries to one buyer and one drop.
const HeaderIdempotencyKey = "Idempotency-Key"

const maxIdempotencyKey = 128

// Claim outcomes are answered from fixed bytes: they are the bulk of a
// sold-out spike and must cost next to nothing.
var outcomeBodies = map[application.ClaimStatus][]byte{
	application.StatusSoldOut:      []byte(`{"status":"sold_out"}`),
	application.StatusSeatTaken:    []byte(`{"status":"seat_taken"}`),
	application.StatusLimitReached: []byte(`{"status":"limit_reached"}`),
}

// pathID returns the :id parameter, copied because the application keeps ids
// (cache keys, in-flight maps, line entries) beyond the request.
func pathID(c *fiber.Ctx) (string, error) {
	id, err := pathIDBorrowed(c)
	return strings.Clone(id), err
}

// pathIDBorrowed is pathID without the copy: the id aliases the request's
// buffer, which Fiber reuses once the request is answered.
func pathIDBorrowed(c *fiber.Ctx) (string, error) {
	id := c.Params("id")
	if !drop.ValidID(id) {
		return "", drop.ErrInvalidID
	}
	return id, nil
}

func (s *Server) listDrops(c *fiber.Ctx) error {
	status := drop.Status(c.Query("status"))
	switch status {
	case "", drop.StatusUpcoming, drop.StatusOpen, drop.StatusClosed:
	default:
		return badRequest(CodeInvalidQuery, "status", "status must be upcoming, open or closed")
	}
	region := c.Query("region")
	if utf8.RuneCountInString(region) > drop.MaxPlaceLen {
		return badRequest(CodeInvalidQuery, "region", "region is at most 100 characters")
	}
	views, err := s.sales.ListDrops(c.UserContext(), strings.Clone(region), drop.Status(strings.Clone(string(status))))
	if err != nil {
		return err
	}
	out := make([]DropJSON, len(views))
	for i, v := range views {
		out[i] = dropJSON(v)
	}
	return c.JSON(fiber.Map{"drops": out})
}

func (s *Server) getDrop(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	v, err := s.sales.Drop(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(dropJSON(v))
}

// seats answers the seats route, one page at a time. The handler owns the
// rendered pages it keeps, so each server has its own.
func (s *Server) seats() fiber.Handler {
	pages := newSeatPages()
	return func(c *fiber.Ctx) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		q := application.SeatQuery{Limit: application.MaxSeatPage}
		if v := c.Query("available"); v != "" {
			if q.Available, err = strconv.ParseBool(v); err != nil {
				return badRequest(CodeInvalidQuery, "available", "available must be true or false")
			}
		}
		args := c.Context().QueryArgs()
		if args.Has("limit") {
			n, err := strconv.Atoi(string(args.Peek("limit")))
			if err != nil || n < 1 || n > application.MaxSeatPage {
				return badRequest(CodeInvalidQuery, "limit", "limit must be an integer from 1 to 1000")
			}
			q.Limit = n
		}
		if args.Has("after") {
			after := string(args.Peek("after")) // a copy: it becomes a cache key
			if !drop.ValidSeatLabel(after) {
				return badRequest(CodeInvalidQuery, "after", "after must be a seat label (1 to 32 of A-Z a-z 0-9 _ -), the next of the previous page")
			}
			q.After = after
		}
		page, err := s.sales.Seats(c.UserContext(), id, q)
		if err != nil {
			return err
		}
		body, zipped := pages.body(id, q, page, c.Context().Request.Header.HasAcceptEncoding("gzip"))
		c.Vary(fiber.HeaderAcceptEncoding)
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		if zipped {
			c.Set(fiber.HeaderContentEncoding, "gzip")
		}
		return c.Send(body)
	}
}

func (s *Server) claim(c *fiber.Ctx, user string) error {
	id, err := pathID(c)
	if err != nil {
		s.metrics.claim("rejected")
		return err
	}
	key := c.Get(HeaderIdempotencyKey)
	if key != "" && !validHeaderToken(key, maxIdempotencyKey) {
		s.metrics.claim("rejected")
		return badRequest(CodeInvalidIdempotency, HeaderIdempotencyKey, "an Idempotency-Key is 1 to 128 printable ASCII characters")
	}
	var req claimRequest
	if err := decodeJSON(c, &req, true); err != nil {
		s.metrics.claim("rejected")
		return err
	}
	res, err := s.sales.Claim(c.UserContext(), application.ClaimInput{
		DropID: id, UserID: user, Seat: req.Seat, Key: strings.Clone(key),
	})
	if err != nil {
		s.metrics.claimError(err)
		return err
	}
	if res.Status != application.StatusIssued {
		s.metrics.claim(string(res.Status))
		c.Status(http.StatusConflict)
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(outcomeBodies[res.Status])
	}
	if res.Repeat {
		s.metrics.claim("repeat")
		c.Status(http.StatusOK)
	} else {
		s.metrics.claim("issued")
		c.Status(http.StatusCreated)
	}
	c.Response().Header.SetContentType(fiber.MIMEApplicationJSON)
	var buf [512]byte
	c.Response().SetBody(appendClaimIssued(buf[:0], issuanceJSON(res.Issuance)))
	return nil
}

func (s *Server) joinLine(c *fiber.Ctx, user string) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := decodeJSON(c, &emptyRequest{}, true); err != nil {
		return err
	}
	v, created, err := s.sales.JoinLine(c.UserContext(), id, user)
	if err != nil {
		s.metrics.join("error")
		return err
	}
	switch {
	case created:
		s.metrics.join("new")
		c.Status(http.StatusAccepted)
	case v.Status == waitline.Waiting || v.Status == waitline.PreQueue:
		s.metrics.join("existing")
	default:
		s.metrics.join(string(v.Status))
	}
	return sendLine(c, v)
}

// lineStatus gets the drop's id and the buyer's borrowed, not copied: a
// ticketed poll answered from the line snapshot keeps neither, and
// Sales.LineStatus copies them before a store sees them. The two copies
// were two of a ticketed poll's three allocations.
func (s *Server) lineStatus(c *fiber.Ctx, user string) error {
	id, err := pathIDBorrowed(c)
	if err != nil {
		return err
	}
	v, err := s.sales.LineStatus(c.UserContext(), id, user, c.Get(HeaderLineTicket))
	if err != nil {
		return err
	}
	return sendLine(c, v)
}

func (s *Server) leaveLine(c *fiber.Ctx, user string) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := s.sales.LeaveLine(c.UserContext(), id, user); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func (s *Server) myIssuances(c *fiber.Ctx, user string) error {
	list, err := s.sales.MyIssuances(c.UserContext(), user)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"issuances": issuancesJSON(list)})
}
