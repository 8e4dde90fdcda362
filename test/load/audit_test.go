package load

import (
	"strings"
	"testing"
	"time"
)

// base is a correct seated sale of 3 seats to users 1..3, all seen by clients.
func base() auditInput {
	ids := []string{userID(0), userID(1), userID(2), userID(3)}
	server := []apiIssuance{
		{ID: "i1", UserID: ids[0], Seat: "S00001"},
		{ID: "i2", UserID: ids[1], Seat: "S00002"},
		{ID: "i3", UserID: ids[2], Seat: "S00003"},
	}
	seenMap := map[string]seen{}
	for i, is := range server {
		seenMap[is.ID] = seen{iss: is, user: i}
	}
	return auditInput{
		scenario:  ConcertSpike,
		drop:      DropInfo{Kind: "seated", Admission: "open", Stock: 3, PerUserLimit: 1},
		stats:     serverStats{Issued: 3, Persisted: 3},
		server:    server,
		seen:      seenMap,
		ids:       ids,
		demandLow: 3, demandHigh: 3,
		requests: 10, answered: 10,
	}
}

func failed(a AuditReport) string { return strings.Join(a.Failures(), " | ") }

func TestAuditPassesCorrectSale(t *testing.T) {
	if a := audit(base()); !a.Passed {
		t.Fatalf("a correct sale failed: %s", failed(a))
	}
}

func TestAuditPlantedFaults(t *testing.T) {
	cases := []struct {
		name  string
		plant func(*auditInput)
		want  []string
	}{
		{"seat twice", func(in *auditInput) {
			in.server[2].Seat = "S00001"
			in.seen["i3"] = seen{iss: in.server[2]}
		}, []string{"server: no seat twice", "seat S00001 issued twice (i1 and i3)"}},
		{"oversell", func(in *auditInput) {
			in.server = append(in.server, apiIssuance{ID: "i4", UserID: in.ids[3], Seat: "S00004"})
			in.stats.Issued = 4
		}, []string{"no oversell: 4 issued (stats 4) of stock 3", "issued == min(stock, demand)"}},
		{"user over limit", func(in *auditInput) {
			in.server[1].UserID = in.ids[0]
			in.seen["i2"] = seen{iss: in.server[1]}
		}, []string{"per-user limit", "user u0000001 holds more than 1 (issuance i2)"}},
		{"missing issuance", func(in *auditInput) {
			in.server = in.server[:2]
			in.stats.Issued = 2
		}, []string{"every issued answer present", "i3 (user u0000003, seat \"S00003\") missing"}},
		{"recorded for someone else", func(in *auditInput) {
			in.server[0].UserID = in.ids[3]
		}, []string{"i1 told to user u0000001 seat \"S00001\" but recorded for user u0000004"}},
		{"stats disagree", func(in *auditInput) { in.stats.Issued = 2 },
			[]string{"admin stats say 2 issued, the issuance list has 3"}},
		{"not durable", func(in *auditInput) { in.stats.Persisted, in.stats.PendingPersist = 1, 2 },
			[]string{"every issued answer durable: server reports 1 persisted, 2 pending; clients were told 3 issued"}},
		{"under-issued", func(in *auditInput) { in.demandLow, in.demandHigh = 5, 5; in.drop.Stock = 5 },
			[]string{"3 issued; stock 5, demand between 5 and 5, so between 5 and 5 must be issued"}},
		{"unanswered", func(in *auditInput) { in.answered = 9; in.failureDetail = "claim: 1 5xx" },
			[]string{"9 of 10 requests answered with 2xx or 409, 0 arrivals never started; claim: 1 5xx"}},
		{"mysql missing a row", func(in *auditInput) {
			in.useMySQL = true
			in.mysql = in.server[1:]
		}, []string{"mysql: every issued answer present", "i1 (user u0000001", "mysql has 2 rows for the drop, the server lists 3"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := base()
			c.plant(&in)
			a := audit(in)
			if a.Passed {
				t.Fatal("audit passed a planted fault")
			}
			got := failed(a)
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("failures %q lack %q", got, w)
				}
			}
		})
	}
}

