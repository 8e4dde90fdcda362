//go:build stack

package stack

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	// The driver the apps' FASTDEAL_MYSQL_DSN is written for.
	_ "github.com/go-sql-driver/mysql"

	"github.com/fastdeal/fastdeal/test/load"
)

// The crash schedule: concert-spike at --speed 5 (docs/scenarios.md's five one-minute
// stages at 100..500/s become 60 s at 500..2,500/s: 90,000 claims, 10,000 seats), and ten
// SIGKILLs spread evenly over it.
const (
	crashSpeed = 5.0
	crashKills = 10
	// killSpan is the share of the planned run the kills are spread over: a restart
	// takes 2-8 s on a busy two-core machine, so a kill that comes late pushes the
	// next ones back, and the last must still meet the load.
	killSpan = 0.9
	// crashGrace keeps a kill window open after the restarted app answered /readyz:
	// a claim that met the dead or restarting app is still being retried by nginx for
	// up to proxy_next_upstream_timeout (3 s, infra/nginx/nginx.conf), and on a busy
	// machine the retried burst queues in the survivor, where a claim waits up to the
	// store timeout (2 s) before it answers 503.
	crashGrace = 3 * time.Second
	// restartDeadline bounds one kill-app + restart-app (READY_TIMEOUT_SECONDS is 60).
	restartDeadline = 90 * time.Second
	crashBudget     = 4 * time.Minute // the load, its audit and the kills
)

