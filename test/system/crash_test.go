package system

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestCrashKeepsEveryAnsweredClaim kills a real server with SIGKILL while 64
// buyers claim from a general and a seated drop, then reads MySQL directly:
// every claim answered 201 must be there as answered, and nothing may be
// there twice or beyond stock. A server restarted on the same stores must
// serve again and, after a reconcile, count what MySQL holds. Finally a
// SIGTERM mid-load must drain: every 201 of that burst is durable too.
func TestCrashKeepsEveryAnsweredClaim(t *testing.T) {
	for _, inv := range []string{"redis", "mysql"} {
		t.Run(inv, func(t *testing.T) { testCrash(t, inv) })
	}
}

func testCrash(t *testing.T, inventory string) {
	db := newDatabase(t)
	redisAddr := ""
	if inventory == "redis" {
		redisAddr = startRedis(t)
	}
	env := serverEnv(db.dsn(mysqlAddr), redisAddr, inventory)
	srv := startServer(t, "serve-"+inventory, env)

	gen := dropSpec{ID: "crash-gen", Stock: 5000, Limit: 2}
	seated := dropSpec{ID: "crash-seated", Seats: seatLabels("S", 1000)}
	srv.createDrop(t, gen)
	srv.createDrop(t, seated)
	specs := []dropSpec{gen, seated}

	load := newClaimLoad(srv,
		claimTarget{spec: gen, users: 4000, prefix: "g"},
		claimTarget{spec: seated, users: 3000, prefix: "s"})
	load.start(64)
	const wantIssued = 600
	began := time.Now()
	// Liveness, not speed: a loaded machine may take a while to sell 600.
	if !eventually(2*time.Minute, 10*time.Millisecond, func() bool { return load.issued.Load() >= wantIssued || !srv.running() }) {
		load.halt()
		srv.failf(t, "only %d claims answered 201 in 2m (want %d before the kill); outcomes: %s", load.issued.Load(), wantIssued, load.summary())
	}
	if !srv.running() {
		load.halt()
		srv.failf(t, "server exited under load (%v)", srv.err)
	}
	srv.kill(t)
	killedAt := time.Now()
	load.setPhase("after kill")
	load.halt()
	t.Logf("%s: SIGKILL after %s of load with %d answered 201; outcomes: %s",
		inventory, killedAt.Sub(began).Round(time.Millisecond), load.issued.Load(), load.summary())
	load.checkNoWrongAnswers(t, srv)

	for _, spec := range specs {
		rows := db.ledger(t, spec.ID)
		created, repeated := load.answeredFor(spec.ID)
		checkLedgerSound(t, rows, spec)
		checkAnsweredDurable(t, rows, created)
		checkAnsweredDurable(t, rows, repeated)
		load.checkAnswersConsistent(t, spec)
		t.Logf("%s: drop %s: %d answered 201, %d rows in MySQL after SIGKILL", inventory, spec.ID, len(created), len(rows))
	}
	if t.Failed() {
		return
	}

	// The same stores, a new process: start-up reconciles, then it must sell.
	restarted := startServer(t, "serve-"+inventory+"-restarted", env)
	for _, spec := range specs {
		rep := restarted.reconcile(t, spec.ID)
		t.Logf("%s: reconcile %s after restart: repaired %d %v", inventory, spec.ID, rep.Repaired, rep.Details)
		checkStatsAgree(t, restarted, db, spec)
	}
	fresh := claimFresh(t, restarted, db, gen, "after-restart")
	freshSeat := claimFresh(t, restarted, db, seated, "after-restart")
	for _, spec := range specs {
		checkStatsAgree(t, restarted, db, spec)
	}

	// A graceful stop under load must finish what it answered.
	burst := newClaimLoad(restarted,
		claimTarget{spec: gen, users: 4000, prefix: "g2"},
		claimTarget{spec: seated, users: 3000, prefix: "s2"})
	burst.start(32)
	before := burst.issued.Load()
	if !eventually(time.Minute, 10*time.Millisecond, func() bool { return burst.issued.Load() >= before+100 }) {
		burst.halt()
		restarted.failf(t, "restarted server answered only %d claims 201 in a minute; outcomes: %s", burst.issued.Load(), burst.summary())
	}
	took, err := restarted.terminate(t, 15*time.Second)
	burst.halt()
	if err != nil {
		restarted.errorf(t, "graceful stop after %s: %v", took, err)
	}
	t.Logf("%s: SIGTERM under load: exited in %s; burst outcomes: %s", inventory, took.Round(time.Millisecond), burst.summary())
	burst.checkNoWrongAnswers(t, restarted)
	for _, spec := range specs {
		rows := db.ledger(t, spec.ID)
		created, repeated := burst.answeredFor(spec.ID)
		checkLedgerSound(t, rows, spec)
		checkAnsweredDurable(t, rows, created)
		checkAnsweredDurable(t, rows, repeated)
		old, _ := load.answeredFor(spec.ID)
		checkAnsweredDurable(t, rows, old)
	}
	rows := db.ledger(t, gen.ID)
	checkAnsweredDurable(t, rows, []issuanceJSON{fresh})
	checkAnsweredDurable(t, db.ledger(t, seated.ID), []issuanceJSON{freshSeat})
}

// claimFresh claims as a buyer who never claimed before (and, in a seated
// drop, a seat MySQL does not hold) and insists on 201.
func claimFresh(t testing.TB, s *server, db *database, spec dropSpec, prefix string) issuanceJSON {
	t.Helper()
	seat := ""
	if spec.seated() {
		taken := map[string]bool{}
		for _, r := range db.ledger(t, spec.ID) {
			taken[r.Seat] = true
		}
		for _, l := range spec.Seats {
			if !taken[l] {
				seat = l
				break
			}
		}
		if seat == "" {
			t.Fatalf("drop %s has no free seat left to claim", spec.ID)
		}
	}
	user := fmt.Sprintf("%s-%s", prefix, randomSuffix())
	r, err := s.claim(spec.ID, user, seat)
	if err != nil {
		s.failf(t, "claim %s as %s: %v", spec.ID, user, err)
	}
	if r.status != http.StatusCreated {
		s.failf(t, "claim %s as fresh buyer %s seat %q: want 201, got %s", spec.ID, user, seat, r)
	}
	var a claimAnswer
	if err := r.decode(&a); err != nil {
		s.failf(t, "claim answer %s: %v", r, err)
	}
	return a.Issuance
}
