package caddymodule

import (
	"bufio"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// The shim with a misbehaving legacy node (docs/protocol.md §7.3,
// docs/legacy.md §6): what a proxied client gets, what native users get,
// and what the operator sees in the metrics.

// loadNodes starts the shim with the given node blocks (each "node <name>
// { reverse_proxy … }") and extra settings in its legacy block.
// A setting in extra replaces the test default (the legacy block takes
// each setting once).
func (e *shimEnv) loadNodes(nodes, extra string) {
	e.t.Helper()
	var settings []string
	for _, line := range []string{
		fmt.Sprintf("route_cache_ttl %s", testRouteTTL),
		fmt.Sprintf("timeout %s", testTimeout),
		fmt.Sprintf("retry_after %ss", testRetryAfter),
		fmt.Sprintf("migrating_retry_after %ss", testMigratingRetryAfter),
		"stats_interval 100ms",
	} {
		if key, _, _ := strings.Cut(line, " "); !hasSetting(extra, key) {
			settings = append(settings, line)
		}
	}
	initServer(e.t, siteCaddyfile(fmt.Sprintf(`database mysql {env.SHM_NATIVE_DSN}
		public_url %s
		legacy {
			%s
			%s
			%s
		}`, e.publicURL, nodes, strings.Join(settings, "\n\t\t\t"), extra)))
}

// hasSetting reports whether a line of block starts with the setting key.
func hasSetting(block, key string) bool {
	for _, line := range strings.Split(block, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == key {
			return true
		}
	}
	return false
}

// rawGet sends an authenticated GET and returns the status, the body read
// so far and the error that ended reading it (nil: the whole answer).
func rawGet(c *syncClient, path string, timeout time.Duration) (int, string, error) {
	c.t.Helper()
	req, err := http.NewRequest("GET", c.base+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	req.SetBasicAuth(c.user, c.password)
	resp, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// hijacked answers with raw bytes and then closes the connection; reset
// makes the close an RST instead of a FIN.
func hijacked(raw string, reset bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		buf.WriteString(raw)
		buf.Flush()
		if tc, ok := conn.(*net.TCPConn); ok && reset {
			tc.SetLinger(0)
		}
		conn.Close()
	}
}

func metricLine(t *testing.T, prefix string) string {
	t.Helper()
	for _, l := range strings.Split(scrapeMetrics(t), "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// requestsCounted sums syncserver_requests_total over its labels.
func requestsCounted(t *testing.T) float64 {
	t.Helper()
	var sum float64
	for _, l := range strings.Split(scrapeMetrics(t), "\n") {
		if strings.HasPrefix(l, "syncserver_requests_total{") {
			var v float64
			fmt.Sscan(l[strings.LastIndexByte(l, ' ')+1:], &v)
			sum += v
		}
	}
	return sum
}

func check503(t *testing.T, what string, r reply) {
	t.Helper()
	if r.status != 503 || r.header.Get("Retry-After") != testRetryAfter || r.header.Get("X-Weave-Backoff") != testRetryAfter ||
		!strings.HasPrefix(r.body, `"server issue: `) {
		t.Errorf("%s: got %d %q %v, want 503 with Retry-After and X-Weave-Backoff %s", what, r.status, r.body, r.header, testRetryAfter)
	}
}

// TestShimLegacyAnswerCutShort: a legacy answer that breaks off after
// its headers (a body shorter than its Content-Length, a reset in the
// middle of a chunked body) reaches the client as a broken transfer,
// never as a short answer that looks complete, and the operator finds it
// counted as an error of the node.
func TestShimLegacyAnswerCutShort(t *testing.T) {
	e := newShimEnv(t)
	e.load("")
	leg := e.legacyUser("leo@example.com", "leo's password")
	nat := newSyncClient(t, "mia@example.com", "correct horse battery")
	nat.register("mia@example.com")
	e.proxied(leg, "GET", "/1.1/"+leg.user+"/info/collections", "", true)

	const errs = `syncserver_backend_errors_total{backend="legacy",node="node1"}`
	for i, tc := range []struct {
		name string
		raw  string
		rst  bool
	}{
		{"short body", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"bookmarks\": 1", false},
		{"reset mid-chunk", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"bookmarks\": 1,\r\n", true},
	} {
		e.legacy.setFault(hijacked(tc.raw, tc.rst))
		counted := requestsCounted(t)
		status, body, err := rawGet(leg, "/1.1/"+leg.user+"/info/collections", 10*time.Second)
		if err == nil {
			t.Errorf("%s: the client got %d %q as a complete answer", tc.name, status, body)
		}
		if got := requestsCounted(t); got != counted+1 {
			t.Errorf("%s: syncserver_requests_total went from %v to %v", tc.name, counted, got)
		}
		if got, want := metricLine(t, errs), fmt.Sprintf("%s %d", errs, i+1); got != want {
			t.Errorf("%s: the operator sees %q, want %q", tc.name, got, want)
		}
		nat.expect(nat.do("GET", "/1.1/"+nat.user+"/info/collections", "", true), 200, "*")
	}
	e.legacy.setFault(nil)
	e.proxied(leg, "GET", "/1.1/"+leg.user+"/info/collections", "", true)
}

// TestShimLegacyAnswerStalls: a node that sends its answer's headers and
// then nothing more is given up after the legacy timeout, as one that
// sends no headers is: the client's transfer is cut instead of hanging
// for as long as the node does, and the node's connection is released.
func TestShimLegacyAnswerStalls(t *testing.T) {
	e := newShimEnv(t)
	e.load("")
	leg := e.legacyUser("leo@example.com", "leo's password")
	released := make(chan time.Duration, 1)
	e.legacy.setFault(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		io.WriteString(w, `{"bookmarks": 1`)
		http.NewResponseController(w).Flush()
		select {
		case <-r.Context().Done():
			released <- time.Since(start)
		case <-time.After(20 * time.Second):
			released <- 20 * time.Second
		}
	})
	start := time.Now()
	status, body, err := rawGet(leg, "/1.1/"+leg.user+"/info/collections", 15*time.Second)
	took := time.Since(start)
	if err == nil {
		t.Errorf("the client got %d %q as a complete answer", status, body)
	}
	if limit := testTimeout + 2*time.Second; took > limit {
		t.Errorf("the stalled answer held the client %v (%v), want under %v", took, err, limit)
	}
	if d := <-released; d > testTimeout+2*time.Second {
		t.Errorf("the node's connection was held %v", d)
	}
	const errs = `syncserver_backend_errors_total{backend="legacy",node="node1"} 1`
	if got := metricLine(t, `syncserver_backend_errors_total{backend="legacy"`); got != errs {
		t.Errorf("the operator sees %q, want %q", got, errs)
	}

	// A node that sends no headers is given up after the timeout too,
	// and its connection is released.
	e.legacy.setFault(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		select {
		case <-r.Context().Done():
			released <- time.Since(start)
		case <-time.After(20 * time.Second):
			released <- 20 * time.Second
		}
	})
	check503(t, "no headers", leg.do("GET", "/1.1/"+leg.user+"/info/collections", "", true))
	if d := <-released; d > testTimeout+2*time.Second {
		t.Errorf("the silent node's connection was held %v", d)
	}

	// A slow answer that keeps coming is not cut.
	e.legacy.setFault(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		for i := range 6 {
			fmt.Fprintf(w, "%d", i)
			http.NewResponseController(w).Flush()
			time.Sleep(testTimeout / 2)
		}
	})
	if status, body, err := rawGet(leg, "/1.1/"+leg.user+"/info/collections", 15*time.Second); err != nil || status != 200 || body != "012345" {
		t.Errorf("a slow but steady answer: %d %q %v", status, body, err)
	}
}

// TestShimLegacyWritesNotRetried: with retries configured in the node's
// reverse_proxy, a write the node received and then dropped is not sent
// again (it may have been applied), and the client gets 503 with
// Retry-After; a write that never reached a node may be tried on the
// next one.
func TestShimLegacyWritesNotRetried(t *testing.T) {
	e := newShimEnv(t)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	e.loadNodes(fmt.Sprintf(`node node1 {
				reverse_proxy %s %s {
					lb_policy first
					lb_retries 3
					lb_try_duration 2s
					fail_duration 1ns
				}
			}`, e.legacy.Addr, deadAddr), "")
	leg := e.legacyUser("leo@example.com", "leo's password")
	e.proxied(leg, "GET", "/1.1/"+leg.user+"/info/collections", "", true)

	e.legacy.setFault(hijacked("", true)) // reads the request, then resets
	for _, m := range []string{"PUT", "POST", "DELETE"} {
		path, body := "/1.1/"+leg.user+"/storage/bookmarks", `[{"id":"a","payload":"x"}]`
		switch m {
		case "PUT":
			path, body = path+"/a", `{"payload":"x"}`
		case "DELETE":
			body = ""
		}
		n := e.legacy.arrived.Load()
		r := leg.do(m, path, body, true)
		if got := e.legacy.arrived.Load() - n; got != 1 {
			t.Errorf("%s: the node received the write %d times", m, got)
		}
		check503(t, m+" dropped by the node", r)
	}
	e.legacy.setFault(nil)
}

// TestShimOneNodeDown: of two nodes, the one that is down costs its own
// users a 503 with Retry-After and names itself in the metrics; the other
// node's users and native users are served.
func TestShimOneNodeDown(t *testing.T) {
	e := newShimEnv(t)
	other := startLegacy(t)
	e.loadNodes(fmt.Sprintf(`node node1 {
				reverse_proxy %s
			}
			node node2 {
				reverse_proxy %s
			}
			host_node node1`, e.legacy.Addr, other.Addr), "")
	leg := e.legacyUser("leo@example.com", "leo's password")
	nat := newSyncClient(t, "mia@example.com", "correct horse battery")
	nat.register("mia@example.com")
	two := newSyncClient(t, "ned@example.com", "ned's password")
	e.setRoute(syncstore.Route{Username: two.user, State: syncstore.RouteLegacy, Node: "node2"})
	if r := two.do("GET", "/1.1/"+two.user+"/info/collections", "", true); r.status != 401 {
		t.Fatalf("node2 user before the outage: %d %q", r.status, r.body)
	}
	other.stop()
	for _, m := range []string{"GET", "PUT"} {
		check503(t, "node2 down, "+m, two.do(m, "/1.1/"+two.user+"/storage/bookmarks/a", `{"payload":"x"}`, true))
	}
	// A new name cannot be checked against node2: the registration is
	// refused for now, and the failure is node2's.
	pat := newSyncClient(t, "pat@example.com", "correct horse battery")
	body := fmt.Sprintf(`{"email": "pat@example.com", "password": %q}`, pat.password)
	check503(t, "registration with node2 down", pat.do("PUT", "/user/1.0/"+pat.user, body, false))
	if rt := e.route(pat.user); rt != nil {
		t.Errorf("the refused registration left a route: %+v", rt)
	}
	e.proxied(leg, "GET", "/1.1/"+leg.user+"/info/collections", "", true)
	nat.expect(nat.do("GET", "/1.1/"+nat.user+"/info/collections", "", true), 200, "*")
	const want = `syncserver_backend_errors_total{backend="legacy",node="node2"} 3`
	if got := metricLine(t, `syncserver_backend_errors_total{backend="legacy",node="node2"}`); got != want {
		t.Errorf("the operator sees %q, want %q", got, want)
	}
	if got := metricLine(t, `syncserver_backend_errors_total{backend="legacy",node="node1"}`); got != "" {
		t.Errorf("node1 counted errors: %q", got)
	}
}

// TestShimLegacyHealthChecks: a node whose only server fails its health
// check gives its users 503 with Retry-After, not Caddy's bare answer,
// and serves them again once it passes.
func TestShimLegacyHealthChecks(t *testing.T) {
	e := newShimEnv(t)
	e.loadNodes(fmt.Sprintf(`node node1 {
				reverse_proxy %s {
					health_uri /user/1.0/healthcheck
					health_interval 50ms
					health_timeout 500ms
				}
			}`, e.legacy.Addr), "")
	leg := e.legacyUser("leo@example.com", "leo's password")
	e.proxied(leg, "GET", "/1.1/"+leg.user+"/info/collections", "", true)
	e.legacy.setFault(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	deadline := time.Now().Add(5 * time.Second)
	var r reply
	for {
		r = leg.do("GET", "/1.1/"+leg.user+"/info/collections", "", true)
		if r.status != 500 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	check503(t, "node unhealthy", r)
	e.legacy.setFault(nil)
	waitForStatus(t, leg, "/1.1/"+leg.user+"/info/collections", 200, time.Now())
}

// TestShimRouteTableDown: when the route table cannot be read, a request
// gets 503 with Retry-After and X-Weave-Backoff, and the operator sees it
// as unrouted.
func TestShimRouteTableDown(t *testing.T) {
	e := newShimEnv(t)
	e.load("")
	leg := e.legacyUser("leo@example.com", "leo's password")
	e.proxied(leg, "GET", "/1.1/"+leg.user+"/info/collections", "", true)
	db, err := sql.Open("mysql", e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("RENAME TABLE routes TO routes_gone"); err != nil {
		t.Fatal(err)
	}
	e.notForwarded("route table down", func() {
		check503(t, "route table down, PUT", leg.do("PUT", "/1.1/"+leg.user+"/storage/bookmarks/a", `{"payload":"x"}`, true))
	})
	if _, err := db.Exec("RENAME TABLE routes_gone TO routes"); err != nil {
		t.Fatal(err)
	}
	if got := metricLine(t, `syncserver_backend_errors_total{backend="unrouted"`); !strings.HasSuffix(got, " 1") {
		t.Errorf("the operator sees %q", got)
	}
	e.proxied(leg, "PUT", "/1.1/"+leg.user+"/storage/bookmarks/a", `{"payload":"x"}`, true)
}

// TestShimReloadLegacyInFlight: a legacy write in flight while the config
// is reloaded gets the node's own answer, having reached the node once;
// reloads release what the shim and its nodes started (goroutines, the
// nodes' connections).
func TestShimReloadLegacyInFlight(t *testing.T) {
	e := newShimEnv(t)
	node := fmt.Sprintf(`node node1 {
				reverse_proxy %s
			}`, e.legacy.Addr)
	e.loadNodes(node, "timeout 30s")
	leg := e.legacyUser("leo@example.com", "leo's password")
	e.proxied(leg, "GET", "/1.1/"+leg.user+"/info/collections", "", true)

	entered, release := make(chan struct{}, 1), make(chan struct{})
	e.legacy.setFault(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		entered <- struct{}{}
		<-release
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "1795773376.5")
	})
	req, _ := http.NewRequest("PUT", leg.base+"/1.1/"+leg.user+"/storage/bookmarks/a", strings.NewReader(`{"payload":"x"}`))
	req.SetBasicAuth(leg.user, leg.password)
	done := sendInBackground(req)
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the write never reached the node")
	}
	n := e.legacy.arrived.Load()
	e.loadNodes(node, "timeout 20s")
	close(release)
	r := <-done
	if r.err != nil || r.status != 200 || r.body != "1795773376.5" {
		t.Errorf("write in flight during the reload: %d %q %v, want the node's 200", r.status, r.body, r.err)
	}
	if got := e.legacy.arrived.Load() - n; got != 0 {
		t.Errorf("the write in flight reached the node %d more times", got)
	}
	e.legacy.setFault(nil)
	e.proxied(leg, "GET", "/1.1/"+leg.user+"/info/collections", "", true)

	// Reloads with proxied requests (one of them to a node that is down)
	// leave no goroutines behind.
	cycle := func(i int) {
		e.loadNodes(node, fmt.Sprintf("timeout %ds", 10+i))
		e.proxied(leg, "GET", "/1.1/"+leg.user+"/info/collections", "", true)
	}
	cycle(0)
	time.Sleep(200 * time.Millisecond)
	before := runtime.NumGoroutine()
	for i := 1; i <= 8; i++ {
		cycle(i)
	}
	var after int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		if after = runtime.NumGoroutine(); after <= before+10 || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("goroutines: %d before 8 reloads, %d after", before, after)
	if after > before+10 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines grew from %d to %d over 8 reloads:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

// TestShimRegistrationNodeMisbehaves: the check whether a new name is
// taken on the legacy node is bounded like any proxied request: a node
// whose answer stalls after its headers, or breaks off, costs the
// registration a 503 with Retry-After within the legacy timeout, not a
// hang or a cut connection, and leaves no account or route behind.
func TestShimRegistrationNodeMisbehaves(t *testing.T) {
	e := newShimEnv(t)
	e.load("")
	for _, tc := range []struct {
		name  string
		fault http.HandlerFunc
	}{
		{"stalled", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "1")
			w.WriteHeader(200)
			http.NewResponseController(w).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(20 * time.Second):
			}
		}},
		{"cut short", hijacked("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n0", true)},
	} {
		e.legacy.setFault(tc.fault)
		email := strings.ReplaceAll(tc.name, " ", "") + "@example.com"
		c := newSyncClient(t, email, "correct horse battery")
		body := fmt.Sprintf(`{"email": %q, "password": %q}`, email, c.password)
		req, _ := http.NewRequest("PUT", c.base+"/user/1.0/"+c.user, strings.NewReader(body))
		start := time.Now()
		resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
		took := time.Since(start)
		if err != nil {
			t.Errorf("%s: registration: %v after %v", tc.name, err, took)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		check503(t, tc.name, reply{status: resp.StatusCode, header: resp.Header, body: string(b)})
		if limit := testTimeout + 2*time.Second; took > limit {
			t.Errorf("%s: the registration took %v, want under %v", tc.name, took, limit)
		}
		if rt := e.route(c.user); rt != nil {
			t.Errorf("%s: the refused registration left a route: %+v", tc.name, rt)
		}
	}
	e.legacy.setFault(nil)
}

