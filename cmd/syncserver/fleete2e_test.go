//go:build fleet

// The end-to-end fleet test of issue 13 ("Scale out"), run by `make
// test-fleet` (go test -tags fleet): real processes on loopback, two
// private MariaDB servers, one memcached, three syncserver instances and a
// fourth syncserver as Caddy's load balancer. It is behind a build tag
// because it starts eight processes and takes about two minutes; make
// test runs it after the other packages' tests.

package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/syncserver/syncserver/bench"
	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

const (
	// fleetDBTimeout is every database's db_timeout: a frozen shard's
	// users get their 503 after about this long.
	fleetDBTimeout = 2 * time.Second
	// fleetCanary is the --canary percentage moved from s1 to s2.
	fleetCanary = 20
	// fleetFreeze is how long shard 2's server stays frozen (issue 13).
	fleetFreeze = 20 * time.Second
	// fleetBenchUsers and fleetBenchRecords size the bench data set:
	// small, so that seeding over HTTP takes seconds.
	fleetBenchUsers   = 12
	fleetBenchRecords = 200
)

// fleet is the system under test: its processes and the test's own
// connections to the databases for the checks.
type fleet struct {
	t   *testing.T
	ctx context.Context

	db1, db2   *testservices.MariaDBProcess // s1 and the directory; s2
	memcached  *testservices.MemcachedProcess
	directory  *sql.DB // route table (and the "default" database)
	s1, s2     *sql.DB
	dsn        map[string]string // "default", "s1", "s2"
	prefix     string            // memcached key prefix of this run
	instances  []*fleetInstance
	lb         *fleetInstance
	lbPort     *testservices.Port
	configPath string // an instance's Caddyfile, for the commands' --config
	client     *http.Client
}

// startFleet starts the databases, memcached, three instances and the
// load balancer.
func startFleet(t *testing.T, ctx context.Context) *fleet {
	t.Helper()
	f := &fleet{t: t, ctx: ctx, dsn: map[string]string{}, client: &http.Client{Timeout: time.Minute}}
	f.db1, f.db2 = testservices.NewMariaDB(t), testservices.NewMariaDB(t)
	f.db1.Start()
	f.db2.Start()
	f.memcached = testservices.StartMemcached(t)
	var b [4]byte
	_, _ = rand.Read(b[:])
	f.prefix = "fleet" + hex.EncodeToString(b[:]) + ":"

	f.dsn["default"] = f.db1.CreateDatabase("directory")
	f.dsn["s1"] = f.db1.CreateDatabase("s1")
	f.dsn["s2"] = f.db2.CreateDatabase("s2")
	f.directory, f.s1, f.s2 = f.open("default"), f.open("s1"), f.open("s2")

	f.lbPort = testservices.ReservePort(t)
	var upstreams []string
	for i := range 3 {
		name := string(rune('A' + i))
		port := testservices.ReservePort(t)
		in := startSyncserver(t, ctx, name, port, f.instanceCaddyfile(port))
		f.instances = append(f.instances, in)
		upstreams = append(upstreams, port.Addr())
		if i == 0 {
			f.configPath = filepath.Join(in.dir, "Caddyfile")
		}
	}
	f.lb = startSyncserver(t, ctx, "LB", f.lbPort, balancerCaddyfile(f.lbPort, upstreams))
	return f
}

func (f *fleet) open(name string) *sql.DB {
	db, err := sql.Open("mysql", f.dsn[name])
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { db.Close() })
	return db
}

