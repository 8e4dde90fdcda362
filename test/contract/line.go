package contract

import (
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fastdeal/fastdeal/domain/waitline"
)

// RunLine checks a waitline.WaitingLine against the port's contract.
// newLine is called once per subtest with that subtest's t; it may return a
// fresh adapter or the same one every time (the subtests use fresh drops).
func RunLine(t *testing.T, newLine func(t *testing.T) waitline.WaitingLine) {
	t.Run("StrangerIsNotInLine", func(t *testing.T) { testLineStranger(t, newLine(t)) })
	t.Run("JoinKeepsFirstPlace", func(t *testing.T) { testLineJoin(t, newLine(t)) })
	t.Run("PeekLeavesTheLineAlone", func(t *testing.T) { testLinePeek(t, newLine(t)) })
	t.Run("Decide", func(t *testing.T) { testLineDecide(t, newLine(t)) })
	t.Run("DecideAgainOverwritesAndCountsOnce", func(t *testing.T) { testLineDecideAgain(t, newLine(t)) })
	t.Run("Leave", func(t *testing.T) { testLineLeave(t, newLine(t)) })
	t.Run("Passes", func(t *testing.T) { testLinePasses(t, newLine(t)) })
	t.Run("RearmedPassCountsOnce", func(t *testing.T) { testLineRearm(t, newLine(t)) })
	t.Run("Close", func(t *testing.T) { testLineClose(t, newLine(t)) })
	t.Run("DropsAreIndependent", func(t *testing.T) { testLineIndependent(t, newLine(t)) })
	t.Run("ConcurrentJoinsAreFIFO", func(t *testing.T) { testLineConcurrentJoin(t, newLine(t)) })
	t.Run("PositionsNeverGoUp", func(t *testing.T) { testLineNeverUp(t, newLine(t)) })
	t.Run("ConcurrentDecideCountsOnce", func(t *testing.T) { testLineConcurrentDecide(t, newLine(t)) })
	t.Run("SnapshotOfEmptyLine", func(t *testing.T) { testLineEmptySnapshot(t, newLine(t)) })
	t.Run("SnapshotIsExact", func(t *testing.T) { testLineSnapshotExact(t, newLine(t)) })
	t.Run("ClosedSnapshot", func(t *testing.T) { testLineClosedSnapshot(t, newLine(t)) })
	t.Run("PreQueue", func(t *testing.T) { testLinePreQueue(t, newLine(t)) })
	t.Run("FreezeWithoutPreQueue", func(t *testing.T) { testLineFreezeEmpty(t, newLine(t)) })
	t.Run("PassesEnd", func(t *testing.T) { testLinePassesEnd(t, newLine(t)) })
}

type liner struct {
	t    *testing.T
	l    waitline.WaitingLine
	drop string
}

func newLiner(t *testing.T, l waitline.WaitingLine) *liner {
	return &liner{t: t, l: l, drop: newID("drop")}
}

func (x *liner) join(user string, wantCreated bool) waitline.Standing {
	x.t.Helper()
	st, created, err := x.l.Join(x.t.Context(), x.drop, user)
	if err != nil {
		x.t.Fatalf("Join(%s): %v", user, err)
	}
	if created != wantCreated {
		x.t.Fatalf("Join(%s) created = %v, want %v", user, created, wantCreated)
	}
	return st
}

// joinAt joins and fails t unless the buyer waits at position pos.
func (x *liner) joinAt(user string, wantCreated bool, pos int64) {
	x.t.Helper()
	st := x.join(user, wantCreated)
	if st.Status != waitline.Waiting || st.Position != pos {
		x.t.Fatalf("Join(%s) = %s at %d, want waiting at %d", user, st.Status, st.Position, pos)
	}
	x.placed(user, st)
}

// placed fails t unless a waiting standing names its seq and epoch.
func (x *liner) placed(user string, st waitline.Standing) {
	x.t.Helper()
	if st.Seq < 1 || st.Epoch == "" {
		x.t.Fatalf("%s waits with seq %d, epoch %q; want both set", user, st.Seq, st.Epoch)
	}
}

func (x *liner) standing(user string) waitline.Standing {
	x.t.Helper()
	st, err := x.l.Standing(x.t.Context(), x.drop, user)
	if err != nil {
		x.t.Fatalf("Standing(%s): %v", user, err)
	}
	return st
}

func (x *liner) waitsAt(user string, pos int64) {
	x.t.Helper()
	st := x.standing(user)
	if st.Status != waitline.Waiting || st.Position != pos {
		x.t.Fatalf("Standing(%s) = %s at %d, want waiting at %d", user, st.Status, st.Position, pos)
	}
	x.placed(user, st)
}

func (x *liner) hasDecision(st waitline.Standing, want waitline.Decision) {
	x.t.Helper()
	got := st.Decision
	if st.Status != want.Status || got.UserID != want.UserID || got.Status != want.Status ||
		got.IssuanceID != want.IssuanceID || got.Pass.Token != want.Pass.Token ||
		!got.Pass.ExpiresAt.Equal(want.Pass.ExpiresAt) {
		x.t.Fatalf("standing = %+v, want decision %+v", st, want)
	}
	if st.Seq != 0 || st.Epoch != "" {
		x.t.Fatalf("decided standing = %+v carries a seq or epoch", st)
	}
}

