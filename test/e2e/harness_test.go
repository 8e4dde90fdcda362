// Package e2e_test drives the REST API of the API reference (docs/openapi.yaml) over real HTTP: the real
// Fiber server on a real listener, the real use cases, the memory adapters.
package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	httpapi "github.com/fastdeal/fastdeal/adapters/http"
	"github.com/fastdeal/fastdeal/adapters/memory"
	"github.com/fastdeal/fastdeal/application"
	"github.com/fastdeal/fastdeal/test/testenv"
)

func TestMain(m *testing.M) {
	if err := loadContract(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testenv.VerifyTestMain(m,
		// fasthttp refreshes its cached Date header from one process-wide
		// goroutine it starts on first use and never stops.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		// A stopped fasthttp worker pool's cleaner notices the stop only when
		// its idle sleep (10s) ends; it exits then, holding nothing.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	)
}

const (
	adminToken = "e2e-admin-token"
	jwtSecret  = "e2e-jwt-secret"
)

// stack is one server over a fresh memory adapter set.
type stack struct {
	t      *testing.T
	base   string
	client *http.Client
	reg    *prometheus.Registry
}

type stackOptions struct {
	cfg    httpapi.Config
	checks []httpapi.Check
	// stores, when set, may wrap the memory adapters (failure injection).
	stores func(*application.Stores)
}

func newStack(t *testing.T, o stackOptions) *stack {
	t.Helper()
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	st := application.Stores{
		Drops:     memory.NewDrops(),
		Inventory: memory.NewInventory(),
		Line:      memory.NewLine(),
		Ledger:    memory.NewLedger(),
		Lease:     memory.NewLease(nil),
	}
	if o.stores != nil {
		o.stores(&st)
	}
	cache := application.NewDropCache(st.Drops, 500*time.Millisecond)
	recon := application.NewReconciler(st, log)
	sales := application.NewSales(st, cache, recon, application.SalesOptions{}, log)
	catalog := application.NewCatalog(st, cache, recon)
	disp := application.NewDispatcher(st, cache, application.DispatcherOptions{
		Tick: 10 * time.Millisecond, RefreshEvery: 50 * time.Millisecond,
	}, log)

	cfg := o.cfg
	if cfg.AdminToken == "" {
		cfg.AdminToken = adminToken
	}
	reg := prometheus.NewRegistry()
	srv := httpapi.New(cfg, sales, catalog, o.checks, reg, reg, log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	disp.Start()

	// The client waits a minute: these tests judge answers, not latency, and
	// 200 concurrent buyers under -race on a busy machine outwaited 10s.
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	s := &stack{t: t, base: "http://" + ln.Addr().String(), client: &http.Client{Transport: tr, Timeout: time.Minute}, reg: reg}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
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

// req is one HTTP request; headers nil means none beyond the defaults.
type req struct {
	method, path, body string
	headers            map[string]string
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

func (s *stack) do(r req) resp {
	s.t.Helper()
	res, err := s.try(r)
	if err != nil {
		s.t.Fatal(err)
	}
	return res
}

// try is do for goroutines, which must not call t.Fatal.
func (s *stack) try(r req) (resp, error) {
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr, err := http.NewRequest(r.method, s.base+r.path, body)
	if err != nil {
		return resp{}, err
	}
	if r.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.headers {
		hr.Header.Set(k, v)
	}
	res, err := s.client.Do(hr)
	if err != nil {
		return resp{}, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return resp{}, err
	}
	// Errorf, not Fatal: try runs in goroutines too. A mismatch fails the
	// test without changing what the caller sees.
	if err := checkContract(hr, res.StatusCode, res.Header, b); err != nil {
		s.t.Errorf("contract: %v", err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}, nil
}

// decode unmarshals the body into v, failing the test on malformed JSON.
func (r resp) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

// expect fails the test unless the response has the status.
func (r resp) expect(t *testing.T, status int) resp {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	return r
}

func admin() map[string]string { return map[string]string{"Authorization": "Bearer " + adminToken} }

func user(id string) map[string]string { return map[string]string{"X-User-ID": id} }

func userKey(id, key string) map[string]string {
	return map[string]string{"X-User-ID": id, "Idempotency-Key": key}
}

func token(t *testing.T, secret, sub string, exp time.Time) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject: sub, ExpiresAt: jwt.NewNumericDate(exp),
	}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// mustJSON renders v for a request body.
func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// createDrop creates a drop through the admin API and returns its JSON.
func (s *stack) createDrop(body map[string]any) dropBody {
	s.t.Helper()
	var d dropBody
	s.do(req{"POST", "/v1/admin/drops", mustJSON(s.t, body), admin()}).expect(s.t, http.StatusCreated).decode(s.t, &d)
	return d
}

type dropBody struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	Kind           string     `json:"kind"`
	Region         string     `json:"region"`
	Venue          string     `json:"venue"`
	Stock          int        `json:"stock"`
	Remaining      int64      `json:"remaining"`
	Status         string     `json:"status"`
	OpensAt        *time.Time `json:"opens_at"`
	ClosesAt       *time.Time `json:"closes_at"`
	PerUserLimit   int        `json:"per_user_limit"`
	Admission      string     `json:"admission"`
	AdmitRate      int        `json:"admit_rate"`
	LineLength     int64      `json:"line_length"`
	Paused         bool       `json:"paused"`
	PassTTLSeconds int        `json:"pass_ttl_seconds"`
}

type issuanceBody struct {
	ID       string    `json:"id"`
	DropID   string    `json:"drop_id"`
	UserID   string    `json:"user_id"`
	Seat     string    `json:"seat"`
	Code     string    `json:"code"`
	IssuedAt time.Time `json:"issued_at"`
}

type claimBody struct {
	Status   string        `json:"status"`
	Issuance *issuanceBody `json:"issuance"`
}

type lineBody struct {
	Status     string        `json:"status"`
	Position   int64         `json:"position"`
	Ahead      int64         `json:"ahead"`
	ETASeconds float64       `json:"eta_seconds"`
	Issuance   *issuanceBody `json:"issuance"`
	Pass       *struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	} `json:"pass"`
}

type problemBody struct {
	Type    string   `json:"type"`
	Title   string   `json:"title"`
	Status  int      `json:"status"`
	Detail  string   `json:"detail"`
	Code    string   `json:"code"`
	Field   string   `json:"field"`
	Failing []string `json:"failing"`
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// seatLabels returns n labels S1..Sn.
func seatLabels(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("S%d", i+1)
	}
	return out
}

// bigBody is a JSON object of about n bytes.
func bigBody(n int) string {
	var b bytes.Buffer
	b.WriteString(`{"name":"`)
	b.WriteString(strings.Repeat("x", n))
	b.WriteString(`","kind":"general","stock":1}`)
	return b.String()
}
