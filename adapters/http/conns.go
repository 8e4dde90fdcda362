package httpapi

import (
	"sync"
	"sync/atomic"
	"time"
)

// connTimeouts enforces the server's read, write and idle timeouts on its
// connections by sweeping them on a ticker. fasthttp, given the timeouts,
// moves three deadlines on every request (the wait for the next request, the
// request's read, the answer's write), each a clock read and a timer update
// in the runtime's poller; in a bare Fiber server answering a small GET that
// was about a tenth of the server's and the client's CPU per request
// (docs/benchmarks.md). Here a blocked Read or Write only stores the time of
// the last tick. A timeout fires between its length and its length plus two
// ticks (the stored time is up to a tick old, and sweeps come once a tick):
//   - a Read that waits for a new request: the idle timeout, from when it
//     began waiting (the read timeout on a connection that has sent nothing);
//   - a Read within a request (some of it arrived, its answer has not been
//     written): the read timeout, from the request's first bytes, as
//     fasthttp's read deadline counts;
//   - a Write: the write timeout, from when the Write (or, for a large one,
//     its latest 256 KiB) began, so a long answer or stream that is being
//     read lives on and a client that stopped reading is dropped.
//
// A handler that takes long is neither reading nor writing and is never cut.
type connTimeouts struct {
	read, write, idle int64 // nanoseconds
	tick              time.Duration
	clock             atomic.Int64 // UnixNano of the last tick

	mu    sync.Mutex
	conns map[*lingerConn]struct{}

	stop     chan struct{}
	stopOnce sync.Once
	// sweeps and expired count sweeps made and connections they closed.
	sweeps, expired atomic.Uint64
}

// newConnTimeouts starts the sweeper; stop it with close. The tick is a
// tenth of the shortest timeout, at most a second.
func newConnTimeouts(read, write, idle time.Duration) *connTimeouts {
	tick := min(read, write, idle) / 10
	tick = max(min(tick, time.Second), time.Millisecond)
	t := &connTimeouts{
		read: int64(read), write: int64(write), idle: int64(idle), tick: tick,
		conns: make(map[*lingerConn]struct{}),
		stop:  make(chan struct{}),
	}
	t.clock.Store(time.Now().UnixNano())
	go t.run()
	return t
}

func (t *connTimeouts) run() {
	ticker := time.NewTicker(t.tick)
	defer ticker.Stop()
	for {
		select {
		case <-t.stop:
			return
		case now := <-ticker.C:
			t.clock.Store(now.UnixNano())
			t.sweep(now.UnixNano())
			t.sweeps.Add(1)
		}
	}
}

// close stops the sweeper; connections still open keep working untimed.
func (t *connTimeouts) close() { t.stopOnce.Do(func() { close(t.stop) }) }

func (t *connTimeouts) now() int64 { return t.clock.Load() }

func (t *connTimeouts) add(c *lingerConn) {
	t.mu.Lock()
	t.conns[c] = struct{}{}
	t.mu.Unlock()
}

func (t *connTimeouts) remove(c *lingerConn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
}

// sweep closes every connection whose blocked Read or Write has outlived its
// timeout as of now; the blocked call then returns an error and fasthttp
// lets the connection go.
func (t *connTimeouts) sweep(now int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c := range t.conns {
		if t.overdue(c, now) {
			delete(t.conns, c)
			t.expired.Add(1)
			_ = c.Conn.Close()
		}
	}
}

// overdue adds a tick to each timeout because the times stored are up to a
// tick older than the events, and a timeout must not fire early.
func (t *connTimeouts) overdue(c *lingerConn, now int64) bool {
	now -= int64(t.tick)
	if at := c.writeAt.Load(); at != 0 && now-at > t.write {
		return true
	}
	at := c.readAt.Load()
	if at == 0 {
		return false
	}
	if req := c.requestAt.Load(); req != 0 {
		return now-req > t.read
	}
	if !c.spoke.Load() {
		// A new connection that has sent nothing yet gets the read timeout
		// for its first request, as fasthttp gives it.
		return now-at > t.read
	}
	return now-at > t.idle
}