func (x *liner) notInLine(user string) {
	x.t.Helper()
	if _, err := x.l.Standing(x.t.Context(), x.drop, user); !errors.Is(err, waitline.ErrNotInLine) {
		x.t.Fatalf("Standing(%s): err = %v, want ErrNotInLine", user, err)
	}
}

func (x *liner) decide(ds ...waitline.Decision) {
	x.t.Helper()
	if err := x.l.Decide(x.t.Context(), x.drop, ds); err != nil {
		x.t.Fatalf("Decide: %v", err)
	}
}

func (x *liner) peek(n int, want ...string) {
	x.t.Helper()
	got, err := x.l.Peek(x.t.Context(), x.drop, n)
	if err != nil {
		x.t.Fatalf("Peek: %v", err)
	}
	if len(got) != len(want) || (len(want) > 0 && !slices.Equal(got, want)) {
		x.t.Fatalf("Peek(%d) = %v, want %v", n, got, want)
	}
}

func (x *liner) counts(length, admitted int64) {
	x.t.Helper()
	l, err := x.l.Length(x.t.Context(), x.drop)
	if err != nil {
		x.t.Fatalf("Length: %v", err)
	}
	a, err := x.l.Admitted(x.t.Context(), x.drop)
	if err != nil {
		x.t.Fatalf("Admitted: %v", err)
	}
	if l != length || a != admitted {
		x.t.Fatalf("Length, Admitted = %d, %d; want %d, %d", l, a, length, admitted)
	}
}

func (x *liner) active(now time.Time, want int64) {
	x.t.Helper()
	got, err := x.l.ActivePasses(x.t.Context(), x.drop, now)
	if err != nil {
		x.t.Fatalf("ActivePasses: %v", err)
	}
	if got != want {
		x.t.Fatalf("ActivePasses at %v = %d, want %d", now, got, want)
	}
}

func (x *liner) lapsed(now time.Time, n int) []waitline.Decision {
	x.t.Helper()
	got, err := x.l.Lapsed(x.t.Context(), x.drop, now, n)
	if err != nil {
		x.t.Fatalf("Lapsed: %v", err)
	}
	return got
}

func issued(user string) waitline.Decision {
	return waitline.Decision{UserID: user, Status: waitline.Issued, IssuanceID: newID("iss")}
}

func admitted(user string, expires time.Time) waitline.Decision {
	return waitline.Decision{
		UserID: user, Status: waitline.Admitted,
		Pass: waitline.Pass{Token: newID("pass"), ExpiresAt: expires},
	}
}

func testLineStranger(t *testing.T, l waitline.WaitingLine) {
	x := newLiner(t, l)
	x.notInLine(newID("user"))
	x.counts(0, 0)
	x.peek(5)
	x.joinAt(newID("user"), true, 1)
	x.notInLine(newID("user"))
	if err := l.Leave(t.Context(), x.drop, newID("user")); !errors.Is(err, waitline.ErrNotInLine) {
		t.Fatalf("Leave of a stranger: err = %v, want ErrNotInLine", err)
	}
}

func testLineJoin(t *testing.T, l waitline.WaitingLine) {
	x := newLiner(t, l)
	u := users(3)
	x.joinAt(u[0], true, 1)
	x.joinAt(u[1], true, 2)
	x.joinAt(u[2], true, 3)
	x.joinAt(u[0], false, 1)
	x.joinAt(u[2], false, 3)
	x.waitsAt(u[1], 2)
	x.counts(3, 0)
}

func testLinePeek(t *testing.T, l waitline.WaitingLine) {
	x := newLiner(t, l)
	u := users(3)
	for i, v := range u {
		x.joinAt(v, true, int64(i+1))
	}
	x.peek(2, u[0], u[1])
	x.peek(2, u[0], u[1])
	x.peek(10, u...)
	x.counts(3, 0)
	x.waitsAt(u[0], 1)
}

func testLineDecide(t *testing.T, l waitline.WaitingLine) {
	x := newLiner(t, l)
	u := users(4)
	for i, v := range u {
		x.joinAt(v, true, int64(i+1))
	}
	d0 := issued(u[0])
	x.decide(d0)
	x.hasDecision(x.standing(u[0]), d0)
	x.waitsAt(u[1], 1)
	x.waitsAt(u[3], 3)
	x.counts(3, 1)
	x.peek(10, u[1], u[2], u[3])

	// A decided buyer who joins again hears the decision and is not queued.
	x.hasDecision(x.join(u[0], false), d0)
	x.counts(3, 1)

	// Decisions need not take the head: the line closes up behind them.
	d2 := waitline.Decision{UserID: u[2], Status: waitline.SoldOut}
	d1 := issued(u[1])
	x.decide(d2, d1)
	x.hasDecision(x.standing(u[1]), d1)
	x.hasDecision(x.standing(u[2]), d2)
	x.waitsAt(u[3], 1)
	x.counts(1, 3)
}

