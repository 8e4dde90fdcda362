package bootstrap

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/fastdeal/fastdeal/application"
	"github.com/fastdeal/fastdeal/domain/clock"
	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/inventory"
	"github.com/fastdeal/fastdeal/domain/issuance"
	"github.com/fastdeal/fastdeal/domain/lease"
	"github.com/fastdeal/fastdeal/domain/waitline"
)

// StoresParams collects the ports a storage profile provides.
type StoresParams struct {
	fx.In
	Drops     drop.Repository
	Inventory inventory.Inventory
	Line      waitline.WaitingLine
	Ledger    issuance.Ledger
	Lease     lease.Lease
	Clock     clock.Clock
}

func newStores(p StoresParams) application.Stores {
	return application.Stores{Drops: p.Drops, Inventory: p.Inventory, Line: p.Line,
		Ledger: p.Ledger, Lease: p.Lease, Clock: p.Clock, IDs: clock.RandomIDs{}}
}

// useCases provides the application layer and runs its workers.
var useCases = fx.Module("application",
	fx.Provide(
		newStores,
		func(st application.Stores) *application.DropCache {
			// Half a second keeps admin changes (rate, pause) visible on every
			// instance within the promised second.
			return application.NewDropCache(st.Drops, 500*time.Millisecond)
		},
		func(st application.Stores, cfg Config, log *zap.Logger) *application.Reconciler {
			var settle time.Duration
			if cfg.Inventory == StrategyRedis {
				// Redis may restart empty while claims are committing; wait
				// for the longest commit before restoring from MySQL.
				settle = cfg.StoreTimeout + 500*time.Millisecond
			}
			return application.NewReconciler(st, log.Named("reconciler"), application.WithSettle(settle))
		},
		func(st application.Stores, c *application.DropCache, cfg Config, m *Metrics, log *zap.Logger) *application.CountSyncer {
			return application.NewCountSyncer(st, c, cfg.SyncEvery, cfg.SyncInterval, m.onFlush, log.Named("syncer"))
		},
		func(st application.Stores, c *application.DropCache, r *application.Reconciler, s *application.CountSyncer, cfg Config, m *Metrics, log *zap.Logger) *application.Sales {
			return application.NewSales(st, c, r, application.SalesOptions{
				StoreTimeout: cfg.StoreTimeout,
				OnIssued:     issuedHook(s, m),
				TicketSecret: []byte(cfg.LineSecret),
				Pacing:       application.Pacing{Max: cfg.PollMax},
				OnStatus:     m.onLineStatus,
			}, log.Named("sales"))
		},
		application.NewCatalog,
		func(st application.Stores, c *application.DropCache, s *application.CountSyncer, r *application.Reconciler, cfg Config, m *Metrics, log *zap.Logger) *application.Dispatcher {
			return application.NewDispatcher(st, c, application.DispatcherOptions{
				Reconciler: r,
				Instance:   cfg.InstanceID,
				LeaseTTL:   cfg.LeaseTTL,
				OnIssued:   issuedHook(s, m),
				OnAdmitted: func(id string, n int) { m.Admitted.WithLabelValues(id).Add(float64(n)) },
				OnLease:    m.onLease,
			}, log.Named("dispatcher"))
		},
	),
	fx.Invoke(runWorkers, func(m *Metrics, st application.Stores) {
		m.Registry.MustRegister(&lineCollector{drops: st.Drops, line: st.Line, desc: prometheus.NewDesc(
			"fastdeal_line_length", "Buyers waiting in each queued drop's line.", []string{"drop"}, nil)})
	}),
)

func issuedHook(s *application.CountSyncer, m *Metrics) func(string) {
	return func(dropID string) {
		s.Issued(dropID)
		m.onIssued(dropID)
	}
}

// runWorkers reconciles every drop before admission starts (a Redis that came
// back empty is rebuilt from MySQL first), then starts the workers; on stop
// it halts admission and writes the counts one last time.
func runWorkers(lc fx.Lifecycle, r *application.Reconciler, s *application.CountSyncer, d *application.Dispatcher, cat *application.Catalog, cfg Config, log *zap.Logger) {
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			n, err := r.ReconcileAll(ctx)
			if err != nil {
				return fmt.Errorf("reconcile at start: %w", err)
			}
			if n > 0 {
				log.Warn("start-up reconcile repaired records", zap.Int("repaired", n))
			}
			if cfg.Demo {
				if err := createDemoDrops(ctx, cat, log); err != nil {
					return err
				}
			}
			s.Start()
			d.Start()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			d.Stop(ctx)
			s.Stop(ctx)
			return nil
		},
	})
}
