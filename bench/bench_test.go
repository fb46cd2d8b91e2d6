package bench

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/httpapi"
	"github.com/syncserver/syncserver/syncstore/sqlitestore"
)

// testServer is a native server on SQLite behind a wrapper that counts the
// workload's requests per endpoint (as the server saw them) and can
// corrupt answers.
type testServer struct {
	store   syncstore.Store
	target  Target
	mu      sync.Mutex
	counts  map[endpoint]int64
	corrupt func(ep endpoint, w *capture)
}

func startTestServer(t *testing.T, corrupt func(endpoint, *capture)) *testServer {
	t.Helper()
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, sqlitestore.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	auth, err := syncstore.NewAuthenticator(st, syncstore.AuthConfig{BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpapi.New(httpapi.Config{Store: st, Auth: auth, Registration: "open"})
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{store: st, counts: map[endpoint]int64{}, corrupt: corrupt}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ep, ok := classify(r)
		if !ok || r.UserAgent() != userAgentWorkload {
			h.ServeHTTP(w, r)
			return
		}
		ts.mu.Lock()
		ts.counts[ep]++
		ts.mu.Unlock()
		c := &capture{header: http.Header{}}
		h.ServeHTTP(c, r)
		if ts.corrupt != nil {
			ts.corrupt(ep, c)
		}
		c.header.Del("Content-Length") // the body may have changed
		for k, v := range c.header {
			w.Header()[k] = v
		}
		w.WriteHeader(c.status)
		w.Write(c.body.Bytes())
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL + "/")
	ts.target = Target{Name: "sqlite", URL: u}
	return ts
}

// classify names a workload request by its method and path, independently
// of the client's own labelling.
func classify(r *http.Request) (endpoint, bool) {
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/node/weave"):
		return epNodeWeave, true
	case strings.HasSuffix(p, "/info/collections"):
		return epInfoCollections, true
	case strings.HasSuffix(p, "/storage/meta/global") && r.Method == http.MethodGet:
		return epMetaGlobal, true
	case strings.HasSuffix(p, "/storage/crypto/keys") && r.Method == http.MethodGet:
		return epCryptoKeys, true
	case strings.Contains(p, "/storage/") && r.Method == http.MethodGet:
		return epGetNewer, true
	case strings.Contains(p, "/storage/") && r.Method == http.MethodPost:
		return epPost, true
	case strings.Contains(p, "/storage/") && r.Method == http.MethodDelete:
		return epDelete, true
	}
	return 0, false
}

// capture holds an answer so the wrapper can alter it before sending.
type capture struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *capture) Header() http.Header { return c.header }
func (c *capture) WriteHeader(s int) {
	if c.status == 0 {
		c.status = s
	}
}
func (c *capture) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = 200
	}
	return c.body.Write(b)
}

// busyMix makes every session do every kind of request, so a tiny run
// covers them all.
func busyMix() Mix {
	m := DefaultMix()
	m.NodeWeave, m.Idle, m.MetaGlobal, m.CryptoKeys = 0.5, 0, 1, 1
	m.GetCount = Weights{0, 1, 1}
	m.PostCount = Weights{0, 2, 1}
	m.DeleteCount = Weights{1, 1}
	return m
}

func tinyConfig(ts *testServer) Config {
	cfg := DefaultConfig()
	cfg.Targets = []Target{ts.target}
	cfg.Users, cfg.RecordsPerUser = 3, 60
	cfg.Concurrency = []int{1, 3}
	cfg.StepDuration = 1500 * time.Millisecond
	cfg.MaxRequests = 400
	cfg.Warmup = 0
	cfg.Timeout = 10 * time.Second
	cfg.SeedConcurrency = 2
	cfg.BcryptCost = 4
	cfg.Mix = busyMix()
	return cfg
}

// checkAccounting checks that a step's numbers add up.
func checkAccounting(t *testing.T, s *StepResult, maxRequests int64) {
	t.Helper()
	var reqs, errs, kinds, timeline int64
	for _, e := range s.Endpoints {
		reqs += e.Count
		errs += e.Errors
	}
	for _, n := range s.ErrorsByKind {
		kinds += n
	}
	for _, p := range s.Timeline {
		timeline += p.Requests
	}
	if reqs != s.Requests || timeline != s.Requests || s.Latency.Count != s.Requests {
		t.Errorf("%s: requests %d, Σ endpoints %d, Σ timeline %d, latency count %d", s.Label, s.Requests, reqs, timeline, s.Latency.Count)
	}
	if errs != s.Errors || kinds != s.Errors {
		t.Errorf("%s: errors %d, Σ endpoints %d, Σ kinds %d", s.Label, s.Errors, errs, kinds)
	}
	if s.Requests > maxRequests || s.Requests < s.Sessions || s.Sessions == 0 {
		t.Errorf("%s: %d requests, %d sessions, limit %d", s.Label, s.Requests, s.Sessions, maxRequests)
	}
	if s.SessionErrors > s.Errors {
		t.Errorf("%s: %d failed sessions but %d errors", s.Label, s.SessionErrors, s.Errors)
	}
}

