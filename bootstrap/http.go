package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/fx"
	"go.uber.org/zap"

	httpapi "github.com/fastdeal/fastdeal/adapters/http"
	"github.com/fastdeal/fastdeal/application"
)

// Endpoint is where the public API listens once started (the real port when
// FASTDEAL_HTTP_ADDR asks for port 0).
type Endpoint struct {
	Addr string
}

// URL is the base URL of the API on loopback.
func (e *Endpoint) URL() string {
	_, port, _ := net.SplitHostPort(e.Addr)
	return "http://127.0.0.1:" + port
}

// Check is one store /readyz asks.
type Check = httpapi.Check

// ChecksParams gathers the readiness checks every storage module contributes.
type ChecksParams struct {
	fx.In
	Checks []Check `group:"checks"`
}

var httpModule = fx.Module("http",
	fx.Provide(
		func() *Endpoint { return &Endpoint{} },
		func() *AdminEndpoint { return &AdminEndpoint{} },
		func(cfg Config, sales *application.Sales, cat *application.Catalog, cp ChecksParams, m *Metrics, log *zap.Logger) *httpapi.Server {
			var public prometheus.Gatherer // nil: /metrics only on the admin listener
			if cfg.PublicMetrics {
				public = m.Registry
			}
			return httpapi.New(httpapi.Config{
				AdminToken:   cfg.AdminToken,
				JWTSecret:    cfg.JWTSecret,
				BodyLimit:    cfg.BodyLimit,
				RatePerUser:  cfg.RatePerUser,
				RateBurst:    cfg.RateBurst,
				ReadTimeout:  10 * time.Second,
				WriteTimeout: 10 * time.Second,
				IdleTimeout:  30 * time.Second,
			}, sales, cat, cp.Checks, m.Registry, public, log.Named("http"))
		},
	),
	fx.Invoke(serveHTTP, serveAdmin),
)

// serveHTTP binds the listener in OnStart, so a taken port fails start-up
// with a clear message, then serves in the background; OnStop stops taking
// requests and waits for those in flight.
func serveHTTP(lc fx.Lifecycle, cfg Config, srv *httpapi.Server, ep *Endpoint, log *zap.Logger) {
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			ln, err := net.Listen("tcp", cfg.HTTPAddr)
			if err != nil {
				return settingError("FASTDEAL_HTTP_ADDR", cfg.HTTPAddr, fmt.Errorf("cannot listen: %w", err))
			}
			ep.Addr = ln.Addr().String()
			log.Info("serving the API", zap.String("addr", ep.Addr), zap.String("inventory", cfg.Inventory))
			if cfg.generatedToken {
				log.Warn("FASTDEAL_ADMIN_TOKEN is not set; generated one for this run", zap.String("admin_token", cfg.AdminToken))
			}
			go func() {
				if err := srv.Serve(ln); err != nil {
					log.Error("API listener stopped", zap.Error(err))
				}
			}()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			return srv.Shutdown(ctx)
		},
	})
}

// Bounds of the admin listener's connections. A scraper or a forgotten
// browser tab keeps a keep-alive connection open; without these it would stay
// open for ever and hold up shutdown. No write timeout: a CPU profile answers
// only after the seconds it was asked to sample.
var (
	adminReadHeaderTimeout = 5 * time.Second
	adminReadTimeout       = 10 * time.Second
	adminIdleTimeout       = 30 * time.Second
	// adminShutdownGrace is how long stop waits for admin requests in flight
	// (a profile being taken) before closing their connections.
	adminShutdownGrace = 2 * time.Second
)

// AdminEndpoint is where the admin listener (pprof, metrics) listens once
// started; Addr stays empty when it is off or could not bind.
type AdminEndpoint struct {
	Addr string
}

// serveAdmin runs pprof and /metrics on a separate listener that is meant to
// stay on loopback or a private network. Empty FASTDEAL_ADMIN_ADDR turns it off.
func serveAdmin(lc fx.Lifecycle, cfg Config, m *Metrics, ep *AdminEndpoint, log *zap.Logger) {
	if cfg.AdminAddr == "" || cfg.AdminAddr == "off" {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: adminReadHeaderTimeout,
		ReadTimeout:       adminReadTimeout,
		IdleTimeout:       adminIdleTimeout,
	}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			ln, err := net.Listen("tcp", cfg.AdminAddr)
			if err != nil {
				// Profiling is not worth refusing to sell over: say so and go on.
				log.Warn("admin listener (pprof, metrics) not started; set FASTDEAL_ADMIN_ADDR to a free address or \"off\"",
					zap.String("addr", cfg.AdminAddr), zap.Error(err))
				return nil
			}
			ep.Addr = ln.Addr().String()
			log.Info("serving pprof and metrics", zap.String("addr", ep.Addr))
			go func() {
				if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					log.Error("admin listener stopped", zap.Error(err))
				}
			}()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			// Shutdown closes idle connections but waits for active ones;
			// a long profile must not eat the stop budget the sale needs.
			grace, cancel := context.WithTimeout(ctx, adminShutdownGrace)
			defer cancel()
			if err := srv.Shutdown(grace); err != nil {
				return srv.Close()
			}
			return nil
		},
	})
}
