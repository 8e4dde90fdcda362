package load

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// createDrop makes the scenario's drop, open from a minute ago for a day so that
// clock skew between client and server cannot close it mid-run.
func (r *runner) createDrop(body createDrop) error {
	now := time.Now().UTC()
	body.Name = fmt.Sprintf("%s %s", r.cfg.Scenario, now.Format(time.RFC3339))
	body.Region, body.Venue = "load", "load-"+r.cfg.Scenario
	body.PerUserLimit = r.cfg.PerUserLimit
	body.OpensAt = now.Add(-time.Minute)
	body.ClosesAt = now.Add(24 * time.Hour)
	var d apiDrop
	if err := r.c.admin(http.MethodPost, "/v1/admin/drops", body, &d); err != nil {
		return fmt.Errorf("create drop: %w", err)
	}
	if d.ID == "" {
		return fmt.Errorf("create drop: the answer has no id")
	}
	r.drop = DropInfo{
		ID: d.ID, Kind: body.Kind, Admission: body.Admission, Stock: body.Stock,
		PerUserLimit: body.PerUserLimit, AdmitRate: body.AdmitRate,
	}
	if len(body.Seats) > 0 {
		r.drop.Stock = len(body.Seats)
	}
	return nil
}

// concertSpike: one seated drop, claims naming seats that cycle through every
// label, arriving on the staged schedule.
func (r *runner) concertSpike(ctx context.Context) error {
	cfg := r.cfg
	labels := make([]string, cfg.Stock)
	bodies := make([][]byte, cfg.Stock)
	for i := range labels {
		labels[i] = seatLabel(i)
		bodies[i] = []byte(`{"seat":"` + labels[i] + `"}`)
	}
	if err := r.createDrop(createDrop{Kind: "seated", Seats: labels, Admission: "open"}); err != nil {
		return err
	}
	path := "/v1/drops/" + r.drop.ID + "/claims"
	arrivals := stageArrivals(r.sc.stages, r.rng)
	r.sale = newSale(cfg.Users, cfg.Stock)
	r.start = time.Now()
	r.rec = newRecorder(r.start, r.planned(), EndpointClaim)
	ep := r.rec.endpoint(EndpointClaim)
	arrive := func(i int, intended time.Time) {
		u, seat := i%cfg.Users, i%cfg.Stock
		r.sale.attempt(u, seat)
		r.call(ep, intended, http.MethodPost, path, r.hs[u], bodies[seat], "c"+strconv.Itoa(i), func(rep reply, ended time.Time) {
			if rep.kind != errNone {
				return
			}
			c := classOf(rep.status)
			if c != class2xx && c != class409 {
				return
			}
			a, ok := r.sale.decode(u, rep.body)
			if !ok {
				return
			}
			if !r.sale.outcome(u, a, ended) {
				r.sale.unexpectedAnswer(u, rep.status, rep.body)
				return
			}
			// Only these outcomes prove the seat is held by someone at the end;
			// limit_reached says nothing about the seat.
			if a.Status != "limit_reached" {
				r.sale.answered(u, seat)
			}
		})
	}
	r.runSchedule(ctx, arrivals, arrive, int64(len(arrivals)), func() int64 { return r.rec.eps[0].total() })
	return nil
}

// couponRush: one general queued drop; each user joins, waits, then polls its
// status until decided. Polls are scheduled, not slept, so waiting users cost
// no goroutine.
func (r *runner) couponRush(ctx context.Context) error {
	cfg := r.cfg
	if err := r.createDrop(createDrop{Kind: "general", Stock: cfg.Stock, Admission: "queued", AdmitRate: r.sc.admitRate}); err != nil {
		return err
	}
	linePath := "/v1/drops/" + r.drop.ID + "/line"
	mePath := linePath + "/me"
	r.sale = newSale(cfg.Users, 0)
	r.sale.joins = make([]joinRec, cfg.Users)
	r.sale.lastPos = make([]int64, cfg.Users)
	arrivals := rampArrivals(cfg.Users, r.sc.ramp, r.rng)
	r.start = time.Now()
	r.rec = newRecorder(r.start, r.planned(), EndpointJoin, EndpointLineStatus)
	joinEP, statusEP := r.rec.endpoint(EndpointJoin), r.rec.endpoint(EndpointLineStatus)

	// next is the intended time of a user's next request: on the poll grid, but
	// never before the previous answer, since one user does not overlap itself.
	next := func(intended, ended time.Time, gap time.Duration) time.Time {
		at := intended.Add(gap)
		if ended.After(at) {
			return ended
		}
		return at
	}
	var poll func(u, k int) task
	poll = func(u, k int) task {
		return func(intended time.Time) {
			r.call(statusEP, intended, http.MethodGet, mePath, r.hs[u], nil, "", func(rep reply, ended time.Time) {
				if rep.kind == errNone && rep.status == http.StatusOK {
					a, ok := r.sale.decode(u, rep.body)
					if ok && r.sale.outcome(u, a, ended) {
						return
					}
					if ok && a.Status == "waiting" {
						r.sale.waiting(u, a.Position)
					}
				} else if rep.kind == errNone && rep.status == http.StatusNotFound {
					// The server forgot a user it had placed: polling more cannot help.
					r.sale.lostUser(u, rep.body)
					return
				}
				if k+1 < cfg.MaxPolls {
					r.sched.after(next(intended, ended, r.sc.poll), poll(u, k+1))
				}
			})
		}
	}
	var join func(u, attempt int) task
	join = func(u, attempt int) task {
		return func(intended time.Time) {
			r.sale.joinSent(u, time.Now())
			r.call(joinEP, intended, http.MethodPost, linePath, r.hs[u], nil, "", func(rep reply, ended time.Time) {
				if rep.kind == errNone && classOf(rep.status) == class2xx {
					a, ok := r.sale.decode(u, rep.body)
					if ok {
						r.sale.joinAnswered(u, a, ended)
						if r.sale.outcome(u, a, ended) {
							return
						}
					}
					r.sched.after(next(ended, ended, r.sc.wait), poll(u, 0))
					return
				}
				// Joining is idempotent, so a failed join is retried on the poll grid.
				if attempt+1 < cfg.MaxPolls {
					r.sched.after(next(intended, ended, r.sc.poll), join(u, attempt+1))
				}
			})
		}
	}
	arrive := func(u int, intended time.Time) { join(u, 0)(intended) }
	r.runSchedule(ctx, arrivals, arrive, int64(cfg.Users), r.sale.decidedCount)
	return nil
}