// TestAppsSIGKILLedUnderLoad is the crash test of the hardening issue: concert-spike at
// 5x through nginx while the apps are SIGKILLed ten times (alternating app1 and app2,
// each restarted at once with `infra/local/stack restart-app` and ready before the
// next kill). Nothing may be sold twice, every 201 a buyer saw must be in MySQL, the
// whole stock must be issued, and the only failures allowed are nginx's 502, the apps'
// 503, transport errors and nginx's 504 when it timed out connecting (the survivor's
// listen queue overflowed, so no app saw the request; a 504 from a read timeout, an
// app hanging on a request, always fails), each inside a kill window
// [kill, restarted app ready + grace].
//
// nginx retries a claim on the other app when the first one died under it, but only
// because the generator sends Idempotency-Key on every claim (nginx.conf routes such
// claims to the location with `proxy_next_upstream ... non_idempotent`): the retry
// joins or repeats the first attempt and cannot issue a second unit.
func TestAppsSIGKILLedUnderLoad(t *testing.T) {
	testStart := time.Now()
	st := newStack(t)
	st.downAtStart()
	t.Cleanup(st.down)
	st.up()

	token, jwtSecret := st.secrets()
	base := "http://127.0.0.1:" + st.env("NGINX_PORT")
	dsn := st.mysqlDSN()
	if code := readyz(base); code != http.StatusOK {
		t.Fatalf("/readyz through nginx answered %d right after up", code)
	}

	var col collector
	hook := col.hook(load.ConcertSpike)
	started := make(chan struct{})
	var once sync.Once
	var lastMu sync.Mutex
	var lastStarted time.Time // the last claim the generator sent
	cfg := load.Defaults(load.ConcertSpike)
	cfg.BaseURL, cfg.AdminToken, cfg.JWTSecret, cfg.MySQLDSN = base, token, jwtSecret, dsn
	cfg.Strategy = "redis, local stack, apps SIGKILLed"
	cfg.Speed = crashSpeed
	cfg.Timeout = loadTimeout
	cfg.OnResult = func(r load.Result) {
		once.Do(func() { close(started) })
		lastMu.Lock()
		if r.Started.After(lastStarted) {
			lastStarted = r.Started
		}
		lastMu.Unlock()
		hook(r)
	}
	var plan time.Duration
	for _, s := range cfg.Stages {
		plan += time.Duration(float64(s.Duration) / crashSpeed)
	}

	nginxLog := filepath.Join(st.dir, "logs", "nginx.log")
	logFrom := fileSize(nginxLog)
	appLogs := map[string]int64{}
	for _, n := range []string{"app1", "app2"} {
		p := filepath.Join(st.dir, "logs", n+".log")
		appLogs[p] = fileSize(p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), crashBudget)
	defer cancel()
	var rep *load.Report
	var runErr error
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		rep, runErr = load.Run(ctx, cfg)
	}()
	// The drop and the buyers' tokens are made before the first claim; the kills are
	// spaced over the claims, so they wait for the first answer.
	select {
	case <-started:
	case <-loadDone:
		t.Fatalf("the load ended before its first claim: %v", runErr)
	}
	t0 := time.Now()
	t.Logf("load started; %d kills over the planned %s", crashKills, plan)
	kills := st.killApps(ctx, t0, plan)
	<-loadDone
	lastMu.Lock()
	loadEnd := lastStarted
	lastMu.Unlock()

	connectTO, readTO := st.upstreamTimeouts(nginxLog, logFrom)
	var stale []string
	for p, from := range appLogs {
		stale = append(stale, st.grepFrom(p, from, "released stale holder")...)
	}
	an := analyzeKills(col.results(), kills, t0, readTO == 0)
	var table strings.Builder
	writeKillTable(&table, an, kills, t0)
	t.Logf("kill windows (times from the first claim; window = kill .. restarted app ready + %s):\n%s", crashGrace, table.String())
	t.Logf("claims: %d requests, %d 2xx (%d 201), %d 409, in windows %d 502 / %d 503 / %d 504 / %d transport errors; %d violations; last claim sent at %s",
		an.requests, an.s2xx, an.s201, an.s409, an.s502In, an.s503In, an.s504In, an.errIn, an.violationCount, offset(t0, loadEnd))
	t.Logf("nginx error log: %d upstream connect timeouts (an app's accept queue full), %d timeouts on a connection an app had accepted", connectTO, readTO)
	if rep != nil {
		s := rep.Sale
		t.Logf("sale: drop %s, stock %d, server issued %d, clients told issued %d, sold-out %d, seat-taken %d, undecided %d, unstarted %d, %.1fs wall",
			rep.Drop.ID, rep.Drop.Stock, s.Issued, s.ClientIssued, s.SoldOutAnswers, s.SeatTaken, s.Undecided, rep.Schedule.Unstarted, rep.WallSeconds)
		for _, c := range rep.Audit.Checks {
			mark := "ok  "
			if !c.Passed {
				mark = "FAIL"
				if superseded[c.Name] {
					mark = "n/a "
				}
			}
			t.Logf("  audit %s %s: %s", mark, c.Name, c.Detail)
		}
		if err := rep.WriteJSON(filepath.Join(st.dir, "logs", "stack-test-crash.json")); err != nil {
			t.Logf("write report: %v", err)
		}
	}

	failed := false
	fail := func(format string, args ...any) {
		failed = true
		t.Errorf(format, args...)
	}
	if len(kills) != crashKills {
		fail("only %d of %d kills ran", len(kills), crashKills)
	}
	for _, k := range kills {
		if k.err != nil {
			fail("kill %d (app%d): %v", k.n, k.app, k.err)
		}
		if k.window.start.After(loadEnd) {
			fail("kill %d came at %s, after the last claim was sent (%s): the restarts are too slow for the schedule",
				k.n, offset(t0, k.window.start), offset(t0, loadEnd))
		}
	}
	var ae *load.AuditError
	switch {
	case rep == nil:
		t.Fatalf("no report: %v", runErr)
	case runErr != nil && !errors.As(runErr, &ae):
		fail("load: %v", runErr)
	}
	if len(rep.Audit.Checks) == 0 {
		fail("the audit ran no checks")
	}
	for _, c := range rep.Audit.Checks {
		if !c.Passed && !superseded[c.Name] {
			fail("audit: %s: %s", c.Name, c.Detail)
		}
	}
	if rep.Schedule.Unstarted != 0 {
		fail("%d arrivals never started (the run hit its deadline)", rep.Schedule.Unstarted)
	}
	// 90,000 buyers for 10,000 seats, each seat asked for nine times: every seat goes.
	if rep.Sale.Issued != rep.Drop.Stock {
		fail("the sale did not complete: %d of %d issued", rep.Sale.Issued, rep.Drop.Stock)
	}
	// Each buyer claims once and the generator does not retry a 502/503, so exactly
	// the buyers whose claim failed inside a kill window are undecided.
	if want := an.s502In + an.s503In + an.s504In + an.errIn; int64(rep.Sale.Undecided) != want {
		fail("%d buyers never heard issued or sold out, want %d (the claims that failed in a kill window)", rep.Sale.Undecided, want)
	}
	if an.violationCount > 0 {
		fail("%d claims broke the rules, first: %s", an.violationCount, strings.Join(an.violations, "; "))
	}
	st.checkMySQL(ctx, fail, dsn, rep.Drop.ID, rep.Drop.Stock, an.s2xx)
	// A start-up reconcile reads Redis's holder records (HSCAN, not atomic) and then
	// MySQL, while the other app sells: a holder already released by then can show
	// up as "stale" although nothing is wrong. But a stale holder of the same buyer
	// and seat as the durable issuance means that buyer's first unit was given back
	// (Inventory.Release) although it was, or became, durable: the retry of their
	// claim took the seat again under a new id and was answered 503 or seat_taken
	// for a seat that is theirs. Seen when the ledger answered "not written" for a
	// batch whose INSERT the server committed after the writer's deadline.
	if own := st.ownStale(ctx, fail, dsn, rep.Drop.ID, stale); len(own) > 0 {
		fail("%d units were given back in Redis although the same buyer's issuance of that seat is durable (a claim answered 503/seat_taken to its owner); first: %s",
			len(own), own[0])
	}

	st.closeDrops(base, token, map[string]*load.Report{load.ConcertSpike: rep})
	if failed {
		st.logTails("app1", "app2", "nginx")
	}
	t.Logf("whole test took %.1fs", time.Since(testStart).Seconds())
}

