package httpapi

import (
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fastdeal/fastdeal/application"
)

// Metrics are the HTTP adapter's Prometheus collectors.
type Metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	claims    *prometheus.CounterVec
	lineJoins *prometheus.CounterVec

	// The children of the vectors above, looked up once: WithLabelValues
	// validates and hashes its labels on every call, which a profile of the
	// ticketed status poll put at a tenth of the server's own work.
	outcomes map[string]prometheus.Counter // claims by outcome
	results  map[string]prometheus.Counter // line joins by result
	mu       sync.RWMutex
	series   map[requestKey]requestSeries
}

// requestKey names one series of fastdeal_http_requests_total. Its values are
// route patterns, methodLabel's constants and status codes, so the map is as
// bounded as the metric is.
type requestKey struct {
	route, method string
	status        int
}

// requestSeries is a request's counter and its route's histogram.
type requestSeries struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// Label values of fastdeal_claims_total{outcome} and fastdeal_line_joins_total{result},
// created at zero so dashboards see every series from the start.
var (
	claimOutcomes = []string{"issued", "repeat", "sold_out", "seat_taken", "limit_reached", "rejected", "unavailable", "error"}
	joinResults   = []string{"new", "existing", "admitted", "issued", "sold_out", "expired", "error"}
)

// NewMetrics creates the collectors and registers them on reg (nil: not
// registered). Collectors another server already registered on reg are
// reused, so several servers may share one registry. The returned Metrics is
// usable even when an error is returned.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fastdeal_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "fastdeal_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route"}),
		claims: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fastdeal_claims_total",
			Help: "Claims answered, by outcome.",
		}, []string{"outcome"}),
		lineJoins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fastdeal_line_joins_total",
			Help: "Line joins answered, by result (new place, existing place, or the decision already made).",
		}, []string{"result"}),
	}
	if reg == nil {
		m.init()
		return m, nil
	}
	var errs []error
	m.requests = register(reg, m.requests, &errs)
	m.duration = register(reg, m.duration, &errs)
	m.claims = register(reg, m.claims, &errs)
	m.lineJoins = register(reg, m.lineJoins, &errs)
	m.init()
	return m, errors.Join(errs...)
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C, errs *[]error) C {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	if err != nil {
		*errs = append(*errs, err)
	}
	return c
}

func (m *Metrics) init() {
	m.outcomes = make(map[string]prometheus.Counter, len(claimOutcomes))
	for _, o := range claimOutcomes {
		m.outcomes[o] = m.claims.WithLabelValues(o)
	}
	m.results = make(map[string]prometheus.Counter, len(joinResults))
	for _, r := range joinResults {
		m.results[r] = m.lineJoins.WithLabelValues(r)
	}
	m.series = make(map[requestKey]requestSeries)
}

// statusLabels avoids formatting a status code on every request.
var statusLabels = func() [600]string {
	var t [600]string
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func statusLabel(code int) string {
	if code >= 0 && code < len(statusLabels) {
		return statusLabels[code]
	}
	return strconv.Itoa(code)
}

// request counts one answered request. route must not alias a request's
// buffer (route patterns and unmatchedRoute don't): it is kept as a key.
func (m *Metrics) request(route, method string, status int, d time.Duration) {
	k := requestKey{route: route, method: method, status: status}
	m.mu.RLock()
	ser, ok := m.series[k]
	m.mu.RUnlock()
	if !ok {
		ser = requestSeries{
			count:    m.requests.WithLabelValues(route, method, statusLabel(status)),
			duration: m.duration.WithLabelValues(route),
		}
		m.mu.Lock()
		m.series[k] = ser
		m.mu.Unlock()
	}
	ser.count.Inc()
	ser.duration.Observe(d.Seconds())
}

func (m *Metrics) claim(outcome string) {
	if c, ok := m.outcomes[outcome]; ok {
		c.Inc()
		return
	}
	m.claims.WithLabelValues(outcome).Inc()
}

func (m *Metrics) claimError(err error) {
	_, _, unexpected := toProblem(err)
	switch {
	case errors.Is(err, application.ErrUnavailable):
		m.claim("unavailable")
	case unexpected:
		m.claim("error")
	default:
		m.claim("rejected")
	}
}

func (m *Metrics) join(result string) {
	if c, ok := m.results[result]; ok {
		c.Inc()
		return
	}
	m.lineJoins.WithLabelValues(result).Inc()
}