func TestTinyBenchCountsAddUp(t *testing.T) {
	ts := startTestServer(t, nil)
	cfg := tinyConfig(ts)
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr := res.Targets[0]
	if tr.Seed.Users != 3 || tr.Seed.Records != 180 || tr.Seed.Method != "http" {
		t.Errorf("seed: %+v", tr.Seed)
	}
	if len(tr.Steps) != 2 {
		t.Fatalf("%d steps", len(tr.Steps))
	}
	perEndpoint := map[string]int64{}
	var total int64
	for i := range tr.Steps {
		s := &tr.Steps[i]
		checkAccounting(t, s, cfg.MaxRequests)
		if s.Errors != 0 {
			t.Errorf("%s: %d errors on a correct server: %v %v", s.Label, s.Errors, s.ErrorsByKind, s.ErrorExamples)
		}
		total += s.Requests
		for _, e := range s.Endpoints {
			perEndpoint[e.Name] += e.Count
		}
	}
	// What the server saw is what the bench counted, endpoint by endpoint.
	ts.mu.Lock()
	var seen int64
	for ep := range numEndpoints {
		seen += ts.counts[ep]
		if ts.counts[ep] != perEndpoint[ep.String()] {
			t.Errorf("%s: server saw %d, bench counted %d", ep, ts.counts[ep], perEndpoint[ep.String()])
		}
	}
	if seen != total {
		t.Errorf("server saw %d workload requests, bench counted %d", seen, total)
	}
	for _, ep := range []endpoint{epInfoCollections, epMetaGlobal, epGetNewer, epPost} {
		if ts.counts[ep] == 0 {
			t.Errorf("%s never exercised", ep)
		}
	}
	ts.mu.Unlock()

	// A second run finds the data set in place and stops at its request
	// limit long before its deadline.
	cfg.Concurrency = []int{2}
	cfg.StepDuration = time.Minute
	cfg.MaxRequests = 50
	start := time.Now()
	res, err = Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &res.Targets[0].Steps[0]
	if res.Targets[0].Seed.Reused != 3 {
		t.Errorf("second run re-seeded: %+v", res.Targets[0].Seed)
	}
	if s.Requests != 50 || time.Since(start) > 30*time.Second {
		t.Errorf("request-bounded step made %d requests in %v: %+v", s.Requests, time.Since(start), s)
	}
	checkAccounting(t, s, 50)
}

func TestFixedRateAndGrowth(t *testing.T) {
	ts := startTestServer(t, nil)
	cfg := tinyConfig(ts)
	cfg.Stores = map[string]syncstore.Store{ts.target.Name: ts.store}
	cfg.Concurrency, cfg.Rates = nil, []float64{40}
	cfg.StepDuration = time.Second
	cfg.GrowthSizes = []int{600, 300}
	cfg.GrowthUsers, cfg.GrowthRecords, cfg.GrowthConcurrency, cfg.GrowthDuration = 2, 100, 2, 500*time.Millisecond
	cfg.RecordsPerUser = 150 // ballast accounts hold 150 records each
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr := res.Targets[0]
	// 2×100 driven and a ballast of 100 make 300; the workload's new
	// records and more ballast (150 each) make the second size.
	if len(tr.Growth) != 2 || tr.Growth[0].Label != "size=300" || tr.Growth[0].NodeRecords != 300 || tr.Growth[1].NodeRecords < 600 {
		t.Fatalf("growth steps %+v", tr.Growth)
	}
	if tr.Seed.Records < 300+450 || tr.Steps[0].NodeRecords <= tr.Seed.Records || tr.Seed.Users < 2+1+3 {
		t.Errorf("seed %+v, node records %d", tr.Seed, tr.Steps[0].NodeRecords)
	}
	for i := range tr.Growth {
		checkAccounting(t, &tr.Growth[i], cfg.MaxRequests)
	}
	s := &tr.Steps[0]
	checkAccounting(t, s, cfg.MaxRequests)
	// 40 sessions/s for a second, none dropped on an idle machine.
	if started := s.Sessions + s.SessionsCut + s.SessionsDropped; started < 30 || started > 42 || s.Errors != 0 || s.Label != "rate=40/s" {
		t.Errorf("%s: %d sessions started, %d errors %v", s.Label, started, s.Errors, s.ErrorExamples)
	}
}

