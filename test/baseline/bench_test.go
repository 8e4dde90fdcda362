package main

// The Go form of bench.sh's yardstick rows: in-process servers on loopback
// listeners, a fasthttp client at 64 concurrent requests (wrk -c64's load),
// each benchmark reporting req/s. They are benchmarks only: `go test` asserts
// nothing about speed. Ratios come from the output, with no test involved:
//
//	go test -c -o /tmp/baseline.test ./test/baseline
//	for i in 1 2 3; do /tmp/baseline.test -test.run '^$' -test.bench . -test.benchtime 5s; done | tee /tmp/yard.txt
//	go run ./test/baseline -ratios /tmp/yard.txt
//
// Each invocation runs the four in source order, so each fastdeal case runs
// right after its bare twin; a loop of invocations alternates them. fastdeal
// runs on the Redis-only profile (memory drops and ledger, Redis line and
// inventory) with its default per-buyer limits: the join and the status poll
// touch neither MySQL nor the ledger, so the full profile would measure the
// same paths. FASTDEAL_TEST_REDIS_ADDR names another Redis.

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/valyala/fasthttp"

	"github.com/fastdeal/fastdeal/bootstrap"
	"github.com/fastdeal/fastdeal/test/testenv"
)

// benchTickets is how many buyers the ticketed status polls cycle through:
// enough that 400,000 polls a second stay under the default 20 per buyer.
const benchTickets = 20000

type yardstick struct {
	bareAddr string
	fd       *bootstrap.Embedded
	fdAddr   string
	drop     string
	tickets  []ticketed
	stop     func()
}

var (
	yardOnce sync.Once
	yard     *yardstick
	yardErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if yard != nil {
		yard.stop()
	}
	os.Exit(code)
}

// setup starts both servers once per process and joins the ticketed buyers.
func setup(b *testing.B) *yardstick {
	b.Helper()
	yardOnce.Do(func() { yard, yardErr = start() })
	if yardErr != nil {
		b.Fatal(yardErr)
	}
	return yard
}

func start() (*yardstick, error) {
	y := &yardstick{}
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{testenv.RedisAddr()}, DisableCache: true})
	if err != nil {
		return nil, fmt.Errorf("redis at %s: %w", testenv.RedisAddr(), err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		rc.Close()
		return nil, err
	}
	bare := newBare(rc)
	go func() { _ = bare.Listener(ln) }()
	y.bareAddr = ln.Addr().String()

	// The server's own settings only: a developer's FASTDEAL_* must not
	// change what is measured.
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "FASTDEAL_") && !strings.HasPrefix(k, "FASTDEAL_TEST_") {
			os.Unsetenv(k)
		}
	}
	os.Setenv("FASTDEAL_REDIS_ADDR", testenv.RedisAddr())
	os.Setenv("FASTDEAL_LOG_LEVEL", "error")
	cfg, err := bootstrap.LoadConfig()
	if err != nil {
		_ = bare.Shutdown()
		rc.Close()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	y.fd, err = bootstrap.StartEmbedded(ctx, cfg)
	if err != nil {
		_ = bare.Shutdown()
		rc.Close()
		return nil, err
	}
	y.fdAddr = strings.TrimPrefix(y.fd.URL, "http://")
	y.stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = y.fd.Stop(ctx)
		_ = bare.Shutdown()
		rc.Close()
	}
	y.drop = "gobench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	body := `{"id":"` + y.drop + `","name":"bench","kind":"general","stock":10000000,"admission":"queued","paused":true}`
	st, ans, err := do(y.fdAddr, "POST", "/v1/admin/drops", body, "Authorization", "Bearer "+y.fd.AdminToken)
	if err != nil || st != fasthttp.StatusCreated {
		y.stop()
		return nil, fmt.Errorf("create the drop: %d %s %v", st, ans, err)
	}
	y.tickets, err = joinAll(ctx, y.fd.URL+"/v1/drops/"+y.drop+"/line", "gk", benchTickets)
	if err != nil {
		y.stop()
		return nil, err
	}
	return y, nil
}

