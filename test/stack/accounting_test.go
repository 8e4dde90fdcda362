package stack

// The accounting behind the chaos test in chaos_test.go (build tag `stack`): every
// measured request is placed on the wall clock against the chaos windows, so that a
// 5xx or a transport error is allowed only while the documented Redis failover
// window is open. This file has no build tag: its unit tests run with the ordinary
// `go test ./...` and start nothing.

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/fastdeal/fastdeal/test/load"
)

// result is one measured buyer request of one scenario.
type result struct {
	scenario string
	endpoint string
	started  time.Time
	ended    time.Time
	status   int
	errKind  string // "" when an HTTP answer came
}

func (r result) transportError() bool { return r.errKind != "" }
func (r result) is5xx() bool          { return r.errKind == "" && r.status >= 500 && r.status <= 599 }
func (r result) failed() bool         { return r.transportError() || r.is5xx() }

// collector gathers the results of every scenario through load.Config.OnResult.
type collector struct {
	mu  sync.Mutex
	all []result
}

// hook is the OnResult callback for one scenario's load.Config.
func (c *collector) hook(scenario string) func(load.Result) {
	return func(r load.Result) {
		res := result{scenario: scenario, endpoint: r.Endpoint, started: r.Started, ended: r.Ended, status: r.Status, errKind: r.ErrKind}
		if r.Err != nil && res.errKind == "" {
			res.errKind = "other"
		}
		c.mu.Lock()
		c.all = append(c.all, res)
		c.mu.Unlock()
	}
}

func (c *collector) results() []result {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]result(nil), c.all...)
}

// window is a wall-clock interval, both ends included.
type window struct {
	start, end time.Time
}

// overlaps says whether a request that was in flight from started to ended was in
// flight at any moment of the window.
func (w window) overlaps(started, ended time.Time) bool {
	return !ended.Before(w.start) && !started.After(w.end)
}

func (w window) duration() time.Duration { return w.end.Sub(w.start) }

// chaosAction is one fault the chaos goroutine injected and the wall-clock window
// from the moment it started until the stack had recovered.
type chaosAction struct {
	name   string
	window window
	detail string
	err    error
}

// failoverWindow is the documented Redis failover window (docs/operations.md, "The
// failover window"): from the moment the master is stopped, SENTINEL_DOWN_AFTER_MS
// until the Sentinels agree it is down, about one second of election and
// promotion, plus slack for the apps to follow the switch on a loaded machine.
func failoverWindow(stopped time.Time, downAfter, slack time.Duration) window {
	return window{start: stopped, end: stopped.Add(downAfter + time.Second + slack)}
}

// tally counts one scenario endpoint's requests by outcome.
type tally struct {
	scenario, endpoint string
	requests           int64
	s2xx, s409, s429   int64
	s4xx               int64 // 4xx other than 409 and 429
	sOther             int64 // 1xx, 3xx, anything not above and not 5xx
	s5xxIn, s5xxOut    int64 // inside / outside the allowed failover window
	errIn, errOut      int64 // transport errors inside / outside it
	answeredAfter      int64 // 2xx or 409 answers that ended after every chaos window closed
}

// windowCount is what happened during one chaos window.
type windowCount struct {
	action            chaosAction
	s5xx, transport   int64
	first5xx, last5xx time.Time
}

// analysis is the verdict over all results.
type analysis struct {
	tallies []tally
	windows []windowCount
	// violations lists, at most a few, the requests that broke the rules: a 5xx or
	// transport error outside the allowed window, a 4xx other than 409.
	violations     []string
	violationCount int
}

