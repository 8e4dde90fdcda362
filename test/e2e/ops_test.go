package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	httpapi "github.com/fastdeal/fastdeal/adapters/http"
	"github.com/fastdeal/fastdeal/adapters/memory"
	"github.com/fastdeal/fastdeal/application"
	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/issuance"
)

func TestHealthAndReadiness(t *testing.T) {
	var redisDown atomic.Bool
	s := newStack(t, stackOptions{checks: []httpapi.Check{
		{Name: "mysql", Ping: func(context.Context) error { return nil }},
		{Name: "redis", Ping: func(context.Context) error {
			if redisDown.Load() {
				return errors.New("dial tcp: connection refused")
			}
			return nil
		}},
		{Name: "flaky", Ping: func(context.Context) error {
			if redisDown.Load() {
				panic("a check that panics must not take the server down")
			}
			return nil
		}},
	}})
	s.do(req{"GET", "/healthz", "", nil}).expect(t, 200)
	s.do(req{"GET", "/readyz", "", nil}).expect(t, 200)

	redisDown.Store(true)
	r := s.do(req{"GET", "/readyz", "", nil}).expect(t, http.StatusServiceUnavailable)
	var p problemBody
	r.decode(t, &p)
	if r.header.Get("Content-Type") != "application/problem+json" || p.Code != "not_ready" ||
		!strings.Contains(p.Detail, "redis") || strings.Contains(p.Detail, "mysql") ||
		len(p.Failing) != 2 || p.Failing[0] != "redis" || p.Failing[1] != "flaky" {
		t.Fatalf("readyz with redis down: %s", r)
	}
	s.do(req{"GET", "/healthz", "", nil}).expect(t, 200)
	redisDown.Store(false)
	s.do(req{"GET", "/readyz", "", nil}).expect(t, 200)
}

func TestMetrics(t *testing.T) {
	s := newStack(t, unlimited)
	d := s.createDrop(map[string]any{"id": "metered", "name": "M", "kind": "general", "stock": 1})
	q := s.createDrop(map[string]any{"id": "metered-q", "name": "Q", "kind": "general", "stock": 1, "admission": "queued", "paused": true})
	s.do(req{"POST", "/v1/drops/" + d.ID + "/claims", "{}", user("a")}).expect(t, 201)
	s.do(req{"POST", "/v1/drops/" + d.ID + "/claims", "{}", user("b")}).expect(t, 409)
	s.do(req{"POST", "/v1/drops/" + q.ID + "/line", "", user("a")}).expect(t, 202)
	s.do(req{"POST", "/v1/drops/" + q.ID + "/line", "", user("a")}).expect(t, 200)
	s.do(req{"GET", "/v1/drops/" + d.ID, "", nil}).expect(t, 200)
	s.do(req{"GET", "/v1/no/such/" + strconv.Itoa(int(time.Now().UnixNano())), "", nil}).expect(t, 404)

	body := string(s.do(req{"GET", "/metrics", "", nil}).expect(t, 200).body)
	for _, want := range []string{
		`fastdeal_http_requests_total{method="POST",route="/v1/drops/:id/claims",status="201"} 1`,
		`fastdeal_http_requests_total{method="POST",route="/v1/drops/:id/claims",status="409"} 1`,
		`fastdeal_http_requests_total{method="GET",route="/v1/drops/:id",status="200"} 1`,
		`fastdeal_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`fastdeal_http_request_duration_seconds_count{route="/v1/drops/:id/claims"} 2`,
		`fastdeal_claims_total{outcome="issued"} 1`,
		`fastdeal_claims_total{outcome="sold_out"} 1`,
		`fastdeal_claims_total{outcome="unavailable"} 0`,
		`fastdeal_line_joins_total{result="new"} 1`,
		`fastdeal_line_joins_total{result="existing"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s\n%s", want, body)
		}
	}
	if strings.Contains(body, "/v1/no/such") {
		t.Error("an unmatched URL became a label")
	}
}

func TestRateLimit(t *testing.T) {
	s := newStack(t, stackOptions{cfg: httpapi.Config{RatePerUser: 0.5, RateBurst: 3}})
	s.createDrop(map[string]any{"id": "limited", "name": "L", "kind": "general", "stock": 10})
	for range 3 {
		s.do(req{"GET", "/v1/me/issuances", "", user("greedy")}).expect(t, 200)
	}
	r := s.do(req{"POST", "/v1/drops/limited/claims", "{}", user("greedy")}).expect(t, http.StatusTooManyRequests)
	var p problemBody
	r.decode(t, &p)
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if p.Code != "rate_limited" || r.header.Get("Content-Type") != "application/problem+json" || err != nil || secs < 1 || secs > 2 {
		t.Fatalf("429 answer %s Retry-After %q", r, r.header.Get("Retry-After"))
	}
	// Limits are per buyer; public reads and admin calls are not limited.
	s.do(req{"POST", "/v1/drops/limited/claims", "{}", user("patient")}).expect(t, 201)
	for range 10 {
		s.do(req{"GET", "/v1/drops/limited", "", user("greedy")}).expect(t, 200)
		s.do(req{"GET", "/v1/admin/drops/limited/stats", "", admin()}).expect(t, 200)
	}
}

