package memory_test

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
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
	}
}

// TestLongLineStaysFast would take minutes if a position cost a scan of the
// line: 100,000 buyers each asking their place while the head is admitted.
func TestLongLineStaysFast(t *testing.T) {
	const buyers, batch = 100_000, 1000
	ctx := t.Context()
	l := memory.NewLine()
	start := time.Now()
	us := make([]string, buyers)
	for i := range us {
		us[i] = "u" + strconv.Itoa(i)
		if _, _, err := l.Join(ctx, "d", us[i]); err != nil {
			t.Fatal(err)
		}
	}
	for head := 0; head < buyers; head += batch {
		for i := head; i < buyers; i += 97 {
			st, err := l.Standing(ctx, "d", us[i])
			if err != nil || st.Position != int64(i-head+1) {
				t.Fatalf("Standing(%s) = %+v, %v; want position %d", us[i], st, err, i-head+1)
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
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("%d buyers took %v", buyers, took)
	}
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
