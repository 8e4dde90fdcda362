package load

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

// TestEndpointPercentiles records 1..1000ms once each; the percentiles of a
// uniform sample are known, and HDR's 3 significant figures keep them within 0.1%.
func TestEndpointPercentiles(t *testing.T) {
	start := time.Now()
	e := newEndpoint("x", start, 100*time.Millisecond)
	for i := 1; i <= 1000; i++ {
		intended := start.Add(time.Duration(i) * time.Millisecond)
		e.observe(observation{intended: intended, started: intended, ended: intended.Add(time.Duration(i) * time.Millisecond), status: 200})
	}
	s := e.summary()
	l := s.Latency
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"p50", l.P50Ms, 500}, {"p90", l.P90Ms, 900}, {"p99", l.P99Ms, 990},
		{"p99.9", l.P999Ms, 999}, {"max", l.MaxMs, 1000}, {"mean", l.MeanMs, 500.5},
	} {
		if !near(c.got, c.want, c.want*0.001+0.001) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// 1000 requests intended from 1ms to 1000ms, the last ending at 2000ms.
	if !near(s.Throughput, 1000/1.999, 0.01) {
		t.Errorf("throughput = %v, want %v", s.Throughput, 1000/1.999)
	}
	if s.LateStarts != 0 {
		t.Errorf("late starts = %d on a punctual schedule", s.LateStarts)
	}
}

// TestLatencyIsFromIntendedStart: a request that started 50ms late and took
// 10ms has a latency of 60ms, and counts as late.
func TestLatencyIsFromIntendedStart(t *testing.T) {
	start := time.Now()
	e := newEndpoint("x", start, time.Second)
	e.observe(observation{intended: start, started: start.Add(50 * time.Millisecond), ended: start.Add(60 * time.Millisecond), status: 201})
	s := e.summary()
	if !near(s.Latency.MaxMs, 60, 0.1) || s.LateStarts != 1 {
		t.Fatalf("latency %vms, late %d; want 60ms and 1", s.Latency.MaxMs, s.LateStarts)
	}
}

func TestStatusClassesAndErrors(t *testing.T) {
	start := time.Now()
	e := newEndpoint("x", start, 10*time.Millisecond)
	obs := func(status int, kind errKind) {
		e.observe(observation{intended: start, started: start, ended: start.Add(time.Millisecond), status: status, kind: kind})
	}
	for _, st := range []int{200, 201, 202, 409, 409, 429, 400, 404, 500, 503, 302} {
		obs(st, errNone)
	}
	for _, k := range []errKind{errTimeout, errTimeout, errRefused, errReset, errOther} {
		obs(0, k)
	}
	s := e.summary()
	want := StatusCounts{S2xx: 3, S409: 2, S429: 1, S4xx: 2, S5xx: 2, Other: 1}
	if s.Status != want {
		t.Errorf("status = %+v, want %+v", s.Status, want)
	}
	if s.Errors != (ErrorCounts{Timeout: 2, Refused: 1, Reset: 1, Other: 1}) || s.Errors.Total() != 5 {
		t.Errorf("errors = %+v", s.Errors)
	}
	if s.Codes[409] != 2 || s.Codes[503] != 1 {
		t.Errorf("codes = %v", s.Codes)
	}
	if e.answered() != 5 || e.failures() != 10 || e.total() != 16 {
		t.Errorf("answered %d failures %d total %d, want 5, 10, 16", e.answered(), e.failures(), e.total())
	}
}

func TestTimelineBuckets(t *testing.T) {
	start := time.Now()
	e := newEndpoint("x", start, 100*time.Millisecond)
	for i := range 10 {
		at := start.Add(time.Duration(i) * 10 * time.Millisecond)
		e.observe(observation{intended: at, started: at, ended: at.Add(2 * time.Millisecond), status: 200})
	}
	late := start.Add(250 * time.Millisecond)
	e.observe(observation{intended: late, started: late, ended: late.Add(20 * time.Millisecond), status: 500})
	// Far past the planned run: folded into the last bucket, not lost.
	far := start.Add(time.Hour)
	e.observe(observation{intended: far, started: far, ended: far, status: 200})
	tl := e.summary().Timeline
	if len(tl) != maxBuckets {
		t.Fatalf("timeline has %d points, want %d", len(tl), maxBuckets)
	}
	if tl[0].Answered != 10 || !near(tl[0].PerSecond, 100, 0.001) || !near(tl[0].P99Ms, 2, 0.05) || !near(tl[0].AtSeconds, 0.1, 1e-9) {
		t.Errorf("bucket 0 = %+v", tl[0])
	}
	if tl[2].Errors != 1 || tl[2].Answered != 0 || !near(tl[2].P50Ms, 20, 0.2) {
		t.Errorf("bucket 2 = %+v", tl[2])
	}
	if tl[1].Answered != 0 || tl[maxBuckets-1].Answered != 1 {
		t.Errorf("bucket 1 = %+v, last = %+v", tl[1], tl[maxBuckets-1])
	}
}

