package caddymodule

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/syncserver/syncserver/caddymodule/shim"
	"github.com/syncserver/syncserver/migrate"
	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/mysqlstore"
)

// Settings of the shim tests: a short cache TTL (the flip bound) and
// timeout keep them fast. The two back-offs differ, to tell which one an
// answer carries.
const (
	testRouteTTL            = time.Second
	testTimeout             = time.Second
	testRetryAfter          = "120"
	testMigratingRetryAfter = "3"
)

// shimEnv is syncserver on MariaDB (shm_<random>) in front of one FSyncMS
// stand-in (shm_leg_<random>), in the test Caddy.
type shimEnv struct {
	t         *testing.T
	dsn       string
	publicURL string
	legacy    *legacyUpstream
	// native is a pool of the test's own on the server's database, to
	// read and write what the server sees.
	native *mysqlstore.Store
}

func newShimEnv(t *testing.T) *shimEnv {
	t.Helper()
	dsn := freshMySQLDatabase(t)
	t.Setenv("SHM_NATIVE_DSN", dsn)
	e := &shimEnv{t: t, dsn: dsn, publicURL: fmt.Sprintf("http://127.0.0.1:%d/", httpPort), legacy: startLegacy(t)}
	unloadAtEnd(t)
	s, err := mysqlstore.Open(context.Background(), mysqlstore.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	e.native = s
	t.Cleanup(func() { s.Close() })
	return e
}

// load starts the shim with extra settings in its legacy block.
func (e *shimEnv) load(extra string) {
	e.t.Helper()
	initServer(e.t, siteCaddyfile(fmt.Sprintf(`database mysql {env.SHM_NATIVE_DSN}
		public_url %s
		legacy {
			node node1 {
				reverse_proxy %s
			}
			route_cache_ttl %s
			timeout %s
			retry_after %ss
			migrating_retry_after %ss
			stats_interval 100ms
			%s
		}`, e.publicURL, e.legacy.Addr, testRouteTTL, testTimeout, testRetryAfter, testMigratingRetryAfter, extra)))
}

// legacyUser creates an account on the legacy server directly.
func (e *shimEnv) legacyUser(email, password string) *syncClient {
	e.t.Helper()
	c := newSyncClient(e.t, email, password)
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	if status, got := e.legacy.direct("PUT", "/user/1.0/"+c.user, string(body), "", ""); status != 200 {
		e.t.Fatalf("registering %s on the legacy server: %d %q", c.user, status, got)
	}
	return c
}

func (e *shimEnv) route(user string) *syncstore.Route {
	e.t.Helper()
	r, err := e.native.GetRoute(context.Background(), user)
	if err != nil {
		return nil
	}
	return r
}

func (e *shimEnv) setRoute(r syncstore.Route) {
	e.t.Helper()
	if err := e.native.SetRoute(context.Background(), r); err != nil {
		e.t.Fatal(err)
	}
}

// hopByHop are the headers a proxy must not forward (RFC 9110 §7.6.1,
// and what Caddy strips).
var hopByHop = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// responseExtras are headers the client may see that the upstream did
// not send: the front server's own.
var responseExtras = []string{"Date", "Server", "Via"}

// proxied sends a request through the shim and checks that it reached
// the legacy server exactly once and byte for byte, and that its answer
// came back as the legacy server wrote it. header holds name/value
// pairs; hop-by-hop ones must not reach the legacy server.
func (e *shimEnv) proxied(c *syncClient, method, path, body string, auth bool, header ...string) reply {
	e.t.Helper()
	n := e.legacy.count()
	r := c.do(method, path, body, auth, header...)
	got := e.legacy.since(n)
	if len(got) != 1 {
		e.t.Fatalf("%s %s reached the legacy server %d times, want once", method, path, len(got))
	}
	ex := got[0]
	if ex.method != method || ex.uri != path || string(ex.reqBody) != body {
		e.t.Fatalf("%s %s arrived as %s %s with a %d-byte body (sent %d)", method, path, ex.method, ex.uri, len(ex.reqBody), len(body))
	}
	if auth {
		want := "Basic " + basicAuth(c.user, c.password)
		if h := ex.reqHeader.Get("Authorization"); h != want {
			e.t.Errorf("%s %s: Authorization arrived as %q", method, path, h)
		}
	}
	dropped := map[string]bool{}
	for _, h := range hopByHop {
		dropped[h] = true
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Connection" {
			for _, f := range strings.Split(header[i+1], ",") {
				dropped[http.CanonicalHeaderKey(strings.TrimSpace(f))] = true
			}
		}
	}
	for i := 0; i+1 < len(header); i += 2 {
		name, value := http.CanonicalHeaderKey(header[i]), header[i+1]
		arrived := ex.reqHeader.Values(name)
		switch {
		case dropped[name] && len(arrived) > 0:
			e.t.Errorf("%s %s: hop-by-hop header %s reached the legacy server: %q", method, path, name, arrived)
		case !dropped[name] && !slices.Equal(arrived, []string{value}):
			e.t.Errorf("%s %s: header %s arrived as %q, sent %q", method, path, name, arrived, value)
		}
	}
	if r.status != ex.status || r.body != string(ex.respBody) {
		e.t.Fatalf("%s %s: client got %d %q, legacy answered %d %q", method, path, r.status, r.body, ex.status, ex.respBody)
	}
	for name, values := range ex.respHeader {
		if slices.Contains(hopByHop, name) || name == "Date" {
			continue
		}
		if !slices.Equal(r.header.Values(name), values) {
			e.t.Errorf("%s %s: response header %s is %q at the client, %q from the legacy server", method, path, name, r.header.Values(name), values)
		}
	}
	for name := range r.header {
		if _, sent := ex.respHeader[name]; !sent && !slices.Contains(responseExtras, name) {
			e.t.Errorf("%s %s: response header %s=%q added on the way", method, path, name, r.header.Get(name))
		}
	}
	return r
}