func TestWrongAnswersAreErrors(t *testing.T) {
	cases := []struct {
		name    string
		ep      endpoint
		kind    string
		corrupt func(*capture)
	}{
		{"post timestamp", epPost, kindTimestampMismatch, func(c *capture) {
			c.header.Set("X-Weave-Timestamp", "1234567890.00")
		}},
		{"lost record", epGetNewer, kindMissing, func(c *capture) {
			// Drop the last record of every non-empty download.
			lines := bytes.SplitAfter(c.body.Bytes(), []byte("\n"))
			if len(lines) < 3 {
				return
			}
			body := bytes.Join(lines[:len(lines)-2], nil)
			c.body.Reset()
			c.body.Write(body)
			c.header.Set("X-Weave-Records", strconv.Itoa(len(lines)-2))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startTestServer(t, func(ep endpoint, c *capture) {
				if ep == tc.ep {
					tc.corrupt(c)
				}
			})
			cfg := tinyConfig(ts)
			cfg.Concurrency = []int{2}
			cfg.Stores = map[string]syncstore.Store{ts.target.Name: ts.store} // direct seeding
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if res.Targets[0].Seed.Method != "direct" {
				t.Errorf("seeded by %s", res.Targets[0].Seed.Method)
			}
			s := &res.Targets[0].Steps[0]
			checkAccounting(t, s, cfg.MaxRequests)
			e, _ := s.Endpoint(tc.ep.String())
			if s.ErrorsByKind[tc.kind] == 0 || s.Errors != s.ErrorsByKind[tc.kind] || e.Errors != s.Errors {
				t.Errorf("errors %d by kind %v (endpoint %s: %d of %d): %v", s.Errors, s.ErrorsByKind, e.Name, e.Errors, e.Count, s.ErrorExamples)
			}
			if tc.ep == epPost && e.Errors != e.Count {
				t.Errorf("%d of %d corrupted POST answers counted as errors", e.Errors, e.Count)
			}
		})
	}
}

func TestRefusesNonLoopback(t *testing.T) {
	tgt, err := ParseTarget("far=http://192.0.2.1:5000")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Targets = []Target{tgt}
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("Run against 192.0.2.1: %v", err)
	}
	// The dialer refuses too, whatever a name resolved to.
	if err := loopbackOnly("tcp", "192.0.2.1:80", nil); err == nil {
		t.Error("dialer accepted 192.0.2.1")
	}
	if err := loopbackOnly("tcp", "[::1]:80", nil); err != nil {
		t.Error(err)
	}
}

func TestProgressLines(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(&out)
	p.every = 20 * time.Millisecond
	rec := newRecorder(time.Now(), time.Now())
	stop := p.trackStep("sqlite", "c=1", rec, time.Now())
	rec.request(epPost, time.Now(), time.Millisecond, nil, 0)
	time.Sleep(70 * time.Millisecond)
	stop()
	lines := 0
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		lines++
		if !strings.HasPrefix(sc.Text(), "sqlite c=1: ") || !strings.Contains(sc.Text(), "requests") {
			t.Errorf("line %q", sc.Text())
		}
	}
	if lines < 2 {
		t.Errorf("%d progress lines", lines)
	}
}

// TestStepsInterleaveTargets runs two targets with each step cut into
// three slices: the servers must see the targets take turns, slice by
// slice (a b a b a b, one target at a time), and each target's slices
// must add up to one step result.
func TestStepsInterleaveTargets(t *testing.T) {
	var mu sync.Mutex
	var order []string // the target of each answered workload request
	seen := func(name string) func(endpoint, *capture) {
		return func(endpoint, *capture) {
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
		}
	}
	a, b := startTestServer(t, seen("a")), startTestServer(t, seen("b"))
	a.target.Name, b.target.Name = "a", "b"
	cfg := tinyConfig(a)
	cfg.Targets = []Target{a.target, b.target}
	cfg.Concurrency = []int{2}
	cfg.StepDuration = 1500 * time.Millisecond
	cfg.Slice = 500 * time.Millisecond
	cfg.MaxRequests = 100_000
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Settings.Slice != cfg.Slice {
		t.Errorf("settings record slice %v", res.Settings.Slice)
	}
	for _, tr := range res.Targets {
		if len(tr.Steps) != 1 {
			t.Fatalf("%s: %d steps", tr.Name, len(tr.Steps))
		}
		s := &tr.Steps[0]
		checkAccounting(t, s, cfg.MaxRequests)
		if s.Errors != 0 {
			t.Errorf("%s: %d errors: %v", tr.Name, s.Errors, s.ErrorExamples)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	var runs []string
	for _, name := range order {
		if len(runs) == 0 || runs[len(runs)-1] != name {
			runs = append(runs, name)
		}
	}
	if got := strings.Join(runs, " "); got != "a b a b a b" {
		t.Errorf("targets took turns as %q, want %q", got, "a b a b a b")
	}
	var total int64
	for _, tr := range res.Targets {
		total += tr.Steps[0].Requests
	}
	if int64(len(order)) != total {
		t.Errorf("servers saw %d workload requests, bench counted %d", len(order), total)
	}
}
