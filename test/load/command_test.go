package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeEmbed starts a fake server per call, planting an oversell for the
// strategies named in broken, and records the strategies it was asked for.
func fakeEmbed(t *testing.T, broken map[string]bool, asked *[]string) EmbedFunc {
	return func(_ context.Context, strategy string) (string, string, func(context.Context) error, error) {
		*asked = append(*asked, strategy)
		f := &fakeServer{token: "tok-" + strategy, drops: map[string]*fakeDrop{}, oversell: broken[strategy]}
		srv := httptest.NewServer(f.handler())
		t.Cleanup(srv.Close)
		return srv.URL, f.token, func(context.Context) error { srv.Close(); return nil }, nil
	}
}

func runCommand(t *testing.T, embed EmbedFunc, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	// The command falls back to these; a developer's shell must not change the test.
	t.Setenv("FASTDEAL_JWT_SECRET", "")
	t.Setenv("FASTDEAL_ADMIN_TOKEN", "")
	cmd := NewCommand(embed)
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	cmd.SetContext(context.Background())
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestCommandEmbeddedWritesReports(t *testing.T) {
	dir := t.TempDir()
	jsonPath, htmlPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
	var asked []string
	out, errOut, err := runCommand(t, fakeEmbed(t, nil, &asked), "coupon-rush", "--embedded", "--strategy", "memory",
		"--stock", "20", "--users", "80", "--ramp", "2s", "--wait", "1s", "--poll", "2s", "--admit-rate", "10",
		"--speed", "10", "--json", jsonPath, "--html", htmlPath)
	if err != nil {
		t.Fatalf("load coupon-rush: %v\n%s", err, out)
	}
	if len(asked) != 1 || asked[0] != "memory" {
		t.Fatalf("embed asked for %v, want [memory]", asked)
	}
	for _, want := range []string{"coupon-rush against http://127.0.0.1:", "join", "line_status", "p99.9 ms", "audit PASSED", "FIFO"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "answered") {
		t.Errorf("no progress bar on stderr: %q", errOut)
	}
	rep := readReport(t, jsonPath)
	if rep.Sale.Issued != 20 || !rep.Audit.Passed || len(rep.Endpoints) != 2 || len(rep.Endpoints[0].Timeline) == 0 {
		t.Fatalf("JSON report incomplete: issued %d, audit %v, %d endpoints", rep.Sale.Issued, rep.Audit.Passed, len(rep.Endpoints))
	}
	page, err := os.ReadFile(htmlPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Throughput over time", "Latency over time", "Latency percentiles", "audit PASSED"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("HTML page lacks %q", want)
		}
	}
	// Self-contained: the charting library is inlined, nothing is fetched.
	if bytes.Contains(page, []byte("<script src=")) || !bytes.Contains(page, []byte("echarts")) {
		t.Error("HTML page links scripts instead of inlining them")
	}
}

func TestCommandFailedAuditExitsNonZero(t *testing.T) {
	var asked []string
	out, _, err := runCommand(t, fakeEmbed(t, map[string]bool{"": true}, &asked), "concert-spike", "--embedded",
		"--stock", "30", "--stages", "1s:100", "--speed", "4", "--no-progress")
	if err == nil || !strings.Contains(err.Error(), "seat") {
		t.Fatalf("want an audit error naming the seat, got %v", err)
	}
	if !strings.Contains(out, "audit FAILED") || !strings.Contains(out, "FAIL server: no seat twice") {
		t.Fatalf("report does not show the failed check:\n%s", out)
	}
}

