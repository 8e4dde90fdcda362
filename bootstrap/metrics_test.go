package bootstrap

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/fastdeal/fastdeal/test/testenv"
)

// startListeners runs the application from the environment with both
// listeners on free loopback ports and returns their base URLs.
func startListeners(t *testing.T) (api, admin string) {
	t.Helper()
	cfg, err := EmbeddedConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTPAddr, cfg.AdminAddr, cfg.Demo = "127.0.0.1:0", "127.0.0.1:0", true
	var (
		ep    *Endpoint
		admEP *AdminEndpoint
	)
	app, err := newApp(cfg, fx.Populate(&ep, &admEP))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := app.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	if admEP.Addr == "" {
		t.Fatal("admin listener not started")
	}
	return ep.URL(), "http://" + admEP.Addr
}

// Defect 8: /metrics is on each instance's private admin listener, with the
// HTTP and the sale metrics of one registry; the public listener serves it
// only when FASTDEAL_PUBLIC_METRICS=true.
func TestMetricsOnTheAdminListenerOnly(t *testing.T) {
	testenv.ClearFastdealEnv(t)
	api, admin := startListeners(t)
	if code, body := do(t, http.MethodPost, api+"/v1/drops/"+DemoSeatedID+"/claims", `{"seat":"C-4"}`, "X-User-ID", "metrics"); code != 201 {
		t.Fatalf("claim: %d %s", code, body)
	}

	res, err := http.Get(api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Status int    `json:"status"`
		Code   string `json:"code"`
	}
	err = json.NewDecoder(res.Body).Decode(&p)
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound || res.Header.Get("Content-Type") != "application/problem+json" || err != nil || p.Status != 404 {
		t.Fatalf("public /metrics by default: %d %s %+v (%v), want 404 problem+json", res.StatusCode, res.Header.Get("Content-Type"), p, err)
	}

	code, body := get(t, admin+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("admin /metrics: %d %.300s", code, body)
	}
	for _, name := range []string{
		`fastdeal_http_requests_total{method="POST",route="/v1/drops/:id/claims",status="201"} 1`,
		`fastdeal_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`fastdeal_claims_total{outcome="issued"} 1`,
		`fastdeal_issued_total{drop="` + DemoSeatedID + `"} 1`,
		"fastdeal_persist_seconds_bucket",
		"go_goroutines",
	} {
		if !strings.Contains(body, name) {
			t.Errorf("admin /metrics lacks %s", name)
		}
	}
}

func TestPublicMetricsWhenAskedFor(t *testing.T) {
	testenv.ClearFastdealEnv(t)
	t.Setenv("FASTDEAL_PUBLIC_METRICS", "true")
	api, admin := startListeners(t)
	if code, body := get(t, api+"/v1/drops/"+DemoSeatedID); code != 200 {
		t.Fatalf("drop: %d %s", code, body)
	}
	for _, base := range []string{api, admin} {
		code, body := get(t, base+"/metrics")
		if code != http.StatusOK || !strings.Contains(body, `fastdeal_http_requests_total{method="GET",route="/v1/drops/:id",status="200"} 1`) {
			t.Fatalf("%s/metrics with FASTDEAL_PUBLIC_METRICS=true: %d %.300s", base, code, body)
		}
	}
}

func TestPublicMetricsSettingParses(t *testing.T) {
	testenv.ClearFastdealEnv(t)
	if cfg, err := LoadConfig(); err != nil || cfg.PublicMetrics {
		t.Fatalf("default: PublicMetrics %v (%v), want false", cfg.PublicMetrics, err)
	}
	t.Setenv("FASTDEAL_PUBLIC_METRICS", "perhaps")
	if _, err := LoadConfig(); err == nil || !strings.Contains(err.Error(), "FASTDEAL_PUBLIC_METRICS") {
		t.Fatalf("FASTDEAL_PUBLIC_METRICS=perhaps: %v, want an error naming the setting", err)
	}
}
