// Package httpapi is fastdeal's REST adapter: the Fiber routes of docs/openapi.yaml, their
// DTOs, buyer and admin authentication, the per-buyer rate limit, request ids,
// access logs, metrics, and the one table that turns errors into statuses.
//
// The directory is adapters/http; the package is named httpapi so that it does
// not shadow net/http in the files that import both.
package httpapi

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/go-playground/validator/v10"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/fastdeal/fastdeal/application"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultBodyLimit    = 4 << 20
	DefaultRatePerUser  = 20
	DefaultRateBurst    = 40
	DefaultReadTimeout  = 15 * time.Second
	DefaultWriteTimeout = 15 * time.Second
	DefaultIdleTimeout  = 60 * time.Second
	DefaultSlowRequest  = 500 * time.Millisecond
	// readyTimeout bounds each readiness check, so a hung store answers 503
	// instead of hanging the load balancer's probe.
	readyTimeout = 2 * time.Second
)

// Config tunes the HTTP server. Zero fields take the defaults above.
type Config struct {
	// AdminToken is the bearer token of admin calls. Empty rejects every admin call.
	AdminToken string
	// JWTSecret verifies buyers' HS256 tokens. Empty accepts X-User-ID instead
	// (the embedded profile); set, X-User-ID is ignored.
	JWTSecret string
	// BodyLimit is the largest request body in bytes; larger ones get 413.
	BodyLimit int
	// RatePerUser is each buyer's sustained request rate per second; negative
	// disables the limit (benchmarks).
	RatePerUser float64
	// RateBurst is how many requests a buyer may send at once.
	RateBurst int
	// ReadTimeout, WriteTimeout and IdleTimeout bound the connections Serve
	// accepts: a request's read from its first byte, each write of an
	// answer, and the wait for the next request (see connTimeouts).
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// SlowRequest is the duration from which a request is access-logged
	// even when it succeeded.
	SlowRequest time.Duration
}

func (c Config) withDefaults() Config {
	if c.BodyLimit <= 0 {
		c.BodyLimit = DefaultBodyLimit
	}
	if c.RatePerUser == 0 {
		c.RatePerUser = DefaultRatePerUser
	}
	if c.RateBurst <= 0 {
		c.RateBurst = DefaultRateBurst
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.SlowRequest <= 0 {
		c.SlowRequest = DefaultSlowRequest
	}
	return c
}

// Check is one store /readyz asks: Ping returns nil while the store answers.
// A check that has more to say sets Status instead: its string replaces "ok"
// in the answer (e.g. a Redis Cluster's state).
type Check struct {
	Name   string
	Ping   func(context.Context) error
	Status func(context.Context) (string, error)
}

// Server is the REST API of the API reference (docs/openapi.yaml) over the sales and catalog use cases.
type Server struct {
	cfg      Config
	app      *fiber.App
	sales    *application.Sales
	catalog  *application.Catalog
	checks   []Check
	metrics  *Metrics
	log      *zap.Logger
	auth     *authenticator
	limiter  *limiter
	validate *validator.Validate
	ids      *requestIDs

	tmu      sync.Mutex
	timeouts []*connTimeouts // one per Serve, stopped by Shutdown
	shut     bool
}

// New builds the server and its routes; Serve starts it. reg receives the
// HTTP metrics. gatherer, when not nil, is served at /metrics on this
// listener; nil leaves /metrics to the private admin listener, because behind
// a load balancer a public scrape reaches a random instance and a sale's
// figures are not for the public. A nil log discards logs.
func New(cfg Config, sales *application.Sales, catalog *application.Catalog, checks []Check,
	reg prometheus.Registerer, gatherer prometheus.Gatherer, log *zap.Logger) *Server {
	cfg = cfg.withDefaults()
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.JWTSecret == "" {
		log.Warn("no JWT secret configured: buyers are trusted by the X-User-ID header; set one outside development")
	}
	if cfg.AdminToken == "" {
		log.Warn("no admin token configured: every admin call is refused")
	}
	m, err := NewMetrics(reg)
	if err != nil {
		// Serving without metrics beats not serving: the counters still work,
		// they are only missing from /metrics.
		log.Error("register HTTP metrics", zap.Error(err))
	}
	s := &Server{
		cfg: cfg, sales: sales, catalog: catalog, checks: checks, metrics: m, log: log,
		auth:     newAuthenticator(cfg.AdminToken, cfg.JWTSecret),
		limiter:  newLimiter(cfg.RatePerUser, cfg.RateBurst),
		validate: newValidator(),
		ids:      newRequestIDs(),
	}
	s.app = fiber.New(fiber.Config{
		BodyLimit: cfg.BodyLimit,
		// The request line and headers may take 8 KiB, as nginx in front
		// allows (Fiber's default is 4 KiB: a request between the two passed
		// nginx and got 431 here).
		ReadBufferSize: 8192,
		// No ReadTimeout, WriteTimeout or IdleTimeout here: Serve's
		// listener enforces cfg's (connTimeouts), without moving deadlines
		// on every request.
		ErrorHandler:          s.fiberErrorHandler,
		DisableStartupMessage: true,
		AppName:               "fastdeal",
	})
	s.routes(gatherer)
	// Fiber answers a method it does not know with a text/plain 400 before
	// any middleware runs; every error of this API is problem+json.
	next := s.app.Server().Handler
	s.app.Server().Handler = func(ctx *fasthttp.RequestCtx) {
		if !knownMethod(ctx.Method()) {
			c := s.app.AcquireCtx(ctx)
			defer s.app.ReleaseCtx(c)
			_ = s.fiberErrorHandler(c, fiber.ErrMethodNotAllowed)
			return
		}
		next(ctx)
	}
	return s
}

// knownMethod reports whether Fiber routes method (its default method list).
func knownMethod(method []byte) bool {
	for _, m := range fiber.DefaultMethods {
		if string(method) == m {
			return true
		}
	}
	return false
}

func (s *Server) routes(gatherer prometheus.Gatherer) {
	app := s.app
	app.Use(s.observe)

	app.Get("/healthz", s.healthz)
	app.Get("/readyz", s.readyz)
	if gatherer != nil {
		app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{})))
	}

	s.pageRoutes(app)

	v1 := app.Group("/v1")
	// Fiber tries a method's routes in the order they were added: the
	// buyers' routes, which a sale's crowd calls, come first, so that a
	// status poll or claim is not first parsed against every other route.
	// No two routes here match the same path, so the order changes no answer.
	v1.Post("/drops/:id/claims", s.buyer(s.claim))
	v1.Post("/drops/:id/line", s.buyer(s.joinLine))
	v1.Get("/drops/:id/line/me", s.buyerBorrowed(s.lineStatus))
	v1.Delete("/drops/:id/line/me", s.buyer(s.leaveLine))
	v1.Get("/me/issuances", s.buyer(s.myIssuances))

	v1.Get("/openapi.json", s.openAPI())
	v1.Get("/drops", s.listDrops)
	v1.Get("/drops/:id", s.getDrop)
	v1.Get("/drops/:id/seats", s.seats())

	// Admin auth sits on each route rather than on the /v1/admin prefix so
	// that an unknown admin path is a 404, like any other unknown path.
	v1.Post("/admin/drops", s.adminAuth, s.createDrop)
	v1.Patch("/admin/drops/:id", s.adminAuth, s.updateDrop)
	v1.Get("/admin/drops/:id/stats", s.adminAuth, s.stats)
	v1.Get("/admin/drops/:id/issuances", s.adminAuth, s.dropIssuances)
	v1.Post("/admin/drops/:id/reconcile", s.adminAuth, s.reconcile)
	v1.Get("/admin/drops/:id/live", s.adminAuth, s.live)
}

