package load

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// auditInput is everything the audit compares: the server's word (stats and its
// issuance list, optionally MySQL's rows) against what the clients were told.
type auditInput struct {
	scenario string
	drop     DropInfo
	stats    serverStats
	server   []apiIssuance
	mysql    []apiIssuance
	useMySQL bool
	seen     map[string]seen
	ids      []string

	// demandLow and demandHigh bound the units that must and may have been
	// issued before stock is considered; exact says the lower bound is sound.
	demandLow, demandHigh int
	demandNote            string

	requests, answered int64
	failures           int64
	failureDetail      string
	unstarted          int
	undecided          int
	firstUndecided     string

	joins      []joinRec
	prequeue   bool
	positionUp string
	lost       string
	unexpected string
	flood      *floodState
}

// sellOut is when the last unit went, if all stock went: by the clients' clock
// for open claims (the 201 arrival), by the server's issued_at for queued drops,
// where clients only learn it at their next poll.
func (r *runner) sellOut() *float64 {
	if r.drop.Stock == 0 || int(r.auditStats.Issued) < r.drop.Stock {
		return nil
	}
	if r.drop.Admission == "queued" {
		var last time.Time
		for _, is := range r.serverIss {
			if is.IssuedAt.After(last) {
				last = is.IssuedAt
			}
		}
		if !last.IsZero() {
			v := last.Sub(r.start).Seconds()
			return &v
		}
	}
	r.sale.mu.Lock()
	defer r.sale.mu.Unlock()
	return secondsSince(r.start, r.sale.lastIssued)
}

