package load

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dropIDs are the ids a run of n drops named runID asks for.
func dropIDs(runID string, n int) []string {
	ids := make([]string, n)
	for k := range ids {
		ids[k] = fmt.Sprintf("%s-d%02d", runID, k+1)
	}
	return ids
}

// checkDrops checks a passing multi-drop report: one line per drop, named as
// asked, each a whole single-drop sale that passed its own audit, and totals
// that add up. requestsPerDrop 0: a number that varies (polls).
func checkDrops(t *testing.T, f *fakeServer, rep *Report, runID string, n, stock int, requestsPerDrop int64) {
	t.Helper()
	if len(rep.Drops) != n || rep.RunID != runID || rep.Config.Drops != n || rep.AllDrops == nil {
		t.Fatalf("report has %d drops (run %q, config %d, totals %v), want %d of run %q", len(rep.Drops), rep.RunID, rep.Config.Drops, rep.AllDrops != nil, n, runID)
	}
	var requests int64
	for k, want := range dropIDs(runID, n) {
		d := rep.Drops[k]
		if d.Drop.ID != want {
			t.Errorf("drop %d is %q, want %q", k, d.Drop.ID, want)
		}
		if !d.Audit.Passed || len(d.Audit.Checks) < 8 {
			t.Errorf("drop %s: audit passed %v with %d checks: %v", d.Drop.ID, d.Audit.Passed, len(d.Audit.Checks), d.Audit.Failures())
		}
		if d.Issued != stock || d.Drop.Stock != stock {
			t.Errorf("drop %s issued %d of stock %d, want all %d", d.Drop.ID, d.Issued, d.Drop.Stock, stock)
		}
		countOK := d.Requests == requestsPerDrop || requestsPerDrop == 0 && d.Requests > 0
		if !countOK || d.Errors != 0 || d.Latency.P99Ms <= 0 {
			t.Errorf("drop %s: %d requests (%d errors, p99 %v), want %d", d.Drop.ID, d.Requests, d.Errors, d.Latency.P99Ms, requestsPerDrop)
		}
		// Each drop's buyers are its own: the server saw only their ids.
		f.mu.Lock()
		fd := f.drops[want]
		for _, is := range fd.issuances {
			if !strings.HasPrefix(is.UserID, fmt.Sprintf("d%02d-u", k+1)) {
				t.Errorf("drop %s issued to %s, a buyer of another drop", want, is.UserID)
			}
		}
		f.mu.Unlock()
		requests += d.Requests
	}
	if len(f.drops) != n {
		t.Errorf("the server has %d drops, want %d", len(f.drops), n)
	}
	if !rep.Audit.Passed || len(rep.Audit.Checks) != n || rep.Sale.Issued != n*stock || rep.Drop.Stock != n*stock {
		t.Errorf("run: audit %v with %d checks, issued %d of %d, want %d", rep.Audit.Passed, len(rep.Audit.Checks), rep.Sale.Issued, rep.Drop.Stock, n*stock)
	}
	var endpoints int64
	for _, e := range rep.Endpoints {
		endpoints += e.Count
	}
	if endpoints != requests || rep.AllDrops.Requests != requests {
		t.Errorf("endpoints count %d requests, the drops %d, the total line %d", endpoints, requests, rep.AllDrops.Requests)
	}
}