// queued builds a line of four users joining 10ms apart (each answered 1ms
// after it was sent), issued in the order given.
func queued(issuedOrder ...int) ([]joinRec, []string, []apiIssuance) {
	t0 := time.Now()
	ids := []string{userID(0), userID(1), userID(2), userID(3)}
	joins := make([]joinRec, 4)
	for i := range joins {
		sent := t0.Add(time.Duration(i) * 10 * time.Millisecond)
		joins[i] = joinRec{firstSent: sent.UnixNano(), answered: sent.Add(time.Millisecond).UnixNano(), ok: true, status: lsWaiting}
	}
	var server []apiIssuance
	for _, u := range issuedOrder {
		server = append(server, apiIssuance{ID: "i" + ids[u], UserID: ids[u]})
	}
	return joins, ids, server
}

const fifoName = "FIFO: admission order equals join order"

func fifoOf(joins []joinRec, ids []string, server []apiIssuance) Check {
	return fifo(fifoName, joins, ids, server)
}

func TestFIFO(t *testing.T) {
	if c := fifoOf(queued(0, 1, 2)); !c.Passed {
		t.Fatalf("in-order admission failed: %s", c.Detail)
	}
	c := fifoOf(queued(1, 0, 2))
	if c.Passed || !strings.Contains(c.Detail, "user u0000001 joined before user u0000002") ||
		!strings.Contains(c.Detail, "issued after it (#2 after #1)") {
		t.Fatalf("swap not caught: %s", c.Detail)
	}
	c = fifoOf(queued(0, 2))
	if c.Passed || !strings.Contains(c.Detail, "user u0000002's join was answered (waiting) before user u0000003's join was sent, u0000003 was issued (#2) but u0000002 was not") {
		t.Fatalf("skipped user not caught: %s", c.Detail)
	}
}

// TestFIFOOverlappingJoinsAreUnordered: two joins in flight at the same time may
// be placed either way; only a join answered before another was sent orders them.
func TestFIFOOverlappingJoinsAreUnordered(t *testing.T) {
	joins, ids, _ := queued()
	joins[1].firstSent = joins[0].firstSent + int64(500*time.Microsecond) // sent before 0's answer arrived
	server := []apiIssuance{{ID: "a", UserID: ids[1]}, {ID: "b", UserID: ids[0]}}
	if c := fifo(fifoName, joins, ids, server); !c.Passed {
		t.Fatalf("overlapping joins flagged: %s", c.Detail)
	}
	// A user whose join never got an answer has no known place.
	joins, ids, _ = queued()
	joins[0].ok = false
	server = []apiIssuance{{ID: "a", UserID: ids[1]}}
	if c := fifo(fifoName, joins, ids, server); !c.Passed {
		t.Fatalf("unanswered join constrained the order: %s", c.Detail)
	}
}

func TestAuditCouponRules(t *testing.T) {
	joins, ids, server := queued(0, 1)
	seenMap := map[string]seen{}
	for _, is := range server {
		seenMap[is.ID] = seen{iss: is}
	}
	in := auditInput{
		scenario: CouponRush,
		drop:     DropInfo{Kind: "general", Admission: "queued", Stock: 2, PerUserLimit: 1},
		stats:    serverStats{Issued: 2, Persisted: 2},
		server:   server, seen: seenMap, ids: ids, joins: joins,
		demandLow: 4, demandHigh: 4, requests: 12, answered: 12,
	}
	if a := audit(in); !a.Passed {
		t.Fatalf("a correct coupon sale failed: %s", failed(a))
	}
	in.undecided, in.firstUndecided = 1, ids[3]
	in.failures, in.failureDetail = 2, "line_status: 2 timeouts"
	in.lost = "1 times, first: user u0000004: not_in_line"
	in.positionUp = "1 times, first: user u0000003 went from position 2 to 3"
	got := failed(audit(in))
	for _, w := range []string{
		"every user decided: 1 users never heard issued or sold_out, first: u0000004",
		"zero failed requests: 2 failed requests, 0 arrivals never started; line_status: 2 timeouts",
		"no user lost from line", "position never goes up: 1 times",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("failures %q lack %q", got, w)
		}
	}
}

func TestAuditErrorMessage(t *testing.T) {
	err := &AuditError{Scenario: CouponRush, Failures: []string{"a: b", "c: d"}}
	if err.Error() != "coupon-rush audit failed: a: b; c: d" {
		t.Fatalf("Error() = %q", err.Error())
	}
}
