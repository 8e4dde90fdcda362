package waitline_test

import (
	"strings"
	"testing"
	"time"

	"github.com/fastdeal/fastdeal/domain/waitline"
)

func TestTicketRoundTrip(t *testing.T) {
	tk := waitline.NewTicketer([]byte("0123456789abcdef0123"))
	now := time.Unix(1_800_000_000, 0)
	in := waitline.Ticket{Epoch: "3f9a0c1d2e4b5a69", Seq: 987_654_321, Last: 123_456, Expires: now.Add(time.Hour)}
	s := tk.Issue("drop-1", "alice", in)
	if len(s) > waitline.MaxTicketLen {
		t.Fatalf("ticket of %d characters, want at most %d", len(s), waitline.MaxTicketLen)
	}
	got, ok := tk.Verify(s, "drop-1", "alice", now)
	if !ok || got.Epoch != in.Epoch || got.Seq != in.Seq || got.Last != in.Last || !got.Expires.Equal(in.Expires) {
		t.Fatalf("verify: %+v %v, want %+v", got, ok, in)
	}
	pre := tk.Issue("drop-1", "alice", waitline.Ticket{Expires: now.Add(time.Hour)})
	if got, ok := tk.Verify(pre, "drop-1", "alice", now); !ok || !got.PreQueue() {
		t.Fatalf("pre-queue ticket: %+v %v", got, ok)
	}
}

func TestTicketRefusesWhatItDidNotIssue(t *testing.T) {
	tk := waitline.NewTicketer([]byte("0123456789abcdef0123"))
	other := waitline.NewTicketer([]byte("another secret, another deployment"))
	now := time.Unix(1_800_000_000, 0)
	good := tk.Issue("d", "alice", waitline.Ticket{Epoch: "e", Seq: 5, Expires: now.Add(time.Minute)})
	flipped := []byte(good)
	flipped[3] ^= 1
	cases := map[string]struct{ ticket, drop, user string }{
		"another buyer":  {good, "d", "bob"},
		"another drop":   {good, "d2", "alice"},
		"another secret": {other.Issue("d", "alice", waitline.Ticket{Epoch: "e", Seq: 5, Expires: now.Add(time.Minute)}), "d", "alice"},
		"flipped bit":    {string(flipped), "d", "alice"},
		"truncated":      {good[:len(good)-2], "d", "alice"},
		"empty":          {"", "d", "alice"},
		"not base64":     {"!!!!", "d", "alice"},
		"too long":       {strings.Repeat("A", 400), "d", "alice"},
		// The holder's name must not slide into the drop's: "d"+"\x00a" is
		// not "d\x00"+"a".
		"shifted binding": {tk.Issue("d\x00a", "lice", waitline.Ticket{Seq: 5, Expires: now.Add(time.Minute)}), "d", "alice"},
	}
	for name, c := range cases {
		if _, ok := tk.Verify(c.ticket, c.drop, c.user, now); ok {
			t.Errorf("%s: verified", name)
		}
	}
	if _, ok := tk.Verify(good, "d", "alice", now.Add(time.Minute)); ok {
		t.Error("an expired ticket verified")
	}
}

func BenchmarkTicketVerify(b *testing.B) {
	tk := waitline.NewTicketer([]byte("0123456789abcdef0123"))
	now := time.Now()
	s := tk.Issue("drop-1", "user-000123", waitline.Ticket{Epoch: "3f9a0c1d2e4b5a69", Seq: 500_000, Last: 1200, Expires: now.Add(time.Hour)})
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := tk.Verify(s, "drop-1", "user-000123", now); !ok {
			b.Fatal("did not verify")
		}
	}
}

// Verify reuses the last epoch it decoded; tickets of lines with different
// epochs, polled in turn (and concurrently, under -race), each still come
// back with their own.
func TestTicketEpochsOfSeveralLines(t *testing.T) {
	tk := waitline.NewTicketer([]byte("0123456789abcdef0123"))
	now := time.Unix(1_800_000_000, 0)
	epochs := []string{"aaaa", "bbbb", "aaab", "", "0123456789abcdef0123456789abcdef"}
	tickets := make([]string, len(epochs))
	for i, e := range epochs {
		tickets[i] = tk.Issue("d", "alice", waitline.Ticket{Epoch: e, Seq: int64(i + 1), Expires: now.Add(time.Hour)})
	}
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for n := range 2000 {
				i := (n + g) % len(epochs)
				got, ok := tk.Verify(tickets[i], "d", "alice", now)
				if !ok || got.Epoch != epochs[i] || got.Seq != int64(i+1) {
					t.Errorf("ticket %d: %+v %v, want epoch %q", i, got, ok, epochs[i])
					return
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
}
