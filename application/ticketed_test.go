package application_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/fastdeal/fastdeal/application"
	"github.com/fastdeal/fastdeal/domain/drop"
)

// snapshotCounting wires Sales with a ticket secret and counts the polls it
// answers from the line snapshot.
func snapshotCounting(w wiring) (*application.Sales, *atomic.Int64) {
	fast := new(atomic.Int64)
	sales := w.sales(application.SalesOptions{
		TicketSecret: []byte("ticketed-test-secret"),
		OnStatus: func(_ string, snapshot bool) {
			if snapshot {
				fast.Add(1)
			}
		},
	})
	return sales, fast
}

// A ticketed poll whose position has not changed carries no ticket (the
// client keeps the presented one) instead of signing a new one; once the line
// moves, the answer carries a new ticket that tells the better position, and
// that one is honoured.
func TestTicketedPollKeepsTheTicketUntilThePositionChanges(t *testing.T) {
	ctx := context.Background()
	w := wire(memStores())
	cat := w.cat
	sales, fast := snapshotCounting(w)
	d, err := cat.Create(ctx, drop.Params{Name: "q", Kind: drop.KindGeneral, Stock: 5,
		Admission: drop.AdmissionQueued, AdmitRate: 10, Paused: true})
	if err != nil {
		t.Fatal(err)
	}
	tickets := map[string]string{}
	for _, u := range []string{"u1", "u2", "u3"} {
		v, _, err := sales.JoinLine(ctx, d.ID(), u)
		if err != nil || v.Ticket == "" {
			t.Fatalf("join %s: %+v %v", u, v, err)
		}
		tickets[u] = v.Ticket
	}

	// poll until the snapshot answers (the first polls start its refresh).
	poll := func(want int64) application.LineView {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			before := fast.Load()
			v, err := sales.LineStatus(ctx, d.ID(), "u3", tickets["u3"])
			if err != nil {
				t.Fatal(err)
			}
			if fast.Load() > before && v.Position == want {
				return v
			}
			if v.Ticket != "" {
				tickets["u3"] = v.Ticket
			}
			if time.Now().After(deadline) {
				t.Fatalf("no snapshot answer at position %d within 20 s: last %+v", want, v)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	v := poll(3)
	if v.Ticket != "" {
		t.Fatalf("same position, new ticket %q; want none (the client keeps the presented one)", v.Ticket)
	}
	if err := sales.LeaveLine(ctx, d.ID(), "u1"); err != nil {
		t.Fatal(err)
	}
	old := tickets["u3"]
	v = poll(2)
	if v.Ticket == "" || v.Ticket == old {
		t.Fatalf("the position went from 3 to 2 and the ticket %q did not change", v.Ticket)
	}
	tickets["u3"] = v.Ticket
	if v := poll(2); v.Ticket != "" {
		t.Fatalf("the new ticket was not honoured (a fresh one came back): %+v", v)
	}
}

// The HTTP adapter hands LineStatus its request's bytes, which it reuses
// once the answer is out: a poll, answered from the snapshot or from the
// store, must leave nothing behind that aliases them. Here the strings
// alias one buffer that is scribbled over after each call; the snapshot
// must go on answering, and the drop and the buyer's standing must read
// the same afterwards.
func TestLineStatusKeepsNoBorrowedBytes(t *testing.T) {
	ctx := context.Background()
	w := wire(memStores())
	sales, fast := snapshotCounting(w)
	d, err := w.cat.Create(ctx, drop.Params{Name: "q", Kind: drop.KindGeneral, Stock: 5,
		Admission: drop.AdmissionQueued, AdmitRate: 10, Paused: true})
	if err != nil {
		t.Fatal(err)
	}
	var ticket string
	for _, u := range []string{"u1", "u2"} {
		v, _, err := sales.JoinLine(ctx, d.ID(), u)
		if err != nil {
			t.Fatal(err)
		}
		ticket = v.Ticket
	}
	buf := []byte(d.ID() + "u2" + ticket)
	borrowed := func() (string, string, string) {
		s := unsafe.String(unsafe.SliceData(buf), len(buf))
		return s[:len(d.ID())], s[len(d.ID()) : len(d.ID())+2], s[len(d.ID())+2:]
	}
	scribble := func() {
		for i := range buf {
			buf[i] = 'x'
		}
	}
	// Until the snapshot has answered a few polls: the first ones register
	// the line for its refresh, and a registration that kept the borrowed
	// id would refresh a line named "xxx..." and never answer.
	deadline := time.Now().Add(20 * time.Second)
	for fast.Load() < 3 {
		for _, tk := range []bool{true, false} {
			dropID, user, tkt := borrowed()
			if !tk {
				tkt = ""
			}
			v, err := sales.LineStatus(ctx, dropID, user, tkt)
			scribble()
			if err != nil || v.Position != 2 {
				t.Fatalf("poll (ticket %v): %+v %v, want position 2", tk, v, err)
			}
			copy(buf, d.ID()+"u2"+ticket)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no poll was answered from the snapshot within 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	scribble()
	v, err := sales.LineStatus(ctx, d.ID(), "u2", "")
	if err != nil || v.Position != 2 {
		t.Fatalf("after the borrowed polls: %+v %v, want position 2", v, err)
	}
	got, err := w.cat.Get(ctx, d.ID())
	if err != nil || got.ID() != d.ID() {
		t.Fatalf("drop after the borrowed polls: %v %v", got, err)
	}
}