// analyze sorts every result into its tally and its chaos windows. allowed is the
// only window in which 5xx and transport errors are tolerated; quietAfter is when
// the last chaos window closed.
func analyze(results []result, actions []chaosAction, allowed window, t0 time.Time) analysis {
	var a analysis
	byKey := map[string]*tally{}
	var order []string
	quietAfter := t0
	for _, act := range actions {
		if act.window.end.After(quietAfter) {
			quietAfter = act.window.end
		}
		a.windows = append(a.windows, windowCount{action: act})
	}
	sorted := append([]result(nil), results...)
	sort.Slice(sorted, func(i, k int) bool { return sorted[i].ended.Before(sorted[k].ended) })
	for _, r := range sorted {
		key := r.scenario + "/" + r.endpoint
		tl := byKey[key]
		if tl == nil {
			tl = &tally{scenario: r.scenario, endpoint: r.endpoint}
			byKey[key] = tl
			order = append(order, key)
		}
		tl.requests++
		inAllowed := allowed.overlaps(r.started, r.ended)
		switch {
		case r.transportError():
			if inAllowed {
				tl.errIn++
			} else {
				tl.errOut++
				a.violate(fmt.Sprintf("%s %s: transport error (%s) at %s..%s, outside the failover window %s",
					r.scenario, r.endpoint, r.errKind, offset(t0, r.started), offset(t0, r.ended), span(t0, allowed)))
			}
		case r.is5xx():
			if inAllowed {
				tl.s5xxIn++
			} else {
				tl.s5xxOut++
				a.violate(fmt.Sprintf("%s %s: status %d at %s..%s, outside the failover window %s",
					r.scenario, r.endpoint, r.status, offset(t0, r.started), offset(t0, r.ended), span(t0, allowed)))
			}
		case r.status >= 200 && r.status <= 299:
			tl.s2xx++
		case r.status == 409:
			tl.s409++
		case r.status == 429:
			tl.s429++
			a.violate(fmt.Sprintf("%s %s: 429 at %s: the per-buyer rate limit was hit, the scenario is misconfigured",
				r.scenario, r.endpoint, offset(t0, r.ended)))
		case r.status >= 400 && r.status <= 499:
			tl.s4xx++
			a.violate(fmt.Sprintf("%s %s: status %d at %s", r.scenario, r.endpoint, r.status, offset(t0, r.ended)))
		default:
			tl.sOther++
			a.violate(fmt.Sprintf("%s %s: unexpected status %d at %s", r.scenario, r.endpoint, r.status, offset(t0, r.ended)))
		}
		if (r.status == 409 || r.status >= 200 && r.status <= 299) && r.errKind == "" && r.ended.After(quietAfter) {
			tl.answeredAfter++
		}
		if !r.failed() {
			continue
		}
		for i := range a.windows {
			w := &a.windows[i]
			if !w.action.window.overlaps(r.started, r.ended) {
				continue
			}
			if r.transportError() {
				w.transport++
				continue
			}
			w.s5xx++
			if w.first5xx.IsZero() {
				w.first5xx = r.ended
			}
			w.last5xx = r.ended
		}
	}
	for _, k := range order {
		a.tallies = append(a.tallies, *byKey[k])
	}
	return a
}

const maxViolationsShown = 10

func (a *analysis) violate(msg string) {
	a.violationCount++
	if len(a.violations) < maxViolationsShown {
		a.violations = append(a.violations, msg)
	}
}

// answeredAfterChaos sums, per scenario, the 2xx/409 answers after the last window.
func (a analysis) answeredAfterChaos(scenario string) int64 {
	var n int64
	for _, t := range a.tallies {
		if t.scenario == scenario {
			n += t.answeredAfter
		}
	}
	return n
}

// failedInWindow sums, per scenario, the 5xx and transport errors tolerated in
// the failover window.
func (a analysis) failedInWindow(scenario string) int64 {
	var n int64
	for _, t := range a.tallies {
		if t.scenario == scenario {
			n += t.s5xxIn + t.errIn
		}
	}
	return n
}

func offset(t0, t time.Time) string {
	return fmt.Sprintf("+%.2fs", t.Sub(t0).Seconds())
}

func span(t0 time.Time, w window) string {
	return fmt.Sprintf("[%s, %s]", offset(t0, w.start), offset(t0, w.end))
}

