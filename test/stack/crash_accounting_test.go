package stack

// The accounting behind the crash test in crash_test.go (build tag `stack`): every
// measured request is placed on the wall clock against the kill windows (an app
// SIGKILLed until it is ready again, plus a grace), so that only nginx's 502 and the
// apps' 503 are tolerated, and only inside a window. This file has no build tag: its
// unit tests run with the ordinary `go test ./...` and start nothing.

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"
	"text/tabwriter"
	"time"
)

// killWindow is one SIGKILL of an app and the span in which its effects are tolerated:
// from the kill until the restarted app answered /readyz, plus a grace.
type killWindow struct {
	n      int // 1-based
	app    int
	window window
	// ready is when the restarted app answered /readyz (zero when it did not).
	ready time.Time
	err   error
}

// killCount is what buyers saw during one kill window.
type killCount struct {
	s502, s503, s504, transport int64
}

// killAnalysis is the verdict of the crash test over all results.
type killAnalysis struct {
	perKill                 []killCount
	requests, s2xx, s201    int64
	s409                    int64
	s502In, s503In, s504In  int64
	errIn                   int64
	violations              []string
	violationCount          int
	answeredAfterLastWindow int64
}

// analyzeKills sorts every result: 2xx and 409 are answers; a 502 or 503 or a
// transport error is counted against the first kill window it was in flight during
// and is a violation outside every window; any other status (another 5xx anywhere,
// a 429 or another 4xx) is a violation. A 504 is treated like a 502 only when
// connect504 says nginx timed out only while connecting (the request never reached
// an app: the survivor's accept queue was full); a 504 from a read timeout means an
// app took the request and hung, which no kill excuses.
func analyzeKills(results []result, kills []killWindow, t0 time.Time, connect504 bool) killAnalysis {
	a := killAnalysis{perKill: make([]killCount, len(kills))}
	var quietAfter time.Time
	for _, k := range kills {
		if k.window.end.After(quietAfter) {
			quietAfter = k.window.end
		}
	}
	sorted := append([]result(nil), results...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ended.Before(sorted[j].ended) })
	for _, r := range sorted {
		a.requests++
		in := -1
		for i, k := range kills {
			if k.window.overlaps(r.started, r.ended) {
				in = i
				break
			}
		}
		switch {
		case r.transportError():
			if in >= 0 {
				a.perKill[in].transport++
				a.errIn++
				continue
			}
			a.violate(fmt.Sprintf("%s: transport error (%s) at %s..%s, outside every kill window%s",
				r.endpoint, r.errKind, offset(t0, r.started), offset(t0, r.ended), sinceWindow(kills, r.started)))
		case r.status == 502 || r.status == 503 || r.status == 504 && connect504:
			if in >= 0 {
				switch r.status {
				case 502:
					a.perKill[in].s502++
					a.s502In++
				case 503:
					a.perKill[in].s503++
					a.s503In++
				default:
					a.perKill[in].s504++
					a.s504In++
				}
				continue
			}
			a.violate(fmt.Sprintf("%s: status %d at %s..%s, outside every kill window%s",
				r.endpoint, r.status, offset(t0, r.started), offset(t0, r.ended), sinceWindow(kills, r.started)))
		case r.status >= 200 && r.status <= 299:
			a.s2xx++
			if r.status == 201 {
				a.s201++
			}
		case r.status == 409:
			a.s409++
		default:
			where := "outside every kill window"
			if in >= 0 {
				where = fmt.Sprintf("during kill %d", kills[in].n)
			}
			a.violate(fmt.Sprintf("%s: status %d at %s..%s (%s): only 502, 503 and a connect-timeout 504 are tolerated, and only in a kill window",
				r.endpoint, r.status, offset(t0, r.started), offset(t0, r.ended), where))
		}
		if !r.failed() && (r.status == 409 || r.status >= 200 && r.status <= 299) && r.started.After(quietAfter) {
			a.answeredAfterLastWindow++
		}
	}
	return a
}

// sinceWindow says how long before t the last kill window that had closed by then
// closed, so that a failure just after a window reads as the kill's tail.
func sinceWindow(kills []killWindow, t time.Time) string {
	var last *killWindow
	for i := range kills {
		if kills[i].window.end.Before(t) && (last == nil || kills[i].window.end.After(last.window.end)) {
			last = &kills[i]
		}
	}
	if last == nil {
		return ""
	}
	return fmt.Sprintf(" (%.2fs after kill %d's window closed)", t.Sub(last.window.end).Seconds(), last.n)
}

func (a *killAnalysis) violate(msg string) {
	a.violationCount++
	if len(a.violations) < maxViolationsShown {
		a.violations = append(a.violations, msg)
	}
}

