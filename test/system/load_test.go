package system

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// claimTarget is one drop the load generator claims from, with the pool of
// buyers it draws from: a pool smaller than the number of claims makes the
// same buyer claim concurrently, which is what per-user limits must survive.
type claimTarget struct {
	spec  dropSpec
	users int
	// prefix keeps the buyers of different runs and drops apart.
	prefix string
}

// claimLoad fires claims from many goroutines at one server and records
// every answer: the issuances answered 201 (and 200 repeats), and a count of
// outcomes per phase, a phase being named by the test (e.g. "after flush").
type claimLoad struct {
	srv     atomic.Pointer[server]
	targets []claimTarget
	stop    atomic.Bool
	wg      sync.WaitGroup

	phase atomic.Pointer[string]
	// issued counts 201 answers, for tests that wait for progress.
	issued atomic.Int64

	mu       sync.Mutex
	answered []issuanceJSON
	repeats  []issuanceJSON
	outcomes map[string]map[string]int
	// wrong collects answers no claim may get (a 201 naming another buyer,
	// a 500, an undecodable body).
	wrong []string
}

func newClaimLoad(s *server, targets ...claimTarget) *claimLoad {
	l := &claimLoad{targets: targets, outcomes: map[string]map[string]int{}}
	l.srv.Store(s)
	l.setPhase("before")
	return l
}

func (l *claimLoad) setPhase(name string) { l.phase.Store(&name) }

// start runs workers until halt; it may be called again after halt.
func (l *claimLoad) start(workers int) {
	l.stop.Store(false)
	for w := range workers {
		l.wg.Add(1)
		go l.worker(uint64(w))
	}
}

// halt stops the workers after their current request and waits for them.
func (l *claimLoad) halt() {
	l.stop.Store(true)
	l.wg.Wait()
}

func (l *claimLoad) worker(seed uint64) {
	defer l.wg.Done()
	rng := rand.New(rand.NewPCG(seed, uint64(time.Now().UnixNano())))
	for !l.stop.Load() {
		tg := l.targets[rng.IntN(len(l.targets))]
		user := fmt.Sprintf("%s-%d", tg.prefix, rng.IntN(tg.users))
		seat := ""
		if tg.spec.seated() {
			seat = tg.spec.Seats[rng.IntN(len(tg.spec.Seats))]
		}
		phase := *l.phase.Load()
		r, err := l.srv.Load().claim(tg.spec.ID, user, seat)
		if err != nil {
			l.count(phase, "transport error")
			// The server may be dead on purpose; do not spin against it.
			time.Sleep(5 * time.Millisecond)
			continue
		}
		if now := *l.phase.Load(); now != phase {
			// Answered in a later phase than it was sent in: the claim was
			// in flight when the test changed the world under it.
			l.count("in flight into "+now, tg.spec.ID+" "+r.outcome())
		}
		l.record(phase, tg.spec.ID, user, seat, r)
	}
}

func (l *claimLoad) count(phase, outcome string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.outcomes[phase]
	if m == nil {
		m = map[string]int{}
		l.outcomes[phase] = m
	}
	m[outcome]++
}

func (l *claimLoad) record(phase, dropID, user, seat string, r response) {
	l.count(phase, r.outcome())
	switch r.status {
	case http.StatusCreated, http.StatusOK:
		var a claimAnswer
		if err := r.decode(&a); err != nil || a.Status != "issued" {
			l.addWrong(fmt.Sprintf("claim %s by %s seat %q: undecodable or not issued: %s", dropID, user, seat, r))
			return
		}
		iss := a.Issuance
		if iss.ID == "" || iss.DropID != dropID || iss.UserID != user || iss.Seat != seat {
			l.addWrong(fmt.Sprintf("claim %s by %s seat %q answered an issuance of someone else: %s", dropID, user, seat, r))
			return
		}
		l.mu.Lock()
		if r.status == http.StatusCreated {
			l.answered = append(l.answered, iss)
			l.issued.Add(1)
		} else {
			l.repeats = append(l.repeats, iss)
		}
		l.mu.Unlock()
	case http.StatusConflict, http.StatusServiceUnavailable:
	default:
		l.addWrong(fmt.Sprintf("claim %s by %s seat %q: unexpected answer %s", dropID, user, seat, r))
	}
}

func (l *claimLoad) addWrong(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.wrong = append(l.wrong, s)
}

// answeredFor returns the 201 and 200 issuances of one drop.
func (l *claimLoad) answeredFor(dropID string) (created, repeated []issuanceJSON) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range l.answered {
		if a.DropID == dropID {
			created = append(created, a)
		}
	}
	for _, a := range l.repeats {
		if a.DropID == dropID {
			repeated = append(repeated, a)
		}
	}
	return created, repeated
}

func (l *claimLoad) phaseOutcomes(phase string) map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for k, v := range l.outcomes[phase] {
		out[k] = v
	}
	return out
}

func (l *claimLoad) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var phases []string
	for p := range l.outcomes {
		phases = append(phases, p)
	}
	sort.Strings(phases)
	var b strings.Builder
	for _, p := range phases {
		fmt.Fprintf(&b, "%s: %s; ", p, formatCounts(l.outcomes[p]))
	}
	return strings.TrimSuffix(b.String(), "; ")
}

func formatCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

// checkNoWrongAnswers fails for every answer no claim may ever get.
func (l *claimLoad) checkNoWrongAnswers(t testing.TB, s *server) {
	t.Helper()
	l.mu.Lock()
	wrong := append([]string(nil), l.wrong...)
	l.mu.Unlock()
	if len(wrong) > 0 {
		if len(wrong) > 10 {
			wrong = append(wrong[:10], fmt.Sprintf("... and %d more", len(wrong)-10))
		}
		s.errorf(t, "wrong claim answers:\n%s", strings.Join(wrong, "\n"))
	}
}

// checkAnswersConsistent fails if the buyers were told something impossible,
// whatever MySQL says: two different issuances for one seat, or more 201s for
// a drop than it has units.
func (l *claimLoad) checkAnswersConsistent(t testing.TB, spec dropSpec) {
	t.Helper()
	created, _ := l.answeredFor(spec.ID)
	ids := map[string]bool{}
	seats := map[string]string{}
	for _, a := range created {
		if ids[a.ID] {
			t.Errorf("drop %s: issuance %s answered 201 twice", spec.ID, a.ID)
		}
		ids[a.ID] = true
		if spec.seated() {
			if prev, ok := seats[a.Seat]; ok && prev != a.ID {
				t.Errorf("drop %s: seat %s answered 201 to two issuances (%s and %s)", spec.ID, a.Seat, prev, a.ID)
			}
			seats[a.Seat] = a.ID
		}
	}
	if len(ids) > spec.capacity() {
		t.Errorf("drop %s: %d distinct issuances answered 201 for a stock of %d", spec.ID, len(ids), spec.capacity())
	}
}
