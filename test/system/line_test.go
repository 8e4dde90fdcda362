package system

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const lineLeaseTTL = 2 * time.Second

// TestTwoInstancesShareOneLine runs two servers on one Redis and one MySQL
// database. Buyers join a queued general drop through both in turn; the line
// must be admitted exactly once, in join order wherever that order is
// certain, stock exactly sold and everyone else told sold_out. Then the
// instance admitting a second drop is killed mid-admission: the other must
// take over within the lease time plus a margin and finish the line, with
// nobody issued twice.
func TestTwoInstancesShareOneLine(t *testing.T) {
	db := newDatabase(t)
	redisAddr := startRedis(t)
	envA := serverEnv(db.dsn(mysqlAddr), redisAddr, "redis")
	envA["FASTDEAL_LEASE_TTL"] = lineLeaseTTL.String()
	envA["FASTDEAL_INSTANCE_ID"] = "sys-a"
	envB := serverEnv(db.dsn(mysqlAddr), redisAddr, "redis")
	envB["FASTDEAL_LEASE_TTL"] = lineLeaseTTL.String()
	envB["FASTDEAL_INSTANCE_ID"] = "sys-b"
	// leaseHeld reads each instance's metrics, which only its admin listener serves.
	for _, env := range []map[string]string{envA, envB} {
		env["FASTDEAL_ADMIN_ADDR"] = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	}
	a := startServer(t, "serve-a", envA)
	b := startServer(t, "serve-b", envB)
	both := []*server{a, b}

	t.Run("admitted once in order", func(t *testing.T) {
		spec := dropSpec{ID: "line-one", Stock: 300, Admission: "queued", AdmitRate: 100}
		a.createDrop(t, spec)
		joins := joinLine(t, both, spec.ID, "one", 600)
		decided := awaitDecisions(t, both, spec.ID, joins, 2*time.Minute)
		checkLineOutcome(t, a, db, spec, joins, decided)
	})
	if t.Failed() {
		return
	}

	t.Run("takeover after SIGKILL", func(t *testing.T) {
		spec := dropSpec{ID: "line-two", Stock: 200, Admission: "queued", AdmitRate: 40}
		a.createDrop(t, spec)
		joins := joinLine(t, both, spec.ID, "two", 300)

		// Kill whichever instance admits, once it is well into the line.
		var holder *server
		if !eventually(60*time.Second, 50*time.Millisecond, func() bool {
			if a.stats(t, spec.ID).Issued < 40 {
				return false
			}
			for _, s := range both {
				if leaseHeld(s, spec.ID) {
					holder = s
					return true
				}
			}
			return false
		}) {
			a.failf(t, "no instance reported holding the lease of %s with 40 issued within 60s (issued %d)",
				spec.ID, a.stats(t, spec.ID).Issued)
		}
		survivor := a
		if holder == a {
			survivor = b
		}
		holder.kill(t)
		killedAt := time.Now()
		atKill := survivor.stats(t, spec.ID).Issued

		// The takeover is judged by the last poll that still saw nothing: it
		// was sent at noneSince, so the survivor had not admitted anyone by
		// then, however long its answer (or the next poll) took on a busy
		// machine. seenBy is when the answer that saw it came back.
		var noneSince, seenBy time.Time
		noneSince = killedAt
		if !eventually(lineLeaseTTL+60*time.Second, 20*time.Millisecond, func() bool {
			sent := time.Now()
			if survivor.stats(t, spec.ID).Issued > atKill {
				seenBy = time.Now()
				return true
			}
			noneSince = sent
			return false
		}) {
			survivor.failf(t, "%s did not admit anyone within %s after %s (holding the lease) was killed with %d issued",
				survivor.name, lineLeaseTTL+60*time.Second, holder.name, atKill)
		}
		takeover := noneSince.Sub(killedAt)
		// The slack covers the survivor's acquire retry and first admission
		// tick after the lease ends.
		if limit := lineLeaseTTL + 3*time.Second; takeover > limit {
			survivor.errorf(t, "%s still had not admitted anyone %s after SIGKILL; want <= lease TTL %s + 3s", survivor.name, takeover, lineLeaseTTL)
		}
		t.Logf("takeover between %s and %s after the kill", takeover.Round(time.Millisecond), seenBy.Sub(killedAt).Round(time.Millisecond))
		left := time.Duration(float64(spec.Stock-int(atKill))/float64(spec.AdmitRate)*float64(time.Second)) + lineLeaseTTL
		// Liveness, not speed: the survivor admits at the drop's rate once it
		// runs, and a loaded machine may be slow to run it.
		finishLimit := 2*left + 60*time.Second
		var finished time.Duration
		if !eventually(finishLimit, 50*time.Millisecond, func() bool {
			if survivor.stats(t, spec.ID).Issued >= int64(spec.Stock) {
				finished = time.Since(killedAt)
				return true
			}
			return false
		}) {
			survivor.failf(t, "%s did not finish admitting %s within %s of the kill (issued %d of %d)",
				survivor.name, spec.ID, finishLimit, survivor.stats(t, spec.ID).Issued, spec.Stock)
		}
		t.Logf("killed %s (lease holder) with %d of %d issued; %s admitted again after %s and sold out %s after the kill (ideal %s)",
			holder.name, atKill, spec.Stock, survivor.name, takeover.Round(time.Millisecond),
			finished.Round(time.Millisecond), left.Round(time.Millisecond))
		decided := awaitDecisions(t, []*server{survivor}, spec.ID, joins, 2*time.Minute)
		checkLineOutcome(t, survivor, db, spec, joins, decided)
	})
}

