package load

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// pacedCoupon is coupon-rush at real speed with fallback intervals far longer
// than the test may take: only a generator that polls when the server says
// can decide everyone in time.
func pacedCoupon(url string) Config {
	return Config{
		Scenario: CouponRush, BaseURL: url, AdminToken: "admin-secret",
		Stock: 40, Users: 150, Ramp: 500 * time.Millisecond, Wait: 30 * time.Second, Poll: 30 * time.Second,
		AdmitRate: 200, Speed: 1, Timeout: 5 * time.Second, Duration: 40 * time.Second,
	}
}

// prequeueCoupon: 400 users, half of them in a one-second pre-queue, 100
// coupons, so every coupon goes to the pre-queue.
func prequeueCoupon(url string) Config {
	return Config{
		Scenario: CouponRush, BaseURL: url, AdminToken: "admin-secret",
		Stock: 100, Users: 400, Prequeue: 0.5, PrequeueWindow: time.Second, Ramp: 500 * time.Millisecond,
		Wait: 100 * time.Millisecond, Poll: 100 * time.Millisecond, AdmitRate: 400, Speed: 1,
		Timeout: 5 * time.Second, Duration: 40 * time.Second,
	}
}

func check(t *testing.T, a AuditReport, name string) Check {
	t.Helper()
	for _, c := range a.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q in %v", name, a.Checks)
	return Check{}
}

func TestCouponRushHonoursPollAfterAndTickets(t *testing.T) {
	f, srv := newFake(t)
	f.pollAfter = 30 * time.Millisecond
	begin := time.Now()
	rep, err := Run(runCtx(t), pacedCoupon(srv.URL))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	// The fallback would have waited 30s before the first poll, so a run
	// shorter than that followed poll_after_ms, however busy the machine.
	if d := time.Since(begin); d >= pacedCoupon(srv.URL).Poll {
		t.Fatalf("the run took %v: polls did not follow poll_after_ms", d)
	}
	cr := rep.CouponRush
	if cr == nil {
		t.Fatal("no coupon-rush section")
	}
	f.mu.Lock()
	ok, stale, none := f.ticketOK, f.ticketStale, f.ticketNone
	f.mu.Unlock()
	if none != 0 || stale != 0 || ok == 0 || cr.PollsWithTicket != cr.StatusPolls || int64(ok) != cr.StatusPolls {
		t.Fatalf("tickets: %d current, %d stale, %d none; report %d of %d polls with a ticket", ok, stale, none, cr.PollsWithTicket, cr.StatusPolls)
	}
	if cr.WaitingPeak <= 0 || cr.PeakPollsPerSecond <= 0 || cr.MeanPollsPerSecond <= 0 || cr.PollsPerUser <= 0 ||
		cr.OpenToDecidedSeconds == nil || !strings.HasPrefix(cr.PollMode, "server-paced") || len(cr.Timeline) == 0 {
		t.Fatalf("coupon-rush report incomplete: %+v", cr)
	}
	if cr.PrequeueRankCorrelation != nil || cr.PrequeueUsers != 0 {
		t.Fatalf("a run without a pre-queue reports one: %+v", cr)
	}
	if cr.ServerRSSPeak != 0 || !strings.Contains(strings.Join(cr.Notes, ";"), "no --metrics-url") {
		t.Fatalf("server RSS reported without a source: %+v", cr)
	}
}