// killApps SIGKILLs app1, app2, app1, ... crashKills times, evenly over the first
// killSpan of the plan (the k-th, from 0, at t0 + (k+1/2)*killSpan*plan/crashKills) or
// as soon as the previous restarted app is ready, whichever is later, and restarts
// each one at once. It stops at the first failure or when ctx ends, returning the
// windows so far.
func (s *stack) killApps(ctx context.Context, t0 time.Time, plan time.Duration) []killWindow {
	var out []killWindow
	step := float64(plan) * killSpan / crashKills
	for k := 0; k < crashKills; k++ {
		at := t0.Add(time.Duration((float64(k) + 0.5) * step))
		select {
		case <-time.After(time.Until(at)):
		case <-ctx.Done():
			return out
		}
		kw := killWindow{n: k + 1, app: k%2 + 1}
		app := fmt.Sprint(kw.app)
		kw.window.start = time.Now()
		func() {
			cctx, cancel := context.WithTimeout(ctx, restartDeadline)
			defer cancel()
			if o, err := s.runErr(cctx, "kill-app", app); err != nil {
				kw.err = fmt.Errorf("kill-app %s: %w\n%s", app, err, o)
				return
			}
			// restart-app finds no process to stop, starts app N and returns once the
			// app itself answers /readyz.
			if o, err := s.runErr(cctx, "restart-app", app); err != nil {
				kw.err = fmt.Errorf("restart-app %s: %w\n%s", app, err, o)
				return
			}
			kw.ready = time.Now()
		}()
		end := time.Now()
		if !kw.ready.IsZero() {
			end = kw.ready.Add(crashGrace)
		}
		kw.window.end = end
		s.t.Logf("%s kill %d: app%d SIGKILLed, ready again after %.1fs (err: %v)",
			offset(t0, kw.window.start), kw.n, kw.app, end.Sub(kw.window.start).Seconds()-crashGrace.Seconds(), kw.err)
		out = append(out, kw)
		if kw.err != nil {
			return out
		}
	}
	return out
}

