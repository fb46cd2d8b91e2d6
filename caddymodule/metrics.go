package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/syncserver/syncserver/syncstore/httpapi"
)

// metrics are the handler's Prometheus series. Labels are bounded: the
// endpoint is an httpapi.Endpoint (a fixed set) and the status code
// from what the handler writes.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	// The migration shim's series: per backend (native, legacy,
	// migrating; "unrouted" when the route table could not be read) and
	// legacy node (a configured name, "" otherwise).
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

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns = "syncserver"
	requests, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns,
		Name:      "requests_total",
		Help:      "Firefox Sync requests by endpoint and HTTP status code.",
	}, []string{"endpoint", "code"}))
	if err != nil {
		return nil, err
	}
	duration, err := register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns,
		Name:      "request_duration_seconds",
		Help:      "Time to answer Firefox Sync requests, by endpoint.",
		// Sync requests range from cached reads (well under 1 ms) to
		// 100-record uploads on a busy database.
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"endpoint"}))
	if err != nil {
		return nil, err
	}
	m := &metrics{requests: requests, duration: duration}
	if err := m.registerShim(reg); err != nil {
		return nil, err
	}
	return m, nil
}

// latencyBuckets cover cached reads (well under 1 ms) to 100-record
// uploads on a busy database or a slow legacy server.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func (m *metrics) registerShim(reg prometheus.Registerer) error {
	const ns = "syncserver"
	var err error
	if m.backendRequests, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns,
		Name:      "backend_requests_total",
		Help:      "Requests by the backend that answered them (native, legacy, migrating, unrouted) and legacy node.",
	}, []string{"backend", "node"})); err != nil {
		return err
	}
	if m.backendErrors, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns,
		Name:      "backend_errors_total",
		Help:      "Requests answered with a 5xx status by backend and legacy node (the 503 of users being migrated is not an error).",
	}, []string{"backend", "node"})); err != nil {
		return err
	}
	if m.backendDuration, err = register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns,
		Name:      "backend_request_duration_seconds",
		Help:      "Time to answer requests, by backend.",
		Buckets:   latencyBuckets,
	}, []string{"backend"})); err != nil {
		return err
	}
	if m.routeLookups, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns,
		Name:      "route_lookups_total",
		Help:      "Route decisions of the migration shim by outcome: hit (a read served from the in-process cache), miss (a read that loaded the route table), write (a request that can write, which always reads the route table) or error.",
	}, []string{"result"})); err != nil {
		return err
	}
	if m.routeUsers, err = register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: ns,
		Name:      "route_users",
		Help:      "Users per stored route state (legacy, migrating, native) in the route table; users without a row follow default_state and are not counted.",
	}, []string{"state"})); err != nil {
		return err
	}
	return nil
}

// observeBackend records one request of the shim.
func (m *metrics) observeBackend(backend, node string, code int, took time.Duration) {
	m.backendRequests.WithLabelValues(backend, node).Inc()
	if code >= 500 && backend != backendMigrating {
		m.backendErrors.WithLabelValues(backend, node).Inc()
	}
	m.backendDuration.WithLabelValues(backend).Observe(took.Seconds())
}

// register adds c to reg, or returns the collector already registered
// under the same name: every firefox_sync handler of one config shares the
// config's registry, and each reload brings a fresh registry.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
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

func (m *metrics) observe(endpoint httpapi.Endpoint, code int, took time.Duration) {
	label := endpoint.String()
	m.requests.WithLabelValues(label, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(label).Observe(took.Seconds())
}

// statusWriter remembers the status code written for the metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= http.StatusOK { // 1xx are not the answer
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter {
	return w.ResponseWriter
}

func (w *statusWriter) statusCode() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