// TestShimLegacy5xxPassedThrough: a node's own 5xx answers (FSyncMS's
// 503 with X-Weave-Backoff, the 502 of an nginx whose PHP-FPM is down)
// reach the client as the node sent them (docs/legacy.md §6: answers
// pass through), and count as the node's errors.
func TestShimLegacy5xxPassedThrough(t *testing.T) {
	e := newShimEnv(t)
	e.load("")
	leg := e.legacyUser("leo@example.com", "leo's password")
	for i, tc := range []struct {
		status int
		header []string
		body   string
	}{
		{503, []string{"X-Weave-Backoff", "1800", "Content-Type", "application/json"}, `"database error"`},
		{502, []string{"Content-Type", "text/html"}, "<html>502 Bad Gateway</html>"},
	} {
		e.legacy.setFault(func(w http.ResponseWriter, r *http.Request) {
			for j := 0; j+1 < len(tc.header); j += 2 {
				w.Header().Set(tc.header[j], tc.header[j+1])
			}
			w.WriteHeader(tc.status)
			io.WriteString(w, tc.body)
		})
		r := leg.do("GET", "/1.1/"+leg.user+"/info/collections", "", true)
		if r.status != tc.status || r.body != tc.body || r.header.Get("Retry-After") != "" {
			t.Errorf("node answering %d: the client got %d %q %v", tc.status, r.status, r.body, r.header)
		}
		for j := 0; j+1 < len(tc.header); j += 2 {
			if got := r.header.Get(tc.header[j]); got != tc.header[j+1] {
				t.Errorf("node answering %d: %s is %q at the client", tc.status, tc.header[j], got)
			}
		}
		const errs = `syncserver_backend_errors_total{backend="legacy",node="node1"}`
		if got, want := metricLine(t, errs), fmt.Sprintf("%s %d", errs, i+1); got != want {
			t.Errorf("node answering %d: the operator sees %q, want %q", tc.status, got, want)
		}
	}
	e.legacy.setFault(nil)
}

