package caddymodule

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/syncserver/syncserver/caddymodule/shim"
	"github.com/syncserver/syncserver/syncstore/httpapi"
)

// metrics are the handler's Prometheus series. Labels are bounded: the
// endpoint is an httpapi.Endpoint (a fixed set) and the status code
// from what the handler writes.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	// shim are the migration shim's series, registered whether or not
	// a legacy block uses them.
	shim *shim.Metrics

	// series holds each endpoint's duration histogram and 200 counter
	// once used: looking them up by label values hashes the labels and
	// takes the vectors' locks, on every request.
	series [256]endpointSeries
}

// endpointSeries are the series of one endpoint, set at first use so
// that no series appears before its first request.
type endpointSeries struct {
	duration atomic.Pointer[prometheus.Observer]
	ok       atomic.Pointer[prometheus.Counter]
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns = "syncserver"
	requests, err := shim.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns,
		Name:      "requests_total",
		Help:      "Firefox Sync requests by endpoint and HTTP status code.",
	}, []string{"endpoint", "code"}))
	if err != nil {
		return nil, err
	}
	duration, err := shim.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
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
	if m.shim, err = shim.NewMetrics(reg); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *metrics) observe(endpoint httpapi.Endpoint, code int, took time.Duration) {
	s := &m.series[endpoint]
	label := endpoint.String()
	if code == http.StatusOK {
		c := s.ok.Load()
		if c == nil {
			v := m.requests.WithLabelValues(label, strconv.Itoa(code))
			c = &v
			s.ok.Store(c)
		}
		(*c).Inc()
	} else {
		m.requests.WithLabelValues(label, strconv.Itoa(code)).Inc()
	}
	o := s.duration.Load()
	if o == nil {
		v := m.duration.WithLabelValues(label)
		o = &v
		s.duration.Store(o)
	}
	(*o).Observe(took.Seconds())
}