// instanceCaddyfile is the config every instance runs: the directory and
// shard s1 on MariaDB 1, shard s2 on MariaDB 2, one memcached, public_url
// the balancer's.
func (f *fleet) instanceCaddyfile(port *testservices.Port) string {
	db := func(name string) string {
		return fmt.Sprintf("database mysql %q {\n\t\t\t\tdb_timeout %s\n\t\t\t\tmax_open_conns 10\n\t\t\t}", f.dsn[name], fleetDBTimeout)
	}
	databases := fmt.Sprintf(`%s
		shard s1 {
			%s
		}
		shard s2 {
			%s
		}`, db("default"), db("s1"), db("s2"))
	return fmt.Sprintf(`{
	admin unix/{dir}/admin.sock
	storage file_system {dir}/caddy
	auto_https off
	metrics
}
http://127.0.0.1:%d {
	bind 127.0.0.1
	firefox_sync {
		%s
		memcached %s {
			prefix %s
			# Above the 100ms default: on this shared 2-core box a starved
			# memcached call can pass 100ms, and an instance whose
			# generation bump failed leaves the other instances serving
			# the old info/collections until its retry lands (1s
			# cooldown), which the bench reports as stale-info-collections.
			timeout 1s
		}
		public_url http://%s/
		registration open
		bcrypt_cost 4
		retry_after 5s
	}
}
`, port.Number(), databases, f.memcached.Addr(), f.prefix, f.lbPort.Addr())
}

// balancerCaddyfile is Caddy's reverse_proxy over the instances: round
// robin, active health checks on /__heartbeat__ (which needs no
// database, so a shard's outage never takes an instance out), and
// lb_try_duration so that a request that cannot reach a dead instance is
// sent to another.
func balancerCaddyfile(port *testservices.Port, upstreams []string) string {
	return fmt.Sprintf(`{
	admin unix/{dir}/admin.sock
	storage file_system {dir}/caddy
	auto_https off
}
http://127.0.0.1:%d {
	bind 127.0.0.1
	reverse_proxy %s {
		lb_policy round_robin
		lb_try_duration 5s
		lb_try_interval 50ms
		fail_duration 10s
		health_uri /__heartbeat__
		health_interval 250ms
		health_timeout 2s
	}
}
`, port.Number(), strings.Join(upstreams, " "))
}

// base is the balancer's URL, the one public address of the fleet.
func (f *fleet) base() string { return "http://" + f.lbPort.Addr() }

// fleetUser is an account the test itself drives.
type fleetUser struct {
	email, name, password string
	shard                 string // where registration puts it
}

// homeShard is the shard registration picks for a user: every shard open
// with weight 1 (syncstore.PickShard, as the instances do).
func (f *fleet) homeShard(name string) string {
	s, _ := syncstore.PickShard(name, []syncstore.ShardWeight{{Name: "s1", Weight: 1}, {Name: "s2", Weight: 1}})
	return s
}

// pickUsers makes n accounts whose name satisfies want, tagged tag.
func (f *fleet) pickUsers(tag string, n int, want func(name string) bool) []fleetUser {
	var out []fleetUser
	for i := 0; len(out) < n; i++ {
		email := fmt.Sprintf("%s%d@fleet.invalid", tag, i)
		name := syncstore.UsernameFromEmail(email)
		if want(name) {
			out = append(out, fleetUser{email: email, name: name, password: "pw-" + name[:8], shard: f.homeShard(name)})
		}
	}
	return out
}

func inCanary(name string) bool { return syncstore.Bucket(name) < fleetCanary }

// benchPrefix is a --user-prefix whose bench accounts on s1 all lie
// outside the canary, so the rebalance never moves an account the bench
// drives (the bench counts the 503 of a user's migration window as an
// error; the canary's own writers check that window instead).
func (f *fleet) benchPrefix() string {
	for k := 0; ; k++ {
		prefix := "fleet" + strconv.Itoa(k)
		ok := true
		for i := range fleetBenchUsers {
			name := syncstore.UsernameFromEmail(fmt.Sprintf("%s-u%d@bench.invalid", prefix, i))
			if f.homeShard(name) == "s1" && inCanary(name) {
				ok = false
				break
			}
		}
		if ok {
			return prefix
		}
	}
}

// answer is one HTTP exchange of the test's clients.
type answer struct {
	status int
	header http.Header
	body   string
	err    error
}

func (f *fleet) request(ctx context.Context, method, path string, u *fleetUser, body string) answer {
	req, err := http.NewRequestWithContext(ctx, method, f.base()+path, strings.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	if u != nil {
		req.SetBasicAuth(u.name, u.password)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b), err: err}
}

