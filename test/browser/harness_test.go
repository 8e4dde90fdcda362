// Package browser_test drives the buyer's and the operator's pages in a real
// headless Chromium (Debian's, through chromedp) against an in-process server
// on the memory adapters: what a person sees, not what the API answers.
// Every test saves PNG screenshots in test/browser/screenshots/ (git-ignored)
// and runs axe-core on the pages it visits.
package browser_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	httpapi "github.com/fastdeal/fastdeal/adapters/http"
	"github.com/fastdeal/fastdeal/adapters/memory"
	"github.com/fastdeal/fastdeal/application"
)

const adminToken = "browser-admin-token"

// waitFor bounds every wait on the page. Generous: the machine is shared and
// Chromium is slow to start on it; a passing test never waits this long.
const waitFor = 60 * time.Second

// server is fastdeal on a real listener over fresh memory adapters, with a
// dispatcher ticking fast so that lines move within a test's patience.
type server struct {
	t      *testing.T
	base   string
	client *http.Client
}

func newServer(t *testing.T) *server {
	t.Helper()
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	st := application.Stores{
		Drops:     memory.NewDrops(),
		Inventory: memory.NewInventory(),
		Line:      memory.NewLine(),
		Ledger:    memory.NewLedger(),
		Lease:     memory.NewLease(nil),
	}
	cache := application.NewDropCache(st.Drops, 200*time.Millisecond)
	recon := application.NewReconciler(st, log)
	sales := application.NewSales(st, cache, recon, application.SalesOptions{}, log)
	catalog := application.NewCatalog(st, cache, recon)
	disp := application.NewDispatcher(st, cache, application.DispatcherOptions{
		Tick: 20 * time.Millisecond, RefreshEvery: 100 * time.Millisecond,
	}, log)
	reg := prometheus.NewRegistry()
	// The test's own API calls come from one address and many ids; the
	// pages' polling stays far under the default per-buyer limit.
	srv := httpapi.New(httpapi.Config{AdminToken: adminToken}, sales, catalog, nil, reg, nil, log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	disp.Start()
	tr := &http.Transport{MaxIdleConnsPerHost: 32}
	s := &server{t: t, base: "http://" + ln.Addr().String(), client: &http.Client{Transport: tr, Timeout: 20 * time.Second}}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		tr.CloseIdleConnections()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		disp.Stop(ctx)
	})
	return s
}

// call sends one API request and decodes a JSON answer into out (if not nil).
func (s *server) call(method, path string, headers map[string]string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, err
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return res.StatusCode, fmt.Errorf("decode %s %s: %w: %.200s", method, path, err, b)
		}
	}
	return res.StatusCode, nil
}

func adminHeaders() map[string]string {
	return map[string]string{"Authorization": "Bearer " + adminToken}
}

// drop is the part of a drop the tests read.
type drop struct {
	ID string `json:"id"`
}

func (s *server) createDrop(body map[string]any) drop {
	s.t.Helper()
	var d drop
	code, err := s.call("POST", "/v1/admin/drops", adminHeaders(), body, &d)
	if err != nil || code != http.StatusCreated {
		s.t.Fatalf("create drop: %d %v", code, err)
	}
	return d
}

// join puts n buyers named prefix-i in a drop's line through the API.
func (s *server) join(dropID, prefix string, n int) {
	s.t.Helper()
	for i := range n {
		code, err := s.call("POST", "/v1/drops/"+dropID+"/line", map[string]string{"X-User-ID": fmt.Sprintf("%s-%d", prefix, i)}, map[string]any{}, nil)
		if err != nil || (code != http.StatusAccepted && code != http.StatusOK) {
			s.t.Fatalf("join %s-%d: %d %v", prefix, i, code, err)
		}
	}
}

type stats struct {
	LineLength     int64 `json:"line_length"`
	PreQueueLength int64 `json:"pre_queue_length"`
	Issued         int64 `json:"issued"`
}

func (s *server) stats(dropID string) stats {
	s.t.Helper()
	var st stats
	if code, err := s.call("GET", "/v1/admin/drops/"+dropID+"/stats", adminHeaders(), nil, &st); err != nil || code != http.StatusOK {
		s.t.Fatalf("stats: %d %v", code, err)
	}
	return st
}

// chromiumPath finds Debian's Chromium. A missing browser fails the test
// with the command that installs it: a browser test that skips itself is a
// test that never runs.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("FASTDEAL_CHROMIUM"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Fatalf("no Chromium at /usr/bin/chromium: run `bash infra/local/ensure-services` as root (it runs `apt-get install -y chromium`), " +
		"or `sudo apt-get install -y chromium`, or set FASTDEAL_CHROMIUM to a Chromium binary")
	return ""
}

