package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/zap"
)

// ResourceSample is the server process's use of the machine at one time,
// read from its Prometheus metrics: Caddy's admin endpoint serves the Go
// and process collectors at /metrics.
type ResourceSample struct {
	T          float64 `json:"t"`          // seconds since the target's run began (seeding included)
	RSSBytes   int64   `json:"rss_bytes"`  // process_resident_memory_bytes
	Goroutines int64   `json:"goroutines"` // go_goroutines
	OpenFiles  int64   `json:"open_files"` // process_open_fds
	HeapBytes  int64   `json:"heap_bytes"` // go_memstats_heap_inuse_bytes
}

// Resources is what the bench sampled of a target's server process.
type Resources struct {
	MetricsURL string           `json:"metrics_url"`
	Interval   float64          `json:"interval_s"`
	Samples    []ResourceSample `json:"samples"`
	// Failed counts samples that could not be read (logged); a server
	// that stops answering its metrics shows here.
	Failed int64 `json:"failed,omitempty"`
}

// ParseSampleSpec reads "name=URL" of --sample: the Prometheus metrics
// endpoint of the process serving target name.
func ParseSampleSpec(s string) (string, *url.URL, error) {
	name, raw, ok := strings.Cut(s, "=")
	if !ok || !validName(name) || raw == "" {
		return "", nil, fmt.Errorf("--sample %q: want NAME=URL, e.g. soak=http://127.0.0.1:2019/metrics", s)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", nil, fmt.Errorf("--sample %q: want an http:// or https:// URL with a host", s)
	}
	return name, u, nil
}

// sampler reads a metrics endpoint every interval until stopped.
type sampler struct {
	url      string
	interval time.Duration
	client   *http.Client
	log      *zap.Logger
	start    time.Time
	parser   expfmt.TextParser
}

// run samples until ctx ends and returns what it read: one sample at the
// start, one per interval, one at the end.
func (s *sampler) run(ctx context.Context) Resources {
	res := Resources{MetricsURL: s.url, Interval: s.interval.Seconds()}
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	take := func() {
		// The run's context may be over: the last sample gets its own.
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		smp, err := s.sample(sctx)
		if err != nil {
			res.Failed++
			s.log.Warn("sampling the server's resources", zap.String("url", s.url), zap.Error(err))
			return
		}
		res.Samples = append(res.Samples, smp)
	}
	take()
	for {
		select {
		case <-ctx.Done():
			take()
			return res
		case <-tick.C:
			take()
		}
	}
}

// sample reads the endpoint once.
func (s *sampler) sample(ctx context.Context) (ResourceSample, error) {
	smp := ResourceSample{T: time.Since(s.start).Seconds()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return smp, err
	}
	// The text format, not protobuf or OpenMetrics.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := s.client.Do(req)
	if err != nil {
		return smp, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return smp, fmt.Errorf("status %s", resp.Status)
	}
	families, err := s.parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return smp, fmt.Errorf("reading the metrics: %w", err)
	}
	gauge := func(name string) (int64, error) {
		f, ok := families[name]
		if !ok || len(f.GetMetric()) == 0 {
			return 0, fmt.Errorf("no %s in the metrics", name)
		}
		m := f.GetMetric()[0]
		if g := m.GetGauge(); g != nil {
			return int64(g.GetValue()), nil
		}
		return int64(m.GetUntyped().GetValue()), nil
	}
	for _, g := range []struct {
		name string
		dst  *int64
	}{
		{"process_resident_memory_bytes", &smp.RSSBytes},
		{"go_goroutines", &smp.Goroutines},
		{"process_open_fds", &smp.OpenFiles},
		{"go_memstats_heap_inuse_bytes", &smp.HeapBytes},
	} {
		if *g.dst, err = gauge(g.name); err != nil {
			return smp, err
		}
	}
	return smp, nil
}

func newSampler(u *url.URL, interval time.Duration, allowRemote bool, log *zap.Logger) *sampler {
	return &sampler{
		url:      u.String(),
		interval: interval,
		client:   newHTTPClient(1, 5*time.Second, allowRemote),
		log:      log,
		start:    time.Now(),
		parser:   expfmt.NewTextParser(model.UTF8Validation),
	}
}

// Summary is the first, largest and last value of a sampled series.
type Summary struct {
	First, Max, Last int64
}

// Summaries summarises RSS, goroutines, open files and heap, in that
// order; zeros without samples.
func (r *Resources) Summaries() [4]Summary {
	var out [4]Summary
	for i, s := range r.Samples {
		for j, v := range [4]int64{s.RSSBytes, s.Goroutines, s.OpenFiles, s.HeapBytes} {
			if i == 0 {
				out[j].First = v
			}
			out[j].Max = max(out[j].Max, v)
			out[j].Last = v
		}
	}
	return out
}