func testLineDecideAgain(t *testing.T, l waitline.WaitingLine) {
	x := newLiner(t, l)
	u := users(2)
	x.joinAt(u[0], true, 1)
	x.joinAt(u[1], true, 2)
	x.decide(issued(u[0]))
	d := waitline.Decision{UserID: u[0], Status: waitline.SoldOut}
	x.decide(d)
	x.hasDecision(x.standing(u[0]), d)
	x.counts(1, 1)
	// The same buyer twice in one batch is still one buyer taken out.
	last := issued(u[1])
	x.decide(issued(u[1]), last)
	x.hasDecision(x.standing(u[1]), last)
	x.counts(0, 2)
}

func testLineLeave(t *testing.T, l waitline.WaitingLine) {
	x := newLiner(t, l)
	u := users(3)
	for i, v := range u {
		x.joinAt(v, true, int64(i+1))
	}
	if err := l.Leave(t.Context(), x.drop, u[1]); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	x.notInLine(u[1])
	x.waitsAt(u[2], 2)
	x.counts(2, 0)
	x.peek(10, u[0], u[2])
	if err := l.Leave(t.Context(), x.drop, u[1]); !errors.Is(err, waitline.ErrNotInLine) {
		t.Fatalf("second Leave: err = %v, want ErrNotInLine", err)
	}
	// Coming back means the back of the line.
	x.joinAt(u[1], true, 3)
	x.decide(issued(u[0]))
	if err := l.Leave(t.Context(), x.drop, u[0]); !errors.Is(err, waitline.ErrNotInLine) {
		t.Fatalf("Leave of a decided buyer: err = %v, want ErrNotInLine", err)
	}
	x.counts(2, 1)
}

func testLinePasses(t *testing.T, l waitline.WaitingLine) {
	x := newLiner(t, l)
	now := baseTime()
	u := users(3)
	for i, v := range u {
		x.joinAt(v, true, int64(i+1))
	}
	a := admitted(u[0], now.Add(time.Minute))
	b := admitted(u[1], now.Add(2*time.Minute))
	x.decide(a, b)
	x.hasDecision(x.standing(u[0]), a)
	x.counts(1, 2)
	x.active(now, 2)
	if got := x.lapsed(now, 10); len(got) != 0 {
		t.Fatalf("Lapsed before any expiry = %v, want none", got)
	}

	mid := now.Add(90 * time.Second)
	x.active(mid, 1)
	got := x.lapsed(mid, 10)
	if len(got) != 1 || got[0].UserID != u[0] || got[0].Pass.Token != a.Pass.Token {
		t.Fatalf("Lapsed between the expiries = %+v, want %s's pass", got, u[0])
	}

	late := now.Add(3 * time.Minute)
	x.active(late, 0)
	if got := x.lapsed(late, 1); len(got) != 1 {
		t.Fatalf("Lapsed(n=1) returned %d passes", len(got))
	}
	got = x.lapsed(late, 10)
	if len(got) != 2 || !slices.ContainsFunc(got, func(d waitline.Decision) bool { return d.UserID == u[1] }) {
		t.Fatalf("Lapsed after both expiries = %+v, want both passes", got)
	}

	// Lapsed only reports: the dispatcher's Expired decision disarms.
	expired := a
	expired.Status = waitline.Expired
	x.decide(expired)
	x.hasDecision(x.standing(u[0]), expired)
	got = x.lapsed(late, 10)
	if len(got) != 1 || got[0].UserID != u[1] {
		t.Fatalf("Lapsed after expiring %s = %+v, want only %s", u[0], got, u[1])
	}
	x.active(now, 1)

	// Claiming a seat (Issued) disarms too.
	x.decide(issued(u[1]))
	x.active(now, 0)
	if got := x.lapsed(late, 10); len(got) != 0 {
		t.Fatalf("Lapsed after every pass was disarmed = %+v", got)
	}
	x.counts(1, 2)
}

func testLineRearm(t *testing.T, l waitline.WaitingLine) {
	x := newLiner(t, l)
	now := baseTime()
	u := newID("user")
	x.joinAt(u, true, 1)
	x.decide(admitted(u, now.Add(time.Minute)))
	later := admitted(u, now.Add(5*time.Minute))
	x.decide(later)
	x.active(now, 1)
	if got := x.lapsed(now.Add(2*time.Minute), 10); len(got) != 0 {
		t.Fatalf("Lapsed before the renewed pass expires = %+v", got)
	}
	got := x.lapsed(now.Add(6*time.Minute), 10)
	if len(got) != 1 || got[0].Pass.Token != later.Pass.Token {
		t.Fatalf("Lapsed after the renewed pass expires = %+v, want the renewed pass", got)
	}
	x.counts(0, 1)
}

