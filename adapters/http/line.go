package httpapi

import (
	"math"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/fastdeal/fastdeal/application"
	"github.com/fastdeal/fastdeal/domain/waitline"
)

// HeaderLineTicket carries a buyer's line ticket on status polls.
const HeaderLineTicket = "X-Line-Ticket"

// lineAnswer is a buyer's standing: the waiting members only while waiting,
// the pass only while admitted, the issuance only once issued.
type lineAnswer struct {
	Status   string        `json:"status"`
	Pass     *PassJSON     `json:"pass,omitempty"`
	Issuance *IssuanceJSON `json:"issuance,omitempty"`
}

// appendWaiting renders the two answers of a line's hot path, waiting and
// pre-queue, by hand: they are by far the most frequent, and reflection
// would cost more than the rest of a ticketed poll.
func appendWaiting(b []byte, v application.LineView) []byte {
	if v.Status == waitline.PreQueue {
		b = append(b, `{"status":"pre_queue","opens_at":"`...)
		b = v.OpensAt.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	} else {
		b = append(b, `{"status":"waiting","position":`...)
		b = strconv.AppendInt(b, v.Position, 10)
		b = append(b, `,"ahead":`...)
		b = strconv.AppendInt(b, v.Ahead, 10)
		b = append(b, `,"eta_seconds":`...)
		b = appendETA(b, v.ETASeconds)
	}
	b = append(b, `,"poll_after_ms":`...)
	b = strconv.AppendInt(b, v.PollAfter.Milliseconds(), 10)
	if v.Ticket != "" {
		// Tickets are base64url: nothing in them needs escaping.
		b = append(b, `,"ticket":"`...)
		b = append(b, v.Ticket...)
		b = append(b, '"')
	}
	return append(b, '}')
}

// appendETA appends eta rounded to the millisecond, as
// strconv.AppendFloat(b, math.Round(eta*1000)/1000, 'f', -1, 64) does (and a
// NaN, infinite or negative eta as 0), in integers: about 17 ns where the
// float formatting took 50, on every waiting answer (and 0.1-0.2 µs of a
// ticketed poll's handlers on the wire, in the profiles). Below
// 10^15 ms every such value has at most 15 significant digits, so its
// shortest form is its exact decimal; beyond that strconv writes it.
func appendETA(b []byte, eta float64) []byte {
	if math.IsNaN(eta) || math.IsInf(eta, 0) || eta < 0 {
		eta = 0
	}
	ms := math.Round(eta * 1000)
	if ms >= 1e15 {
		return strconv.AppendFloat(b, ms/1000, 'f', -1, 64)
	}
	n := int64(ms)
	b = strconv.AppendInt(b, n/1000, 10)
	frac := n % 1000
	if frac == 0 {
		return b
	}
	b = append(b, '.', byte('0'+frac/100))
	if frac %= 100; frac != 0 {
		b = append(b, byte('0'+frac/10))
		if frac %= 10; frac != 0 {
			b = append(b, byte('0'+frac))
		}
	}
	return b
}

func sendLine(c *fiber.Ctx, v application.LineView) error {
	if v.Status == waitline.Waiting || v.Status == waitline.PreQueue {
		// SetBody copies, so the buffer stays on the stack (c.Send keeps the
		// slice, which moved it to the heap on every answer), and the content
		// type is set without the generic header path's normalising.
		c.Response().Header.SetContentType(fiber.MIMEApplicationJSON)
		var buf [256]byte
		c.Response().SetBody(appendWaiting(buf[:0], v))
		return nil
	}
	out := lineAnswer{Status: string(v.Status)}
	if v.Status == waitline.Admitted && v.Pass != nil {
		out.Pass = &PassJSON{Token: v.Pass.Token, ExpiresAt: v.Pass.ExpiresAt}
	}
	if v.Status == waitline.Issued && v.Issuance != nil {
		iss := issuanceJSON(*v.Issuance)
		out.Issuance = &iss
	}
	return c.JSON(out)
}