// leaseHeld reads an instance's own report of holding a drop's admission
// lease from /metrics on its admin listener (the API listener has none).
func leaseHeld(s *server, dropID string) bool {
	res, err := httpClient.Get("http://" + s.env["FASTDEAL_ADMIN_ADDR"] + "/metrics")
	if err != nil {
		return false
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		return false
	}
	return strings.Contains(string(body), `fastdeal_dispatch_lease_held{drop="`+dropID+`"} 1`)
}

// joinRec is one buyer's join: when it was sent and when its answer arrived,
// on the test's monotonic clock.
type joinRec struct {
	user     string
	sent     time.Time
	answered time.Time
	status   string
}

// joinLine joins n new buyers through the given instances in turn, eight at
// a time, and fails on any answer but waiting (or sold_out, which a drop that
// sold out meanwhile rightly gives).
func joinLine(t *testing.T, srvs []*server, dropID, prefix string, n int) []joinRec {
	t.Helper()
	recs := make([]joinRec, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var wrong []string
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				s := srvs[i%len(srvs)]
				user := fmt.Sprintf("%s-%d", prefix, i)
				sent := time.Now()
				r, err := s.call(http.MethodPost, "/v1/drops/"+dropID+"/line", user, false, nil)
				answered := time.Now()
				var body struct {
					Status   string `json:"status"`
					Position int64  `json:"position"`
				}
				ok := err == nil && r.decode(&body) == nil &&
					((r.status == http.StatusAccepted && body.Status == "waiting" && body.Position >= 1) ||
						(r.status == http.StatusOK && body.Status == "sold_out"))
				if !ok {
					mu.Lock()
					wrong = append(wrong, fmt.Sprintf("join %s as %s via %s: %v %v", dropID, user, s.name, r, err))
					mu.Unlock()
				}
				recs[i] = joinRec{user: user, sent: sent, answered: answered, status: body.Status}
			}
		}()
	}
	wg.Wait()
	if len(wrong) > 0 {
		srvs[0].failf(t, "%d joins answered wrongly, e.g.:\n%s", len(wrong), strings.Join(wrong[:min(len(wrong), 5)], "\n"))
	}
	return recs
}

// decision is a buyer's final standing: issued (with the issuance id) or sold_out.
type decision struct {
	status     string
	issuanceID string
}