func testLineClose(t *testing.T, l waitline.WaitingLine) {
	x := newLiner(t, l)
	u := users(3)
	for i, v := range u {
		x.joinAt(v, true, int64(i+1))
	}
	d := issued(u[0])
	x.decide(d)
	if closed, err := l.Closed(t.Context(), x.drop); err != nil || closed {
		t.Fatalf("Closed before Close = %v, %v", closed, err)
	}
	if err := l.Close(t.Context(), x.drop); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if closed, err := l.Closed(t.Context(), x.drop); err != nil || !closed {
		t.Fatalf("Closed after Close = %v, %v", closed, err)
	}
	if st := x.standing(u[1]); st.Status != waitline.SoldOut {
		t.Fatalf("waiting buyer after Close stands %s, want sold_out", st.Status)
	}
	if st := x.join(u[2], false); st.Status != waitline.SoldOut {
		t.Fatalf("waiting buyer joining after Close stands %s, want sold_out", st.Status)
	}
	if st := x.join(newID("user"), false); st.Status != waitline.SoldOut {
		t.Fatalf("newcomer after Close stands %s, want sold_out", st.Status)
	}
	x.hasDecision(x.standing(u[0]), d)
	x.hasDecision(x.join(u[0], false), d)
	if n, err := l.Admitted(t.Context(), x.drop); err != nil || n != 1 {
		t.Fatalf("Admitted after Close = %d, %v; want 1", n, err)
	}
}

func testLineIndependent(t *testing.T, l waitline.WaitingLine) {
	x, y := newLiner(t, l), newLiner(t, l)
	u := users(2)
	x.joinAt(u[0], true, 1)
	y.joinAt(u[1], true, 1)
	y.joinAt(u[0], true, 2)
	x.decide(issued(u[0]))
	y.waitsAt(u[0], 2)
	if err := l.Close(t.Context(), x.drop); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if closed, err := l.Closed(t.Context(), y.drop); err != nil || closed {
		t.Fatalf("other drop Closed = %v, %v", closed, err)
	}
	y.joinAt(newID("user"), true, 3)
	x.counts(0, 1)
	y.counts(3, 0)
}

func testLineConcurrentJoin(t *testing.T, l waitline.WaitingLine) {
	const joiners, each = 20, 25
	x := newLiner(t, l)
	us := make([][]string, joiners)
	pos := make([][]int64, joiners)
	for i := range us {
		us[i] = users(each)
		pos[i] = make([]int64, each)
	}
	// Each joiner joins its buyers in order, and joins each one twice, so
	// duplicate joins race with other buyers' first joins.
	inParallel(joiners, func(i int) {
		for j, u := range us[i] {
			st, created, err := l.Join(t.Context(), x.drop, u)
			if err != nil || !created || st.Status != waitline.Waiting {
				t.Errorf("Join(%s) = %+v, %v, %v; want a new place", u, st, created, err)
				return
			}
			again, created, err := l.Join(t.Context(), x.drop, u)
			if err != nil || created || again.Position != st.Position {
				t.Errorf("Join(%s) again = %+v, %v, %v; want the place %d kept", u, again, created, err, st.Position)
				return
			}
			pos[i][j] = st.Position
		}
	})
	if t.Failed() {
		return
	}
	line, err := l.Peek(t.Context(), x.drop, joiners*each)
	if err != nil {
		t.Fatalf("Peek: %v", err)
	}
	if len(line) != joiners*each {
		t.Fatalf("Peek returned %d buyers, want %d", len(line), joiners*each)
	}
	at := make(map[string]int64, len(line))
	for i, u := range line {
		at[u] = int64(i + 1)
	}
	for i := range us {
		for j, u := range us[i] {
			if at[u] != pos[i][j] {
				t.Fatalf("Join gave %s place %d, the line has them at %d", u, pos[i][j], at[u])
			}
			if j > 0 && pos[i][j] <= pos[i][j-1] {
				t.Fatalf("%s joined after %s but stands before them", u, us[i][j-1])
			}
		}
	}
	x.waitsAt(line[len(line)-1], int64(len(line)))
	x.counts(joiners*each, 0)
	// A repeat join takes no sequence for good: the line's sequences are
	// exactly one per buyer, with no gap a repeat could have left.
	snap, err := l.Snapshot(t.Context(), x.drop)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if snap.Head != 1 || snap.Tail != joiners*each || len(snap.Gone) != 0 {
		t.Fatalf("Snapshot = head %d, tail %d, gone %v; want 1, %d and no gaps", snap.Head, snap.Tail, snap.Gone, joiners*each)
	}
}

func testLineNeverUp(t *testing.T, l waitline.WaitingLine) {
	const pollers, each, batch = 8, 40, 7
	x := newLiner(t, l)
	us := make([][]string, pollers)
	for i := range us {
		us[i] = users(each)
	}
	for j := range each {
		for i := range pollers {
			x.join(us[i][j], true)
		}
	}
	// done tells pollers that every buyer is decided or the dispatcher gave
	// up, so a buyer still waiting after that is a failure, not a wait.
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for {
			head, err := l.Peek(t.Context(), x.drop, batch)
			if err != nil {
				t.Errorf("Peek: %v", err)
				return
			}
			if len(head) == 0 {
				return
			}
			ds := make([]waitline.Decision, len(head))
			for i, u := range head {
				ds[i] = issued(u)
			}
			if err := l.Decide(t.Context(), x.drop, ds); err != nil {
				t.Errorf("Decide: %v", err)
				return
			}
		}
	})
	inParallel(pollers, func(i int) {
		last := make([]int64, each)
		for j := range last {
			last[j] = 1 << 62
		}
		for left := each; left > 0; {
			left = 0
			var final bool
			select {
			case <-done:
				final = true
			default:
			}
			for j, u := range us[i] {
				if last[j] == 0 {
					continue
				}
				var st waitline.Standing
				var err error
				if j%3 == 0 {
					st, _, err = l.Join(t.Context(), x.drop, u)
				} else {
					st, err = l.Standing(t.Context(), x.drop, u)
				}
				switch {
				case err != nil:
					t.Errorf("Standing(%s): %v", u, err)
					return
				case st.Status == waitline.Issued:
					last[j] = 0
				case st.Status != waitline.Waiting:
					t.Errorf("%s stands %s, want waiting or issued", u, st.Status)
					return
				case st.Position > last[j] || st.Position < 1:
					t.Errorf("%s moved from %d to %d", u, last[j], st.Position)
					return
				default:
					last[j] = st.Position
					left++
				}
			}
			if final && left > 0 {
				t.Errorf("%d buyers still wait after the dispatcher stopped", left)
				return
			}
		}
	})
	wg.Wait()
	x.counts(0, pollers*each)
}

