package memory_test

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/fastdeal/fastdeal/adapters/memory"
	"github.com/fastdeal/fastdeal/domain/waitline"
)

// TestLineAgainstModel drives the line with random joins, leaves and
// decisions, well past the first growth of its index, and compares every
// position with a plain slice.
func TestLineAgainstModel(t *testing.T) {
	ctx := t.Context()
	l := memory.NewLine()
	r := rand.New(rand.NewPCG(3, 4))
	var model []string
	decided := map[string]bool{}
	user := func() string { return "u" + strconv.Itoa(r.IntN(4000)) }
	for round := range 20000 {
		switch op := r.IntN(10); {
		case op < 6:
			u := user()
			st, created, err := l.Join(ctx, "d", u)
			if err != nil {
				t.Fatal(err)
			}
			wantCreated := !decided[u] && !slices.Contains(model, u)
			if created != wantCreated {
				t.Fatalf("round %d: Join(%s) created = %v, want %v", round, u, created, wantCreated)
			}
			if created {
				model = append(model, u)
			}
			if i := slices.Index(model, u); i >= 0 && st.Position != int64(i+1) {
				t.Fatalf("round %d: Join(%s) at %d, want %d", round, u, st.Position, i+1)
			}
		case op < 8:
			u := user()
			err := l.Leave(ctx, "d", u)
			if i := slices.Index(model, u); i >= 0 {
				if err != nil {
					t.Fatalf("round %d: Leave(%s): %v", round, u, err)
				}
				model = slices.Delete(model, i, i+1)
			} else if !errors.Is(err, waitline.ErrNotInLine) {
				t.Fatalf("round %d: Leave(%s) of a buyer not waiting: %v", round, u, err)
			}
		default:
			var ds []waitline.Decision
			for range r.IntN(5) {
				u := user()
				if len(model) > 0 && r.IntN(2) == 0 {
					u = model[r.IntN(len(model))]
				}
				ds = append(ds, waitline.Decision{UserID: u, Status: waitline.Issued})
				decided[u] = true
				if i := slices.Index(model, u); i >= 0 {
					model = slices.Delete(model, i, i+1)
				}
			}
			if err := l.Decide(ctx, "d", ds); err != nil {
				t.Fatal(err)
			}
		}
		if round%500 != 0 {
			continue
		}
		for i, u := range model {
			st, err := l.Standing(ctx, "d", u)
			if err != nil || st.Position != int64(i+1) {
				t.Fatalf("round %d: Standing(%s) = %+v, %v; want position %d", round, u, st, err, i+1)
			}
		}
		head, err := l.Peek(ctx, "d", 50)
		if err != nil || !slices.Equal(head, model[:min(50, len(model))]) {
			t.Fatalf("round %d: Peek = %v, %v; want %v", round, head, err, model[:min(50, len(model))])
		}
		if n, _ := l.Length(ctx, "d"); n != int64(len(model)) {
			t.Fatalf("round %d: Length = %d, want %d", round, n, len(model))
		}
		snap, err := l.Snapshot(ctx, "d")
		if err != nil {
			t.Fatal(err)
		}
		for i, u := range model {
			st, _ := l.Standing(ctx, "d", u)
			if pos, ok := snap.Position(st.Seq); !ok || pos != int64(i+1) {
				t.Fatalf("round %d: Snapshot puts %s at %d, %v; want %d", round, u, pos, ok, i+1)
			}
		}
	}
}

// TestLongLineStaysFast would take minutes if a position cost a scan of the
// line: 100,000 buyers each asking their place while the head is admitted.
// The bound is on this process's CPU time, not wall time: a busy machine's
// neighbours stretch the wall clock, not the work done here.
func TestLongLineStaysFast(t *testing.T) {
	const buyers, batch = 100_000, 1000
	ctx := t.Context()
	l := memory.NewLine()
	start := processCPU(t)
	us := make([]string, buyers)
	for i := range us {
		us[i] = "u" + strconv.Itoa(i)
		if _, _, err := l.Join(ctx, "d", us[i]); err != nil {
			t.Fatal(err)
		}
	}
	for head := 0; head < buyers; head += batch {
		snap, err := l.Snapshot(ctx, "d")
		if err != nil {
			t.Fatal(err)
		}
		for i := head; i < buyers; i += 97 {
			st, err := l.Standing(ctx, "d", us[i])
			if err != nil || st.Position != int64(i-head+1) {
				t.Fatalf("Standing(%s) = %+v, %v; want position %d", us[i], st, err, i-head+1)
			}
			if pos, ok := snap.Position(st.Seq); !ok || pos != st.Position {
				t.Fatalf("Snapshot puts %s at %d, %v; want %d", us[i], pos, ok, st.Position)
			}
		}
		next, err := l.Peek(ctx, "d", batch)
		if err != nil || next[0] != us[head] {
			t.Fatalf("Peek = %v..., %v; want %s first", next[:1], err, us[head])
		}
		ds := make([]waitline.Decision, len(next))
		for i, u := range next {
			ds[i] = waitline.Decision{UserID: u, Status: waitline.Issued}
		}
		if err := l.Decide(ctx, "d", ds); err != nil {
			t.Fatal(err)
		}
	}
	took := processCPU(t) - start
	if took > 30*time.Second {
		t.Fatalf("%d buyers took %v of CPU", buyers, took)
	}
	t.Logf("%d buyers took %v of CPU", buyers, took)
	if n, _ := l.Admitted(ctx, "d"); n != buyers {
		t.Fatalf("Admitted = %d, want %d", n, buyers)
	}
}