// do makes one request with the given header pairs.
func do(addr, method, path, body string, header ...string) (int, string, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + addr + path)
	req.Header.SetMethod(method)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	req.SetBodyString(body)
	err := fasthttp.DoTimeout(req, resp, 10*time.Second)
	return resp.StatusCode(), string(resp.Body()), err
}

// drive sends requests from 64 goroutines over 64 connections until b.N,
// each built by fill, and reports req/s. Any answer but want fails the
// benchmark: a 429 or a 5xx would make the rate meaningless.
func drive(b *testing.B, addr string, want int, fill func(req *fasthttp.Request, n int64)) {
	b.Helper()
	client := &fasthttp.HostClient{Addr: addr, MaxConns: 64, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	var seq atomic.Int64
	var bad atomic.Int64
	var firstBad atomic.Value
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		for pb.Next() {
			req.Reset()
			resp.Reset()
			fill(req, seq.Add(1))
			if err := client.Do(req, resp); err != nil || resp.StatusCode() != want {
				if bad.Add(1) == 1 {
					firstBad.Store(fmt.Sprintf("%d %s %v", resp.StatusCode(), resp.Body(), err))
				}
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	if n := bad.Load(); n > 0 {
		b.Fatalf("%d of %d answers were not %d; first: %v", n, b.N, want, firstBad.Load())
	}
}

func BenchmarkBareHello(b *testing.B) {
	y := setup(b)
	uri := "http://" + y.bareAddr + "/hello"
	drive(b, y.bareAddr, fasthttp.StatusOK, func(req *fasthttp.Request, _ int64) {
		req.SetRequestURI(uri)
	})
}

// BenchmarkBareHelloSameRequests sends the ticketed polls' very requests
// (their headers too) to the bare hello: the client shares the cores, so
// this is the twin whose client work is the same.
func BenchmarkBareHelloSameRequests(b *testing.B) {
	y := setup(b)
	drive(b, y.bareAddr, fasthttp.StatusOK, ticketedPoll(y, "http://"+y.bareAddr+"/hello"))
}

func BenchmarkTicketedStatus(b *testing.B) {
	y := setup(b)
	drive(b, y.fdAddr, fasthttp.StatusOK, ticketedPoll(y, "http://"+y.fdAddr+"/v1/drops/"+y.drop+"/line/me"))
}

// ticketedPoll builds the n-th ticketed poll, sent to uri.
func ticketedPoll(y *yardstick, uri string) func(req *fasthttp.Request, n int64) {
	return func(req *fasthttp.Request, n int64) {
		t := y.tickets[n%int64(len(y.tickets))]
		req.SetRequestURI(uri)
		req.Header.Set("X-User-ID", t.user)
		req.Header.Set("X-Line-Ticket", t.ticket)
	}
}

func BenchmarkBareLuaJoin(b *testing.B) {
	y := setup(b)
	uri := "http://" + y.bareAddr + "/v1/drops/bare-" + y.drop + "/line"
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	drive(b, y.bareAddr, fasthttp.StatusAccepted, func(req *fasthttp.Request, n int64) {
		req.SetRequestURI(uri)
		req.Header.SetMethod(fasthttp.MethodPost)
		req.Header.Set("X-User-ID", "b"+run+"-"+strconv.FormatInt(n, 36))
	})
}

func BenchmarkJoin(b *testing.B) {
	y := setup(b)
	uri := "http://" + y.fdAddr + "/v1/drops/" + y.drop + "/line"
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	drive(b, y.fdAddr, fasthttp.StatusAccepted, func(req *fasthttp.Request, n int64) {
		req.SetRequestURI(uri)
		req.Header.SetMethod(fasthttp.MethodPost)
		req.Header.Set("X-User-ID", "j"+run+"-"+strconv.FormatInt(n, 36))
	})
}