// App returns the Fiber app, e.g. for app.Test in tests.
func (s *Server) App() *fiber.App { return s.app }

// Metrics returns the server's collectors.
func (s *Server) Metrics() *Metrics { return s.metrics }

// Serve answers requests on ln until Shutdown; it returns nil after a
// Shutdown. The connections get cfg's read, write and idle timeouts.
func (s *Server) Serve(ln net.Listener) error {
	t := newConnTimeouts(s.cfg.ReadTimeout, s.cfg.WriteTimeout, s.cfg.IdleTimeout)
	s.tmu.Lock()
	if s.shut {
		t.close()
	} else {
		s.timeouts = append(s.timeouts, t)
	}
	s.tmu.Unlock()
	err := s.app.Listener(lingerListener{Listener: ln, timeouts: t})
	if err != nil {
		t.close()
	}
	return err
}

// Shutdown stops accepting connections, closes idle ones and waits for
// in-flight requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.app.ShutdownWithContext(ctx)
	s.tmu.Lock()
	s.shut = true
	for _, t := range s.timeouts {
		t.close()
	}
	s.tmu.Unlock()
	return err
}

func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

func (s *Server) readyz(c *fiber.Ctx) error {
	errs := make([]error, len(s.checks))
	states := make([]string, len(s.checks))
	done := make(chan struct{})
	for i, ch := range s.checks {
		go func() {
			defer func() {
				// A panicking check is a failing store, not a crashed server.
				if r := recover(); r != nil {
					errs[i] = fmt.Errorf("check panicked: %v", r)
				}
				done <- struct{}{}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
			defer cancel()
			if ch.Status != nil {
				states[i], errs[i] = ch.Status(ctx)
				return
			}
			errs[i] = ch.Ping(ctx)
		}()
	}
	for range s.checks {
		<-done
	}
	var failing []string
	results := make(map[string]string, len(s.checks))
	for i, ch := range s.checks {
		if errs[i] != nil {
			failing = append(failing, ch.Name)
			results[ch.Name] = "failing"
			s.log.Warn("readiness check failed", zap.String("check", ch.Name), zap.Error(errs[i]))
			continue
		}
		results[ch.Name] = "ok"
		if states[i] != "" {
			results[ch.Name] = states[i]
		}
	}
	if len(failing) > 0 {
		return notReady(failing)
	}
	return c.JSON(fiber.Map{"status": "ready", "checks": results})
}