func (a answer) String() string {
	if a.err != nil {
		return "error: " + a.err.Error()
	}
	body := a.body
	if len(body) > 300 {
		body = body[:300] + "…"
	}
	return fmt.Sprintf("%d %s", a.status, body)
}

// unavailable reports whether a is the documented answer of a database
// that cannot serve: 503 with Retry-After.
func (a answer) unavailable() bool {
	return a.err == nil && a.status == http.StatusServiceUnavailable && a.header.Get("Retry-After") != ""
}

// register creates the accounts through the balancer and checks that
// each landed on the shard PickShard names (its route row).
func (f *fleet) register(users []fleetUser) {
	f.t.Helper()
	for _, u := range users {
		a := f.request(f.ctx, "PUT", "/user/1.0/"+u.name, nil, fmt.Sprintf(`{"email":%q,"password":%q}`, u.email, u.password))
		if a.status != 200 || a.body != u.name {
			f.t.Fatalf("registering %s: %s", u.name, a)
		}
		if got := f.routeShard(u.name); got != u.shard {
			f.t.Fatalf("%s registered on shard %q, want %q (PickShard)", u.name, got, u.shard)
		}
	}
}

// routeShard is the shard the user's route row names ("" without a row).
func (f *fleet) routeShard(name string) string {
	f.t.Helper()
	var shard, state string
	err := f.directory.QueryRowContext(f.ctx, "SELECT state, shard FROM routes WHERE username = ?", name).Scan(&state, &shard)
	if errors.Is(err, sql.ErrNoRows) {
		return ""
	}
	if err != nil {
		f.t.Fatalf("reading %s's route: %v", name, err)
	}
	if state != "native" {
		f.t.Errorf("%s's route is %s, want native", name, state)
	}
	return shard
}

// hasAccount reports whether a shard's database holds the user.
func hasAccount(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM users WHERE name = ?", name).Scan(&n); err != nil {
		t.Fatalf("looking %s up: %v", name, err)
	}
	return n > 0
}

// writer uploads batches of new records for one user through the
// balancer and keeps every record a 200 acknowledged.
type writer struct {
	u     fleetUser
	coll  string
	batch int

	mu       sync.Mutex
	seq      int
	acked    map[string]string // id → payload
	statuses map[string]int    // answer kind → count
	bad      []string          // answers the phase does not allow
}

func newWriter(u fleetUser, coll string, batch int) *writer {
	return &writer{u: u, coll: coll, batch: batch, acked: map[string]string{}, statuses: map[string]int{}}
}