// writeSummary prints the per-endpoint and per-window tables. reports gives the
// latency percentiles the load generator measured (from each intended start).
func writeSummary(w io.Writer, a analysis, reports map[string]*load.Report, allowed window, t0 time.Time) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n==== stack chaos test summary (times from the start of the load, t0 = %s) ====\n", t0.Format("15:04:05.000"))
	fmt.Fprintf(&b, "allowed 5xx window (documented Redis failover): %s, %.1fs\n\n", span(t0, allowed), allowed.duration().Seconds())
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tendpoint\trequests\t2xx\t409\t429\t4xx\t5xx in window\t5xx outside\ttransport in\ttransport outside\tok after chaos\tp50 ms\tp99 ms\t")
	for _, t := range a.tallies {
		var p50, p99 float64
		if rep := reports[t.scenario]; rep != nil {
			if e, ok := rep.Endpoint(t.endpoint); ok {
				p50, p99 = e.Latency.P50Ms, e.Latency.P99Ms
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t\n",
			t.scenario, t.endpoint, t.requests, t.s2xx, t.s409, t.s429, t.s4xx+t.sOther,
			t.s5xxIn, t.s5xxOut, t.errIn, t.errOut, t.answeredAfter, p50, p99)
	}
	_ = tw.Flush()
	b.WriteString("\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "chaos action\twindow\tduration\t5xx\ttransport errors\t5xx first..last\tresult")
	for _, wc := range a.windows {
		act := wc.action
		spanText := "-"
		if !wc.first5xx.IsZero() {
			spanText = fmt.Sprintf("%s..%s (%.1fs)", offset(t0, wc.first5xx), offset(t0, wc.last5xx), wc.last5xx.Sub(wc.first5xx).Seconds())
		}
		res := act.detail
		if act.err != nil {
			res = "FAILED: " + act.err.Error()
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1fs\t%d\t%d\t%s\t%s\n", act.name, span(t0, act.window), act.window.duration().Seconds(),
			wc.s5xx, wc.transport, spanText, res)
	}
	_ = tw.Flush()
	for _, name := range sortedKeys(reports) {
		rep := reports[name]
		if rep == nil {
			continue
		}
		s := rep.Sale
		fmt.Fprintf(&b, "\n%s: drop %s, stock %d, server issued %d, clients told issued %d, sold-out answers %d, seat-taken %d, undecided %d, %d arrivals unstarted, %.1fs wall",
			name, rep.Drop.ID, rep.Drop.Stock, s.Issued, s.ClientIssued, s.SoldOutAnswers, s.SeatTaken, s.Undecided, rep.Schedule.Unstarted, rep.WallSeconds)
		if s.SellOutSeconds != nil {
			fmt.Fprintf(&b, ", sold out at %.1fs", *s.SellOutSeconds)
		}
		b.WriteString("\n")
		for _, c := range rep.Audit.Checks {
			mark := "ok  "
			if !c.Passed {
				mark = "FAIL"
				if superseded[c.Name] {
					mark = "n/a "
				}
			}
			fmt.Fprintf(&b, "  %s %s: %s\n", mark, c.Name, c.Detail)
		}
	}
	if a.violationCount > 0 {
		fmt.Fprintf(&b, "\n%d requests broke the rules; the first %d:\n", a.violationCount, len(a.violations))
		for _, v := range a.violations {
			fmt.Fprintf(&b, "  %s\n", v)
		}
	}
	_, _ = io.WriteString(w, b.String())
}

// superseded names the audit checks that count every non-2xx/409 answer as a
// failure. A Redis failover makes claims, joins and polls answer 503 for a few
// seconds by design (docs/operations.md), so the chaos test replaces these two
// checks with its own windowed rule (analyze) plus the unstarted-arrivals check.
// Every other audit check must pass.
var superseded = map[string]bool{
	"every request answered": true, // concert-spike
	"zero failed requests":   true, // coupon-rush
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