func TestLapsedEarliestExpiryFirst(t *testing.T) {
	ctx := t.Context()
	l := memory.NewLine()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	// Armed out of expiry order, in one batch and across batches.
	arm := func(user string, min int) waitline.Decision {
		return waitline.Decision{UserID: user, Status: waitline.Admitted,
			Pass: waitline.Pass{Token: user, ExpiresAt: now.Add(time.Duration(min) * time.Minute)}}
	}
	if err := l.Decide(ctx, "d", []waitline.Decision{arm("c", 3), arm("a", 1)}); err != nil {
		t.Fatal(err)
	}
	if err := l.Decide(ctx, "d", []waitline.Decision{arm("b", 2), arm("d", 4)}); err != nil {
		t.Fatal(err)
	}
	got, err := l.Lapsed(ctx, "d", now.Add(time.Hour), 3)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, d := range got {
		order = append(order, d.UserID)
	}
	if !slices.Equal(order, []string{"a", "b", "c"}) {
		t.Fatalf("Lapsed = %v, want [a b c]", order)
	}
	if n, _ := l.ActivePasses(ctx, "d", now.Add(150*time.Second)); n != 2 {
		t.Fatalf("ActivePasses = %d, want 2", n)
	}
}

func TestDecideNeedsUser(t *testing.T) {
	l := memory.NewLine()
	if err := l.Decide(t.Context(), "d", []waitline.Decision{{Status: waitline.Issued}}); err == nil {
		t.Fatal("Decide accepted a decision without a user")
	}
}

// TestPreQueueAgainstModel fills a pre-queue, lets members and line joiners
// come and go while it is placed in random chunks under a random shuffle,
// and checks that positions never go up on the way and are exact, in the
// snapshot too, once it is finished.
func TestPreQueueAgainstModel(t *testing.T) {
	ctx := t.Context()
	for seed := range uint64(20) {
		l := memory.NewLine()
		r := rand.New(rand.NewPCG(seed, 9))
		const members = 300
		for i := range members {
			if _, created, err := l.JoinPreQueue(ctx, "d", "m"+strconv.Itoa(i)); err != nil || !created {
				t.Fatalf("JoinPreQueue: %v, %v", created, err)
			}
		}
		gone := map[string]bool{}
		for range r.IntN(50) {
			u := "m" + strconv.Itoa(r.IntN(members))
			if err := l.Leave(ctx, "d", u); err == nil {
				gone[u] = true
			}
		}
		plan, err := l.FreezePreQueue(ctx, "d", []byte{byte(seed)})
		if err != nil || plan.Slots != members || plan.Base != 0 {
			t.Fatalf("FreezePreQueue = %+v, %v", plan, err)
		}
		perm := r.Perm(members)    // slot s owns seq perm[s-1]+1
		last := map[string]int64{} // placed or joined, still waiting
		leftLine := map[string]bool{}
		var joiners []string
		check := func() {
			for u, p := range last {
				st, err := l.Standing(ctx, "d", u)
				if err != nil {
					t.Fatal(err)
				}
				if st.Status != waitline.Waiting {
					continue
				}
				if st.Position > p {
					t.Fatalf("seed %d: %s moved back from %d to %d", seed, u, p, st.Position)
				}
				last[u] = st.Position
			}
		}
		for {
			// Joiners and leavers in the line while the placer works.
			for range r.IntN(5) {
				u := "j" + strconv.Itoa(len(joiners))
				st, _, err := l.Join(ctx, "d", u)
				if err != nil {
					t.Fatal(err)
				}
				joiners = append(joiners, u)
				last[u] = st.Position
			}
			if r.IntN(3) == 0 {
				u := "m" + strconv.Itoa(r.IntN(members))
				if err := l.Leave(ctx, "d", u); err == nil {
					// A placed member leaves the line, leaving a gap; an
					// unplaced one leaves a hole to finish with.
					if _, placed := last[u]; placed {
						leftLine[u] = true
					} else {
						gone[u] = true
					}
					delete(last, u)
				}
			}
			ms, err := l.PreQueueMembers(ctx, "d", 0, 1+r.IntN(60))
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) == 0 {
				break
			}
			ps := make([]waitline.Placement, len(ms))
			for i, m := range ms {
				ps[i] = waitline.Placement{UserID: m.UserID, Seq: int64(perm[m.Slot-1] + 1)}
			}
			if err := l.Place(ctx, "d", ps); err != nil {
				t.Fatal(err)
			}
			for _, m := range ms {
				st, err := l.Standing(ctx, "d", m.UserID)
				if err != nil || st.Status != waitline.Waiting {
					t.Fatalf("placed %s stands %+v, %v", m.UserID, st, err)
				}
				last[m.UserID] = st.Position
			}
			check()
		}
		left, err := l.PreQueueLeft(ctx, "d")
		if err != nil || len(left) != len(gone) {
			t.Fatalf("PreQueueLeft = %v, %v; want %d slots", left, err, len(gone))
		}
		holes := make([]int64, len(left))
		for i, s := range left {
			holes[i] = int64(perm[s-1] + 1)
		}
		if err := l.FinishPreQueue(ctx, "d", holes); err != nil {
			t.Fatal(err)
		}
		check()
		// The line is the members by seq, then the joiners by arrival.
		var want []string
		bySeq := make([]string, members)
		for i := range members {
			if u := "m" + strconv.Itoa(i); !gone[u] && !leftLine[u] {
				bySeq[perm[i]] = u
			}
		}
		for _, u := range bySeq {
			if u != "" {
				want = append(want, u)
			}
		}
		want = append(want, joiners...)
		snap, err := l.Snapshot(ctx, "d")
		if err != nil || !snap.Ready {
			t.Fatalf("Snapshot = %+v, %v; want ready", snap, err)
		}
		for i, u := range want {
			st, err := l.Standing(ctx, "d", u)
			if err != nil || st.Position != int64(i+1) {
				t.Fatalf("seed %d: Standing(%s) = %+v, %v; want position %d", seed, u, st, err, i+1)
			}
			if pos, ok := snap.Position(st.Seq); !ok || pos != st.Position {
				t.Fatalf("seed %d: Snapshot puts %s at %d, %v; want %d", seed, u, pos, ok, st.Position)
			}
		}
		if got, _ := l.Peek(ctx, "d", len(want)+1); !slices.Equal(got, want) {
			t.Fatalf("seed %d: Peek = %v, want %v", seed, got, want)
		}
	}
}