// audit reads the server's view and checks it against the clients'.
func (r *runner) audit(ctx context.Context) (AuditReport, error) {
	base := "/v1/admin/drops/" + r.drop.ID
	// Issuances are written in batches: let the writer drain so the audit
	// reads the settled state, not a batch in flight. A loaded server drains
	// slowly (a fixed 10s left 96 issues pending under load): wait while the
	// pending count keeps falling, and give up after 10s without progress.
	var st serverStats
	lowest, progressed := int64(-1), time.Now()
	for {
		if err := r.c.admin(http.MethodGet, base+"/stats", nil, &st); err != nil {
			return AuditReport{}, err
		}
		if st.PendingPersist == 0 || ctx.Err() != nil {
			break
		}
		if lowest < 0 || st.PendingPersist < lowest {
			lowest, progressed = st.PendingPersist, time.Now()
		}
		if time.Since(progressed) > 10*time.Second {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var list issuanceList
	if err := r.c.admin(http.MethodGet, base+"/issuances", nil, &list); err != nil {
		return AuditReport{}, err
	}
	r.auditStats, r.serverIss = st, list.Issuances
	in := r.auditInput()
	if r.cfg.MySQLDSN != "" {
		rows, err := readMySQL(ctx, r.cfg.MySQLDSN, r.drop.ID)
		if err != nil {
			return AuditReport{}, fmt.Errorf("mysql: %w", err)
		}
		in.mysql, in.useMySQL = rows, true
	}
	a := audit(in)
	if in.prequeue {
		_, r.rho = prequeueShuffled(in.joins, in.ids, in.issueOrder())
	}
	return a, nil
}

func (r *runner) auditInput() auditInput {
	s := r.sale
	s.mu.Lock()
	seenCopy := make(map[string]seen, len(s.issued))
	for k, v := range s.issued {
		seenCopy[k] = v
	}
	in := auditInput{
		scenario:   r.cfg.Scenario,
		drop:       r.drop,
		stats:      r.auditStats,
		server:     r.serverIss,
		seen:       seenCopy,
		ids:        r.ids,
		joins:      s.joins,
		prequeue:   r.sc.prequeue > 0,
		unstarted:  r.schedule.Unstarted,
		positionUp: countNote(s.positionUp, s.firstUp),
		lost:       countNote(s.lost, s.firstLost),
		unexpected: countNote(s.unexpected, s.firstUnexpt),
		flood:      r.flood,
	}
	usersAnswered, usersAttempted := count(s.usersAnswered), count(s.usersAttempted)
	switch r.cfg.Scenario {
	case ConcertSpike:
		// A seat that a single-claim buyer asked for and got an answer about is
		// taken at the end: issued, seat_taken or sold_out all mean so.
		in.demandHigh = min(count(s.seatsAttempted), usersAttempted*r.drop.PerUserLimit)
		if s.repeatUsers {
			in.demandNote = "buyers claimed more than once, so only the upper bound is exact"
		} else {
			in.demandLow = count(s.seatsAnswered)
		}
	case CouponRush:
		in.demandLow, in.demandHigh = usersAnswered, usersAttempted
	}
	s.mu.Unlock()
	in.undecided, in.firstUndecided = s.undecided()
	in.requests, in.answered, in.failures = r.rec.totals()
	in.failureDetail = failureDetail(r.rec.summaries())
	return in
}

func countNote(n int, first string) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d times, first: %s", n, first)
}

func failureDetail(eps []EndpointReport) string {
	var parts []string
	for _, e := range eps {
		s, er := e.Status, e.Errors
		var p []string
		add := func(n int64, what string) {
			if n > 0 {
				p = append(p, fmt.Sprintf("%d %s", n, what))
			}
		}
		add(s.S429, "429")
		add(s.S4xx, "other 4xx")
		add(s.S5xx, "5xx")
		add(s.Other, "unexpected status")
		add(er.Timeout, "timeouts")
		add(er.Refused, "refused")
		add(er.Reset, "resets")
		add(er.Other, "other transport errors")
		if len(p) > 0 {
			parts = append(parts, e.Name+": "+strings.Join(p, ", "))
		}
	}
	return strings.Join(parts, "; ")
}

// audit runs every check that applies to the scenario. It is pure, so each
// check can be tested on planted data.
func audit(in auditInput) AuditReport {
	var checks []Check
	add := func(name string, ok bool, format string, args ...any) {
		checks = append(checks, Check{Name: name, Passed: ok, Detail: fmt.Sprintf(format, args...)})
	}
	n := len(in.server)
	stock := in.drop.Stock

	add("stats agree with issuances", in.stats.Issued == int64(n),
		"admin stats say %d issued, the issuance list has %d", in.stats.Issued, n)
	add("no oversell", n <= stock && in.stats.Issued <= int64(stock),
		"%d issued (stats %d) of stock %d", n, in.stats.Issued, stock)

	switch in.scenario {
	case LineFlood:
		add("nothing issued while paused", n == 0, "%d issued from a paused line", n)
	default:
		low, high := min(stock, in.demandLow), min(stock, in.demandHigh)
		ok := n >= low && n <= high
		detail := fmt.Sprintf("%d issued; stock %d, demand between %d and %d, so between %d and %d must be issued",
			n, stock, in.demandLow, in.demandHigh, low, high)
		if in.demandNote != "" {
			detail += " (" + in.demandNote + ")"
		}
		add("issued == min(stock, demand)", ok, "%s", detail)
	}

	checks = append(checks, uniqueness("server", in.server, in.drop)...)
	checks = append(checks, presence("server", in.seen, in.server))
	add("every issued answer durable", in.stats.Persisted >= int64(len(in.seen)) && in.stats.PendingPersist == 0,
		"server reports %d persisted, %d pending; clients were told %d issued", in.stats.Persisted, in.stats.PendingPersist, len(in.seen))
	if in.useMySQL {
		checks = append(checks, uniqueness("mysql", in.mysql, in.drop)...)
		checks = append(checks, presence("mysql", in.seen, in.mysql))
		add("mysql agrees with server", len(in.mysql) == n, "mysql has %d rows for the drop, the server lists %d", len(in.mysql), n)
	}
	add("answers well-formed", in.unexpected == "", "%s", orNone(in.unexpected))

	switch in.scenario {
	case ConcertSpike:
		add("every request answered", in.answered == in.requests && in.unstarted == 0,
			"%d of %d requests answered with 2xx or 409, %d arrivals never started%s",
			in.answered, in.requests, in.unstarted, prefixed("; ", in.failureDetail))
	case CouponRush:
		add("zero failed requests", in.failures == 0 && in.unstarted == 0,
			"%d failed requests, %d arrivals never started%s", in.failures, in.unstarted, prefixed("; ", in.failureDetail))
		add("every user decided", in.undecided == 0,
			"%d users never heard issued or sold_out%s", in.undecided, prefixed(", first: ", in.firstUndecided))
		add("no user lost from line", in.lost == "", "%s", orNone(in.lost))
		add("position never goes up", in.positionUp == "", "%s", orNone(in.positionUp))
		order := in.issueOrder()
		if !in.prequeue {
			checks = append(checks, fifo("FIFO: admission order equals join order", in.joins, in.ids, order))
			break
		}
		ahead, _ := prequeueAhead(in.joins, in.ids, order)
		shuffled, _ := prequeueShuffled(in.joins, in.ids, order)
		checks = append(checks, ahead, shuffled,
			fifo("FIFO after opening: admission order equals join order among later arrivals", laterArrivals(in.joins), in.ids, order))
	case LineFlood:
		add("zero failed requests", in.failures == 0, "%d failed requests%s", in.failures, prefixed("; ", in.failureDetail))
		checks = append(checks, floodChecks(in)...)
	}

	passed := true
	for _, c := range checks {
		passed = passed && c.Passed
	}
	return AuditReport{Passed: passed, Checks: checks}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

// uniqueness checks no seat twice and no user beyond the per-user limit.
func uniqueness(source string, list []apiIssuance, drop DropInfo) []Check {
	var out []Check
	if drop.Kind == "seated" {
		seats := map[string]string{}
		dups, first := 0, ""
		for _, is := range list {
			if prev, ok := seats[is.Seat]; ok {
				dups++
				if first == "" {
					first = fmt.Sprintf("seat %s issued twice (%s and %s)", is.Seat, prev, is.ID)
				}
				continue
			}
			seats[is.Seat] = is.ID
		}
		out = append(out, Check{Name: source + ": no seat twice", Passed: dups == 0,
			Detail: fmt.Sprintf("%d seats issued more than once%s", dups, prefixed(", first: ", first))})
	}
	perUser := map[string]int{}
	over, first := 0, ""
	for _, is := range list {
		perUser[is.UserID]++
		if perUser[is.UserID] == drop.PerUserLimit+1 {
			over++
			if first == "" {
				first = fmt.Sprintf("user %s holds more than %d (issuance %s)", is.UserID, drop.PerUserLimit, is.ID)
			}
		}
	}
	out = append(out, Check{Name: source + ": per-user limit", Passed: over == 0,
		Detail: fmt.Sprintf("%d users over the limit of %d%s", over, drop.PerUserLimit, prefixed(", first: ", first))})
	return out
}

// presence checks every issuance a client was told about is in list, for the
// same user and seat.
func presence(source string, seenByClients map[string]seen, list []apiIssuance) Check {
	byID := make(map[string]apiIssuance, len(list))
	for _, is := range list {
		byID[is.ID] = is
	}
	ids := make([]string, 0, len(seenByClients))
	for id := range seenByClients {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	missing, wrong := 0, 0
	var first []string
	for _, id := range ids {
		s := seenByClients[id]
		got, ok := byID[id]
		switch {
		case !ok:
			missing++
			if len(first) < 3 {
				first = append(first, fmt.Sprintf("%s (user %s, seat %q) missing", id, s.iss.UserID, s.iss.Seat))
			}
		case got.UserID != s.iss.UserID || got.Seat != s.iss.Seat:
			wrong++
			if len(first) < 3 {
				first = append(first, fmt.Sprintf("%s told to user %s seat %q but recorded for user %s seat %q",
					id, s.iss.UserID, s.iss.Seat, got.UserID, got.Seat))
			}
		}
	}
	return Check{
		Name:   source + ": every issued answer present",
		Passed: missing == 0 && wrong == 0,
		Detail: fmt.Sprintf("%d issuances told to clients, %d missing, %d recorded differently%s",
			len(seenByClients), missing, wrong, prefixed(": ", strings.Join(first, "; "))),
	}
}

// fifo checks the line's fairness from the clients' clocks: if user A's join
// answer arrived before user B's join was sent, A was in line before B, so if B
// was issued then A must have been issued too, and earlier in the server's order.
// Users whose join never got a 2xx answer have no known place and constrain
// nothing as the earlier party.
func fifo(name string, joins []joinRec, ids []string, server []apiIssuance) Check {
	order := make(map[string]int, len(server))
	for i, is := range server {
		if _, ok := order[is.UserID]; !ok {
			order[is.UserID] = i
		}
	}
	var as, bs []int
	for u, j := range joins {
		if j.ok {
			as = append(as, u)
		}
		if _, issued := order[ids[u]]; issued && j.firstSent != 0 {
			bs = append(bs, u)
		}
	}
	sort.Slice(as, func(i, k int) bool { return joins[as[i]].answered < joins[as[k]].answered })
	sort.Slice(bs, func(i, k int) bool { return joins[bs[i]].firstSent < joins[bs[k]].firstSent })

	ptr, maxIdx, maxUser, missingUser := 0, -1, -1, -1
	violations := 0
	first := ""
	for _, b := range bs {
		sent := joins[b].firstSent
		for ptr < len(as) && joins[as[ptr]].answered < sent {
			a := as[ptr]
			if idx, ok := order[ids[a]]; ok {
				if idx > maxIdx {
					maxIdx, maxUser = idx, a
				}
			} else if missingUser < 0 {
				missingUser = a
			}
			ptr++
		}
		bIdx := order[ids[b]]
		switch {
		case missingUser >= 0:
			violations++
			if first == "" {
				first = fmt.Sprintf("user %s's join was answered (%s) before user %s's join was sent, %s was issued (#%d) but %s was not",
					ids[missingUser], joins[missingUser].status, ids[b], ids[b], bIdx+1, ids[missingUser])
			}
		case maxIdx > bIdx:
			violations++
			if first == "" {
				first = fmt.Sprintf("user %s joined before user %s (answered %s before the other's join was sent) but was issued after it (#%d after #%d)",
					ids[maxUser], ids[b], time.Duration(joins[maxUser].answered-joins[b].firstSent).Round(time.Microsecond), maxIdx+1, bIdx+1)
			}
		}
	}
	return Check{
		Name:   name,
		Passed: violations == 0,
		Detail: fmt.Sprintf("%d issued users checked against %d earlier joiners, %d out of order%s",
			len(bs), len(as), violations, prefixed(", first: ", first)),
	}
}

func floodChecks(in auditInput) []Check {
	st := in.flood
	if st == nil {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	joined := int64(len(st.joined))
	return []Check{
		{Name: "positions unique", Passed: st.dupPos == 0,
			Detail: fmt.Sprintf("%d joins got a position already given%s", st.dupPos, prefixed(", first: ", st.firstDup))},
		{Name: "line length matches joins", Passed: in.stats.LineLength == joined,
			Detail: fmt.Sprintf("server line_length %d, clients joined %d", in.stats.LineLength, joined)},
		{Name: "everyone still waiting", Passed: st.notWait == 0,
			Detail: fmt.Sprintf("%d of %d sampled users not waiting%s", st.notWait, st.reads, prefixed(", first: ", st.firstNot))},
		{Name: "position never goes up", Passed: st.posUp == 0,
			Detail: fmt.Sprintf("%d of %d sampled positions went up%s", st.posUp, st.reads, prefixed(", first: ", st.firstUp))},
	}
}