// TestShimClientAbortNotNodeError: a client that goes away in the middle
// of its upload is not counted as a failure of the legacy node.
func TestShimClientAbortNotNodeError(t *testing.T) {
	e := newShimEnv(t)
	e.load("")
	leg := e.legacyUser("leo@example.com", "leo's password")
	e.proxied(leg, "GET", "/1.1/"+leg.user+"/info/collections", "", true)
	arrived := e.legacy.arrived.Load()
	conn, err := net.Dial("tcp", strings.TrimPrefix(leg.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PUT /1.1/%s/storage/bookmarks/a HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\nContent-Length: 1000\r\n\r\n{\"payload\":", leg.user, strings.TrimPrefix(leg.base, "http://"), basicAuth(leg.user, leg.password))
	for deadline := time.Now().Add(5 * time.Second); e.legacy.arrived.Load() == arrived && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	conn.Close()
	waitForMetric(t, `syncserver_backend_requests_total{backend="legacy",node="node1"} 2`)
	if got := metricLine(t, `syncserver_backend_errors_total{backend="legacy"`); got != "" {
		t.Errorf("the client's abort counted as the node's error: %q", got)
	}

	// A client still there whose chunked body is malformed gets the
	// native answer to a broken upload.
	conn, err = net.Dial("tcp", strings.TrimPrefix(leg.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT /1.1/%s/storage/bookmarks/a HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"pay\r\nzz\r\n",
		leg.user, strings.TrimPrefix(leg.base, "http://"), basicAuth(leg.user, leg.password))
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || string(b) != "1" {
		t.Errorf("malformed upload: %d %q, want 400 1", resp.StatusCode, b)
	}
	if got := metricLine(t, `syncserver_backend_errors_total{backend="legacy"`); got != "" {
		t.Errorf("the client's malformed upload counted as the node's error: %q", got)
	}
}

// TestShimLegacyNodeNeverReads: a node that accepts connections and then
// neither reads nor answers (a hung server whose kernel still completes
// handshakes) costs a legacy user 503 with Retry-After within the legacy
// timeout, also for an upload larger than the connection's buffers.
func TestShimLegacyNodeNeverReads(t *testing.T) {
	e := newShimEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held <- c
		}
	}()
	defer func() {
		ln.Close()
		for len(held) > 0 {
			(<-held).Close()
		}
	}()
	e.loadNodes(fmt.Sprintf(`node node1 {
				reverse_proxy %s
			}`, ln.Addr()), "")
	leg := newSyncClient(t, "leo@example.com", "leo's password")
	for _, size := range []int{0, 32 << 20} {
		body := ""
		if size > 0 {
			body = `[{"id":"a","payload":"` + strings.Repeat("x", size) + `"}]`
		}
		req, _ := http.NewRequest("POST", leg.base+"/1.1/"+leg.user+"/storage/bookmarks", strings.NewReader(body))
		req.SetBasicAuth(leg.user, leg.password)
		start := time.Now()
		resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
		took := time.Since(start)
		if err != nil {
			t.Errorf("%d-byte upload: %v after %v", size, err, took)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		check503(t, fmt.Sprintf("%d-byte upload", size), reply{status: resp.StatusCode, header: resp.Header, body: string(b)})
		if limit := testTimeout + 3*time.Second; took > limit {
			t.Errorf("%d-byte upload: answered after %v, want under %v", size, took, limit)
		}
	}
}