// run posts until ctx ends. allowed says which answers other than 200 the
// phase expects (nil: none); each is followed by a short pause.
func (w *writer) run(ctx context.Context, f *fleet, allowed func(answer) bool) {
	for ctx.Err() == nil {
		w.mu.Lock()
		w.seq++
		seq := w.seq
		w.mu.Unlock()
		recs := make([]map[string]string, w.batch)
		batch := map[string]string{}
		for i := range recs {
			id := fmt.Sprintf("w%d-%d", seq, i)
			payload := fmt.Sprintf("%s %s %d", w.u.name, id, time.Now().UnixNano())
			recs[i] = map[string]string{"id": id, "payload": payload}
			batch[id] = payload
		}
		body, _ := json.Marshal(recs)
		// Not ctx: a POST the phase's end cuts would be neither acked nor
		// failed by the server.
		a := f.request(context.Background(), "POST", "/1.1/"+w.u.name+"/storage/"+w.coll, &w.u, string(body))
		w.mu.Lock()
		switch {
		case a.err == nil && a.status == 200:
			var res struct {
				Success []string          `json:"success"`
				Failed  map[string]string `json:"failed"`
			}
			if err := json.Unmarshal([]byte(a.body), &res); err != nil || len(res.Success) != len(batch) || len(res.Failed) != 0 {
				w.bad = append(w.bad, "POST answered "+a.String())
			}
			for _, id := range res.Success {
				w.acked[id] = batch[id]
			}
			w.statuses["200"]++
		case allowed != nil && allowed(a):
			if a.err != nil {
				w.statuses["transport"]++
			} else {
				w.statuses[strconv.Itoa(a.status)]++
			}
		default:
			w.bad = append(w.bad, "POST answered "+a.String())
		}
		w.mu.Unlock()
		if a.status != 200 {
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

func (w *writer) count(kind string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.statuses[kind]
}

// verify reads the collection back through the balancer: every
// acknowledged record is there with its payload.
func (w *writer) verify(t *testing.T, f *fleet) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range w.bad {
		t.Errorf("%s: %s", w.u.name, b)
	}
	a := f.request(f.ctx, "GET", "/1.1/"+w.u.name+"/storage/"+w.coll+"?full=1", &w.u, "")
	if a.status != 200 {
		t.Errorf("%s: reading %s back: %s", w.u.name, w.coll, a)
		return
	}
	var recs []struct {
		ID      string `json:"id"`
		Payload string `json:"payload"`
	}
	if err := json.Unmarshal([]byte(a.body), &recs); err != nil {
		t.Errorf("%s: reading %s back: %v", w.u.name, w.coll, err)
		return
	}
	stored := map[string]string{}
	for _, r := range recs {
		stored[r.ID] = r.Payload
	}
	lost := 0
	for id, payload := range w.acked {
		if stored[id] != payload {
			lost++
			if lost <= 5 {
				t.Errorf("%s: acknowledged record %s/%s is %q, want %q", w.u.name, w.coll, id, stored[id], payload)
			}
		}
	}
	if lost > 0 {
		t.Errorf("%s: %d of %d acknowledged records lost", w.u.name, lost, len(w.acked))
	}
}

// waitFor polls ok until it holds; the bound is a hang guard only.
func waitFor(t *testing.T, what string, bound time.Duration, ok func() bool) {
	t.Helper()
	for start := time.Now(); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Since(start) > bound {
			t.Fatalf("%s: not after %s", what, bound)
		}
	}
}

// runBench runs `syncserver bench` against the balancer and returns its
// results; it fails the test on any wrong answer.
func (f *fleet) runBench(ctx context.Context, out string, args ...string) (*bench.Results, string, error) {
	args = append([]string{"bench", "--out", out}, args...)
	args = append(args, "fleet="+f.base()+"/")
	cmd, output := syncserver(ctx, f.t.TempDir(), args...)
	err := cmd.Run()
	b, rerr := os.ReadFile(filepath.Join(out, "results.json"))
	if rerr != nil {
		return nil, output.String(), errors.Join(err, rerr)
	}
	var res bench.Results
	if jerr := json.Unmarshal(b, &res); jerr != nil {
		return nil, output.String(), errors.Join(err, jerr)
	}
	return &res, output.String(), err
}

// requestsServed is the number of requests the instances have answered
// (syncserver_requests_total).
func (f *fleet) requestsServed() float64 {
	total := 0.0
	for _, in := range f.instances {
		total += in.metric("syncserver_requests_total")
	}
	return total
}

// inFlight is Caddy's gauge of the requests an instance is serving.
func (in *fleetInstance) inFlight() float64 {
	return in.metric("caddy_http_requests_in_flight")
}

// metric sums the series of a metric on the instance's admin /metrics (0
// when the instance does not answer: a killed one).
func (in *fleetInstance) metric(name string) float64 {
	body, err := in.admin("/metrics")
	if err != nil {
		return 0
	}
	total := 0.0
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
				total += v
			}
		}
	}
	return total
}

// admin GETs path from the instance's admin endpoint (a unix socket).
func (in *fleetInstance) admin(path string) (string, error) {
	c := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", filepath.Join(in.dir, "admin.sock"))
		},
	}}
	resp, err := c.Get("http://admin" + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("admin %s: %d %s", path, resp.StatusCode, b)
	}
	return string(b), err
}