// browser starts a fresh headless Chromium (its own temporary profile) for
// one test and returns the context of its first tab.
func browser(t *testing.T) context.Context {
	t.Helper()
	// Not t.TempDir: Chromium's helpers may still write there for a moment
	// after the browser is gone, which fails TempDir's own cleanup.
	profile, err := os.MkdirTemp("", "fastdeal-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1100, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	// Start the browser now so that one that cannot start fails here with
	// its error. The first Run's context is the browser's lifetime, so it
	// cannot carry the deadline: a timer cancels it instead.
	stop := time.AfterFunc(waitFor, cancel)
	err = chromedp.Run(ctx)
	stopped := !stop.Stop()
	if err != nil || stopped {
		cancel()
		cancelAlloc()
		t.Fatalf("start Chromium (within %s): %v", waitFor, err)
	}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		for i := 0; i < 50 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	return ctx
}

// run runs actions on a tab with the common deadline.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, waitFor)
	defer cancel()
	if err := chromedp.Run(c, actions...); err != nil {
		shot(t, ctx, "failed-"+what)
		t.Fatalf("%s: %v", what, err)
	}
}

// text reads an element's text once it has some. It asks the page rather
// than holding a node: the pages redraw as they poll, and a node read after
// it was replaced would never answer.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	var s string
	q, _ := json.Marshal(sel)
	run(t, ctx, "read "+sel, chromedp.Poll(fmt.Sprintf(`(() => { const e = document.querySelector(%s); return e && e.textContent.trim() ? e.textContent.trim() : false })()`, q),
		&s, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(waitFor)))
	return strings.TrimSpace(s)
}

// waitJS polls a JavaScript condition until it is true or the deadline.
func waitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	run(t, ctx, what, chromedp.Poll(expr, nil, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(waitFor)))
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// shot saves a full-page PNG of the tab in test/browser/screenshots/.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	var buf []byte
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Run(c, chromedp.FullScreenshot(&buf, 100)); err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	if err := os.MkdirAll("screenshots", 0o755); err != nil {
		t.Logf("screenshot dir: %v", err)
		return
	}
	// Named by test and step, so a new run replaces what the last one saw.
	file := filepath.Join("screenshots", unsafeName.ReplaceAllString(t.Name(), "_")+"-"+unsafeName.ReplaceAllString(name, "_")+".png")
	if err := os.WriteFile(file, buf, 0o644); err != nil {
		t.Logf("write %s: %v", file, err)
	}
}

// axeViolation is one rule axe-core found broken.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any  `json:"target"`
		HTML   string `json:"html"`
	} `json:"nodes"`
}

var axeSource []byte

type runtimeEvaluate = runtime.EvaluateParams

// checkA11y injects the vendored axe-core into the tab and fails the test on
// any serious or critical violation.
func checkA11y(t *testing.T, ctx context.Context, where string) {
	t.Helper()
	if axeSource == nil {
		b, err := os.ReadFile(filepath.Join("axe", "axe.min.js"))
		if err != nil {
			t.Fatalf("read axe-core: %v", err)
		}
		axeSource = b
	}
	var found []axeViolation
	run(t, ctx, "axe "+where,
		chromedp.Evaluate(string(axeSource)+";0", nil),
		chromedp.Evaluate(`axe.run(document, {resultTypes: ['violations']}).then(r => r.violations)`, &found,
			func(p *runtimeEvaluate) *runtimeEvaluate { return p.WithAwaitPromise(true) }),
	)
	for _, v := range found {
		if v.Impact != "serious" && v.Impact != "critical" {
			continue
		}
		var nodes []string
		for _, n := range v.Nodes {
			nodes = append(nodes, fmt.Sprint(n.Target)+" "+n.HTML)
		}
		t.Errorf("axe on %s: %s (%s): %s\n  %s", where, v.ID, v.Impact, v.Help, strings.Join(nodes, "\n  "))
	}
}

// noOverflow fails when the page is wider than the viewport (a phone would
// scroll sideways).
func noOverflow(t *testing.T, ctx context.Context, where string) {
	t.Helper()
	var w struct{ Scroll, Client int }
	run(t, ctx, "width "+where, chromedp.Evaluate(`({Scroll: document.documentElement.scrollWidth, Client: document.documentElement.clientWidth})`, &w))
	if w.Scroll > w.Client+1 {
		t.Errorf("%s: page is %d px wide in a %d px viewport", where, w.Scroll, w.Client)
	}
}
