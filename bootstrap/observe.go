package bootstrap

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fastdeal/fastdeal/adapters/mysql"
	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/issuance"
	"github.com/fastdeal/fastdeal/domain/waitline"
)

// timedLedger measures how long making an issuance durable takes (the
// persist lag a buyer waits before hearing 201).
type timedLedger struct {
	issuance.Ledger
	ok, failed prometheus.Observer
}

func newTimedLedger(l issuance.Ledger, lag *prometheus.HistogramVec) timedLedger {
	return timedLedger{Ledger: l, ok: lag.WithLabelValues("ok"), failed: lag.WithLabelValues("error")}
}

func (l timedLedger) Record(ctx context.Context, iss issuance.Issuance) error {
	start := time.Now()
	err := l.Ledger.Record(ctx, iss)
	o := l.ok
	if err != nil {
		o = l.failed
	}
	o.Observe(time.Since(start).Seconds())
	return err
}

func newPersistLag(reg prometheus.Registerer) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "fastdeal_persist_seconds",
		Help:    "Time from asking the ledger to record an issuance to it being durable (persist lag).",
		Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5},
	}, []string{"result"})
	reg.MustRegister(h)
	return h
}

// ledgerCollector exports the group-commit writer's counters at scrape time.
type ledgerCollector struct {
	l                         *mysql.Ledger
	batches, written, pending *prometheus.Desc
	sizes, failed, abandoned  *prometheus.Desc
}

func newLedgerCollector(l *mysql.Ledger) *ledgerCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &ledgerCollector{l: l,
		batches:   d("fastdeal_ledger_batches_total", "Group-commit batches committed."),
		failed:    d("fastdeal_ledger_batches_failed_total", "Group-commit batches that failed (their waiters heard 503)."),
		written:   d("fastdeal_ledger_written_total", "Issuances in committed batches."),
		abandoned: d("fastdeal_ledger_abandoned_total", "Records that gave up before the writer took them."),
		pending:   d("fastdeal_ledger_pending", "Records waiting for their batch to commit."),
		sizes:     d("fastdeal_ledger_batch_size", "Issuances per committed batch."),
	}
}

func (c *ledgerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.batches, c.failed, c.written, c.abandoned, c.pending, c.sizes} {
		ch <- d
	}
}

func (c *ledgerCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.l.Stats()
	ch <- prometheus.MustNewConstMetric(c.batches, prometheus.CounterValue, float64(s.Batches))
	ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(s.Failed))
	ch <- prometheus.MustNewConstMetric(c.written, prometheus.CounterValue, float64(s.Written))
	ch <- prometheus.MustNewConstMetric(c.abandoned, prometheus.CounterValue, float64(s.Abandoned))
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(s.Pending))
	buckets := make(map[float64]uint64, len(mysql.BatchSizeBuckets))
	var cum uint64
	for i, bound := range mysql.BatchSizeBuckets {
		cum += s.BatchSizes[i]
		buckets[float64(bound)] = cum
	}
	cum += s.BatchSizes[len(mysql.BatchSizeBuckets)]
	// The sum of all batch sizes is the number of issuances written.
	ch <- prometheus.MustNewConstHistogram(c.sizes, cum, float64(s.Written), buckets)
}

// lineCollector exports each queued drop's line length at scrape time.
type lineCollector struct {
	drops drop.Repository
	line  waitline.WaitingLine
	desc  *prometheus.Desc
}

func (c *lineCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *lineCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ds, err := c.drops.List(ctx, drop.Filter{Now: time.Now()})
	if err != nil {
		return
	}
	for _, d := range ds {
		if !d.Queued() {
			continue
		}
		if n, err := c.line.Length(ctx, d.ID()); err == nil {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), d.ID())
		}
	}
}