func testLineConcurrentDecide(t *testing.T, l waitline.WaitingLine) {
	const buyers, dispatchers, batch = 200, 4, 10
	x := newLiner(t, l)
	u := users(buyers)
	for _, v := range u {
		x.join(v, true)
	}
	// Every dispatcher decides every buyer, as rivals replaying one batch would.
	inParallel(dispatchers, func(int) {
		for i := 0; i < buyers; i += batch {
			ds := make([]waitline.Decision, 0, batch)
			for _, v := range u[i : i+batch] {
				ds = append(ds, issued(v))
			}
			if err := l.Decide(t.Context(), x.drop, ds); err != nil {
				t.Errorf("Decide: %v", err)
				return
			}
		}
	})
	x.counts(0, buyers)
	for _, v := range u {
		if st := x.standing(v); st.Status != waitline.Issued {
			t.Fatalf("%s stands %s, want issued", v, st.Status)
		}
	}
}

func (x *liner) snapshot() waitline.Snapshot {
	x.t.Helper()
	s, err := x.l.Snapshot(x.t.Context(), x.drop)
	if err != nil {
		x.t.Fatalf("Snapshot: %v", err)
	}
	if !slices.IsSorted(s.Gone) {
		x.t.Fatalf("Snapshot.Gone = %v, not sorted", s.Gone)
	}
	for i, g := range s.Gone {
		if g < s.Head || g > s.Tail || (i > 0 && s.Gone[i-1] == g) {
			x.t.Fatalf("Snapshot = %+v: gap %d repeated or outside [Head, Tail]", s, g)
		}
	}
	return s
}

// exact fails t unless the snapshot is ready and tells every buyer in
// waiting (in line order) the position Standing tells them, which must be
// their place in that order.
func (x *liner) exact(s waitline.Snapshot, waiting []string) {
	x.t.Helper()
	if !s.Ready {
		x.t.Fatalf("Snapshot = %+v, want ready", s)
	}
	for i, u := range waiting {
		st := x.standing(u)
		if st.Status != waitline.Waiting || st.Position != int64(i+1) {
			x.t.Fatalf("Standing(%s) = %s at %d, want waiting at %d", u, st.Status, st.Position, i+1)
		}
		x.placed(u, st)
		if st.Epoch != s.Epoch {
			x.t.Fatalf("Standing(%s) epoch %q, snapshot epoch %q", u, st.Epoch, s.Epoch)
		}
		if pos, ok := s.Position(st.Seq); !ok || pos != st.Position {
			x.t.Fatalf("Snapshot %+v puts %s (seq %d) at %d, %v; Standing says %d",
				s, u, st.Seq, pos, ok, st.Position)
		}
	}
}

func (x *liner) leave(user string) {
	x.t.Helper()
	if err := x.l.Leave(x.t.Context(), x.drop, user); err != nil {
		x.t.Fatalf("Leave(%s): %v", user, err)
	}
}

func testLineEmptySnapshot(t *testing.T, l waitline.WaitingLine) {
	x := newLiner(t, l)
	s := x.snapshot()
	if s.Tail != 0 || s.Head != 1 || len(s.Gone) != 0 || s.Closed || !s.Ready {
		t.Fatalf("Snapshot of a line nobody joined = %+v, want Head 1, Tail 0, ready", s)
	}
	if _, ok := s.Position(1); ok {
		t.Fatal("an empty snapshot places seq 1")
	}
	u := users(3)
	for i, v := range u {
		x.joinAt(v, true, int64(i+1))
	}
	x.exact(x.snapshot(), u)
	x.decide(issued(u[0]), issued(u[1]), issued(u[2]))
	// Nobody waits: the head is past the tail and nothing is left to skip.
	s = x.snapshot()
	if s.Tail != 3 || s.Head != 4 || len(s.Gone) != 0 || !s.Ready {
		t.Fatalf("Snapshot of a line everyone left = %+v, want Head 4, Tail 3, no gaps", s)
	}
}

