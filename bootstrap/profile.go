package bootstrap

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/fx"
)

// Options returns the whole application for cfg: the storage profile it
// selects (embedded memory by default; MySQL and Redis when configured), the
// use cases and workers, and the HTTP listeners.
func Options(cfg Config) fx.Option {
	return fx.Options(
		fx.Supply(cfg),
		fx.Provide(NewMetrics),
		loggerOptions,
		storageProfile(cfg),
		useCases,
		httpModule,
		fx.StartTimeout(cfg.ShutdownTimeout+20*1e9),
		fx.StopTimeout(cfg.ShutdownTimeout),
	)
}

// Serve runs fastdeal until SIGINT or SIGTERM, then shuts down gracefully:
// stops taking requests, finishes those in flight, stops admission, flushes
// the ledger writer and the count syncer.
func Serve(cfg Config) error {
	app, err := newApp(cfg)
	if err != nil {
		return StartupError(err)
	}
	startCtx, cancel := context.WithTimeout(context.Background(), app.StartTimeout())
	defer cancel()
	if err := app.Start(startCtx); err != nil {
		return StartupError(err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	stopCtx, cancelStop := context.WithTimeout(context.Background(), app.StopTimeout())
	defer cancelStop()
	if err := app.Stop(stopCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// Embedded is a running in-process server, for the load generator and tests.
type Embedded struct {
	URL        string
	AdminToken string
	app        *fx.App
}

// Stop shuts the server down gracefully.
func (e *Embedded) Stop(ctx context.Context) error { return e.app.Stop(ctx) }

// StartEmbedded starts a server on a free loopback port with cfg (use
// EmbeddedConfig for the memory default) and returns once it serves.
func StartEmbedded(ctx context.Context, cfg Config) (*Embedded, error) {
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.AdminAddr = "off"
	var ep *Endpoint
	app, err := newApp(cfg, fx.Populate(&ep))
	if err != nil {
		return nil, StartupError(err)
	}
	if err := app.Start(ctx); err != nil {
		return nil, StartupError(err)
	}
	return &Embedded{URL: ep.URL(), AdminToken: cfg.AdminToken, app: app}, nil
}

func newApp(cfg Config, extra ...fx.Option) (*fx.App, error) {
	app := fx.New(Options(cfg), fx.Options(extra...))
	return app, app.Err()
}

// EmbeddedConfig is the zero-configuration memory profile with a generous
// per-buyer rate, quiet logs, and the given inventory strategy (empty: memory).
func EmbeddedConfig(strategy string) (Config, error) {
	cfg, err := LoadConfig()
	if err != nil {
		return Config{}, err
	}
	// Slow-request lines would flood the terminal of a saturating load run.
	cfg.LogLevel = "error"
	cfg.RatePerUser, cfg.RateBurst = 1000, 2000
	if strategy != "" {
		cfg.Inventory = strategy
	}
	return cfg.normalize()
}

// Embed starts an embedded server for `fastdeal load --embedded`: the memory
// profile, or with strategy mysql, redis or redislock the stores named by
// the FASTDEAL_* environment (which must then be set).
func Embed(ctx context.Context, strategy string) (baseURL, adminToken string, stop func(context.Context) error, err error) {
	cfg, err := EmbeddedConfig(strategy)
	if err != nil {
		return "", "", nil, err
	}
	e, err := StartEmbedded(ctx, cfg)
	if err != nil {
		return "", "", nil, err
	}
	return e.URL, e.AdminToken, e.Stop, nil
}