func TestRateOfEmptyWindow(t *testing.T) {
	if rate(5, 0) != 0 || rate(10, 2*time.Second) != 5 {
		t.Fatal("rate is wrong")
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		err  error
		want errKind
	}{
		{nil, errNone},
		{fasthttp.ErrTimeout, errTimeout},
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), errRefused},
		{&net.OpError{Op: "read", Err: syscall.ECONNRESET}, errReset},
		{fasthttp.ErrConnectionClosed, errReset},
		{io.EOF, errReset},
		{errors.New("dial tcp4 127.0.0.1:1: connect: connection refused"), errRefused},
		{errors.New("something odd"), errOther},
	}
	for _, c := range cases {
		if got := classify(c.err); got != c.want {
			t.Errorf("classify(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// TestClientErrorKinds provokes each transport error for real on loopback.
func TestClientErrorKinds(t *testing.T) {
	// Refused: a port that was just closed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	// Slow: a server that answers only when the test ends, so the timeout
	// case does not depend on how long a busy machine takes.
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer slow.Close()
	defer close(release)

	// Reset: a server that reads the request and hangs up without answering.
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close()
	go func() {
		for {
			conn, err := hang.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			_, _ = conn.Read(buf)
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // RST rather than FIN
			}
			conn.Close()
		}
	}()

	// Only the timeout case has a short timeout: refusal and reset must be
	// seen as such even when a busy machine is slow to deliver them.
	for _, c := range []struct {
		url     string
		timeout time.Duration
		want    errKind
	}{
		{closed, 30 * time.Second, errRefused},
		{slow.URL, 100 * time.Millisecond, errTimeout},
		{"http://" + hang.Addr().String(), 30 * time.Second, errReset},
	} {
		cl, err := newClient(c.url, "", c.timeout, 4)
		if err != nil {
			t.Fatal(err)
		}
		var got reply
		cl.do(http.MethodPost, "/x", header{}, []byte("{}"), header{}, func(r reply) { got = r })
		cl.close()
		if got.kind != c.want {
			t.Errorf("%s: kind %v (%v), want %v", c.url, got.kind, got.err, c.want)
		}
	}
}

func TestPromValue(t *testing.T) {
	body := []byte("# HELP x\nprocess_resident_memory_bytes_total 1\nprocess_resident_memory_bytes 1.2345e+07\n")
	if v := promValue(body, "process_resident_memory_bytes"); v != 12345000 {
		t.Fatalf("promValue = %d", v)
	}
	if v := promValue(body, "absent"); v != -1 {
		t.Fatalf("promValue(absent) = %d", v)
	}
}

// TestRedisUsedMemory speaks RESP with a one-shot fake Redis.
func TestRedisUsedMemory(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		buf := make([]byte, 256)
		n, _ := conn.Read(buf)
		if !strings.Contains(string(buf[:n]), "INFO") {
			return
		}
		info := "# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\n"
		fmt.Fprintf(conn, "$%d\r\n%s\r\n", len(info), info)
	}()
	v, err := redisUsedMemory(ln.Addr().String())
	if err != nil || v != 1048576 {
		t.Fatalf("redisUsedMemory = %d, %v", v, err)
	}
	if v, err := redisUsedMemory(""); v != 0 || err != nil {
		t.Fatalf("no address: %d, %v", v, err)
	}
}

func TestSampleOf(t *testing.T) {
	users := []int{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}
	if got := sampleOf(users, 5); fmt.Sprint(got) != "[10 12 14 16 18]" {
		t.Fatalf("sampleOf = %v", got)
	}
	if got := sampleOf(users, 50); len(got) != 10 {
		t.Fatalf("sampleOf larger than input = %v", got)
	}
}