func testLineClosedSnapshot(t *testing.T, l waitline.WaitingLine) {
	x := newLiner(t, l)
	u := users(2)
	x.joinAt(u[0], true, 1)
	x.joinAt(u[1], true, 2)
	if s := x.snapshot(); s.Closed {
		t.Fatalf("Snapshot before Close = %+v", s)
	}
	if err := l.Close(t.Context(), x.drop); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s := x.snapshot()
	if !s.Closed || s.Tail != 2 || s.Head != 1 {
		t.Fatalf("Snapshot after Close = %+v, want closed, Head 1, Tail 2", s)
	}
	// A line closed before anyone joined is closed too.
	y := newLiner(t, l)
	if err := l.Close(t.Context(), y.drop); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if s := y.snapshot(); !s.Closed || s.Tail != 0 {
		t.Fatalf("Snapshot of an empty closed line = %+v", s)
	}
}

// testLineSnapshotExact drives one line through random joins, leaves from
// anywhere and admissions from the head, checking after every step that
// the snapshot places every waiting buyer where Standing does, and nobody
// who left.
func testLineSnapshotExact(t *testing.T, l waitline.WaitingLine) {
	const steps, most = 2500, 30
	x := newLiner(t, l)
	r := rand.New(rand.NewPCG(7, 11))
	var (
		line   []string             // waiting, in line order
		seq    = map[string]int64{} // waiting buyer -> seq
		last   = map[string]int64{} // waiting buyer -> last position heard
		left   []string             // left, may come back
		former []int64              // seqs of buyers no longer waiting
		tail   int64
		epoch  string
	)
	out := func(u string) {
		former = append(former, seq[u])
		delete(seq, u)
		delete(last, u)
		line = slices.DeleteFunc(line, func(v string) bool { return v == u })
	}
	for step := range steps {
		switch op := r.IntN(10); {
		case op < 5 && len(line) < most:
			u := newID("user")
			if len(left) > 0 && r.IntN(4) == 0 {
				i := r.IntN(len(left))
				u = left[i]
				left = slices.Delete(left, i, i+1)
			}
			st := x.join(u, true)
			tail++
			if st.Status != waitline.Waiting || st.Seq != tail || st.Position != int64(len(line)+1) {
				t.Fatalf("step %d: Join(%s) = %+v, want waiting at %d with seq %d", step, u, st, len(line)+1, tail)
			}
			line, seq[u] = append(line, u), st.Seq
		case op < 7 && len(line) > 0:
			u := line[r.IntN(len(line))]
			x.leave(u)
			out(u)
			left = append(left, u)
		case len(line) > 0:
			head, err := l.Peek(t.Context(), x.drop, 1+r.IntN(3))
			if err != nil {
				t.Fatalf("Peek: %v", err)
			}
			if !slices.Equal(head, line[:len(head)]) {
				t.Fatalf("step %d: Peek = %v, want %v", step, head, line[:min(len(line), len(head))])
			}
			ds := make([]waitline.Decision, len(head))
			for i, u := range head {
				ds[i] = issued(u)
			}
			x.decide(ds...)
			for _, u := range head {
				out(u)
			}
		default:
			continue
		}
		s := x.snapshot()
		if epoch == "" {
			epoch = s.Epoch
		}
		if s.Epoch != epoch || s.Tail != tail {
			t.Fatalf("step %d: Snapshot = %+v, want epoch %q, tail %d", step, s, epoch, tail)
		}
		wantHead := tail + 1
		if len(line) > 0 {
			wantHead = seq[line[0]]
		}
		var wantGone []int64
		waitingSeqs := map[int64]bool{}
		for _, v := range seq {
			waitingSeqs[v] = true
		}
		for q := wantHead; q <= tail; q++ {
			if !waitingSeqs[q] {
				wantGone = append(wantGone, q)
			}
		}
		if s.Head != wantHead || len(s.Gone) != len(wantGone) || (len(wantGone) > 0 && !slices.Equal(s.Gone, wantGone)) {
			t.Fatalf("step %d: Snapshot head %d, gone %v; want head %d, gone %v", step, s.Head, s.Gone, wantHead, wantGone)
		}
		x.exact(s, line)
		for i, u := range line {
			if p := int64(i + 1); last[u] != 0 && p > last[u] {
				t.Fatalf("step %d: %s moved back from %d to %d", step, u, last[u], p)
			}
			last[u] = int64(i + 1)
		}
		// Only the latest are checked: the rest are far below the head.
		for _, q := range former[max(0, len(former)-20):] {
			if pos, ok := s.Position(q); ok {
				t.Fatalf("step %d: Snapshot places seq %d, which left, at %d", step, q, pos)
			}
		}
	}
}