// TestFleetEndToEnd is issue 13's "Done when" on loopback: two MariaDB
// servers (s1, which also holds the route table, and s2), one memcached,
// three syncserver instances behind a fourth as Caddy's load balancer.
//
//  1. The bench mix runs through the balancer with 0 errors, while
//     `syncserver migrate --from s1 --to s2 --canary N` moves the canary
//     users, each under its own write load; every moved user's data is
//     read back from s2, every acknowledged write included, their route
//     rows name s2 and s1 no longer holds them.
//  2. s2's MariaDB stops: its users get 503 with Retry-After, s1's are
//     served; it starts again and its users are served, no instance
//     restarted.
//  3. s2's MariaDB freezes (SIGSTOP) for 20 s: its users get 503 with
//     Retry-After while it is still frozen (db_timeout), s1's users are
//     served all along.
//  4. An instance is killed (SIGKILL) while writes are in flight: the
//     balancer moves on, and every write answered 200 is readable.
func TestFleetEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f := startFleet(t, ctx)

	// Accounts of the test's own, besides the bench's: canary users on
	// s1 that the rebalance moves, and probes on either shard it leaves.
	canary := f.pickUsers("canary", 4, func(n string) bool { return f.homeShard(n) == "s1" && inCanary(n) })
	probe1 := f.pickUsers("probe", 2, func(n string) bool { return f.homeShard(n) == "s1" && !inCanary(n) })
	probe2 := f.pickUsers("probe", 2, func(n string) bool { return f.homeShard(n) == "s2" })
	f.register(slices.Concat(canary, probe1, probe2))

	t.Run("rebalance under the bench mix", func(t *testing.T) { f.rebalanceUnderLoad(t, canary) })
	if t.Failed() {
		return
	}
	// s2's users now: its own and the canary moved there.
	on2 := slices.Concat(probe2, canary)
	t.Run("shard down", func(t *testing.T) { f.shardDown(t, probe1, on2) })
	if t.Failed() {
		return
	}
	t.Run("shard frozen", func(t *testing.T) { f.shardFrozen(t, probe1, on2) })
	if t.Failed() {
		return
	}
	t.Run("instance killed mid-POST", func(t *testing.T) { f.instanceKilled(t, slices.Concat(probe1, probe2)) })
}

