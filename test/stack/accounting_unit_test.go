package stack

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fastdeal/fastdeal/test/load"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func req(scenario, endpoint string, from, to float64, status int, errKind string) result {
	return result{scenario: scenario, endpoint: endpoint, started: at(from), ended: at(to), status: status, errKind: errKind}
}

func TestWindowOverlap(t *testing.T) {
	w := window{start: at(10), end: at(15)}
	for _, c := range []struct {
		from, to float64
		want     bool
	}{
		{1, 9.99, false},   // ended before the window
		{9, 10, true},      // ended as it opened
		{9, 20, true},      // spans it
		{12, 13, true},     // inside
		{15, 16, true},     // started as it closed
		{15.01, 16, false}, // started after it
	} {
		if got := w.overlaps(at(c.from), at(c.to)); got != c.want {
			t.Errorf("overlaps(%v..%v) = %v, want %v", c.from, c.to, got, c.want)
		}
	}
}

func TestFailoverWindowIsDownAfterPlusElectionPlusSlack(t *testing.T) {
	w := failoverWindow(at(40), 5*time.Second, 3*time.Second)
	if !w.start.Equal(at(40)) || !w.end.Equal(at(49)) {
		t.Fatalf("window = %s, want [+40, +49]", span(t0, w))
	}
}

// TestAnalyzeAllowsFailuresOnlyInTheFailoverWindow plants 5xx and transport
// errors inside and outside the allowed window and checks each lands where it
// belongs, and that only the ones outside are violations.
func TestAnalyzeAllowsFailuresOnlyInTheFailoverWindow(t *testing.T) {
	allowed := window{start: at(40), end: at(49)}
	actions := []chaosAction{
		{name: "kill-app 1", window: window{start: at(8), end: at(16)}},
		{name: "stop-redis-master", window: window{start: at(40), end: at(47)}},
	}
	results := []result{
		req("concert", load.EndpointClaim, 1, 1.01, 201, ""),
		req("concert", load.EndpointClaim, 2, 2.01, 409, ""),
		req("concert", load.EndpointClaim, 41, 41.2, 503, ""),      // in the failover window
		req("concert", load.EndpointClaim, 39.9, 40.5, 503, ""),    // started before it, answered in it
		req("concert", load.EndpointClaim, 48.9, 50, 0, "timeout"), // in flight when it closed
		req("coupon", load.EndpointJoin, 10, 10.1, 502, ""),        // during kill-app: not allowed
		req("coupon", load.EndpointLineStatus, 60, 60.1, 0, "reset"),
		req("coupon", load.EndpointLineStatus, 61, 61.1, 200, ""),
		req("coupon", load.EndpointLineStatus, 62, 62.1, 404, ""),
	}
	a := analyze(results, actions, allowed, t0)

	tl := map[string]tally{}
	for _, x := range a.tallies {
		tl[x.scenario+"/"+x.endpoint] = x
	}
	claim := tl["concert/"+load.EndpointClaim]
	if claim.requests != 5 || claim.s2xx != 1 || claim.s409 != 1 || claim.s5xxIn != 2 || claim.s5xxOut != 0 || claim.errIn != 1 || claim.errOut != 0 {
		t.Errorf("concert claims: %+v", claim)
	}
	if j := tl["coupon/"+load.EndpointJoin]; j.s5xxOut != 1 || j.s5xxIn != 0 {
		t.Errorf("coupon joins: %+v", j)
	}
	st := tl["coupon/"+load.EndpointLineStatus]
	if st.errOut != 1 || st.s2xx != 1 || st.s4xx != 1 || st.answeredAfter != 1 {
		t.Errorf("coupon status: %+v", st)
	}
	if a.answeredAfterChaos("concert") != 0 || a.answeredAfterChaos("coupon") != 1 {
		t.Errorf("answered after chaos: concert %d, coupon %d", a.answeredAfterChaos("concert"), a.answeredAfterChaos("coupon"))
	}
	if a.failedInWindow("concert") != 3 || a.failedInWindow("coupon") != 0 {
		t.Errorf("failed in window: concert %d, coupon %d", a.failedInWindow("concert"), a.failedInWindow("coupon"))
	}
	// Outside: the 502 during kill-app, the reset at +60, the 404.
	if a.violationCount != 3 {
		t.Fatalf("violations = %d (%v), want 3", a.violationCount, a.violations)
	}
	for _, want := range []string{"status 502 at +10.00s..+10.10s", "transport error (reset)", "status 404"} {
		if !strings.Contains(strings.Join(a.violations, "\n"), want) {
			t.Errorf("violations %v do not mention %q", a.violations, want)
		}
	}
	kill, redis := a.windows[0], a.windows[1]
	if kill.s5xx != 1 || kill.transport != 0 {
		t.Errorf("kill-app window: %+v", kill)
	}
	if redis.s5xx != 2 || redis.transport != 0 || // the timeout at +48.9 is after the action window, inside the allowed one
		!redis.first5xx.Equal(at(40.5)) || !redis.last5xx.Equal(at(41.2)) {
		t.Errorf("redis window: 5xx %d, transport %d, first %s last %s", redis.s5xx, redis.transport,
			offset(t0, redis.first5xx), offset(t0, redis.last5xx))
	}
}

func TestAnalyzeFlags429(t *testing.T) {
	a := analyze([]result{req("coupon", load.EndpointLineStatus, 1, 1.1, 429, "")}, nil, window{start: at(0), end: at(100)}, t0)
	if a.violationCount != 1 || !strings.Contains(a.violations[0], "429") {
		t.Fatalf("a 429 must be a violation even inside the window: %v", a.violations)
	}
}

func TestCollectorHook(t *testing.T) {
	var c collector
	h := c.hook("concert")
	h(load.Result{Endpoint: load.EndpointClaim, Started: at(1), Ended: at(2), Status: 201})
	h(load.Result{Endpoint: load.EndpointClaim, Started: at(3), Ended: at(4), Err: errors.New("boom")})
	got := c.results()
	if len(got) != 2 || got[0].status != 201 || got[0].failed() || !got[1].transportError() || got[1].errKind != "other" {
		t.Fatalf("collected %+v", got)
	}
}

func TestSummaryMarksSupersededChecks(t *testing.T) {
	rep := &load.Report{Scenario: load.ConcertSpike, Audit: load.AuditReport{Checks: []load.Check{
		{Name: "every request answered", Passed: false, Detail: "3 5xx"},
		{Name: "server: no seat twice", Passed: false, Detail: "1 seat"},
	}}}
	var b strings.Builder
	writeSummary(&b, analysis{}, map[string]*load.Report{"concert": rep}, window{start: at(0), end: at(1)}, t0)
	out := b.String()
	if !strings.Contains(out, "n/a  every request answered") || !strings.Contains(out, "FAIL server: no seat twice") {
		t.Fatalf("summary:\n%s", out)
	}
}
