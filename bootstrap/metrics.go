package bootstrap

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the sale's own gauges and counters (HTTP request metrics live
// in the HTTP adapter). They are fed through the use cases' callbacks, so the
// application layer never imports Prometheus.
type Metrics struct {
	Registry      *prometheus.Registry
	Issued        *prometheus.CounterVec
	Admitted      *prometheus.CounterVec
	SyncerFlushes *prometheus.CounterVec
	LeaseHeld     *prometheus.GaugeVec
	PersistLag    *prometheus.HistogramVec
	LineStatus    *prometheus.CounterVec

	// perDrop holds each drop's counters of the hot paths, looked up once:
	// WithLabelValues hashes its labels and takes the vector's lock on every
	// call, and a status poll answered from the snapshot costs little more.
	perDrop sync.Map // drop id -> *dropCounters
}

// dropCounters are one drop's children of the per-poll and per-claim vectors.
type dropCounters struct {
	snapshot, store, issued prometheus.Counter
}

func (m *Metrics) drop(id string) *dropCounters {
	if c, ok := m.perDrop.Load(id); ok {
		return c.(*dropCounters)
	}
	c, _ := m.perDrop.LoadOrStore(id, &dropCounters{
		snapshot: m.LineStatus.WithLabelValues(id, "snapshot"),
		store:    m.LineStatus.WithLabelValues(id, "store"),
		issued:   m.Issued.WithLabelValues(id),
	})
	return c.(*dropCounters)
}

// NewMetrics registers the sale metrics and the Go runtime collectors.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		Issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fastdeal_issued_total", Help: "Issuances made durable by this instance.",
		}, []string{"drop"}),
		Admitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fastdeal_admitted_total", Help: "Buyers taken out of a waiting line by this instance's dispatcher.",
		}, []string{"drop"}),
		SyncerFlushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fastdeal_syncer_flushes_total", Help: "Issued-count writes by the count syncer, by result.",
		}, []string{"result"}),
		LeaseHeld: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fastdeal_dispatch_lease_held", Help: "1 while this instance holds a drop's admission lease.",
		}, []string{"drop"}),
		LineStatus: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fastdeal_line_status_total",
			Help: "Line status polls by where the answer came from: snapshot (a ticket, no store access) or store.",
		}, []string{"drop", "source"}),
	}
	m.PersistLag = newPersistLag(reg)
	reg.MustRegister(m.Issued, m.Admitted, m.SyncerFlushes, m.LeaseHeld, m.LineStatus,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *Metrics) onFlush(_ string, err error) {
	if err != nil {
		m.SyncerFlushes.WithLabelValues("error").Inc()
		return
	}
	m.SyncerFlushes.WithLabelValues("ok").Inc()
}

func (m *Metrics) onLineStatus(dropID string, fast bool) {
	c := m.drop(dropID)
	if fast {
		c.snapshot.Inc()
		return
	}
	c.store.Inc()
}

func (m *Metrics) onIssued(dropID string) { m.drop(dropID).issued.Inc() }

func (m *Metrics) onLease(dropID string, held bool) {
	v := 0.0
	if held {
		v = 1
	}
	m.LeaseHeld.WithLabelValues(dropID).Set(v)
}