// rebalanceUnderLoad: phase 1.
func (f *fleet) rebalanceUnderLoad(t *testing.T, canary []fleetUser) {
	prefix := f.benchPrefix()
	benchArgs := []string{"--user-prefix", prefix, "--users", strconv.Itoa(fleetBenchUsers), "--records", strconv.Itoa(fleetBenchRecords), "--quiet"}
	// Seeding first (registration and uploads over HTTP, through the
	// balancer), with a token load step: the load run after it starts
	// its mix at once.
	if res, out, err := f.runBench(f.ctx, t.TempDir(), append(benchArgs, "--concurrency", "1", "--duration", "1s", "--warmup", "0s")...); err != nil {
		t.Fatalf("seeding the bench accounts: %v\n%s\nLB:\n%s", err, out, f.lb.logs)
	} else if res.Targets[0].Seed.Users != fleetBenchUsers {
		t.Fatalf("bench seeded %d accounts, want %d", res.Targets[0].Seed.Users, fleetBenchUsers)
	}

	// Each canary user holds data before the move, and keeps writing
	// through it: a 503 with Retry-After (the move's window) is the only
	// other answer allowed.
	writers := make([]*writer, len(canary))
	for i, u := range canary {
		writers[i] = newWriter(u, "forms", 50)
	}
	for _, w := range writers {
		for batch := range 4 {
			a := f.request(f.ctx, "POST", "/1.1/"+w.u.name+"/storage/history", &w.u, historyBatch(w.u.name, batch, 50))
			if a.status != 200 {
				t.Fatalf("seeding %s: %s", w.u.name, a)
			}
		}
	}
	wctx, stopWriters := context.WithCancel(f.ctx)
	var wg sync.WaitGroup
	for _, w := range writers {
		wg.Go(func() { w.run(wctx, f, answer.unavailable) })
	}
	defer func() { stopWriters(); wg.Wait() }()

	// The load: the bench mix through the balancer.
	type benchRun struct {
		res *bench.Results
		out string
		err error
	}
	benchDone := make(chan benchRun, 1)
	before := f.requestsServed()
	go func() {
		res, out, err := f.runBench(f.ctx, t.TempDir(), append(benchArgs, "--concurrency", "4", "--duration", "30s", "--warmup", "1s")...)
		benchDone <- benchRun{res, out, err}
	}()
	waitFor(t, "the bench mix under way", time.Minute, func() bool { return f.requestsServed()-before > 300 })
	select {
	case r := <-benchDone:
		t.Fatalf("the bench ended before the rebalance started: %v\n%s", r.err, r.out)
	default:
	}

	cmd, out := syncserver(f.ctx, t.TempDir(), "migrate", "--config", f.configPath, "--from", "s1", "--to", "s2", "--canary", strconv.Itoa(fleetCanary), "--drain", "200ms")
	err := cmd.Run()
	migrateOut := out.String()
	t.Logf("syncserver migrate --from s1 --to s2 --canary %d:\n%s", fleetCanary, migrateOut)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if !strings.Contains(migrateOut, fmt.Sprintf("moved    %d\n", len(canary))) {
		t.Errorf("the migrate summary does not count %d users moved", len(canary))
	}
	// A few more acknowledged writes each, now served from s2.
	marks := make([]int, len(writers))
	for i, w := range writers {
		marks[i] = w.count("200")
	}
	for i, w := range writers {
		waitFor(t, w.u.name+" writing after the move", time.Minute, func() bool { return w.count("200") >= marks[i]+3 })
	}
	stopWriters()
	wg.Wait()

	r := <-benchDone
	if r.err != nil {
		t.Errorf("bench through the balancer: %v\n%s", r.err, r.out)
		// A failed memcached call defers that instance's invalidations,
		// and the others serve old cached answers meanwhile.
		for _, in := range f.instances {
			t.Logf("instance %s: syncserver_memcache_errors_total %v", in.name, in.metric("syncserver_memcache_errors_total"))
		}
	}
	if r.res != nil {
		for _, st := range r.res.Targets[0].Steps {
			t.Logf("bench step %s: %d requests, %.1f req/s, p50 %.1f ms, p99 %.1f ms, %d errors", st.Label, st.Requests, st.RequestsPerSec, st.Latency.P50MS, st.Latency.P99MS, st.Errors)
			if st.Errors != 0 {
				t.Errorf("bench step %s: %d errors", st.Label, st.Errors)
			}
		}
	}

	for _, w := range writers {
		if !movedInLog(migrateOut, w.u.name) {
			t.Errorf("the migrate log has no \"moved\" line for %s (user_hash %s)", w.u.name, syncstore.UserHash(w.u.name))
		}
		if got := f.routeShard(w.u.name); got != "s2" {
			t.Errorf("%s's route names shard %q after the move, want s2", w.u.name, got)
		}
		if !hasAccount(t, f.s2, w.u.name) {
			t.Errorf("%s: no account on s2 after the move", w.u.name)
		}
		if hasAccount(t, f.s1, w.u.name) {
			t.Errorf("%s: still on s1 after the move (the source copy is deleted after the flip)", w.u.name)
		}
		w.verify(t, f)
		if a := f.request(f.ctx, "GET", "/1.1/"+w.u.name+"/storage/history?full=1", &w.u, ""); a.status != 200 || strings.Count(a.body, `"id"`) != 200 {
			t.Errorf("%s: history after the move: %d records (%s)", w.u.name, strings.Count(a.body, `"id"`), a)
		}
		t.Logf("%s: %d answers 200, %d answers 503 during the move", w.u.name, w.count("200"), w.count("503"))
	}
}

// movedInLog reports whether migrate's log has the user's "user done"
// line with action "moved" (users are logged by their hash).
func movedInLog(log, name string) bool {
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "user done") && strings.Contains(line, `"user_hash": "`+syncstore.UserHash(name)+`"`) && strings.Contains(line, `"action": "moved"`) {
			return true
		}
	}
	return false
}

