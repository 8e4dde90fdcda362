package load

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// createDrop makes the drop (named r.dropID, if set), open from a minute ago (unless body says
// when) for a day, so that clock skew between client and server cannot close it
// mid-run.
func (r *runner) createDrop(body createDrop) error {
	now := time.Now().UTC()
	body.ID = r.dropID
	body.Name = fmt.Sprintf("%s %s", r.cfg.Scenario, now.Format(time.RFC3339))
	if r.dropID != "" {
		body.Name += " " + r.dropID
	}
	body.Region, body.Venue = "load", "load-"+r.cfg.Scenario
	body.PerUserLimit = r.cfg.PerUserLimit
	if body.OpensAt.IsZero() {
		body.OpensAt = now.Add(-time.Minute)
	}
	body.ClosesAt = body.OpensAt.Add(24 * time.Hour)
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

// concertArrival is this drop's concert-spike arrival: the claim of its
// arrival i, by user i%Users for seat i%Stock.
func (r *runner) concertArrival(bodies [][]byte) func(int, time.Time) {
	cfg := r.cfg
	path := "/v1/drops/" + r.drop.ID + "/claims"
	ep := r.rec.endpoint(EndpointClaim)
	return func(i int, intended time.Time) {
		u, seat := i%cfg.Users, i%cfg.Stock
		r.sale.attempt(u, seat)
		r.call(ep, intended, http.MethodPost, path, r.hs[u], bodies[seat], header{"Idempotency-Key", "c" + strconv.Itoa(i)}, func(rep reply, ended time.Time) {
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
}