func TestPlaceRefusesSeqsNotReserved(t *testing.T) {
	ctx := t.Context()
	l := memory.NewLine()
	for _, u := range []string{"a", "b"} {
		if _, _, err := l.JoinPreQueue(ctx, "d", u); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Place(ctx, "d", []waitline.Placement{{UserID: "a", Seq: 1}}); err == nil {
		t.Fatal("Place before the freeze accepted")
	}
	if _, err := l.FreezePreQueue(ctx, "d", nil); err != nil {
		t.Fatal(err)
	}
	for _, ps := range [][]waitline.Placement{
		{{UserID: "a", Seq: 3}},                        // beyond the reserved seqs
		{{UserID: "a", Seq: 1}, {UserID: "b", Seq: 1}}, // one seq twice
	} {
		if err := l.Place(ctx, "d", ps); err == nil {
			t.Fatalf("Place(%v) accepted", ps)
		}
	}
	if n, _ := l.PreQueueLength(ctx, "d"); n != 2 {
		t.Fatalf("a refused Place moved someone: PreQueueLength = %d", n)
	}
	if err := l.Place(ctx, "d", []waitline.Placement{{UserID: "a", Seq: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Place(ctx, "d", []waitline.Placement{{UserID: "b", Seq: 2}}); err == nil {
		t.Fatal("Place onto a taken seq accepted")
	}
	if err := l.FinishPreQueue(ctx, "d", []int64{1}); !errors.Is(err, waitline.ErrPreQueueBusy) {
		t.Fatalf("FinishPreQueue with b unplaced: %v", err)
	}
}

func TestEachLineIsAnIncarnation(t *testing.T) {
	ctx := t.Context()
	a, b := memory.NewLine(), memory.NewLine()
	sa, _, _ := a.Join(ctx, "d", "u")
	sb, _, _ := b.Join(ctx, "d", "u")
	if sa.Seq != 1 || sb.Seq != 1 || sa.Epoch == "" || sa.Epoch == sb.Epoch {
		t.Fatalf("two lines gave %+v and %+v; want seq 1 under two epochs", sa, sb)
	}
	other, _, _ := a.Join(ctx, "other", "u")
	if snap, _ := a.Snapshot(ctx, "d"); snap.Epoch != sa.Epoch || other.Epoch == sa.Epoch {
		t.Fatalf("epochs: drop %q, its snapshot %q, another drop %q", sa.Epoch, snap.Epoch, other.Epoch)
	}
}

// processCPU is the CPU time this test process has used so far, user and
// system, across all its threads.
func processCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