// writeKillTable prints one line per kill: when, which app, how long its window
// stayed open, and what the buyers saw inside it.
func writeKillTable(w io.Writer, a killAnalysis, kills []killWindow, t0 time.Time) {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kill\tapp\tkilled at\tready after\twindow\t502\t503\t504 (connect)\ttransport errors\t")
	var tot killCount
	for i, k := range kills {
		c := a.perKill[i]
		tot.s502 += c.s502
		tot.s503 += c.s503
		tot.s504 += c.s504
		tot.transport += c.transport
		ready := "-"
		if !k.ready.IsZero() {
			ready = fmt.Sprintf("%.1fs", k.ready.Sub(k.window.start).Seconds())
		}
		fmt.Fprintf(tw, "%d\tapp%d\t%s\t%s\t%.1fs\t%d\t%d\t%d\t%d\t\n", k.n, k.app, offset(t0, k.window.start), ready,
			k.window.duration().Seconds(), c.s502, c.s503, c.s504, c.transport)
	}
	fmt.Fprintf(tw, "all\t\t\t\t\t%d\t%d\t%d\t%d\t\n", tot.s502, tot.s503, tot.s504, tot.transport)
	_ = tw.Flush()
	_, _ = io.WriteString(w, b.String())
}

func TestAnalyzeKillsToleratesOnly502And503InsideWindows(t *testing.T) {
	kills := []killWindow{
		{n: 1, app: 1, window: window{start: at(3), end: at(5)}},
		{n: 2, app: 2, window: window{start: at(9), end: at(11)}},
	}
	const ep = "claim"
	results := []result{
		req("", ep, 1, 1.1, 201, ""),
		req("", ep, 2.9, 3.1, 502, ""),    // in flight at the kill
		req("", ep, 4, 4.2, 503, ""),      // inside kill 1
		req("", ep, 4.5, 4.6, 0, "reset"), // transport error inside kill 1
		req("", ep, 10, 10.1, 503, ""),    // inside kill 2
		req("", ep, 10, 10.3, 504, ""),    // inside kill 2: tolerated only as a connect timeout
		req("", ep, 6, 6.1, 503, ""),      // between the windows: violation
		req("", ep, 6, 6.2, 504, ""),      // between the windows: violation either way
		req("", ep, 10, 10.2, 500, ""),    // a 500 is never tolerated
		req("", ep, 7, 7.1, 0, "timeout"), // transport error outside: violation
		req("", ep, 8, 8.1, 409, ""),
		req("", ep, 12, 12.1, 409, ""), // after the last window
		req("", ep, 12, 12.1, 429, ""), // misconfigured scenario: violation
	}
	a := analyzeKills(results, kills, at(0), true)
	if a.requests != int64(len(results)) || a.s2xx != 1 || a.s201 != 1 || a.s409 != 2 {
		t.Fatalf("counted %d requests, %d 2xx, %d 201, %d 409", a.requests, a.s2xx, a.s201, a.s409)
	}
	if got := a.perKill[0]; got != (killCount{s502: 1, s503: 1, transport: 1}) {
		t.Errorf("kill 1: %+v", got)
	}
	if got := a.perKill[1]; got != (killCount{s503: 1, s504: 1}) {
		t.Errorf("kill 2: %+v", got)
	}
	if a.s502In != 1 || a.s503In != 2 || a.s504In != 1 || a.errIn != 1 {
		t.Errorf("in windows: %d 502, %d 503, %d 504, %d transport", a.s502In, a.s503In, a.s504In, a.errIn)
	}
	if a.violationCount != 5 {
		t.Fatalf("%d violations, want 5: %v", a.violationCount, a.violations)
	}
	for _, want := range []string{"status 503 at +6.00s..+6.10s, outside every kill window (1.00s after kill 1's window closed)", "status 504 at +6.00s", "status 500 at +10.00s", "during kill 2", "transport error (timeout)", "status 429"} {
		if !strings.Contains(strings.Join(a.violations, "\n"), want) {
			t.Errorf("violations lack %q: %v", want, a.violations)
		}
	}
	if a.answeredAfterLastWindow != 1 {
		t.Errorf("%d answers after the last window, want 1", a.answeredAfterLastWindow)
	}
	var out strings.Builder
	writeKillTable(&out, a, kills, at(0))
	if !strings.Contains(out.String(), "app2") || !strings.Contains(out.String(), "all") {
		t.Errorf("table:\n%s", out.String())
	}

	// When nginx timed out reading an answer, an app hung on a request it had:
	// every 504 is a violation, inside a window too.
	strict := analyzeKills(results, kills, at(0), false)
	if strict.s504In != 0 || strict.violationCount != 6 || !strings.Contains(strings.Join(strict.violations, "\n"), "status 504 at +10.00s") {
		t.Errorf("read-timeout 504s: %d tolerated, %d violations: %v", strict.s504In, strict.violationCount, strict.violations)
	}
}
