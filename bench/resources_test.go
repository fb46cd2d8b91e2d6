package bench

import (
	"bytes"
	"context"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// TestSampleResources samples a metrics endpoint served as Caddy's admin
// endpoint serves it (the Go and process collectors) while a tiny bench
// runs, and finds the samples in the results, the report and the
// terminal summary.
func TestSampleResources(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(metrics.Close)
	mu, _ := url.Parse(metrics.URL + "/metrics")

	ts := startTestServer(t, nil)
	cfg := tinyConfig(ts)
	cfg.Concurrency = []int{2}
	cfg.StepDuration = time.Second
	// The step must last its second: with tinyConfig's 400-request cap a
	// fast machine ended it after 0.2 s, two samples (start and end).
	cfg.MaxRequests = 1_000_000
	cfg.Samples = map[string]*url.URL{ts.target.Name: mu}
	cfg.SampleInterval = 200 * time.Millisecond
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := res.Targets[0].Resources
	if r == nil || r.Failed != 0 || len(r.Samples) < 3 {
		t.Fatalf("resources %+v", r)
	}
	for _, s := range r.Samples {
		if s.RSSBytes <= 0 || s.Goroutines <= 0 || s.OpenFiles <= 0 || s.HeapBytes <= 0 {
			t.Fatalf("sample %+v", s)
		}
	}
	if last := r.Samples[len(r.Samples)-1]; last.T < res.Targets[0].Steps[0].DurationS {
		t.Errorf("last sample at %.2f s, before the step ended", last.T)
	}

	o := NewOptions()
	o.out = t.TempDir()
	var out bytes.Buffer
	if err := o.write(res, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "sqlite server (") || !strings.Contains(out.String(), "open files") {
		t.Errorf("terminal output lacks the resources:\n%s", out.String())
	}
	page, err := os.ReadFile(filepath.Join(o.out, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Server process", `data-target="sqlite"`, `"rss_bytes"`, "open files"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestSampleSpecAndValidation(t *testing.T) {
	for _, bad := range []string{"soak", "=http://x/", "Soak=http://127.0.0.1/", "soak=ftp://x/", "soak=http://"} {
		if _, _, err := ParseSampleSpec(bad); err == nil {
			t.Errorf("--sample %q accepted", bad)
		}
	}
	name, u, err := ParseSampleSpec("soak=http://127.0.0.1:2019/metrics")
	if err != nil || name != "soak" || u.Path != "/metrics" {
		t.Fatalf("%q %v %v", name, u, err)
	}
	cfg := DefaultConfig()
	cfg.Targets = []Target{{Name: "sqlite", URL: u}}
	cfg.Samples = map[string]*url.URL{"mysql": u}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `"mysql"`) {
		t.Errorf("sampling a target that is not there: %v", err)
	}
}