// testLinePreQueue opens a pre-queue of five, one of whom leaves, places
// the rest in reverse order in two chunks with a crash between, and checks
// that everyone who joined the line meanwhile stands behind them throughout.
func testLinePreQueue(t *testing.T, l waitline.WaitingLine) {
	ctx := t.Context()
	x := newLiner(t, l)
	m := users(5)
	for _, u := range m {
		st, created, err := l.JoinPreQueue(ctx, x.drop, u)
		if err != nil || !created || st.Status != waitline.PreQueue {
			t.Fatalf("JoinPreQueue(%s) = %+v, %v, %v; want a new pre_queue place", u, st, created, err)
		}
	}
	if st, created, err := l.JoinPreQueue(ctx, x.drop, m[0]); err != nil || created || st.Status != waitline.PreQueue {
		t.Fatalf("JoinPreQueue(%s) again = %+v, %v, %v; want pre_queue, not created", m[0], st, created, err)
	}
	if st := x.standing(m[1]); st.Status != waitline.PreQueue {
		t.Fatalf("Standing(%s) = %+v, want pre_queue", m[1], st)
	}
	preLen := func(want int64) {
		t.Helper()
		if n, err := l.PreQueueLength(ctx, x.drop); err != nil || n != want {
			t.Fatalf("PreQueueLength = %d, %v; want %d", n, err, want)
		}
	}
	preLen(5)
	x.counts(0, 0)
	x.peek(10)
	// m[2] leaves before opening: slot 3 stays empty.
	x.leave(m[2])
	x.notInLine(m[2])
	preLen(4)
	if s := x.snapshot(); s.Ready {
		t.Fatalf("Snapshot with an open pre-queue = %+v, want not ready", s)
	}

	// The first buyer in the line freezes the pre-queue and stands behind
	// every member, however they will be placed.
	late := users(2)
	x.joinAt(late[0], true, 5)
	if st := x.standing(late[0]); st.Seq != 6 {
		t.Fatalf("first line joiner has seq %d, want 6 (after five reserved)", st.Seq)
	}
	st, created, err := l.JoinPreQueue(ctx, x.drop, late[1])
	if err != nil || !created || st.Status != waitline.Waiting || st.Position != 6 || st.Seq != 7 {
		t.Fatalf("JoinPreQueue after the freeze = %+v, %v, %v; want a line place at 6, seq 7", st, created, err)
	}
	if st := x.standing(m[0]); st.Status != waitline.PreQueue {
		t.Fatalf("Standing(%s) after the freeze = %+v, want pre_queue", m[0], st)
	}

	key := []byte("first key")
	plan, err := l.FreezePreQueue(ctx, x.drop, key)
	if err != nil {
		t.Fatalf("FreezePreQueue: %v", err)
	}
	if !plan.Frozen || plan.Placed || plan.Base != 0 || plan.Slots != 5 {
		t.Fatalf("FreezePreQueue = %+v, want frozen, unplaced, Base 0, Slots 5", plan)
	}
	// Join froze the pre-queue without a key: the first key given is kept.
	if string(plan.Key) != string(key) {
		t.Fatalf("FreezePreQueue kept key %q, want %q", plan.Key, key)
	}
	again, err := l.FreezePreQueue(ctx, x.drop, []byte("second key"))
	if err != nil || !again.Frozen || again.Placed || again.Base != 0 || again.Slots != 5 || string(again.Key) != string(key) {
		t.Fatalf("FreezePreQueue again = %+v, %v; want %+v", again, err, plan)
	}
	if left, err := l.PreQueueLeft(ctx, x.drop); err != nil || !slices.Equal(left, []int64{3}) {
		t.Fatalf("PreQueueLeft = %v, %v; want [3]", left, err)
	}
	if err := l.FinishPreQueue(ctx, x.drop, []int64{3}); !errors.Is(err, waitline.ErrPreQueueBusy) {
		t.Fatalf("FinishPreQueue with members unplaced: err = %v, want ErrPreQueueBusy", err)
	}

	// The shuffle here is a reversal: slot i owns seq 6-i.
	seqOf := func(slot int64) int64 { return plan.Base + plan.Slots + 1 - slot }
	placements := func(ms []waitline.PreQueueMember) []waitline.Placement {
		ps := make([]waitline.Placement, len(ms))
		for i, mm := range ms {
			ps[i] = waitline.Placement{UserID: mm.UserID, Seq: seqOf(mm.Slot)}
		}
		return ps
	}
	members := func(after int64, n int, want ...waitline.PreQueueMember) []waitline.PreQueueMember {
		t.Helper()
		got, err := l.PreQueueMembers(ctx, x.drop, after, n)
		if err != nil || len(got) != len(want) || (len(want) > 0 && !slices.Equal(got, want)) {
			t.Fatalf("PreQueueMembers(%d, %d) = %v, %v; want %v", after, n, got, err, want)
		}
		return got
	}
	members(1, 1, waitline.PreQueueMember{UserID: m[1], Slot: 2})
	members(2, 10, waitline.PreQueueMember{UserID: m[3], Slot: 4}, waitline.PreQueueMember{UserID: m[4], Slot: 5})
	chunk := members(0, 2, waitline.PreQueueMember{UserID: m[0], Slot: 1}, waitline.PreQueueMember{UserID: m[1], Slot: 2})
	if err := l.Place(ctx, x.drop, placements(chunk)); err != nil {
		t.Fatalf("Place: %v", err)
	}
	preLen(2)
	x.counts(4, 0)
	// Placing never moves anyone back: both line joiners still count every
	// member ahead, placed or not.
	x.waitsAt(late[0], 5)
	x.waitsAt(late[1], 6)
	for _, u := range m[:2] {
		if st := x.standing(u); st.Status != waitline.Waiting || st.Position < 1 || st.Position > 4 {
			t.Fatalf("placed %s stands %+v, want waiting within the first four", u, st)
		}
	}

	// The placer crashed here: its successor starts over from slot 0 and
	// replays the first chunk, which places nobody twice.
	rest := members(0, 10, waitline.PreQueueMember{UserID: m[3], Slot: 4}, waitline.PreQueueMember{UserID: m[4], Slot: 5})
	if err := l.Place(ctx, x.drop, append(placements(chunk), placements(rest)...)); err != nil {
		t.Fatalf("Place of the rest: %v", err)
	}
	preLen(0)
	members(0, 10)
	x.counts(6, 0)
	if s := x.snapshot(); s.Ready {
		t.Fatalf("Snapshot before FinishPreQueue = %+v, want not ready", s)
	}

	holes := []int64{seqOf(3)}
	if err := l.FinishPreQueue(ctx, x.drop, nil); !errors.Is(err, waitline.ErrPreQueueBusy) {
		t.Fatalf("FinishPreQueue with stale holes: err = %v, want ErrPreQueueBusy", err)
	}
	if err := l.FinishPreQueue(ctx, x.drop, holes); err != nil {
		t.Fatalf("FinishPreQueue: %v", err)
	}
	if err := l.FinishPreQueue(ctx, x.drop, holes); err != nil {
		t.Fatalf("FinishPreQueue again: %v", err)
	}
	if plan, err := l.FreezePreQueue(ctx, x.drop, nil); err != nil || !plan.Placed || string(plan.Key) != string(key) {
		t.Fatalf("FreezePreQueue after finishing = %+v, %v; want placed, first key", plan, err)
	}
	order := []string{m[4], m[3], m[1], m[0], late[0], late[1]}
	s := x.snapshot()
	if s.Head != 1 || s.Tail != 7 || !slices.Equal(s.Gone, holes) {
		t.Fatalf("Snapshot after finishing = %+v, want Head 1, Tail 7, Gone %v", s, holes)
	}
	x.exact(s, order)
	x.peek(10, order...)
	x.notInLine(m[2])

	// From here on it is an ordinary line.
	after := newID("user")
	x.joinAt(after, true, 7)
	x.decide(issued(m[4]), issued(m[3]))
	x.exact(x.snapshot(), append(order[2:], after))
}