// checkMySQL reads table issuances directly (not through the app or the load
// generator): no seat twice, no buyer twice (per_user_limit 1), every seat of the
// drop issued, and at least as many rows as the 2xx answers the buyers saw (a claim whose
// app died after the commit may have answered 502, so rows may exceed them; the audit
// matched every 201's issuance id, user and seat against these rows).
func (s *stack) checkMySQL(ctx context.Context, fail func(string, ...any), dsn, dropID string, stock int, seen2xx int64) {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		fail("mysql: %v", err)
		return
	}
	defer db.Close()
	var dupSeats []string
	rows, err := db.QueryContext(ctx,
		"SELECT seat, COUNT(*) FROM issuances WHERE drop_id = ? GROUP BY seat HAVING COUNT(*) > 1", dropID)
	if err != nil {
		fail("mysql: duplicate seats: %v", err)
		return
	}
	for rows.Next() {
		var seat sql.NullString
		var n int
		if err := rows.Scan(&seat, &n); err != nil {
			fail("mysql: %v", err)
			break
		}
		dupSeats = append(dupSeats, fmt.Sprintf("%s x%d", seat.String, n))
	}
	rows.Close()
	if len(dupSeats) > 0 {
		fail("mysql: %d seats issued more than once: %s", len(dupSeats), strings.Join(dupSeats[:min(len(dupSeats), 10)], ", "))
	}
	var total, users, seats, nullSeats int64
	if err := db.QueryRowContext(ctx,
		"SELECT COUNT(*), COUNT(DISTINCT user_id), COUNT(DISTINCT seat), SUM(seat IS NULL) FROM issuances WHERE drop_id = ?", dropID).
		Scan(&total, &users, &seats, &nullSeats); err != nil {
		fail("mysql: count issuances: %v", err)
		return
	}
	s.t.Logf("mysql: drop %s has %d issuances, %d distinct buyers, %d distinct seats; buyers saw %d 2xx", dropID, total, users, seats, seen2xx)
	switch {
	case total != int64(stock) || seats != int64(stock) || nullSeats != 0:
		fail("mysql: %d rows, %d distinct seats, %d without a seat; want all %d seats once", total, seats, nullSeats, stock)
	case users != total:
		fail("mysql: %d rows but %d distinct buyers: a buyer holds two units", total, users)
	case total < seen2xx:
		fail("mysql: %d rows but buyers saw %d 2xx", total, seen2xx)
	}
}

// upstreamTimeouts counts nginx's "upstream timed out" errors logged in path after
// offset from: connect timeouts (the request never reached an app: its listen queue
// was full) and the others (sending the request or reading the answer: an app had
// the request and did not answer in time).
func (s *stack) upstreamTimeouts(path string, from int64) (connect, other int) {
	f, err := os.Open(path)
	if err != nil {
		s.t.Errorf("read %s: %v", path, err)
		return 0, 1 // unknown: count every 504 as a violation
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		s.t.Errorf("seek %s: %v", path, err)
		return 0, 1
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "upstream timed out") {
			continue
		}
		if strings.Contains(line, "while connecting to upstream") {
			connect++
		} else {
			other++
		}
	}
	if err := sc.Err(); err != nil {
		s.t.Errorf("read %s: %v", path, err)
		return connect, other + 1
	}
	return connect, other
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// grepFrom returns the lines of path after offset from that contain substr.
func (s *stack) grepFrom(path string, from int64, substr string) []string {
	f, err := os.Open(path)
	if err != nil {
		s.t.Errorf("read %s: %v", path, err)
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		s.t.Errorf("seek %s: %v", path, err)
		return nil
	}
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		if strings.Contains(sc.Text(), substr) {
			out = append(out, sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		s.t.Errorf("read %s: %v", path, err)
	}
	return out
}

var staleHolderRE = regexp.MustCompile(`released stale holder (\S+) \(user (\S+), seat "([^"]*)"\)`)

// ownStale reads the reconcile log lines of dropID in lines and returns the stale
// holders whose seat MySQL records for the same buyer under another id.
func (s *stack) ownStale(ctx context.Context, fail func(string, ...any), dsn, dropID string, lines []string) []string {
	type holder struct{ id, user, seat string }
	var held []holder
	for _, line := range lines {
		var rec struct {
			Drop    string   `json:"drop"`
			Details []string `json:"details"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Drop != dropID {
			continue
		}
		for _, d := range rec.Details {
			if m := staleHolderRE.FindStringSubmatch(d); m != nil {
				held = append(held, holder{m[1], m[2], m[3]})
			}
		}
	}
	if len(held) == 0 {
		return nil
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		fail("mysql: %v", err)
		return nil
	}
	defer db.Close()
	var out []string
	for _, h := range held {
		var id, user string
		err := db.QueryRowContext(ctx, "SELECT id, user_id FROM issuances WHERE drop_id = ? AND seat = ?", dropID, h.seat).Scan(&id, &user)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			fail("mysql: owner of seat %s: %v", h.seat, err)
			return out
		}
		if user == h.user && id != h.id {
			out = append(out, fmt.Sprintf("seat %s: durable issuance %s of %s, holder %s of the same buyer released", h.seat, id, user, h.id))
		}
	}
	s.t.Logf("start-up reconciles released %d stale holders of this drop, %d of them the durable owner's own", len(held), len(out))
	return out
}