func TestConcertSpikeManyDrops(t *testing.T) {
	f, srv := newFake(t)
	cfg := smallConcert(srv.URL)
	cfg.Drops, cfg.RunID = 5, "cs-run"
	rep, err := Run(runCtx(t), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	// Each drop plays the whole schedule: 300 claims for 40 seats.
	checkDrops(t, f, rep, "cs-run", 5, 40, 300)
	if rep.Schedule.Planned != 5*300 || rep.Schedule.Unstarted != 0 {
		t.Errorf("schedule %+v, want 1500 arrivals all started", rep.Schedule)
	}
	var b strings.Builder
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"5 drops cs-run-d01..cs-run-d05", "stock 40 each, 200 in all", "drop  ", "p99 ms",
		"cs-run-d03", "total", "5 of 5 drops passed", "audit PASSED (5 of 5 drops passed"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestCouponRushManyDrops(t *testing.T) {
	f, srv := newFake(t)
	cfg := smallCoupon(srv.URL)
	cfg.Drops, cfg.RunID = 5, "cr-run"
	rep, err := Run(runCtx(t), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	// Requests per drop are one join per user plus however many polls.
	checkDrops(t, f, rep, "cr-run", 5, 30, 0)
	for _, d := range rep.Drops {
		if d.Requests <= 120 {
			t.Errorf("drop %s made %d requests, want 120 joins and some polls", d.Drop.ID, d.Requests)
		}
		fifo := false
		for _, c := range d.Audit.Checks {
			fifo = fifo || strings.HasPrefix(c.Name, "FIFO") && c.Passed
		}
		if !fifo {
			t.Errorf("drop %s was not checked for FIFO: %+v", d.Drop.ID, d.Audit.Checks)
		}
	}
	cr := rep.CouponRush
	// The status polls of every drop add up; how many wait at a sample depends
	// on the machine's pace, so it is not asserted.
	if cr == nil || cr.StatusPolls != rep.AllDrops.Requests-5*120 || cr.SampleSeconds <= 0 {
		t.Fatalf("coupon-rush totals: %+v", cr)
	}
}

func TestCouponRushManyDropsWithPrequeue(t *testing.T) {
	f, srv := newFake(t)
	cfg := prequeueCoupon(srv.URL)
	cfg.Drops, cfg.RunID = 3, "pq-run"
	rep, err := Run(runCtx(t), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkDrops(t, f, rep, "pq-run", 3, cfg.Stock, 0)
	for _, d := range rep.Drops {
		names := ""
		for _, c := range d.Audit.Checks {
			names += c.Name + "|"
		}
		if !strings.Contains(names, "pre-queue ahead") || !strings.Contains(names, "pre-queue shuffled") {
			t.Errorf("drop %s was not audited as a pre-queue: %s", d.Drop.ID, names)
		}
	}
}

// TestManyDropsOneFailedAudit plants a fault in one drop of five: that drop,
// and only that one, fails its audit, with the failing checks named; the run
// fails, and the command exits non-zero with the drop's row marked.
func TestManyDropsOneFailedAudit(t *testing.T) {
	f, srv := newFake(t)
	f.hideFirstIn = "bad-run-d04"
	cfg := smallConcert(srv.URL)
	cfg.Drops, cfg.RunID = 5, "bad-run"
	rep, err := Run(runCtx(t), cfg)
	var ae *AuditError
	if !errors.As(err, &ae) {
		t.Fatalf("want an audit error, got %v", err)
	}
	if len(ae.Failures) == 0 {
		t.Fatal("the audit error names no failure")
	}
	for _, msg := range ae.Failures {
		if !strings.HasPrefix(msg, "drop bad-run-d04: ") {
			t.Errorf("failure %q is not drop d04's", msg)
		}
	}
	if rep == nil || rep.Audit.Passed || len(rep.Drops) != 5 {
		t.Fatalf("report: %+v", rep)
	}
	for _, d := range rep.Drops {
		bad := d.Drop.ID == "bad-run-d04"
		if d.Audit.Passed == bad {
			t.Errorf("drop %s: audit passed %v", d.Drop.ID, d.Audit.Passed)
		}
		if bad && !strings.Contains(strings.Join(d.FailedChecks(), ";"), "server: every issued answer present") {
			t.Errorf("drop %s failed %v, want the presence check among them", d.Drop.ID, d.FailedChecks())
		}
	}

	// The same through the command: exit non-zero, the row and the check say why.
	dir := t.TempDir()
	htmlPath := filepath.Join(dir, "r.html")
	bad := &fakeServer{drops: map[string]*fakeDrop{}, hideFirstIn: "cmd-run-d02"}
	out, _, err := runCommand(t, fakeEmbedServer(t, bad), "concert-spike", "--embedded", "--drops", "3", "--run-id", "cmd-run",
		"--stock", "20", "--stages", "1s:100", "--speed", "4", "--no-progress", "--html", htmlPath)
	if err == nil || !strings.Contains(err.Error(), "drop cmd-run-d02: ") {
		t.Fatalf("want the command to fail naming drop d02, got %v\n%s", err, out)
	}
	var row string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "cmd-run-d02 ") {
			row = line
		} else if strings.HasPrefix(line, "cmd-run-d0") && !strings.HasSuffix(line, "passed") {
			t.Errorf("another drop's row is not passed: %q", line)
		}
	}
	if !strings.Contains(row, "FAILED: ") || !strings.Contains(row, "every issued answer present") {
		t.Errorf("drop d02's row does not name the failed check: %q\n%s", row, out)
	}
	for _, want := range []string{"audit FAILED (2 of 3 drops passed", "FAIL drop cmd-run-d02: "} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	page, err := os.ReadFile(htmlPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<h2>Drops</h2>", "cmd-run-d02", "2 of 3 drops passed", "3 drops of run cmd-run"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("HTML page lacks %q", want)
		}
	}
}

// fakeEmbedServer serves fs as the --embedded server.
func fakeEmbedServer(t *testing.T, fs *fakeServer) EmbedFunc {
	return func(_ context.Context, _ string) (string, string, func(context.Context) error, error) {
		fs.token = "tok"
		srv := httptest.NewServer(fs.handler())
		t.Cleanup(srv.Close)
		return srv.URL, fs.token, func(context.Context) error { srv.Close(); return nil }, nil
	}
}

func TestDropsFlagChecks(t *testing.T) {
	for _, args := range [][]string{
		{"line-flood", "--drops", "2"},
		{"concert-spike", "--drops", "0"},
		{"concert-spike", "--drops", "1001"},
		{"coupon-rush", "--drops", "2", "--run-id", "no spaces"},
	} {
		_, _, err := runCommand(t, nil, append(args, "--no-progress", "--target", "http://127.0.0.1:1")...)
		if err == nil || !strings.Contains(err.Error(), "drops") && !strings.Contains(err.Error(), "run id") {
			t.Errorf("%v: want a usage error, got %v", args, err)
		}
	}
	// A drop id taken on the server stops the run before any buyer comes.
	f, srv := newFake(t)
	cfg := smallConcert(srv.URL)
	cfg.Drops, cfg.RunID = 2, "twice"
	if _, err := Run(runCtx(t), cfg); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	claims := f.claims
	f.mu.Unlock()
	if _, err := Run(runCtx(t), cfg); err == nil || !strings.Contains(err.Error(), "drop_exists") {
		t.Fatalf("want drop_exists, got %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.claims != claims {
		t.Errorf("%d claims sent after the setup failed", f.claims-claims)
	}
}

// TestDropOf: every offset's n arrivals go to n different drops, each drop
// gets arrival j of its own schedule at offset j, and the unstarted count of
// a stopped run agrees with the arrivals that were left.
func TestDropOf(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7} {
		const groups = 5
		seen := map[[2]int]bool{}
		first := map[int]int{}
		for i := range groups * n {
			k, j := dropOf(i, n), i/n
			if k < 0 || k >= n || seen[[2]int{k, j}] {
				t.Fatalf("n=%d: arrival %d gives drop %d arrival %d twice or out of range", n, i, k, j)
			}
			seen[[2]int{k, j}] = true
			if i%n == 0 {
				first[k]++
			}
		}
		if n > 1 && len(first) < min(n, groups) {
			t.Errorf("n=%d: the first turn always goes to the same drops: %v", n, first)
		}
		for next := 0; next <= groups*n; next++ {
			total := 0
			for k := range n {
				want := 0
				for i := next; i < groups*n; i++ {
					if dropOf(i, n) == k {
						want++
					}
				}
				got := unstartedOf(next, groups, n, k)
				if got != want {
					t.Fatalf("n=%d next=%d drop %d: unstarted %d, want %d", n, next, k, got, want)
				}
				total += got
			}
			if total != groups*n-next {
				t.Fatalf("n=%d next=%d: unstarted adds up to %d, want %d", n, next, total, groups*n-next)
			}
		}
	}
}