func TestCouponRushFixedPollSendsNoTicket(t *testing.T) {
	f, srv := newFake(t)
	cfg := smallCoupon(srv.URL)
	cfg.FixedPoll = true
	rep, err := Run(runCtx(t), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ticketOK+f.ticketStale != 0 || rep.CouponRush.PollsWithTicket != 0 || !strings.HasPrefix(rep.CouponRush.PollMode, "fixed") {
		t.Fatalf("fixed polling presented tickets: %d current, %d stale, mode %q", f.ticketOK, f.ticketStale, rep.CouponRush.PollMode)
	}
}

// TestCouponRushOlderServer: answers without poll_after_ms fall back to the
// fixed interval, and the run still passes.
func TestCouponRushOlderServer(t *testing.T) {
	f, srv := newFake(t)
	f.unpaced = true
	rep, err := Run(runCtx(t), smallCoupon(srv.URL))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if rep.CouponRush.PollsWithTicket != 0 || rep.CouponRush.StatusPolls == 0 {
		t.Fatalf("polls %d, with ticket %d", rep.CouponRush.StatusPolls, rep.CouponRush.PollsWithTicket)
	}
}

func TestCouponRushPrequeuePasses(t *testing.T) {
	for _, stock := range []int{100, 300} { // fewer coupons than the pre-queue, then more
		f, srv := newFake(t)
		cfg := prequeueCoupon(srv.URL)
		cfg.Stock = stock
		rep, err := Run(runCtx(t), cfg)
		if err != nil {
			t.Fatalf("stock %d: Run: %v", stock, err)
		}
		cr := rep.CouponRush
		// A join sent just before opening may be answered after it, so on a
		// busy machine a few planned for the pre-queue join the line instead.
		if cr.PrequeueUsers != 200 || cr.PrequeueJoined < 150 || cr.PrequeueJoined > 200 {
			t.Fatalf("stock %d: pre-queue planned %d, joined %d, want 200", stock, cr.PrequeueUsers, cr.PrequeueJoined)
		}
		n := min(stock, cr.PrequeueJoined)
		if cr.PrequeueRankCorrelation == nil || math.Abs(*cr.PrequeueRankCorrelation) >= 4/math.Sqrt(float64(n)) {
			t.Fatalf("stock %d: rank correlation %v", stock, cr.PrequeueRankCorrelation)
		}
		for _, name := range []string{"pre-queue ahead of later arrivals", "pre-queue shuffled at opening",
			"FIFO after opening: admission order equals join order among later arrivals", "position never goes up", "every user decided"} {
			if c := check(t, rep.Audit, name); !c.Passed {
				t.Fatalf("stock %d: %s failed: %s", stock, name, c.Detail)
			}
		}
		if rep.Sale.Issued != stock || rep.Sale.Undecided != 0 || cr.OpenToDecidedSeconds == nil {
			t.Fatalf("stock %d: sale %+v", stock, rep.Sale)
		}
		// The pre-queue's tickets were replaced at the shuffle: each pre-queue user
		// presents its old one once at most, and then the new one.
		f.mu.Lock()
		for _, d := range f.drops {
			for u, e := range d.entries {
				if e.stale > 1 {
					t.Errorf("stock %d: user %s presented an outdated ticket %d times", stock, u, e.stale)
				}
			}
		}
		if f.ticketNone != 0 || f.ticketOK == 0 {
			t.Errorf("stock %d: %d polls without a ticket, %d with the current one", stock, f.ticketNone, f.ticketOK)
		}
		f.mu.Unlock()
		if !strings.Contains(reportText(t, rep), "pre-queue: 200 users planned") {
			t.Fatalf("text report lacks the pre-queue:\n%s", reportText(t, rep))
		}
	}
}

func reportText(t *testing.T, rep *Report) string {
	t.Helper()
	var b strings.Builder
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestCouponRushAuditCatchesBadPrequeue: each planted fault fails the check
// that names it, with a non-nil *AuditError.
func TestCouponRushAuditCatchesBadPrequeue(t *testing.T) {
	cases := []struct {
		name  string
		plant func(*fakeServer)
		check string
		want  string
		tweak func(*Config)
	}{
		{"FIFO pre-queue", func(f *fakeServer) { f.prequeueFIFO = true }, "pre-queue shuffled at opening", "close to arrival order", nil},
		{"reversed pre-queue", func(f *fakeServer) { f.prequeueRev = true }, "pre-queue shuffled at opening", "close to reversed arrival order", nil},
		{"pre-queue behind a later arrival", func(f *fakeServer) { f.prequeueLate = true }, "pre-queue ahead of later arrivals", "pre-queue users were still unserved", nil},
		// Paced at 30ms and admitted over two seconds, so users see many waiting
		// answers before the sale ends.
		{"position goes up", func(f *fakeServer) { f.positionUp, f.pollAfter = true, 30*time.Millisecond }, "position never goes up", "went from position",
			func(c *Config) { c.AdmitRate = 50 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, srv := newFake(t)
			c.plant(f)
			cfg := prequeueCoupon(srv.URL)
			if c.tweak != nil {
				c.tweak(&cfg)
			}
			rep, err := Run(runCtx(t), cfg)
			var ae *AuditError
			if !errors.As(err, &ae) {
				t.Fatalf("want *AuditError, got %v", err)
			}
			got := check(t, rep.Audit, c.check)
			if got.Passed || !strings.Contains(got.Detail, c.want) {
				t.Fatalf("%s: passed %v, detail %q, want it failed naming %q", c.check, got.Passed, got.Detail, c.want)
			}
		})
	}
}

// preJoins builds n users joining 10ms apart; the first pre answered pre_queue.
func preJoins(n, pre int) ([]joinRec, []string) {
	t0 := time.Now().UnixNano()
	joins := make([]joinRec, n)
	ids := make([]string, n)
	for i := range n {
		ids[i] = userID(i)
		sent := t0 + int64(i)*int64(10*time.Millisecond)
		joins[i] = joinRec{firstSent: sent, answered: sent + int64(time.Millisecond), ok: true, status: lsWaiting}
		if i < pre {
			joins[i].status = lsPreQueue
		}
	}
	return joins, ids
}

func issuedInOrder(ids []string, users ...int) []apiIssuance {
	t0 := time.Now()
	out := make([]apiIssuance, len(users))
	for i, u := range users {
		out[i] = apiIssuance{ID: "i" + ids[u], UserID: ids[u], IssuedAt: t0.Add(time.Duration(i) * time.Millisecond)}
	}
	return out
}

func TestPrequeueAhead(t *testing.T) {
	joins, ids := preJoins(6, 3)
	if c, _ := prequeueAhead(joins, ids, issuedInOrder(ids, 2, 0, 1, 3, 4)); !c.Passed {
		t.Fatalf("a prefix failed: %s", c.Detail)
	}
	if c, _ := prequeueAhead(joins, ids, issuedInOrder(ids, 1, 2)); !c.Passed {
		t.Fatalf("all pre-queue, stock below it, failed: %s", c.Detail)
	}
	c, n := prequeueAhead(joins, ids, issuedInOrder(ids, 2, 3, 0))
	if c.Passed || n != 2 || !strings.Contains(c.Detail, "later arrival u0000004 was issued #2 while 2 pre-queue users were still unserved") ||
		!strings.Contains(c.Detail, "2 out of place") {
		t.Fatalf("a later arrival ahead of the pre-queue passed: %s", c.Detail)
	}
	// Stock below the pre-queue: a later arrival issued at all is out of place.
	if c, _ := prequeueAhead(joins, ids, issuedInOrder(ids, 0, 3)); c.Passed {
		t.Fatalf("a later arrival issued before the pre-queue was served passed: %s", c.Detail)
	}
	// The server's list may come in any order: issued_at decides.
	list := issuedInOrder(ids, 0, 1, 2, 3)
	list[0], list[3] = list[3], list[0]
	if c, _ := prequeueAhead(joins, ids, issueOrder(list)); !c.Passed {
		t.Fatalf("issue order not taken from issued_at: %s", c.Detail)
	}
}

func TestPrequeueShuffled(t *testing.T) {
	const n = 400
	joins, ids := preJoins(n, n)
	users := make([]int, n)
	for i := range users {
		users[i] = i
	}
	c, rho := prequeueShuffled(joins, ids, issuedInOrder(ids, users...))
	if c.Passed || rho == nil || math.Abs(*rho-1) > 1e-9 {
		t.Fatalf("arrival order: passed %v rho %v: %s", c.Passed, rho, c.Detail)
	}
	rev := make([]int, n)
	for i := range rev {
		rev[i] = n - 1 - i
	}
	if c, rho = prequeueShuffled(joins, ids, issuedInOrder(ids, rev...)); c.Passed || math.Abs(*rho+1) > 1e-9 {
		t.Fatalf("reversed order: passed %v rho %v", c.Passed, *rho)
	}
	// A fixed interleaving with no trend: evens ascending then odds descending
	// has rho near 0.
	var mixed []int
	for i := 0; i < n; i += 2 {
		mixed = append(mixed, i)
	}
	for i := n - 1; i >= 0; i -= 2 {
		mixed = append(mixed, i)
	}
	if c, rho = prequeueShuffled(joins, ids, issuedInOrder(ids, mixed...)); !c.Passed {
		t.Fatalf("an untrended order failed: rho %v: %s", *rho, c.Detail)
	}
	if c, rho = prequeueShuffled(joins, ids, issuedInOrder(ids, 0, 1, 2)); !c.Passed || rho != nil || !strings.Contains(c.Detail, "too few") {
		t.Fatalf("three users judged: %s", c.Detail)
	}
}

func TestUserIndex(t *testing.T) {
	ids := []string{userID(0), userID(1)}
	if i, ok := userIndex(ids, "u0000002"); !ok || i != 1 {
		t.Fatalf("userIndex = %d %v", i, ok)
	}
	for _, bad := range []string{"", "u", "x0000001", "u0000003", "u0000000", "u1"} {
		if _, ok := userIndex(ids, bad); ok {
			t.Errorf("userIndex(%q) accepted", bad)
		}
	}
}

func TestParseFraction(t *testing.T) {
	for in, want := range map[string]float64{"30%": 0.3, "0.3": 0.3, " 100% ": 1, "0": 0, "12.5%": 0.125} {
		got, err := ParseFraction(in)
		if err != nil || math.Abs(got-want) > 1e-12 {
			t.Errorf("ParseFraction(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "150%", "-0.1", "1.5", "NaN"} {
		if _, err := ParseFraction(bad); err == nil {
			t.Errorf("ParseFraction(%q) accepted", bad)
		}
	}
}