func TestCommandCompareStrategies(t *testing.T) {
	var asked []string
	out, _, err := runCommand(t, fakeEmbed(t, map[string]bool{"redislock": true}, &asked), "--compare-strategies", "--embedded",
		"--stock", "30", "--stages", "1s:100", "--speed", "4", "--no-progress")
	if strings.Join(asked, ",") != "redis,redislock,mysql" {
		t.Fatalf("strategies run: %v", asked)
	}
	if err == nil || !strings.Contains(err.Error(), "redislock") {
		t.Fatalf("want the redislock audit failure reported, got %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "strategy") {
		t.Fatalf("want a header and three rows:\n%s", out)
	}
	for i, s := range CompareStrategies {
		row := lines[i+1]
		if !strings.HasPrefix(row, s+" ") {
			t.Errorf("row %d is not %s: %q", i, s, row)
		}
		if failed := strings.Contains(row, "FAILED"); failed != (s == "redislock") {
			t.Errorf("row %q: audit failed = %v", row, failed)
		}
	}
}

func TestCommandCompareNeedsServers(t *testing.T) {
	_, _, err := runCommand(t, nil, "--compare-strategies")
	if err == nil || !strings.Contains(err.Error(), "--servers") {
		t.Fatalf("want a usage error, got %v", err)
	}
	_, _, err = runCommand(t, nil, "--compare-strategies", "--servers", "oracle=http://127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "unknown strategy") {
		t.Fatalf("want an unknown-strategy error, got %v", err)
	}
	_, _, err = runCommand(t, nil, "--embedded")
	if err == nil || !strings.Contains(err.Error(), "no in-process server") {
		t.Fatalf("want a missing-embed error, got %v", err)
	}
	_, _, err = runCommand(t, nil, "stampede")
	if err == nil || !strings.Contains(err.Error(), "unknown scenario") {
		t.Fatalf("want an unknown-scenario error, got %v", err)
	}
}

func TestCommandCompareWithServers(t *testing.T) {
	var urls []string
	for range CompareStrategies {
		f := &fakeServer{token: "shared", drops: map[string]*fakeDrop{}}
		srv := httptest.NewServer(f.handler())
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	servers := "redis=" + urls[0] + ",redislock=" + urls[1] + ",mysql=" + urls[2]
	out, _, err := runCommand(t, nil, "--compare-strategies", "--servers", servers, "--admin-token", "shared",
		"--stock", "20", "--stages", "1s:80", "--speed", "4", "--no-progress")
	if err != nil {
		t.Fatalf("compare: %v\n%s", err, out)
	}
	if strings.Count(out, "passed") != 3 {
		t.Fatalf("want three passed rows:\n%s", out)
	}
}

func TestParseServers(t *testing.T) {
	m, err := parseServers("redis=http://127.0.0.1:1, mysql=http://127.0.0.1:2")
	if err != nil || m["redis"] != "http://127.0.0.1:1" || m["mysql"] != "http://127.0.0.1:2" || len(m) != 2 {
		t.Fatalf("parseServers = %v, %v", m, err)
	}
	if _, err := parseServers("redis"); err == nil {
		t.Fatal("accepted an entry without =")
	}
	if got := withSuffix("/tmp/r.html", "redis"); got != "/tmp/r-redis.html" {
		t.Fatalf("withSuffix = %q", got)
	}
}

// fakeRedis answers INFO memory with a used_memory that grows by 1,000 bytes
// a call, like a Redis filling with a line.
func fakeRedis(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var used atomic.Int64
	used.Store(1 << 20)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 256)
			_, _ = conn.Read(buf)
			body := fmt.Sprintf("# Memory\r\nused_memory:%d\r\n", used.Add(1000))
			_, _ = fmt.Fprintf(conn, "$%d\r\n%s\r\n", len(body), body)
			_ = conn.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
	return ln.Addr().String()
}

func TestCommandPrequeueNationalReport(t *testing.T) {
	metrics := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 5.24288e+07\n")
	}))
	t.Cleanup(metrics.Close)
	dir := t.TempDir()
	jsonPath, htmlPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
	var asked []string
	out, errOut, err := runCommand(t, fakeEmbed(t, nil, &asked), "coupon-rush", "--embedded",
		"--users", "300", "--stock", "60", "--admit-rate", "300", "--ramp", "500ms", "--prequeue", "40%",
		"--prequeue-window", "2s", "--wait", "100ms", "--poll", "100ms", "--metrics-url", metrics.URL+"/metrics",
		"--redis", fakeRedis(t), "--json", jsonPath, "--html", htmlPath)
	if err != nil {
		t.Fatalf("load coupon-rush --prequeue: %v\n%s", err, out)
	}
	// A join sent just before opening may be answered after it, so on a busy
	// machine a few of the 120 join the line instead.
	for _, want := range []string{"pre-queue: 120 users planned over 2.0s", "answered pre_queue", "arrival/issue rank correlation",
		"waiting at the peak", "server RSS peak 50.0MiB (metrics)", "B per waiting buyer", "every user decided",
		"ok   pre-queue ahead of later arrivals", "ok   pre-queue shuffled at opening", "audit PASSED"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "joined") {
		t.Errorf("the progress bar does not say who joined: %q", errOut)
	}
	rep := readReport(t, jsonPath)
	cr := rep.CouponRush
	if cr == nil || cr.WaitingPeak == 0 || cr.ServerRSSPeak != 52428800 || cr.RedisAtPeak <= cr.RedisBefore ||
		cr.PrequeueRankCorrelation == nil || rep.Config.Prequeue != 0.4 {
		t.Fatalf("JSON coupon-rush section incomplete: %+v, config %+v", cr, rep.Config)
	}
	page, err := os.ReadFile(htmlPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(page, []byte("Waiting buyers and status polls")) {
		t.Error("HTML page lacks the waiting chart")
	}
}

func TestCommandPollAndPrequeueFlags(t *testing.T) {
	for _, args := range [][]string{
		{"coupon-rush", "--prequeue", "130%"},
		{"coupon-rush", "--prequeue", "lots"},
		{"coupon-rush", "--fixed-poll", "-1s"},
		{"concert-spike", "--prequeue", "30%", "--target", "http://127.0.0.1:1"},
	} {
		if _, _, err := runCommand(t, nil, append(args, "--no-progress")...); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	cmd := NewCommand(nil)
	if !strings.Contains(cmd.Long, "docs/scenarios.md") || strings.Contains(cmd.Long, "SCENARIOS.md") {
		t.Errorf("help does not point at docs/scenarios.md:\n%s", cmd.Long)
	}
	o := &options{fixedPoll: 2 * time.Second, prequeue: "0.3", stages: "1s:1"}
	if err := o.finish(cmd, CouponRush); err != nil {
		t.Fatal(err)
	}
	if !o.cfg.FixedPoll || o.cfg.Poll != 2*time.Second || o.cfg.Prequeue != 0.3 {
		t.Fatalf("flags gave %+v", o.cfg)
	}
}

// readReport reads the --json report a run wrote.
func readReport(t *testing.T, path string) Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("JSON report: %v", err)
	}
	return rep
}
