package load

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"time"
)

// Follow-up operations of a coupon-rush user, as the scheduler's heap keeps them.
const (
	opJoin uint8 = iota
	opPoll
)

// ticketHeader carries a line ticket on a status poll (docs/openapi.yaml, "Waiting at scale").
const ticketHeader = "X-Line-Ticket"

// rushUser is what a coupon-rush user carries between its requests, beside the
// sale's per-user records. It is touched only by the user's own request, and a
// user never has two requests in flight, so it needs no lock: the scheduler's
// mutex orders one request's writes before the next request's reads.
type rushUser struct {
	// ticket is the latest line ticket the server handed out ("" in fixed mode).
	ticket string
	polls  uint32
	tries  uint16
}

// rush is one drop's coupon-rush sale.
type rush struct {
	r       *runner
	users   []rushUser
	paced   bool
	line    string
	me      string
	join    *endpoint
	status  *endpoint
	opensAt time.Time
	nPre    int

	ticketPolls atomic.Int64
}

// newLineSale is the sale record of a line scenario: besides what every sale
// keeps, each user's join and last position.
func newLineSale(users int) *sale {
	s := newSale(users, 0)
	s.joins = make([]joinRec, users)
	s.lastPos = make([]uint32, users)
	return s
}

// fixedNext is the seeds' poll grid: gap after the intended time, but never
// before the previous answer, since one user does not overlap itself.
func fixedNext(intended, ended time.Time, gap time.Duration) time.Time {
	at := intended.Add(gap)
	if ended.After(at) {
		return ended
	}
	return at
}

// keep stores the answer's ticket, if it carries a new one.
func (x *rush) keep(st *rushUser, a answer) {
	if x.paced && a.Ticket != "" && a.Ticket != st.ticket {
		st.ticket = a.Ticket
	}
}

// nextPoll is when the user polls next after an answer that left it waiting:
// when the server said, or on the fixed grid when it said nothing (an older
// server) or when --fixed-poll asks for the seeds' behaviour.
func (x *rush) nextPoll(a answer, intended, ended time.Time, gap time.Duration) time.Time {
	if x.paced && a.PollAfterMs > 0 {
		return ended.Add(time.Duration(a.PollAfterMs) * time.Millisecond)
	}
	return fixedNext(intended, ended, gap)
}

func (x *rush) doJoin(u int, intended time.Time) {
	r, st := x.r, &x.users[u]
	st.tries++
	r.sale.joinSent(u, time.Now())
	r.call(x.join, intended, http.MethodPost, x.line, r.hs[u], nil, header{}, func(rep reply, ended time.Time) {
		if rep.kind == errNone && classOf(rep.status) == class2xx {
			a, ok := r.sale.decode(u, rep.body)
			next := fixedNext(ended, ended, r.sc.wait)
			if ok {
				r.sale.joinAnswered(u, a, ended)
				if r.sale.outcome(u, a, ended) {
					return
				}
				if a.Status != "waiting" && a.Status != "pre_queue" {
					r.sale.unexpectedAnswer(u, rep.status, rep.body)
				}
				x.keep(st, a)
				next = x.nextPoll(a, ended, ended, r.sc.wait)
			}
			r.after(next, u, opPoll)
			return
		}
		if rep.kind == errNone && rep.status == http.StatusConflict {
			// Not a line answer: the drop refused the join (drop_not_open from a
			// server without a pre-queue, say). The audit must hear of it.
			r.sale.unexpectedAnswer(u, rep.status, rep.body)
		}
		// Joining is idempotent, so a failed join is retried on the poll grid.
		if int(st.tries) < r.cfg.MaxPolls {
			r.after(fixedNext(intended, ended, r.sc.poll), u, opJoin)
		}
	})
}

func (x *rush) doPoll(u int, intended time.Time) {
	r, st := x.r, &x.users[u]
	st.polls++
	var extra header
	if st.ticket != "" {
		extra = header{ticketHeader, st.ticket}
		x.ticketPolls.Add(1)
	}
	r.call(x.status, intended, http.MethodGet, x.me, r.hs[u], nil, extra, func(rep reply, ended time.Time) {
		next := fixedNext(intended, ended, r.sc.poll)
		switch {
		case rep.kind == errNone && rep.status == http.StatusOK:
			a, ok := r.sale.decode(u, rep.body)
			if !ok {
				break
			}
			if r.sale.outcome(u, a, ended) {
				return
			}
			switch a.Status {
			case "waiting":
				r.sale.waiting(u, a.Position)
			case "pre_queue", "admitted", "expired":
			default:
				r.sale.unexpectedAnswer(u, rep.status, rep.body)
			}
			x.keep(st, a)
			next = x.nextPoll(a, intended, ended, r.sc.poll)
		case rep.kind == errNone && rep.status == http.StatusNotFound:
			// The server forgot a user it had placed: polling more cannot help.
			r.sale.lostUser(u, rep.body)
			return
		}
		if int(st.polls) < r.cfg.MaxPolls {
			r.after(next, u, opPoll)
		}
	})
}

// report fills the coupon-rush section from what the run measured.
func (x *rush) report(rep *Report) {
	r, cfg := x.r, x.r.cfg
	status := x.status.summary()
	cr := &CouponRushReport{
		PollMode:           "server-paced (poll_after_ms, line tickets)",
		PrequeueUsers:      x.nPre,
		StatusPolls:        status.Count,
		PollsWithTicket:    x.ticketPolls.Load(),
		MeanPollsPerSecond: status.Throughput,
	}
	if !x.paced {
		cr.PollMode = fmt.Sprintf("fixed (%s after joining, then every %s)", cfg.Wait, cfg.Poll)
	}
	if r.sc.prequeue > 0 {
		cr.PrequeueWindowSeconds = r.sc.prequeue.Seconds()
	}
	r.sale.mu.Lock()
	for _, j := range r.sale.joins {
		if j.ok && j.status == lsPreQueue {
			cr.PrequeueJoined++
		}
	}
	decidedAt := r.sale.decidedAt
	r.sale.mu.Unlock()
	if cfg.Users > 0 {
		cr.PollsPerUser = float64(status.Count) / float64(cfg.Users)
	}
	if rep.Sale.Undecided == 0 && !decidedAt.IsZero() {
		v := decidedAt.Sub(x.opensAt).Seconds()
		cr.OpenToDecidedSeconds = &v
	}
	rep.CouponRush = cr
}