func TestJWTMode(t *testing.T) {
	s := newStack(t, stackOptions{cfg: httpapi.Config{JWTSecret: jwtSecret, RatePerUser: -1}})
	s.createDrop(map[string]any{"id": "jwt", "name": "J", "kind": "general", "stock": 10})
	alice := bearer(token(t, jwtSecret, "alice", time.Now().Add(time.Hour)))
	alice["X-User-ID"] = "mallory"

	r, c := s.claim("jwt", alice, "{}")
	r.expect(t, http.StatusCreated)
	if c.Issuance.UserID != "alice" {
		t.Fatalf("issued to %q, want the token's subject", c.Issuance.UserID)
	}
	var mine struct {
		Issuances []issuanceBody `json:"issuances"`
	}
	s.do(req{"GET", "/v1/me/issuances", "", alice}).expect(t, 200).decode(t, &mine)
	if len(mine.Issuances) != 1 || mine.Issuances[0].ID != c.Issuance.ID {
		t.Fatalf("alice's issuances %+v", mine.Issuances)
	}
	s.do(req{"GET", "/v1/me/issuances", "", bearer(token(t, jwtSecret, "mallory", time.Now().Add(time.Hour)))}).
		expect(t, 200).decode(t, &mine)
	if len(mine.Issuances) != 0 {
		t.Fatalf("mallory holds %+v", mine.Issuances)
	}
	// The admin token still works next to buyer tokens.
	s.do(req{"GET", "/v1/admin/drops/jwt/stats", "", admin()}).expect(t, 200)
}

// failingLedger is a ledger whose store can be switched off.
type failingLedger struct {
	*memory.Ledger
	down atomic.Bool
}

func (l *failingLedger) Record(ctx context.Context, iss issuance.Issuance) error {
	if l.down.Load() {
		return fmt.Errorf("ledger: %w", issuance.ErrUnavailable)
	}
	return l.Ledger.Record(ctx, iss)
}

// panickyDrops panics reading one drop, standing in for any bug below the adapter.
type panickyDrops struct{ *memory.Drops }

func (d panickyDrops) Get(ctx context.Context, id string) (*drop.Drop, error) {
	if id == "boom" {
		panic("bug below the HTTP adapter")
	}
	return d.Drops.Get(ctx, id)
}

func TestStorageDownAndPanics(t *testing.T) {
	ledger := &failingLedger{Ledger: memory.NewLedger()}
	s := newStack(t, stackOptions{cfg: unlimited.cfg, stores: func(st *application.Stores) {
		st.Ledger = ledger
		st.Drops = panickyDrops{memory.NewDrops()}
	}})
	d := s.createDrop(map[string]any{"name": "Fragile", "kind": "general", "stock": 1})

	ledger.down.Store(true)
	r := s.do(req{"POST", "/v1/drops/" + d.ID + "/claims", "{}", user("alice")}).expect(t, http.StatusServiceUnavailable)
	var p problemBody
	r.decode(t, &p)
	if p.Code != "unavailable" || r.header.Get("Content-Type") != "application/problem+json" || strings.Contains(p.Detail, "ledger") {
		t.Fatalf("claim with the ledger down: %s", r)
	}
	var got dropBody
	s.do(req{"GET", "/v1/drops/" + d.ID, "", nil}).expect(t, 200).decode(t, &got)
	if got.Remaining != 1 {
		t.Fatalf("a failed claim kept a unit: remaining %d", got.Remaining)
	}
	ledger.down.Store(false)
	s.do(req{"POST", "/v1/drops/" + d.ID + "/claims", "{}", user("alice")}).expect(t, http.StatusCreated)

	r = s.do(req{"GET", "/v1/drops/boom", "", nil}).expect(t, http.StatusInternalServerError)
	r.decode(t, &p)
	if p.Code != "internal" || strings.Contains(p.Detail, "bug") || r.header.Get("X-Request-ID") == "" {
		t.Fatalf("panic answered %s", r)
	}
	s.do(req{"GET", "/healthz", "", nil}).expect(t, 200)
}

// TestShutdownClosesIdleConnections checks that Shutdown does not wait for a
// keep-alive connection that sits idle.
func TestShutdownClosesIdleConnections(t *testing.T) {
	srv := httpapi.New(httpapi.Config{AdminToken: adminToken}, nil, nil, nil, nil, nil, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	if n, err := conn.Read(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200") {
		t.Fatalf("healthz over a raw connection: %q %v", buf[:n], err)
	}

	// Waiting on the idle connection would take the 60s idle timeout; the
	// bound catches that with room for a busy machine.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with an idle keep-alive connection: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
}