func historyBatch(user string, batch, n int) string {
	recs := make([]map[string]string, n)
	for i := range recs {
		id := fmt.Sprintf("h%d-%d", batch, i)
		recs[i] = map[string]string{"id": id, "payload": "history of " + user}
	}
	b, _ := json.Marshal(recs)
	return string(b)
}

// shardDown: phase 2.
func (f *fleet) shardDown(t *testing.T, probe1, on2 []fleetUser) {
	f.db2.Stop()
	for _, u := range on2 {
		// A collection read (memcached holds none) and a write: both
		// need s2.
		if a := f.request(f.ctx, "GET", "/1.1/"+u.name+"/storage/forms?full=1", &u, ""); !a.unavailable() {
			t.Errorf("%s on s2, s2 down: GET storage/forms answered %s, want 503 with Retry-After", u.name, a)
		}
		if a := f.request(f.ctx, "POST", "/1.1/"+u.name+"/storage/forms", &u, `[{"id":"down","payload":"x"}]`); !a.unavailable() {
			t.Errorf("%s on s2, s2 down: POST storage/forms answered %s, want 503 with Retry-After", u.name, a)
		}
	}
	for _, u := range probe1 {
		if a := f.request(f.ctx, "POST", "/1.1/"+u.name+"/storage/forms", &u, `[{"id":"up","payload":"x"}]`); a.status != 200 {
			t.Errorf("%s on s1, s2 down: POST answered %s, want 200", u.name, a)
		}
		if a := f.request(f.ctx, "GET", "/1.1/"+u.name+"/storage/forms?full=1", &u, ""); a.status != 200 {
			t.Errorf("%s on s1, s2 down: GET storage/forms answered %s, want 200", u.name, a)
		}
		if a := f.request(f.ctx, "GET", "/1.1/"+u.name+"/info/collections", &u, ""); a.status != 200 {
			t.Errorf("%s on s1, s2 down: info/collections answered %s, want 200", u.name, a)
		}
	}

	f.db2.Start()
	for _, u := range on2 {
		waitFor(t, u.name+" served again after s2 restarted", time.Minute, func() bool {
			return f.request(f.ctx, "POST", "/1.1/"+u.name+"/storage/forms", &u, `[{"id":"back","payload":"x"}]`).status == 200
		})
		if a := f.request(f.ctx, "GET", "/1.1/"+u.name+"/storage/forms/back", &u, ""); a.status != 200 {
			t.Errorf("%s after s2 restarted: %s", u.name, a)
		}
	}
	f.checkNoRestart(t)
}

// checkNoRestart fails the test if an instance exited: a shard's recovery
// must need none.
func (f *fleet) checkNoRestart(t *testing.T) {
	t.Helper()
	for _, in := range f.instances {
		select {
		case err := <-in.exited:
			in.exited <- err
			t.Errorf("instance %s exited: %v\n%s", in.name, err, in.logs)
		default:
		}
	}
}

