package system

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRedisFlushMidSale empties the server's Redis with FLUSHALL and then has
// buyers claim from a general and a seated drop until both sell out. The
// server must rebuild each drop from MySQL on first touch; answers right
// after the flush may be 503, but no 201 may be lost, no unit sold twice and
// no drop sold beyond its stock, which selling out makes observable. After a
// reconcile the live counts must equal the durable ones.
//
// "mid-sale" flushes five times while 48 buyers claim, so claims are caught
// between Redis and MySQL; a 50ms cap on how long a group-commit batch
// gathers while another commits (a legal setting) keeps more of them there
// when commits are slow. "idle, then a rush" flushes
// with nothing in flight, when more than a thousand units are sold and a
// few are left, and lets the crowd in at once: claims that meet the rebuild
// while it runs must not get units the ledger already gave away.
func TestRedisFlushMidSale(t *testing.T) {
	t.Run("mid-sale", func(t *testing.T) {
		testFlush(t, flushCase{genStock: 1500, seats: 800, flushAt: []int{200, 400, 600, 800, 1000}, batchWait: "50ms"})
	})
	t.Run("idle, then a rush", func(t *testing.T) {
		testFlush(t, flushCase{genStock: 1500, seats: 800, flushAt: []int{1450}, idle: true})
	})
}

type flushCase struct {
	genStock, seats int
	// flushAt lists how many units of the general drop are sold at each flush.
	flushAt []int
	// idle stops all claims before a flush and starts them after it.
	idle      bool
	batchWait string
}

func testFlush(t *testing.T, c flushCase) {
	db := newDatabase(t)
	redisAddr := startRedis(t)
	env := serverEnv(db.dsn(mysqlAddr), redisAddr, "redis")
	if c.batchWait != "" {
		env["FASTDEAL_BATCH_WAIT"] = c.batchWait
	}
	srv := startServer(t, "serve-flush", env)

	gen := dropSpec{ID: "flush-gen", Stock: c.genStock, Limit: 2}
	seated := dropSpec{ID: "flush-seated", Seats: seatLabels("S", c.seats)}
	srv.createDrop(t, gen)
	srv.createDrop(t, seated)
	specs := []dropSpec{gen, seated}

	load := newClaimLoad(srv,
		claimTarget{spec: gen, users: c.genStock, prefix: "g"},
		claimTarget{spec: seated, users: 3 * c.seats, prefix: "s"})
	load.start(48)
	var flushedAt time.Time
	for k, at := range c.flushAt {
		// Liveness, not speed: generous for a loaded machine.
		if !eventually(3*time.Minute, 20*time.Millisecond, func() bool { return srv.stats(t, gen.ID).Issued >= int64(at) }) {
			load.halt()
			srv.failf(t, "general drop did not reach %d issued in 3m; outcomes: %s", at, load.summary())
		}
		if c.idle {
			load.halt()
		}
		answered := load.issued.Load()
		if reply, err := redisDo(redisAddr, "FLUSHALL"); err != nil || reply != "OK" {
			load.halt()
			t.Fatalf("FLUSHALL on the test's own redis-server %s: %q %v", redisAddr, reply, err)
		}
		flushedAt = time.Now()
		load.setPhase(fmt.Sprintf("after flush %d", k+1))
		if c.idle {
			// The crowd itself is the first touch: its claims meet the
			// rebuild while it runs.
			load.start(48)
		} else {
			// A buyer looking at a drop is a first touch that rebuilds it
			// from MySQL; doing it at once, while claims taken before the
			// flush still wait for their group commit, is the moment the
			// rebuild must get right.
			for _, spec := range specs {
				if r, err := srv.get("/v1/drops/" + spec.ID); err != nil || r.status != http.StatusOK {
					t.Logf("GET /v1/drops/%s right after flush %d: %v %v", spec.ID, k+1, r, err)
				}
			}
		}
		t.Logf("flush %d: FLUSHALL with %d claims answered 201 so far", k+1, answered)
	}

	// Run until both drops sell out, which is what makes an oversell visible,
	// or until nothing sells any more: a unit Redis believes free but MySQL
	// holds cannot be sold, and stays so until a reconcile.
	lastIssued, lastProgress := load.issued.Load(), time.Now()
	soldOut, stalled := false, false
	if !eventually(3*time.Minute, 100*time.Millisecond, func() bool {
		if n := load.issued.Load(); n != lastIssued {
			lastIssued, lastProgress = n, time.Now()
		}
		soldOut = true
		for _, spec := range specs {
			if srv.stats(t, spec.ID).Remaining > 0 {
				soldOut = false
			}
		}
		stalled = time.Since(lastProgress) > 3*time.Second
		return soldOut || stalled
	}) {
		load.halt()
		srv.failf(t, "drops neither sold out nor stalled 3m after the flush; outcomes: %s", load.summary())
	}
	// Claims against sold-out drops must not find a unit anywhere either.
	time.Sleep(300 * time.Millisecond)
	load.halt()
	t.Logf("last flush %s ago; sold out: %v; outcomes: %s", time.Since(flushedAt).Round(time.Millisecond), soldOut, load.summary())
	for _, spec := range specs {
		st := srv.stats(t, spec.ID)
		t.Logf("drop %s before reconcile: issued=%d persisted=%d remaining=%d", spec.ID, st.Issued, st.Persisted, st.Remaining)
	}
	for k := range c.flushAt {
		after := load.phaseOutcomes(fmt.Sprintf("after flush %d", k+1))
		if n := after["503 unavailable"]; n > 0 {
			t.Logf("%d claims answered 503 after flush %d (allowed while the drop is rebuilt)", n, k+1)
		}
		for o, n := range after {
			if strings.HasPrefix(o, "5") && o != "503 unavailable" {
				srv.errorf(t, "%d claims after flush %d answered %s", n, k+1, o)
			}
		}
	}
	load.checkNoWrongAnswers(t, srv)

	for _, spec := range specs {
		rep := srv.reconcile(t, spec.ID)
		t.Logf("reconcile %s after the flush: repaired %d %v", spec.ID, rep.Repaired, rep.Details)
	}
	for _, spec := range specs {
		rows := db.ledger(t, spec.ID)
		created, repeated := load.answeredFor(spec.ID)
		checkLedgerSound(t, rows, spec)
		checkAnsweredDurable(t, rows, created)
		checkAnsweredDurable(t, rows, repeated)
		load.checkAnswersConsistent(t, spec)
		checkStatsAgree(t, srv, db, spec)
		t.Logf("drop %s: %d answered 201, %d in MySQL, stock %d", spec.ID, len(created), len(rows), spec.capacity())
	}
	// A second reconcile finds nothing: the first left the stores agreeing.
	for _, spec := range specs {
		if rep := srv.reconcile(t, spec.ID); rep.Repaired != 0 {
			srv.errorf(t, "second reconcile of %s still repaired %d: %v", spec.ID, rep.Repaired, rep.Details)
		}
	}
}
