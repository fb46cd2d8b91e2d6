package shim

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the shim's Prometheus series: per backend (native, legacy,
// migrating; "unrouted" when the route table could not be read) and
// legacy node (a configured name, "" otherwise).
type Metrics struct {
	backendRequests *prometheus.CounterVec
	backendErrors   *prometheus.CounterVec
	backendDuration *prometheus.HistogramVec
	routeLookups    *prometheus.CounterVec
	routeUsers      *prometheus.GaugeVec
}

// Backend labels of the shim's series.
const (
	backendNative    = "native"
	backendLegacy    = "legacy"
	backendMigrating = "migrating"
	backendUnrouted  = "unrouted"
)

// latencyBuckets cover cached reads (well under 1 ms) to 100-record
// uploads on a busy database or a slow legacy server.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// NewMetrics registers the shim's series with reg, or takes those
// already registered there.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	const ns = "syncserver"
	m := new(Metrics)
	var err error
	if m.backendRequests, err = Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns,
		Name:      "backend_requests_total",
		Help:      "Requests by the backend that answered them (native, legacy, migrating, unrouted) and legacy node.",
	}, []string{"backend", "node"})); err != nil {
		return nil, err
	}
	if m.backendErrors, err = Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns,
		Name:      "backend_errors_total",
		Help:      "Requests answered with a 5xx status by backend and legacy node (the 503 of users being migrated is not an error).",
	}, []string{"backend", "node"})); err != nil {
		return nil, err
	}
	if m.backendDuration, err = Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns,
		Name:      "backend_request_duration_seconds",
		Help:      "Time to answer requests, by backend.",
		Buckets:   latencyBuckets,
	}, []string{"backend"})); err != nil {
		return nil, err
	}
	if m.routeLookups, err = Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns,
		Name:      "route_lookups_total",
		Help:      "Route decisions of the migration shim by outcome: hit (a read served from the in-process cache), miss (a read that loaded the route table), write (a request that can write, which always reads the route table) or error.",
	}, []string{"result"})); err != nil {
		return nil, err
	}
	if m.routeUsers, err = Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: ns,
		Name:      "route_users",
		Help:      "Users per stored route state (legacy, migrating, native) in the route table; users without a row follow default_state and are not counted.",
	}, []string{"state"})); err != nil {
		return nil, err
	}
	return m, nil
}

// observeBackend records one request of the shim.
func (m *Metrics) observeBackend(backend, node string, code int, took time.Duration) {
	m.backendRequests.WithLabelValues(backend, node).Inc()
	if code >= 500 && backend != backendMigrating {
		m.backendErrors.WithLabelValues(backend, node).Inc()
	}
	m.backendDuration.WithLabelValues(backend).Observe(took.Seconds())
}

// Register adds c to reg, or returns the collector already registered
// under the same name: every firefox_sync handler of one config shares the
// config's registry, and each reload brings a fresh registry.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	var zero C
	return zero, fmt.Errorf("registering %T: %w", c, err)
}

// StatusWriter remembers the status code written for the metrics.
type StatusWriter struct {
	http.ResponseWriter
	status int
}

func (w *StatusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= http.StatusOK { // 1xx are not the answer
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *StatusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *StatusWriter) Unwrap() http.ResponseWriter {
	return w.ResponseWriter
}

// StatusCode is the status written, 200 when none was.
func (w *StatusWriter) StatusCode() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
