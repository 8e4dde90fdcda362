package application

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fastdeal/fastdeal/adapters/memory"
	"github.com/fastdeal/fastdeal/domain/waitline"
)

// slowLine counts snapshot reads and holds each until released, as a store
// under load would.
type slowLine struct {
	waitline.WaitingLine
	reads   atomic.Int64
	release chan struct{}
}

func (l *slowLine) Snapshot(ctx context.Context, dropID string) (waitline.Snapshot, error) {
	l.reads.Add(1)
	<-l.release
	return l.WaitingLine.Snapshot(ctx, dropID)
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// When no snapshot is young enough, the polls of a line wait for one refresh
// instead of each going to the store: one read serves a thousand polls.
func TestStaleSnapshotPollsShareOneRefresh(t *testing.T) {
	line := &slowLine{WaitingLine: memory.NewLine(), release: make(chan struct{})}
	if _, _, err := line.Join(context.Background(), "d", "u"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c := newLineSnapshots(line, fixedClock{now}, time.Minute, zap.NewNop())
	const polls = 1000
	var wg sync.WaitGroup
	var served atomic.Int64
	for range polls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if snap, ok := c.get("d", now); ok && snap.Tail == 1 {
				served.Add(1)
			}
		}()
	}
	// Hold the read until it started; polls that come after it answers find
	// a fresh snapshot, so one read is right whatever the scheduling.
	deadline := time.Now().Add(30 * time.Second)
	for line.reads.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(line.release)
	wg.Wait()
	if n := line.reads.Load(); n != 1 {
		t.Fatalf("%d snapshot reads for %d concurrent polls of a stale line, want 1", n, polls)
	}
	if n := served.Load(); n != polls {
		t.Fatalf("%d of %d polls served from the refreshed snapshot", n, polls)
	}
}