func testLineFreezeEmpty(t *testing.T, l waitline.WaitingLine) {
	ctx := t.Context()
	x := newLiner(t, l)
	u := users(2)
	x.joinAt(u[0], true, 1)
	plan, err := l.FreezePreQueue(ctx, x.drop, []byte("k"))
	if err != nil || !plan.Frozen || !plan.Placed || plan.Slots != 0 {
		t.Fatalf("FreezePreQueue of a pre-queue nobody joined = %+v, %v; want frozen and placed", plan, err)
	}
	// Too late for the pre-queue: the buyer joins the line.
	st, created, err := l.JoinPreQueue(ctx, x.drop, u[1])
	if err != nil || !created || st.Status != waitline.Waiting || st.Position != 2 {
		t.Fatalf("JoinPreQueue after opening = %+v, %v, %v; want a line place at 2", st, created, err)
	}
	if err := l.FinishPreQueue(ctx, x.drop, nil); err != nil {
		t.Fatalf("FinishPreQueue of an empty pre-queue: %v", err)
	}
	x.exact(x.snapshot(), u)
}

func testLinePassesEnd(t *testing.T, l waitline.WaitingLine) {
	x := newLiner(t, l)
	now := baseTime()
	u := users(3)
	for i, v := range u {
		x.joinAt(v, true, int64(i+1))
	}
	a := admitted(u[0], now.Add(time.Minute))
	b := admitted(u[1], now.Add(time.Minute))
	x.decide(a, b)
	x.active(now, 2)

	// Giving a pass back frees its place at once, long before it lapses.
	x.leave(u[0])
	x.active(now, 1)
	expired := a
	expired.Status = waitline.Expired
	x.hasDecision(x.standing(u[0]), expired)
	if err := x.l.Leave(t.Context(), x.drop, u[0]); !errors.Is(err, waitline.ErrNotInLine) {
		t.Fatalf("Leave of a pass already given back: err = %v, want ErrNotInLine", err)
	}
	if got := x.lapsed(now.Add(time.Hour), 10); len(got) != 1 || got[0].UserID != u[1] {
		t.Fatalf("Lapsed = %+v, want only %s", got, u[1])
	}

	// A seat claimed under KeepPass leaves the pass counted.
	kept := issued(u[1])
	kept.Pass, kept.KeepPass = b.Pass, true
	x.decide(kept)
	x.hasDecision(x.standing(u[1]), kept)
	x.active(now, 1)
	if got := x.lapsed(now.Add(time.Hour), 10); len(got) != 1 || got[0].UserID != u[1] || got[0].Status != waitline.Issued {
		t.Fatalf("Lapsed = %+v, want %s's kept pass", got, u[1])
	}
	// The next decision without KeepPass ends it.
	done := issued(u[1])
	done.Pass = b.Pass
	x.decide(done)
	x.active(now, 0)
	x.counts(1, 2)
}
