package load

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/fastdeal/fastdeal/test/testenv"
)

// benchServerEnv makes the test binary serve canned claim answers instead of
// running tests: the CPU benchmark puts the server in another process so that
// this process's CPU time is the client's alone.
const benchServerEnv = "FASTDEAL_LOAD_BENCH_SERVER"

const cannedClaim = `{"status":"issued","issuance":{"id":"i1","drop_id":"d1","user_id":"u0000001","seat":"S00001","code":"ABCD1234","issued_at":"2026-01-01T00:00:00Z"}}`

// cannedWaiting is a status answer as a server pacing its polls gives it.
const cannedWaiting = `{"status":"waiting","position":123456,"ahead":123455,"eta_seconds":61.7,"poll_after_ms":30000}`

func TestMain(m *testing.M) {
	if os.Getenv(benchServerEnv) == "1" {
		serveCanned()
		return
	}
	code := m.Run()
	stopBenchServer()
	if code == 0 {
		// fasthttp's idle-connection cleaner outlives a client by up to its idle
		// timeout, and its dialer's DNS cache cleaner lives for the process, by
		// design; everything else this package starts must be gone.
		if err := testenv.FindLeaks(
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*TCPDialer).tcpAddrsClean"),
		); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// serveCanned answers every request with a 201 claim until stdin closes, which
// happens when the parent exits, so the child never outlives it.
func serveCanned() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().String())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/line/me") {
			_, _ = io.WriteString(w, cannedWaiting)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, cannedClaim)
	}))
}

var bench struct {
	once sync.Once
	cmd  *exec.Cmd
	in   io.WriteCloser
	addr string
	err  error
}

func benchServer(b *testing.B) string {
	bench.once.Do(func() {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), benchServerEnv+"=1")
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			bench.err = err
			return
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			bench.err = err
			return
		}
		if bench.err = cmd.Start(); bench.err != nil {
			return
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			bench.err = fmt.Errorf("bench server: %w", err)
			return
		}
		bench.cmd, bench.in, bench.addr = cmd, in, strings.TrimSpace(line)
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	return bench.addr
}

func stopBenchServer() {
	if bench.cmd == nil {
		return
	}
	_ = bench.in.Close()
	done := make(chan struct{})
	go func() { _ = bench.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = bench.cmd.Process.Kill()
		<-done
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measureCPU runs one request per iteration from 64 goroutines and reports
// this process's CPU time per request: what the load generator takes from the
// cores it shares with the server.
func measureCPU(b *testing.B, do func()) {
	b.ReportAllocs()
	b.SetParallelism(32)
	before := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			do()
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-before)/float64(time.Microsecond)/float64(b.N), "cpu-us/req")
}

// BenchmarkClientCPU measures the client's CPU per request, including what Run
// does around it (the histogram record and decoding the answer): a claim with
// fasthttp (what Run uses) and, for comparison, a tuned net/http Transport; and
// a coupon-rush status poll the way Run sends it, dispatched from the follow-up
// heap to the worker pool, with its ticket. The trivial server runs in a child
// process, so this process's CPU time is the client's alone.
func BenchmarkClientCPU(b *testing.B) {
	addr := benchServer(b)
	body := []byte(`{"seat":"S00001"}`)
	id := header{"X-User-ID", "u0000001"}
	b.Run("fasthttp", func(b *testing.B) {
		c, err := newClient("http://"+addr, "", 10*time.Second, 1024)
		if err != nil {
			b.Fatal(err)
		}
		defer c.close()
		ep := newEndpoint("claim", time.Now(), time.Second)
		measureCPU(b, func() {
			start := time.Now()
			c.do(http.MethodPost, "/v1/drops/d1/claims", id, body, header{"Idempotency-Key", "k1"}, func(rep reply) {
				ep.observe(observation{intended: start, started: start, ended: time.Now(), status: rep.status, kind: rep.kind})
				var a answer
				if rep.status != http.StatusCreated || json.Unmarshal(rep.body, &a) != nil || a.Status != "issued" {
					b.Errorf("bad reply %d %v", rep.status, rep.err)
				}
			})
		})
	})
	b.Run("status-poll", func(b *testing.B) {
		c, err := newClient("http://"+addr, "", 10*time.Second, 1024)
		if err != nil {
			b.Fatal(err)
		}
		defer c.close()
		const users = 4096
		_, hs, err := identities(users, "", time.Now().Add(time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		ticket := header{ticketHeader, strings.Repeat("t", 96)}
		ep := newEndpoint(EndpointLineStatus, time.Now(), time.Second)
		b.ReportAllocs()
		var s *scheduler
		poll := func(u int, _ uint8, intended time.Time) {
			started := time.Now()
			c.do(http.MethodGet, "/v1/drops/d1/line/me", hs[u%users], nil, ticket, func(rep reply) {
				ep.observe(observation{intended: intended, started: started, ended: time.Now(), status: rep.status, kind: rep.kind})
				var a answer
				if rep.status != http.StatusOK || json.Unmarshal(rep.body, &a) != nil || a.Status != "waiting" || a.PollAfterMs == 0 {
					b.Errorf("bad reply %d %v", rep.status, rep.err)
				}
			})
		}
		// Every poll is due at once: the heap, the dispatcher and the pool run
		// flat out, as they do when a pre-queue's polls land after opening.
		s = newScheduler(time.Now(), nil, 64, nil)
		s.follow = poll
		for u := range b.N {
			s.after(s.start, u, opPoll)
		}
		before := cpuTime()
		b.ResetTimer()
		s.run(context.Background())
		b.StopTimer()
		b.ReportMetric(float64(cpuTime()-before)/float64(time.Microsecond)/float64(b.N), "cpu-us/req")
	})
	b.Run("net-http", func(b *testing.B) {
		tr := &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: 5 * time.Second, DisableCompression: true}
		defer tr.CloseIdleConnections()
		hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		url := "http://" + addr + "/v1/drops/d1/claims"
		ep := newEndpoint("claim", time.Now(), time.Second)
		measureCPU(b, func() {
			start := time.Now()
			req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
			req.Header.Set("X-User-ID", id.value)
			req.Header.Set("Idempotency-Key", "k1")
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			ep.observe(observation{intended: start, started: start, ended: time.Now(), status: resp.StatusCode})
			var a answer
			if resp.StatusCode != http.StatusCreated || json.Unmarshal(raw, &a) != nil || a.Status != "issued" {
				b.Errorf("bad reply %d", resp.StatusCode)
			}
		})
	})
}