// shardFrozen: phase 3.
func (f *fleet) shardFrozen(t *testing.T, probe1, on2 []fleetUser) {
	f.db2.Freeze()
	frozen := true
	var mu sync.Mutex // guards frozen
	thawed := make(chan struct{})
	thawAt := time.Now().Add(fleetFreeze)
	defer func() {
		select {
		case <-thawed:
		default:
			f.db2.Thaw()
		}
	}()

	// Clients of both shards work through the freeze; each answer notes
	// whether the server was still frozen when it came.
	ctx, stop := context.WithDeadline(f.ctx, thawAt)
	defer stop()
	type result struct {
		user       string
		a          answer
		stillFroze bool
	}
	var (
		rmu     sync.Mutex
		results []result
		wg      sync.WaitGroup
	)
	for _, u := range slices.Concat(probe1, on2) {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				a := f.request(context.Background(), "POST", "/1.1/"+u.name+"/storage/forms", &u, fmt.Sprintf(`[{"id":"frozen%d","payload":"x"}]`, i))
				mu.Lock()
				still := frozen
				mu.Unlock()
				rmu.Lock()
				results = append(results, result{u.name, a, still})
				rmu.Unlock()
			}
		})
	}
	<-ctx.Done()
	mu.Lock()
	frozen = false
	f.db2.Thaw()
	close(thawed)
	mu.Unlock()
	wg.Wait()

	s2Users := map[string]bool{}
	for _, u := range on2 {
		s2Users[u.name] = true
	}
	// Per user: s1 writes served while s2 was frozen, s2 writes refused
	// while it was still frozen.
	served, refused := map[string]int{}, map[string]int{}
	for _, r := range results {
		switch {
		case s2Users[r.user] && r.stillFroze:
			if !r.a.unavailable() {
				t.Errorf("%s on s2, s2 frozen: POST answered %s, want 503 with Retry-After", r.user, r.a)
			} else {
				refused[r.user]++
			}
		case s2Users[r.user]:
			// Sent during the freeze, answered after it: either answer.
		case !r.stillFroze:
			// An s1 request answered after the thaw proves nothing.
		case r.a.status != 200:
			t.Errorf("%s on s1, s2 frozen: POST answered %s, want 200", r.user, r.a)
		default:
			served[r.user]++
		}
	}
	for _, u := range on2 {
		if refused[u.name] == 0 {
			t.Errorf("%s on s2: no POST answered (503) before the %s freeze ended", u.name, fleetFreeze)
		}
	}
	for _, u := range probe1 {
		if served[u.name] == 0 {
			t.Errorf("%s on s1: no POST served during the %s freeze of s2", u.name, fleetFreeze)
		}
	}
	t.Logf("during the %s freeze of s2: s1 writes served %v, s2 writes refused with 503 %v", fleetFreeze, served, refused)

	for _, u := range on2 {
		waitFor(t, u.name+" served again after s2 thawed", time.Minute, func() bool {
			return f.request(f.ctx, "POST", "/1.1/"+u.name+"/storage/forms", &u, `[{"id":"thawed","payload":"x"}]`).status == 200
		})
	}
	f.checkNoRestart(t)
}

// instanceKilled: phase 4.
func (f *fleet) instanceKilled(t *testing.T, users []fleetUser) {
	writers := make([]*writer, len(users))
	for i, u := range users {
		writers[i] = newWriter(u, "tabs", 20)
	}
	var killed sync.Once
	var victim *fleetInstance
	// Before the kill, every answer is a 200; from it on, a request in
	// flight on the victim fails (502 from the balancer, or a reset): it
	// was not acknowledged, a client sends it again.
	var afterKill bool
	var mu sync.Mutex
	allowed := func(a answer) bool {
		mu.Lock()
		defer mu.Unlock()
		return afterKill && (a.err != nil || a.status == http.StatusBadGateway)
	}
	ctx, stop := context.WithCancel(f.ctx)
	var wg sync.WaitGroup
	for _, w := range writers {
		wg.Go(func() { w.run(ctx, f, allowed) })
	}
	defer func() { stop(); wg.Wait() }()
	for _, w := range writers {
		waitFor(t, w.u.name+" writing", time.Minute, func() bool { return w.count("200") >= 5 })
	}

	// The victim is the instance found with a request in flight.
	waitFor(t, "an instance serving a POST", time.Minute, func() bool {
		for _, in := range f.instances {
			if in.inFlight() > 0 {
				killed.Do(func() {
					mu.Lock()
					afterKill = true
					mu.Unlock()
					victim = in
					in.kill()
				})
				return true
			}
		}
		return false
	})
	marks := make([]int, len(writers))
	for i, w := range writers {
		marks[i] = w.count("200")
	}
	for i, w := range writers {
		waitFor(t, w.u.name+" writing after instance "+victim.name+" died", time.Minute, func() bool { return w.count("200") >= marks[i]+10 })
	}
	stop()
	wg.Wait()
	failed := 0
	for _, w := range writers {
		failed += w.count("502") + w.count("transport")
		w.verify(t, f)
	}
	t.Logf("instance %s killed: %d POSTs in flight on it failed (not acknowledged); every acknowledged one is stored", victim.name, failed)
}