// awaitDecisions polls every buyer's standing through the instances in turn
// until each is issued or sold_out.
func awaitDecisions(t *testing.T, srvs []*server, dropID string, joins []joinRec, limit time.Duration) map[string]decision {
	t.Helper()
	decided := map[string]decision{}
	var mu sync.Mutex
	var wrong []string
	deadline := time.Now().Add(limit)
	for round := 0; ; round++ {
		var pending []int
		for i, j := range joins {
			if _, ok := decided[j.user]; !ok {
				pending = append(pending, i)
			}
		}
		if len(pending) == 0 {
			return decided
		}
		if time.Now().After(deadline) {
			srvs[0].failf(t, "%d of %d buyers of %s still undecided after %s (e.g. %s)",
				len(pending), len(joins), dropID, limit, joins[pending[0]].user)
		}
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					k := int(next.Add(1) - 1)
					if k >= len(pending) {
						return
					}
					i := pending[k]
					s := srvs[(i+round)%len(srvs)]
					user := joins[i].user
					r, err := s.call(http.MethodGet, "/v1/drops/"+dropID+"/line/me", user, false, nil)
					var v struct {
						Status   string       `json:"status"`
						Issuance issuanceJSON `json:"issuance"`
					}
					if err != nil || r.status != http.StatusOK || r.decode(&v) != nil {
						mu.Lock()
						wrong = append(wrong, fmt.Sprintf("line/me of %s via %s: %v %v", user, s.name, r, err))
						mu.Unlock()
						continue
					}
					switch v.Status {
					case "waiting":
					case "issued":
						if v.Issuance.ID == "" || v.Issuance.UserID != user || v.Issuance.DropID != dropID {
							mu.Lock()
							wrong = append(wrong, fmt.Sprintf("line/me of %s: issued with a wrong issuance: %s", user, r))
							mu.Unlock()
						}
						mu.Lock()
						decided[user] = decision{status: "issued", issuanceID: v.Issuance.ID}
						mu.Unlock()
					case "sold_out":
						mu.Lock()
						decided[user] = decision{status: "sold_out"}
						mu.Unlock()
					default:
						mu.Lock()
						wrong = append(wrong, fmt.Sprintf("line/me of %s via %s: unexpected %s", user, s.name, r))
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		if len(wrong) > 0 {
			srvs[0].failf(t, "%d wrong line answers, e.g.:\n%s", len(wrong), strings.Join(wrong[:min(len(wrong), 5)], "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkLineOutcome checks a sold-out queued drop against its joins: stock
// exactly issued, each buyer at most once, standings that match the ledger,
// and admission in join order wherever one join was answered before another
// was sent.
func checkLineOutcome(t *testing.T, s *server, db *database, spec dropSpec, joins []joinRec, decided map[string]decision) {
	t.Helper()
	list := s.issuances(t, spec.ID)
	rows := db.ledger(t, spec.ID)
	checkLedgerSound(t, rows, spec)
	if len(list) != spec.Stock || len(rows) != spec.Stock {
		s.errorf(t, "drop %s: %d issuances listed, %d in MySQL; want exactly the stock %d", spec.ID, len(list), len(rows), spec.Stock)
	}
	inMySQL := map[string]ledgerRow{}
	for _, r := range rows {
		inMySQL[r.ID] = r
	}
	place := map[string]int{}
	for i, iss := range list {
		if _, dup := place[iss.UserID]; dup {
			t.Errorf("drop %s: %s issued twice", spec.ID, iss.UserID)
		}
		place[iss.UserID] = i
		if r, ok := inMySQL[iss.ID]; !ok || r.UserID != iss.UserID {
			t.Errorf("drop %s: listed issuance %s of %s is not in MySQL as such", spec.ID, iss.ID, iss.UserID)
		}
		if i > 0 && iss.IssuedAt.Before(list[i-1].IssuedAt) {
			t.Errorf("drop %s: issuance list not in issue order at %d (%s before %s)", spec.ID, i, iss.IssuedAt, list[i-1].IssuedAt)
		}
	}
	byID := map[string]issuanceJSON{}
	for _, iss := range list {
		byID[iss.ID] = iss
	}
	joined := map[string]bool{}
	for _, j := range joins {
		joined[j.user] = true
		d := decided[j.user]
		_, issued := place[j.user]
		switch {
		case d.status == "issued" && !issued:
			t.Errorf("drop %s: %s told issued (%s) but holds nothing in the ledger", spec.ID, j.user, d.issuanceID)
		case d.status == "issued" && byID[d.issuanceID].UserID != j.user:
			t.Errorf("drop %s: %s told issuance %s, which the ledger does not give them", spec.ID, j.user, d.issuanceID)
		case d.status == "sold_out" && issued:
			t.Errorf("drop %s: %s told sold_out but holds issuance %s", spec.ID, j.user, list[place[j.user]].ID)
		}
	}
	for u := range place {
		if !joined[u] {
			t.Errorf("drop %s: %s was issued without joining", spec.ID, u)
		}
	}

	// u joined certainly before v (u's join answered before v's was sent):
	// if v got a unit, u must have got one earlier.
	var violations []string
	certain, bad := 0, 0
	for _, v := range joins {
		pv, vIssued := place[v.user]
		if !vIssued {
			continue
		}
		for _, u := range joins {
			if !u.answered.Before(v.sent) {
				continue
			}
			certain++
			pu, uIssued := place[u.user]
			if !uIssued || pu > pv {
				bad++
				if len(violations) < 5 {
					violations = append(violations, fmt.Sprintf("%s (joined first; %s) vs %s (place %d)",
						u.user, placeString(pu, uIssued), v.user, pv))
				}
			}
		}
	}
	if len(violations) > 0 {
		t.Errorf("drop %s: %d of %d certainly ordered pairs admitted out of join order, e.g.:\n%s",
			spec.ID, bad, certain, strings.Join(violations, "\n"))
	}
	st := s.stats(t, spec.ID)
	if st.Issued != int64(spec.Stock) || st.Persisted != int64(spec.Stock) || st.Remaining != 0 {
		s.errorf(t, "drop %s: stats issued=%d persisted=%d remaining=%d; want %d, %d, 0", spec.ID, st.Issued, st.Persisted, st.Remaining, spec.Stock, spec.Stock)
	}
	sold := 0
	for _, d := range decided {
		if d.status == "sold_out" {
			sold++
		}
	}
	t.Logf("drop %s: %d joins, %d issued in order (%d certain pairs checked), %d sold_out; stats admitted=%d line_length=%d",
		spec.ID, len(joins), len(list), certain, sold, st.Admitted, st.LineLength)
}

func placeString(p int, ok bool) string {
	if !ok {
		return "not issued"
	}
	return fmt.Sprintf("place %d", p)
}
