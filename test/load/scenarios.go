package load

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// createDrop makes the scenario's drop, open from a minute ago (unless body says
// when) for a day, so that clock skew between client and server cannot close it
// mid-run.
func (r *runner) createDrop(body createDrop) error {
	now := time.Now().UTC()
	body.Name = fmt.Sprintf("%s %s", r.cfg.Scenario, now.Format(time.RFC3339))
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
	r.runSchedule(ctx, arrivals, arrive, nil, int64(len(arrivals)), func() int64 { return r.rec.eps[0].total() }, nil)
	return nil
}