func basicAuth(user, password string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(user, password)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

// notForwarded runs fn and fails if anything reached the legacy server.
func (e *shimEnv) notForwarded(what string, fn func()) {
	e.t.Helper()
	n := e.legacy.count()
	fn()
	if got := e.legacy.since(n); len(got) > 0 {
		e.t.Errorf("%s: %d requests reached the legacy server, first %s %s", what, len(got), got[0].method, got[0].uri)
	}
}

// TestShimLegacySession: a legacy user's whole sync session goes through
// the shim to the FSyncMS stand-in and back unchanged, except node/weave,
// which the shim answers with its own URL.
func TestShimLegacySession(t *testing.T) {
	e := newShimEnv(t)
	e.load("")
	c := e.legacyUser("hanna@example.com", "hanna's password")
	st := "/1.1/" + c.user

	e.notForwarded("node/weave", func() {
		c.expect(c.do("GET", "/user/1.0/"+c.user+"/node/weave", "", true), 200, e.publicURL)
	})
	e.proxied(c, "GET", "/user/1.0/"+c.user, "", false)
	// FSyncMS's own answer for no collections is [] (docs/legacy.md §4.4).
	if r := e.proxied(c, "GET", st+"/info/collections", "", true); r.body != "[]" {
		t.Errorf("info/collections = %q, want FSyncMS's []", r.body)
	}
	e.proxied(c, "PUT", st+"/storage/meta/global", `{"payload":"{\"syncID\":\"abcdefghijkl\",\"storageVersion\":5}"}`, true, "Content-Type", "text/plain")
	e.proxied(c, "PUT", st+"/storage/crypto/keys", `{"payload":"{\"ciphertext\":\"k\",\"IV\":\"i\",\"hmac\":\"h\"}"}`, true)
	var batch []map[string]any
	for i := range 5 {
		batch = append(batch, map[string]any{"id": fmt.Sprintf("bmk%09d", i), "sortindex": i, "payload": fmt.Sprintf(`{"ciphertext":"c%d"}`, i)})
	}
	body, _ := json.Marshal(batch)
	post := e.proxied(c, "POST", st+"/storage/bookmarks", string(body), true, "Content-Type", "application/json", "X-Weave-Client", "test/1.0")
	ts := post.header.Get("X-Weave-Timestamp")
	e.proxied(c, "GET", st+"/storage/bookmarks?full=1&newer=0", "", true, "Accept", "application/newlines")
	e.proxied(c, "GET", st+"/storage/bookmarks?sort=index&limit=2", "", true)
	// A stale precondition: FSyncMS's 412 comes back as it is.
	if r := e.proxied(c, "PUT", st+"/storage/bookmarks/bmk000000001", `{"payload":"late"}`, true, "X-If-Unmodified-Since", "1000.5"); r.status != 412 {
		t.Errorf("stale X-If-Unmodified-Since: %d, want 412", r.status)
	}
	e.proxied(c, "DELETE", st+"/storage/bookmarks?ids=bmk000000001,bmk000000002", "", true, "X-If-Unmodified-Since", ts)
	// Hop-by-hop headers stop at the shim; end-to-end ones pass.
	e.proxied(c, "GET", st+"/storage/bookmarks", "", true,
		"Connection", "X-Hop-Test", "X-Hop-Test", "secret", "Proxy-Authorization", "Basic cHJveHk6cHc=",
		"X-Weave-Alert", "end-to-end", "X-If-Modified-Since", "12")
	// A large record streams through both ways.
	big := strings.Repeat("x", 60000)
	e.proxied(c, "PUT", st+"/storage/history/big", `{"payload":"`+big+`"}`, true)
	if r := e.proxied(c, "GET", st+"/storage/history/big", "", true); !strings.Contains(r.body, big) {
		t.Errorf("large payload came back with %d bytes", len(r.body))
	}
	e.proxied(c, "GET", st+"/info/collections", "", true)
	e.proxied(c, "GET", st+"/info/collection_counts", "", true)
	e.proxied(c, "GET", st+"/info/quota", "", true)
	// Wrong password: FSyncMS's 401 and its WWW-Authenticate.
	wrong := *c
	wrong.password = "not it"
	if r := e.proxied(&wrong, "GET", st+"/info/collections", "", true); r.status != 401 || r.header.Get("WWW-Authenticate") != `Basic realm="Weave"` {
		t.Errorf("wrong password: %d %v", r.status, r.header)
	}
	e.proxied(c, "POST", "/user/1.0/"+c.user+"/password", "hanna's new password", true)
	c.password = "hanna's new password"
	e.proxied(c, "DELETE", st+"/storage", "", true, "X-Confirm-Delete", "1")

	// The legacy user never touched the native store or the route table.
	if _, err := e.native.LookupUser(context.Background(), c.user); err == nil {
		t.Error("legacy user exists in the native store")
	}
	if r := e.route(c.user); r != nil {
		t.Errorf("legacy user got a route row: %+v", r)
	}
}

// TestShimNativeUsers: registrations made through the shim are native
// (a route row first, then the account) unless the name is taken on the
// legacy server; native users never reach it; a user the migrate tool
// moved is served natively with the same data.
func TestShimNativeUsers(t *testing.T) {
	e := newShimEnv(t)
	e.load("")

	const email = "ivan@example.com"
	c := newSyncClient(t, email, "correct horse battery")
	n := e.legacy.count()
	c.register(email) // GET (free) and PUT through the shim
	checks := e.legacy.since(n)
	for _, ex := range checks {
		if ex.method != "GET" || ex.uri != "/user/1.0/"+c.user {
			t.Errorf("registration sent %s %s to the legacy server", ex.method, ex.uri)
		}
	}
	// The wizard's first GET (no row: the legacy server answers) and the
	// shim's own check; the GET after the PUT finds the native row.
	if len(checks) != 2 {
		t.Errorf("registration asked the legacy server %d times, want 2", len(checks))
	}
	if r := e.route(c.user); r == nil || r.State != syncstore.RouteNative {
		t.Fatalf("route of the new user: %+v, want native", r)
	}
	e.notForwarded("native user's first sync", func() { c.firstSync(e.publicURL) })

	// A registration the native handler refuses leaves no row behind.
	weak := newSyncClient(t, "weak@example.com", "short")
	body, _ := json.Marshal(map[string]string{"email": "weak@example.com", "password": "short"})
	weak.expect(weak.do("PUT", "/user/1.0/"+weak.user, string(body), false), 400, "9")
	if rt := e.route(weak.user); rt != nil {
		t.Errorf("a refused registration left a route row: %+v", rt)
	}

	// A name taken on the legacy server is not created natively: the
	// legacy server answers the registration as it would have.
	taken := e.legacyUser("judy@example.com", "judy's password")
	n = e.legacy.count()
	body, _ = json.Marshal(map[string]string{"email": "judy@example.com", "password": "another password"})
	r := taken.do("PUT", "/user/1.0/"+taken.user, string(body), false)
	if r.status != 200 || len(e.legacy.since(n)) != 2 {
		t.Errorf("registering a legacy name: %d %q, %d legacy requests; want FSyncMS's 200 after the check", r.status, r.body, len(e.legacy.since(n)))
	}
	if _, err := e.native.LookupUser(context.Background(), taken.user); err == nil {
		t.Error("a legacy name was registered natively")
	}
	if rt := e.route(taken.user); rt != nil {
		t.Errorf("a legacy name got a route row: %+v", rt)
	}
	// Its old password still works there: nothing changed.
	e.proxied(taken, "GET", "/1.1/"+taken.user+"/info/collections", "", true)

	// A username the native handler rejects is never forwarded.
	e.notForwarded("invalid username", func() {
		for _, p := range []string{"/1.1/bad%20name/info/collections", "/user/1.0/" + strings.Repeat("a", 33), "/1.1/a$b/storage/x"} {
			if r := c.do("GET", p, "", true); r.status != 404 {
				t.Errorf("GET %s: %d, want 404", p, r.status)
			}
		}
	})
	// No user in the path: the default backend (legacy) answers.
	e.proxied(c, "GET", "/misc/1.0/captcha_html", "", false)
	// The heartbeat is this server's.
	e.notForwarded("heartbeat", func() { c.expect(c.do("GET", "/__heartbeat__", "", false), 200, "") })
}

// TestShimMigratingAndFlip: a migrating user gets 503 with the
// migrating back-off headers and nothing reaches the legacy server; route
// changes made in the database reach writes at once and reads within
// route_cache_ttl (at once when the cached row is migrating), and those
// made through the admin API everything at once; an expired lease falls
// back to its origin.
func TestShimMigratingAndFlip(t *testing.T) {
	e := newShimEnv(t)
	e.load("")
	c := e.legacyUser("kate@example.com", "kate's password")
	st := "/1.1/" + c.user
	e.proxied(c, "GET", st+"/info/collections", "", true)

	// The migrate tool, in another process, sets the user migrating:
	// reads see it within route_cache_ttl.
	flipped := time.Now()
	e.setRoute(syncstore.Route{Username: c.user, State: syncstore.RouteMigrating, Owner: "test-run",
		LeaseExpires: time.Now().Add(time.Minute), Origin: syncstore.RouteLegacy})
	took := waitForStatus(t, c, st+"/info/collections", 503, flipped)
	if took > testRouteTTL+300*time.Millisecond {
		t.Errorf("the flip to migrating took %v to reach the shim, bound is route_cache_ttl %v", took, testRouteTTL)
	}
	t.Logf("flip to migrating seen after %v (route_cache_ttl %v)", took, testRouteTTL)
	e.notForwarded("migrating user", func() {
		for _, req := range []struct{ method, path, body string }{
			{"GET", st + "/info/collections", ""},
			{"POST", st + "/storage/bookmarks", `[{"id":"a","payload":"x"}]`},
			{"DELETE", st + "/storage", ""},
			{"POST", "/user/1.0/" + c.user + "/password", "new password!"},
		} {
			r := c.do(req.method, req.path, req.body, true, "X-Confirm-Delete", "1")
			if r.status != 503 || r.header.Get("Retry-After") != testMigratingRetryAfter || r.header.Get("X-Weave-Backoff") != testMigratingRetryAfter ||
				r.header.Get("X-Weave-Timestamp") == "" {
				t.Errorf("%s %s while migrating: %d %v", req.method, req.path, r.status, r.header)
			}
		}
		c.expect(c.do("GET", "/user/1.0/"+c.user+"/node/weave", "", true), 200, e.publicURL)
	})

	// An abandoned migration: once the lease has expired the user is
	// served from its origin.
	e.setRoute(syncstore.Route{Username: c.user, State: syncstore.RouteMigrating, Owner: "dead-run",
		LeaseExpires: time.Now().Add(-time.Second), Origin: syncstore.RouteLegacy})
	waitForStatus(t, c, st+"/info/collections", 200, time.Now())
	e.proxied(c, "GET", st+"/info/collections", "", true)

	// Writes see a change made elsewhere at once, however fresh the
	// cached route: set migrating right after a read cached "legacy",
	// no write is forwarded, and the reads after them see it too.
	e.proxied(c, "GET", st+"/info/collections", "", true)
	e.setRoute(syncstore.Route{Username: c.user, State: syncstore.RouteMigrating, Owner: "test-run-2",
		LeaseExpires: time.Now().Add(time.Minute), Origin: syncstore.RouteLegacy})
	e.notForwarded("writes right after the change", func() {
		for _, req := range []struct{ method, path, body string }{
			{"PUT", st + "/storage/bookmarks/b", `{"payload":"y"}`},
			{"POST", st + "/storage/bookmarks", `[{"id":"a","payload":"x"}]`},
			{"DELETE", st + "/storage/bookmarks", ""},
			{"POST", "/user/1.0/" + c.user + "/password", "new password!"},
		} {
			if r := c.do(req.method, req.path, req.body, true); r.status != 503 || r.header.Get("Retry-After") != testMigratingRetryAfter {
				t.Errorf("%s %s right after the change to migrating: %d %v, want 503 at once", req.method, req.path, r.status, r.header)
			}
		}
		if r := c.do("GET", st+"/info/collections", "", true); r.status != 503 {
			t.Errorf("a read after the writes: %d, want 503 (the writes refreshed the cached route)", r.status)
		}
	})
	// The flip to native, likewise: the next read (the cached row is
	// migrating, which is always read again) and the next write are served
	// natively (this user has no native account, hence 401), not refused
	// or forwarded.
	e.setRoute(syncstore.Route{Username: c.user, State: syncstore.RouteNative})
	e.notForwarded("a read right after the flip", func() {
		if r := c.do("GET", st+"/info/collections", "", true); r.status != 401 {
			t.Errorf("a read right after the flip to native: %d %q, want the native handler's 401", r.status, r.body)
		}
	})
	e.notForwarded("a write right after the flip", func() {
		if r := c.do("PUT", st+"/storage/bookmarks/b", `{"payload":"y"}`, true); r.status != 401 {
			t.Errorf("a write right after the flip to native: %d %q, want the native handler's 401", r.status, r.body)
		}
	})
	e.setRoute(syncstore.Route{Username: c.user, State: syncstore.RouteLegacy})
	waitForStatus(t, c, st+"/info/collections", 200, time.Now())

	// Through the admin API the change is immediate on this instance.
	if status, body := adminRequest(t, "PUT", "/firefox-sync/routes/"+c.user, `{"state":"migrating"}`); status != 200 {
		t.Fatalf("admin PUT: %d %s", status, body)
	}
	e.notForwarded("after the admin flip", func() {
		if r := c.do("GET", st+"/info/collections", "", true); r.status != 503 {
			t.Errorf("first request after the admin flip: %d, want 503 at once", r.status)
		}
	})
	if status, body := adminRequest(t, "PUT", "/firefox-sync/routes/"+c.user, `{"state":"legacy"}`); status != 200 {
		t.Fatalf("admin PUT: %d %s", status, body)
	}
	e.proxied(c, "GET", st+"/info/collections", "", true)

	// The users-per-state gauge follows the table.
	waitForMetric(t, `syncserver_route_users{state="legacy"} 1`)
	metrics := scrapeMetrics(t)
	for _, want := range []string{
		`syncserver_backend_requests_total{backend="migrating",node=""}`,
		`syncserver_backend_requests_total{backend="legacy",node="node1"}`,
		`syncserver_route_lookups_total{result="hit"}`,
		`syncserver_route_lookups_total{result="miss"}`,
		`syncserver_route_lookups_total{result="write"}`,
		`syncserver_backend_request_duration_seconds_bucket{backend="legacy",le="+Inf"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(metrics, "syncserver_"))
		}
	}
}

// waitForStatus polls path until it answers status and returns how long
// that took since start.
func waitForStatus(t *testing.T, c *syncClient, path string, status int, start time.Time) time.Duration {
	t.Helper()
	deadline := start.Add(10 * time.Second)
	for {
		r := c.do("GET", path, "", true)
		if r.status == status {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s still answers %d %q, want %d", path, r.status, r.body, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestShimUpstreamDown: with the legacy server stopped or hung, legacy
// users get 503 with Retry-After within the timeout, and native users
// keep working.
func TestShimUpstreamDown(t *testing.T) {
	e := newShimEnv(t)
	e.load("")
	leg := e.legacyUser("leo@example.com", "leo's password")
	nat := newSyncClient(t, "mia@example.com", "correct horse battery")
	nat.register("mia@example.com")
	e.proxied(leg, "GET", "/1.1/"+leg.user+"/info/collections", "", true)

	check503 := func(what string, limit time.Duration) {
		t.Helper()
		start := time.Now()
		r := leg.do("GET", "/1.1/"+leg.user+"/info/collections", "", true)
		took := time.Since(start)
		if r.status != 503 || r.header.Get("Retry-After") != testRetryAfter || r.header.Get("X-Weave-Backoff") != testRetryAfter {
			t.Errorf("%s: legacy user got %d %q %v, want 503 with Retry-After", what, r.status, r.body, r.header)
		}
		if took > limit {
			t.Errorf("%s: the 503 took %v, want under %v", what, took, limit)
		}
		t.Logf("%s: 503 after %v", what, took)
	}

	e.legacy.stop()
	check503("upstream stopped", 500*time.Millisecond)
	nat.firstSync(e.publicURL)

	e.legacy.restart()
	e.legacy.setDelay(10 * time.Second)
	done := make(chan struct{})
	go func() {
		// Native users are not held up by a hung legacy request.
		defer close(done)
		r := nat.do("GET", "/1.1/"+nat.user+"/info/collections", "", true)
		if r.status != 200 {
			t.Errorf("native user while the legacy server hangs: %d", r.status)
		}
	}()
	check503("upstream hung", testTimeout+time.Second)
	<-done

	e.legacy.setDelay(0)
	e.proxied(leg, "GET", "/1.1/"+leg.user+"/info/collections", "", true)
	if m := scrapeMetrics(t); !strings.Contains(m, `syncserver_backend_errors_total{backend="legacy",node="node1"} 2`) {
		t.Errorf("legacy errors not counted:\n%s", grepLines(m, "backend_errors"))
	}
}

// TestShimAdminAPI: the route table on the admin endpoint, and only
// there.
func TestShimAdminAPI(t *testing.T) {
	e := newShimEnv(t)
	e.load("")
	nat := newSyncClient(t, "nora@example.com", "correct horse battery")
	nat.register("nora@example.com")
	leg := e.legacyUser("otto@example.com", "otto's password")

	status, body := adminRequest(t, "GET", "/firefox-sync/routes/"+nat.user, "")
	var row shim.RouteJSON
	if status != 200 || json.Unmarshal([]byte(body), &row) != nil || row.State != "native" || row.Effective != "native" || row.Bucket != syncstore.Bucket(nat.user) {
		t.Fatalf("GET the native user's route: %d %s", status, body)
	}
	// By e-mail address too.
	if status, body := adminRequest(t, "GET", "/firefox-sync/routes/nora@example.com", ""); status != 200 || !strings.Contains(body, nat.user) {
		t.Errorf("GET by e-mail: %d %s", status, body)
	}
	if status, _ := adminRequest(t, "GET", "/firefox-sync/routes/"+leg.user, ""); status != 404 {
		t.Errorf("GET a rowless user: %d, want 404", status)
	}
	// Native without a native account is refused unless forced.
	if status, body := adminRequest(t, "PUT", "/firefox-sync/routes/"+leg.user, `{"state":"native"}`); status != 409 || !strings.Contains(body, "no native account") {
		t.Errorf("PUT native for a legacy-only user: %d %s, want 409", status, body)
	}
	for _, bad := range []string{`{"state":"sideways"}`, `{"state":"legacy","nodes":"x"}`, `not json`} {
		if status, _ := adminRequest(t, "PUT", "/firefox-sync/routes/"+leg.user, bad); status != 400 {
			t.Errorf("PUT %s: %d, want 400", bad, status)
		}
	}
	if status, _ := adminRequest(t, "PUT", "/firefox-sync/routes/bad%20name", `{"state":"legacy"}`); status != 400 {
		t.Errorf("PUT for an invalid username: %d, want 400", status)
	}
	// A migrate run's lease is respected unless forced.
	e.setRoute(syncstore.Route{Username: leg.user, State: syncstore.RouteLegacy, Owner: "run-7", LeaseExpires: time.Now().Add(time.Minute), Origin: syncstore.RouteLegacy})
	if status, body := adminRequest(t, "PUT", "/firefox-sync/routes/"+leg.user, `{"state":"migrating"}`); status != 409 || !strings.Contains(body, "run-7") {
		t.Errorf("PUT over a held lease: %d %s, want 409", status, body)
	}
	status, body = adminRequest(t, "PUT", "/firefox-sync/routes/"+leg.user, `{"state":"legacy","node":"node1","force":true}`)
	if status != 200 || json.Unmarshal([]byte(body), &row) != nil || row.Owner != "" || row.Node != "node1" {
		t.Errorf("forced PUT: %d %s", status, body)
	}
	// The routes command can go through the admin endpoint too.
	out, err := runCommand(t, setupRoutesCommand, "", "set", "--admin", fmt.Sprintf("localhost:%d", adminPort), leg.user, "migrating")
	if err != nil || !strings.Contains(out, "migrating (node node1); in effect at once") {
		t.Errorf("routes set --admin: %q, %v", out, err)
	}
	if got := e.route(leg.user); got == nil || got.State != syncstore.RouteMigrating {
		t.Errorf("after routes set --admin: %+v", got)
	}
	if _, err := runCommand(t, setupRoutesCommand, "", "set", "--admin", fmt.Sprintf("localhost:%d", adminPort), nat.user, "sideways"); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("routes set --admin with a bad state: %v", err)
	}
	status, body = adminRequest(t, "GET", "/firefox-sync/routes/?limit=10", "")
	var rows []shim.RouteJSON
	if status != 200 || json.Unmarshal([]byte(body), &rows) != nil || len(rows) != 2 {
		t.Errorf("list: %d %s", status, body)
	}

	// The public listener does not serve it: the path names no user, so
	// the default backend (the legacy server) answers, with a 404.
	for _, method := range []string{"GET", "PUT"} {
		r := nat.do(method, "/firefox-sync/routes/"+nat.user, `{"state":"legacy"}`, false)
		if r.status != 404 || strings.Contains(r.body, `"state"`) {
			t.Errorf("%s /firefox-sync/routes on the public listener: %d %q, want 404", method, r.status, r.body)
		}
	}
	if got := e.route(nat.user); got == nil || got.State != syncstore.RouteNative {
		t.Errorf("the public PUT changed the route: %+v", got)
	}
}

// TestShimAdminAPIRefusesUnknownUser: as `syncserver routes set`, the
// admin API refuses, unless forced, a route for a user with neither a
// native account nor a route row (most likely a typo).
func TestShimAdminAPIRefusesUnknownUser(t *testing.T) {
	e := newShimEnv(t)
	e.load("")
	ghost := syncstore.UsernameFromEmail("ghost@example.com")
	status, body := adminRequest(t, "PUT", "/firefox-sync/routes/ghost@example.com", `{"state":"legacy"}`)
	if status != 409 || !strings.Contains(body, "no user ghost@example.com") || !strings.Contains(body, `\"force\": true`) {
		t.Errorf("PUT for an unknown user: %d %s, want 409 naming the address", status, body)
	}
	if got := e.route(ghost); got != nil {
		t.Errorf("the refused PUT wrote a row: %+v", got)
	}
	if status, body := adminRequest(t, "PUT", "/firefox-sync/routes/ghost@example.com", `{"state":"legacy","force":true}`); status != 200 {
		t.Errorf("forced PUT for an unknown user: %d %s", status, body)
	}
	// With a row the user is known, account or not.
	if status, body := adminRequest(t, "PUT", "/firefox-sync/routes/ghost@example.com", `{"state":"migrating"}`); status != 200 {
		t.Errorf("PUT for a user with a row: %d %s", status, body)
	}
	if got := e.route(ghost); got == nil || got.State != syncstore.RouteMigrating {
		t.Errorf("after the PUT: %+v", got)
	}
}

// TestShimAdminAPIRefusesUnknownNode: a node that neither a route row nor
// a legacy block loaded on the database knows is refused unless forced.
func TestShimAdminAPIRefusesUnknownNode(t *testing.T) {
	e := newShimEnv(t)
	e.load("")
	nat := newSyncClient(t, "nina@example.com", "correct horse battery")
	nat.register("nina@example.com")
	status, body := adminRequest(t, "PUT", "/firefox-sync/routes/"+nat.user, `{"state":"legacy","node":"node9"}`)
	if status != 409 || !strings.Contains(body, `unknown node \"node9\"`) || !strings.Contains(body, "known: node1") {
		t.Errorf("PUT an unknown node: %d %s, want 409 listing the known nodes", status, body)
	}
	if got := e.route(nat.user); got == nil || got.State != syncstore.RouteNative {
		t.Errorf("the refused PUT changed the route: %+v", got)
	}
	// node1 is configured by the loaded legacy block.
	if status, body := adminRequest(t, "PUT", "/firefox-sync/routes/"+nat.user, `{"state":"legacy","node":"node1"}`); status != 200 {
		t.Errorf("PUT a configured node: %d %s", status, body)
	}
	if status, body := adminRequest(t, "PUT", "/firefox-sync/routes/"+nat.user, `{"state":"legacy","node":"node9","force":true}`); status != 200 {
		t.Errorf("forced PUT of an unknown node: %d %s", status, body)
	}
	// node9 is now named by a route row.
	e.setRoute(syncstore.Route{Username: "rowonly", State: syncstore.RouteLegacy, Node: "node9"})
	if status, body := adminRequest(t, "PUT", "/firefox-sync/routes/"+nat.user, `{"state":"native"}`); status != 200 {
		t.Fatalf("PUT native: %d %s", status, body)
	}
	if status, body := adminRequest(t, "PUT", "/firefox-sync/routes/"+nat.user, `{"state":"legacy","node":"node9"}`); status != 200 {
		t.Errorf("PUT a node a route row names: %d %s", status, body)
	}
}

// TestShimPerHost: one site per legacy node hostname on one database.
// Users without a row go to their site's host_node; a route row's node
// wins over the Host.
func TestShimPerHost(t *testing.T) {
	dsn := freshMySQLDatabase(t)
	t.Setenv("SHM_NATIVE_DSN", dsn)
	up1, up2 := startLegacy(t), startLegacy(t)
	unloadAtEnd(t)
	site := func(host, node string) string {
		return fmt.Sprintf(`
http://%s:%d {
	firefox_sync {
		database mysql {env.SHM_NATIVE_DSN}
		bcrypt_cost 4
		legacy {
			node node1 {
				reverse_proxy %s
			}
			node node2 {
				reverse_proxy %s
			}
			host_node %s
		}
	}
}
`, host, httpPort, up1.Addr, up2.Addr, node)
	}
	initServer(t, globalOptions()+site("node1.test", "node1")+site("node2.test", "node2"))

	e1 := &shimEnv{t: t, legacy: up1}
	e2 := &shimEnv{t: t, legacy: up2}
	u1 := e1.legacyUser("pia@example.com", "pia's password")
	u2 := e2.legacyUser("quinn@example.com", "quinn's password")
	u1.host, u2.host = fmt.Sprintf("node1.test:%d", httpPort), fmt.Sprintf("node2.test:%d", httpPort)
	e1.proxied(u1, "GET", "/1.1/"+u1.user+"/info/collections", "", true)
	e2.proxied(u2, "GET", "/1.1/"+u2.user+"/info/collections", "", true)
	// node/weave names the site the client asked.
	u2.expect(u2.do("GET", "/user/1.0/"+u2.user+"/node/weave", "", true), 200, fmt.Sprintf("http://node2.test:%d/", httpPort))

	// A user moved to node2 (its row says so) is found there whichever
	// site it asks.
	native, err := mysqlstore.Open(context.Background(), mysqlstore.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer native.Close()
	moved := e2.legacyUser("rosa@example.com", "rosa's password")
	if err := native.SetRoute(context.Background(), syncstore.Route{Username: moved.user, State: syncstore.RouteLegacy, Node: "node2"}); err != nil {
		t.Fatal(err)
	}
	moved.host = u1.host
	e2.proxied(moved, "GET", "/1.1/"+moved.user+"/info/collections", "", true)
}

// adminRequest calls the test Caddy's admin endpoint.
func adminRequest(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, fmt.Sprintf("http://localhost:%d%s", adminPort, path), bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func scrapeMetrics(t *testing.T) string {
	t.Helper()
	_, body := adminRequest(t, "GET", "/metrics", "")
	return body
}

func waitForMetric(t *testing.T, line string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(scrapeMetrics(t), line) {
		if time.Now().After(deadline) {
			t.Fatalf("metrics never showed %s:\n%s", line, grepLines(scrapeMetrics(t), "syncserver_route"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestShimMigrateTool: the migrate tool moves a legacy user while the
// shim serves it and the client keeps reading and writing. During the
// window the user gets 503; no write reaches the legacy server after the
// route became migrating (plus the drain), no read later than
// route_cache_ttl after it; afterwards the same client, with the same
// password, is served natively and sees the same data, every write that
// was acknowledged included, and nothing reaches the legacy server.
func TestShimMigrateTool(t *testing.T) {
	e := newShimEnv(t)
	e.load("")
	c := e.legacyUser("sara@example.com", "sara's password")
	st := "/1.1/" + c.user
	e.proxied(c, "PUT", st+"/storage/meta/global", `{"payload":"{\"syncID\":\"abcdefghijkl\",\"storageVersion\":5}"}`, true)
	var batch []map[string]any
	for i := range 20 {
		batch = append(batch, map[string]any{"id": fmt.Sprintf("hist%08d", i), "payload": fmt.Sprintf(`{"ciphertext":"h%d"}`, i)})
	}
	body, _ := json.Marshal(batch)
	e.proxied(c, "POST", st+"/storage/history", string(body), true)
	before := collectionTimes(t, e.proxied(c, "GET", st+"/info/collections", "", true).body)
	ids := e.proxied(c, "GET", st+"/storage/history?sort=oldest", "", true).body

	ctx := context.Background()
	legacyDB, err := migrate.NewLegacyDB(ctx, e.legacy.DB, migrate.LegacyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const drain = 200 * time.Millisecond // the stand-in answers writes in milliseconds
	m, err := migrate.New(migrate.Config{Legacy: legacyDB, Native: e.native, Routes: e.native, Drain: drain})
	if err != nil {
		t.Fatal(err)
	}
	// A client keeps syncing while the tool works: reads, and writes of
	// tabs records, remembering those acknowledged and when each refused
	// request was sent and answered.
	type refusal struct{ sent, answered time.Time }
	stop := make(chan struct{})
	statuses := make(chan map[int]int)
	var acked []string
	var refused []refusal
	firstAck := make(chan struct{})
	n := e.legacy.count()
	go func() {
		seen := map[int]int{}
		do := func(method, path, body string) reply {
			sent := time.Now()
			r := c.do(method, path, body, true)
			if r.status == 503 {
				refused = append(refused, refusal{sent, time.Now()})
			}
			seen[r.status]++
			return r
		}
		for i := 0; ; i++ {
			select {
			case <-stop:
				statuses <- seen
				return
			default:
			}
			do("GET", st+"/info/collections", "")
			id := fmt.Sprintf("tab%05d", i)
			r := do("PUT", st+"/storage/tabs/"+id, `{"payload":"{\"ciphertext\":\"t\"}"}`)
			if r.status == 200 {
				acked = append(acked, id)
				if len(acked) == 1 {
					close(firstAck)
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	<-firstAck // the legacy server took at least one write before the copy
	res, err := m.MigrateUser(ctx, c.user)
	returned := time.Now()
	if err != nil || res.Action != migrate.ActionMigrated {
		t.Fatalf("migrating %s: %+v, %v", c.user, res, err)
	}
	waitForStatus(t, c, st+"/info/collections", 200, time.Now())
	close(stop)
	seen := <-statuses
	for status := range seen {
		if status != 200 && status != 503 {
			t.Errorf("statuses during the migration: %v, want only 200 and 503", seen)
		}
	}
	// Once the tool has flipped the user, nobody is refused: a cached
	// migrating row is read again, whatever route_cache_ttl says.
	for _, r := range refused {
		if r.sent.After(returned) {
			t.Errorf("a request sent %v after the flip got 503", r.sent.Sub(returned))
		}
	}
	if len(refused) > 0 {
		t.Logf("the polling client saw 503 for %v (first sent to last answered); the tool reported a window of %v",
			refused[len(refused)-1].answered.Sub(refused[0].sent), res.Window)
	}
	// The user became migrating at the latest when the window began.
	// Writes read the route table, so none was forwarded after that (one
	// decided just before arrives within the drain); reads may have used
	// the cached route for up to route_cache_ttl.
	windowStart := returned.Add(-res.Window)
	writes, reads := 0, 0
	for _, ex := range e.legacy.since(n) {
		cutoff := windowStart.Add(testRouteTTL + 100*time.Millisecond)
		if ex.method != "GET" && ex.method != "HEAD" {
			cutoff = windowStart.Add(drain)
			writes++
		} else {
			reads++
		}
		if ex.at.After(cutoff) {
			t.Errorf("%s %s reached the legacy server %v after its bound", ex.method, ex.uri, ex.at.Sub(cutoff))
		}
	}
	t.Logf("during the migration (window %v): statuses %v; %d reads, %d writes forwarded, %d writes acknowledged",
		res.Window, seen, reads, writes, len(acked))
	if writes == 0 {
		t.Error("no write reached the legacy server during the bulk copy; the test proves nothing about them")
	}

	e.notForwarded("migrated user", func() {
		// Every acknowledged write, whichever backend took it, is there.
		tabs := c.do("GET", st+"/storage/tabs", "", true)
		for _, id := range acked {
			if !strings.Contains(tabs.body, `"`+id+`"`) {
				t.Errorf("acknowledged write %s is missing after the migration: %s", id, tabs.body)
			}
		}
		after := collectionTimes(t, c.do("GET", st+"/info/collections", "", true).body)
		delete(after, "tabs")
		if len(after) != len(before) {
			t.Fatalf("collections after the migration %v, before %v", after, before)
		}
		for name, ts := range before {
			if after[name] != ts {
				t.Errorf("collection %s: timestamp %v natively, %v on the legacy server", name, after[name], ts)
			}
		}
		c.expect(c.do("GET", st+"/storage/history?sort=oldest", "", true), 200, ids)
		c.expect(c.do("GET", "/user/1.0/"+c.user+"/node/weave", "", true), 200, e.publicURL)
	})
}

// collectionTimes decodes info/collections (FSyncMS prints timestamps as
// PHP floats, the native server with two decimals: compare values).
func collectionTimes(t *testing.T, body string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("info/collections %q: %v", body, err)
	}
	return out
}

// TestShimRegistrationToNode: with new_users naming a node, accounts are
// created there and get a row pointing at it.
func TestShimRegistrationToNode(t *testing.T) {
	e := newShimEnv(t)
	e.load("new_users node1")
	c := newSyncClient(t, "tara@example.com", "tara's password")
	body, _ := json.Marshal(map[string]string{"email": "tara@example.com", "password": c.password})
	e.proxied(c, "PUT", "/user/1.0/"+c.user, string(body), false)
	if r := e.route(c.user); r == nil || r.State != syncstore.RouteLegacy || r.Node != "node1" {
		t.Fatalf("route of the new user: %+v, want legacy on node1", r)
	}
	e.proxied(c, "PUT", "/1.1/"+c.user+"/storage/meta/global", `{"payload":"p"}`, true)
	if _, err := e.native.LookupUser(context.Background(), c.user); err == nil {
		t.Error("the account was created natively too")
	}
}

// TestShimRegistrationRouteFailure: when the route row of a new account
// cannot be written, the client gets 503 and the native account is
// removed again, so that a retry starts afresh.
func TestShimRegistrationRouteFailure(t *testing.T) {
	e := newShimEnv(t)
	e.load("")
	db, err := sql.Open("mysql", e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Reads of the route table work; inserts fail, as on a full disk.
	if _, err := db.Exec("CREATE TRIGGER shm_routes_fail BEFORE INSERT ON routes FOR EACH ROW " +
		"SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected failure'"); err != nil {
		t.Fatal(err)
	}
	c := newSyncClient(t, "uma@example.com", "correct horse battery")
	body, _ := json.Marshal(map[string]string{"email": "uma@example.com", "password": c.password})
	r := c.do("PUT", "/user/1.0/"+c.user, string(body), false)
	if r.status != 503 || r.header.Get("Retry-After") != testRetryAfter || strings.Contains(r.body, c.user) {
		t.Errorf("registration without a route: %d %q %v, want 503", r.status, r.body, r.header)
	}
	if _, err := e.native.LookupUser(context.Background(), c.user); err == nil {
		t.Error("the native account survived the failed route write")
	}
	if _, err := db.Exec("DROP TRIGGER shm_routes_fail"); err != nil {
		t.Fatal(err)
	}
	c.expect(c.do("PUT", "/user/1.0/"+c.user, string(body), false), 200, c.user)
	if rt := e.route(c.user); rt == nil || rt.State != syncstore.RouteNative {
		t.Errorf("route after the retry: %+v", rt)
	}
}

// TestShimRepeatedSlashes: a path with repeated slashes is routed by its
// user like the path with single slashes, and reaches a legacy node
// merged, as the web servers in front of the legacy servers passed it on.
// Before, such a path had no user for the shim and went to the default
// backend whatever the user's route said.
func TestShimRepeatedSlashes(t *testing.T) {
	e := newShimEnv(t)
	e.load("")
	c := e.legacyUser("vera@example.com", "vera's password")
	st := "/1.1/" + c.user
	for _, p := range []string{"/" + st + "/info/collections", "/1.1//" + c.user + "//info/collections"} {
		n := e.legacy.count()
		if r := c.do("GET", p, "", true); r.status != 200 {
			t.Errorf("GET %s for a legacy user: %d %q", p, r.status, r.body)
		}
		if got := e.legacy.since(n); len(got) != 1 || got[0].uri != st+"/info/collections" {
			t.Errorf("GET %s reached the legacy server as %v, want once as %s", p, got, st+"/info/collections")
		}
	}
	e.notForwarded("node/weave", func() {
		c.expect(c.do("GET", "//user/1.0/"+c.user+"/node/weave", "", true), 200, e.publicURL)
	})

	e.setRoute(syncstore.Route{Username: c.user, State: syncstore.RouteMigrating, Owner: "test-run",
		LeaseExpires: time.Now().Add(time.Minute), Origin: syncstore.RouteLegacy})
	e.notForwarded("a migrating user", func() {
		for _, p := range []string{"/" + st + "/storage/tabs", "/1.1//" + c.user + "/storage/tabs"} {
			r := c.do("POST", p, `[{"id":"a","payload":"x"}]`, true)
			if r.status != 503 || r.header.Get("Retry-After") != testMigratingRetryAfter {
				t.Errorf("POST %s while migrating: %d %v, want 503", p, r.status, r.header)
			}
		}
	})
	e.setRoute(syncstore.Route{Username: c.user, State: syncstore.RouteNative})
	e.notForwarded("a native user", func() {
		if r := c.do("PUT", "/"+st+"//storage/tabs/a", `{"payload":"x"}`, true); r.status != 401 {
			t.Errorf("PUT for a native user without an account: %d %q, want the native handler's 401", r.status, r.body)
		}
	})
}
