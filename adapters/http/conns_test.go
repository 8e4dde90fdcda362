package httpapi

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// timedServer serves a bare Server with the given timeouts on a loopback
// port, with two extra routes: /hold answers once release is closed, /big
// answers 16 MiB.
const bigSize = 16 << 20

func timedServer(t *testing.T, read, write, idle time.Duration) (addr string, s *Server, release chan struct{}) {
	t.Helper()
	reg := prometheus.NewRegistry()
	s = New(Config{AdminToken: "t", ReadTimeout: read, WriteTimeout: write, IdleTimeout: idle}, nil, nil, nil, reg, reg, nil)
	release = make(chan struct{})
	s.app.Get("/hold", func(c *fiber.Ctx) error {
		<-release
		return c.SendString("held")
	})
	big := strings.Repeat("x", bigSize)
	s.app.Get("/big", func(c *fiber.Ctx) error { return c.SendString(big) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	// Serve registers its sweeper before it accepts.
	for {
		s.tmu.Lock()
		n := len(s.timeouts)
		s.tmu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		<-served
	})
	return ln.Addr().String(), s, release
}

// timeoutsOf is the sweeper of s's only Serve.
func timeoutsOf(t *testing.T, s *Server) *connTimeouts {
	t.Helper()
	s.tmu.Lock()
	n := len(s.timeouts)
	s.tmu.Unlock()
	if n != 1 {
		t.Fatalf("%d sweepers, want 1", n)
	}
	return s.timeouts[0]
}

// closedWithin reads from c until it fails and reports how long that took;
// it fails the test if the server has not closed c within limit.
func closedWithin(t *testing.T, c net.Conn, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(limit))
	_, err := io.Copy(io.Discard, c)
	took := time.Since(start)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server kept the connection open for %s", limit)
	}
	return took
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestIdleConnectionClosedAfterIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	addr, _, _ := timedServer(t, 5*time.Second, 5*time.Second, idle)
	c := dial(t, addr)
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%v %v", resp, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	// Well under the 5 s read timeout, and not long before the idle timeout
	// (the server began waiting before the answer reached us, and a busy
	// machine may hold this test back, hence the allowance).
	if took := closedWithin(t, c, 4*time.Second); took < idle/2 {
		t.Fatalf("closed %s after the answer, before the %s idle timeout", took, idle)
	}
}

func TestSilentNewConnectionGetsTheReadTimeout(t *testing.T) {
	const read = 300 * time.Millisecond
	addr, _, _ := timedServer(t, read, 5*time.Second, time.Minute)
	c := dial(t, addr)
	if took := closedWithin(t, c, 30*time.Second); took < read {
		t.Fatalf("closed after %s, before the %s read timeout", took, read)
	}
}

func TestStalledRequestClosedAfterReadTimeout(t *testing.T) {
	const read = 300 * time.Millisecond
	addr, _, _ := timedServer(t, read, 5*time.Second, time.Minute)
	c := dial(t, addr)
	// A request whose header never ends (slowloris), on a connection that
	// has already served one: the read timeout counts from its first byte,
	// not the minute of idle time.
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	if took := closedWithin(t, c, 30*time.Second); took < read {
		t.Fatalf("closed after %s, before the %s read timeout", took, read)
	}
}

func TestLongHandlerIsNotCut(t *testing.T) {
	const timeout = 100 * time.Millisecond
	addr, s, release := timedServer(t, timeout, timeout, timeout)
	sw := timeoutsOf(t, s)
	c := dial(t, addr)
	if _, err := io.WriteString(c, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// Let the sweeper look at the connection for well over every timeout
	// (counted in sweeps, not wall time) while the handler works.
	start := sw.sweeps.Load()
	for sw.sweeps.Load() < start+40 {
		time.Sleep(sw.tick)
	}
	close(release)
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("the connection of a handler that took long was cut: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "held" || sw.expired.Load() != 0 {
		t.Fatalf("body %q, %d connections expired", body, sw.expired.Load())
	}
}

func TestClientThatStopsReadingIsDropped(t *testing.T) {
	const write = 200 * time.Millisecond
	addr, s, _ := timedServer(t, 5*time.Second, write, time.Minute)
	sw := timeoutsOf(t, s)
	c := dial(t, addr)
	if _, err := io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// Read nothing: the 16 MiB answer fills the socket buffers and the
	// server's write blocks until the sweeper drops the connection.
	deadline := time.Now().Add(30 * time.Second)
	for sw.expired.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a client that stopped reading kept its connection for 30 s")
		}
		time.Sleep(sw.tick)
	}
}

func TestSlowButSteadyReaderKeepsItsAnswer(t *testing.T) {
	const write = time.Second
	addr, s, _ := timedServer(t, 5*time.Second, write, time.Minute)
	sw := timeoutsOf(t, s)
	c := dial(t, addr)
	if _, err := io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Minute))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	// A reader that takes a pause after each MiB needs well over the write
	// timeout for the whole answer, while the server's writes keep moving.
	var n int64
	start := time.Now()
	for {
		m, err := io.CopyN(io.Discard, resp.Body, 1<<20)
		n += m
		if err != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n != bigSize || sw.expired.Load() != 0 {
		t.Fatalf("read %d of %d bytes in %s; %d connections expired", n, bigSize, time.Since(start), sw.expired.Load())
	}
	if took := time.Since(start); took <= write {
		t.Fatalf("the answer took %s, not longer than the %s write timeout: the test proves nothing", took, write)
	}
}

// Request ids made here differ between the requests of one connection and
// between connections.
func TestRequestIDsAreUnique(t *testing.T) {
	addr, _, _ := timedServer(t, 5*time.Second, 5*time.Second, 5*time.Second)
	seen := map[string]bool{}
	for range 3 {
		// A client of its own is a connection of its own; each sends three
		// requests on its connection.
		client := &http.Client{Transport: &http.Transport{}}
		for range 3 {
			resp, err := client.Get("http://" + addr + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			id := resp.Header.Get("X-Request-ID")
			if id == "" || seen[id] {
				t.Fatalf("request id %q: empty or seen before (%v)", id, seen)
			}
			seen[id] = true
		}
		client.CloseIdleConnections()
	}
}
