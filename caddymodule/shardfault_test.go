package caddymodule

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/go-sql-driver/mysql"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/mysqlstore"
	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// waitServed polls the user's bookmark until it is answered 200, for at
// most a generous bound (a pool recovering from dead connections may need
// a request or two); it fails the test if it never is.
func waitServed(t *testing.T, h *Handler, user string) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		code, _ := whereIs(t, h, user)
		if code == http.StatusOK {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%s not served again after the shard came back (last status %d)", user, code)
		}
	}
}

// TestShardOutage: a shard whose MariaDB goes away, and one whose MariaDB
// hangs, cost only their own users a 503 with Retry-After (the hang within
// the shard's db_timeout); users of the default database and of the other
// shard are served meanwhile; when the server is back the shard's users
// are served again by the same handler, without a restart.
func TestShardOutage(t *testing.T) {
	ownDSN := freshMySQLDatabase(t)
	s1DSN, proxy := testservices.MySQLViaProxy(t, freshMySQLDatabase(t))
	off := caddy.Duration(0)
	h := &Handler{
		Database: &Database{Driver: DriverMySQL, DSN: ownDSN},
		Shards: []Shard{
			{Name: "s1", Database: &Database{Driver: DriverMySQL, DSN: s1DSN, DBTimeout: DBTimeout(time.Second)}},
			{Name: "s2", Database: &Database{Dir: t.TempDir()}},
		},
		PurgeInterval: &off, BcryptCost: 4, AuthCacheSize: -1,
	}
	provisioned(t, h)
	t.Cleanup(func() { h.Cleanup() })
	nativeUser(t, h, "", "alice", false)
	nativeUser(t, h, "s1", "bob", true)
	nativeUser(t, h, "s2", "carol", true)
	waitServed(t, h, "bob")

	others := func(when string) {
		t.Helper()
		for user, want := range map[string]string{"alice": "on default", "carol": "on s2"} {
			if code, got := whereIs(t, h, user); code != 200 || got != want {
				t.Errorf("%s: %s: %d %q, want 200 %q", when, user, code, got, want)
			}
		}
	}
	unavailable := func(when string) {
		t.Helper()
		rec := serve(t, h, "GET", "/1.1/bob/storage/bookmarks/where", "bob", "")
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
			t.Errorf("%s: bob: %d %v %q, want 503 with Retry-After", when, rec.Code, rec.Header(), rec.Body)
		}
	}

	proxy.Stop()
	unavailable("s1 down")
	others("s1 down")
	proxy.Start()
	waitServed(t, h, "bob")
	others("s1 back")

	proxy.Freeze()
	var wg sync.WaitGroup
	wg.Go(func() { unavailable("s1 frozen") })
	// The others are answered while bob's request hangs on s1.
	others("s1 frozen")
	wg.Wait()
	proxy.Thaw()
	waitServed(t, h, "bob")
	if code, got := whereIs(t, h, "bob"); code != 200 || got != "on s1" {
		t.Errorf("bob after the freeze: %d %q", code, got)
	}
}

// TestShardMemcachedPrefixes: the default database and a shard each
// number their users from 1; with one memcached, their cached answers
// live under different keys (<prefix> and <prefix>s1:), so user 1 of one
// never sees user 1 of the other.
func TestShardMemcachedPrefixes(t *testing.T) {
	mc := testservices.Memcached(t)
	prefix := fmt.Sprintf("shardtest:%d:", time.Now().UnixNano())
	off := caddy.Duration(0)
	h := &Handler{
		Database:      &Database{Dir: t.TempDir()},
		Shards:        []Shard{{Name: "s1", Database: &Database{Dir: t.TempDir()}}},
		Memcached:     &Memcached{Servers: []string{mc}, Prefix: prefix},
		PurgeInterval: &off, BcryptCost: 4,
	}
	cctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := h.Provision(cctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Cleanup() })
	nativeUser(t, h, "", "alice", false)
	nativeUser(t, h, "s1", "bob", true)
	ctx := context.Background()
	for user, shard := range map[string]string{"alice": "", "bob": "s1"} {
		u, err := h.stackOf(t, shard).store.LookupUser(ctx, user)
		if err != nil || u.ID != 1 {
			t.Fatalf("%s: id %v, %v; the test needs user id 1 on both databases", user, u, err)
		}
	}
	// Distinct collections per user, read twice (the second from memcached).
	if rec := serve(t, h, "PUT", "/1.1/alice/storage/history/h", "alice", `{"payload":"x"}`); rec.Code != 200 {
		t.Fatal(rec.Body)
	}
	if rec := serve(t, h, "PUT", "/1.1/bob/storage/tabs/t", "bob", `{"payload":"y"}`); rec.Code != 200 {
		t.Fatal(rec.Body)
	}
	for range 2 {
		a := serve(t, h, "GET", "/1.1/alice/info/collections", "alice", "").Body.String()
		b := serve(t, h, "GET", "/1.1/bob/info/collections", "bob", "").Body.String()
		if !strings.Contains(a, "history") || strings.Contains(a, "tabs") || !strings.Contains(b, "tabs") || strings.Contains(b, "history") {
			t.Fatalf("info/collections: alice %s, bob %s: one user's answer reached the other", a, b)
		}
	}
	// Each shard's cache is counted under its label.
	families, err := cctx.GetMetricsRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	hits := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "syncserver_memcache_reads_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["result"] == "hit" {
				hits[labels["shard"]] = m.GetCounter().GetValue()
			}
		}
	}
	if hits["default"] == 0 || hits["s1"] == 0 {
		t.Errorf("memcache hits per shard %v: want both counted", hits)
	}
	if got := h.Memcached.forShard("s1").Prefix; got != prefix+"s1:" {
		t.Errorf("s1's prefix %q, want %q", got, prefix+"s1:")
	}
	if got := h.Memcached.forShard("").Prefix; got != prefix {
		t.Errorf("the default database's prefix %q, want %q unchanged", got, prefix)
	}
	if got := (&Memcached{Servers: []string{mc}}).forShard("s2").Prefix; got != "syncserver:s2:" {
		t.Errorf("s2's prefix under the default prefix: %q", got)
	}
}

// TestShardPurgeLocks: with two instances on a MariaDB default database
// and a MariaDB shard, each database's purge lock is taken (one purge per
// shard across the fleet, not one for all), and the shard's expired
// records are purged.
func TestShardPurgeLocks(t *testing.T) {
	ownDSN, s1DSN := freshMySQLDatabase(t), freshMySQLDatabase(t)
	every := caddy.Duration(100 * time.Millisecond)
	newInstance := func(maxOpen int) *Handler {
		// Different pool settings: each instance its own pools, as two
		// processes have.
		h := &Handler{
			Database:      &Database{Driver: DriverMySQL, DSN: ownDSN, MaxOpenConns: maxOpen},
			Shards:        []Shard{{Name: "s1", Database: &Database{Driver: DriverMySQL, DSN: s1DSN, MaxOpenConns: maxOpen}}},
			PurgeInterval: &every, BcryptCost: 4,
		}
		provisioned(t, h)
		t.Cleanup(func() { h.Cleanup() })
		return h
	}
	a, b := newInstance(5), newInstance(6)
	if a.stackOf(t, "s1").pooled == b.stackOf(t, "s1").pooled {
		t.Fatal("the two instances share a pool")
	}

	// An expired record on s1, written with a clock an hour behind.
	ctx := context.Background()
	s1 := a.stackOf(t, "s1").store
	u := &syncstore.User{Name: "expiring", PasswordHash: "x"}
	if err := s1.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	admin := testservices.MySQLAdmin(t)
	ttl, payload := int64(1), "tab"
	if _, err := s1.PutRecords(ctx, u.ID, "tabs", []syncstore.WBO{{ID: "gone", Payload: &payload, TTL: &ttl}}, syncstore.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	s1Name, ownName := dbName(t, s1DSN), dbName(t, ownDSN)
	holder := func(db string) sql.NullInt64 {
		t.Helper()
		var id sql.NullInt64
		if err := admin.QueryRow("SELECT IS_USED_LOCK(CONCAT('syncserver.purge.', SHA1(?)))", db).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		own, shard := holder(ownName), holder(s1Name)
		// Reads hide expired records: look at the table itself.
		var left int
		if err := admin.QueryRow("SELECT COUNT(*) FROM `" + s1Name + "`.wbo WHERE id = 'gone'").Scan(&left); err != nil {
			t.Fatal(err)
		}
		if own.Valid && shard.Valid && left == 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("purge locks: default %v, s1 %v; expired records left on s1: %d", own, shard, left)
		}
	}
	own, shard := holder(ownName), holder(s1Name)
	if own.Int64 == shard.Int64 {
		t.Errorf("one session %d holds both purge locks", own.Int64)
	}
}

func dbName(t *testing.T, dsn string) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.DBName
}

// TestShardUnreachableAtStart: an instance started while a shard's
// MariaDB is unreachable still starts and serves everyone else; the
// shard's users get 503 with Retry-After until its database answers,
// then they are served without a restart.
func TestShardUnreachableAtStart(t *testing.T) {
	realDSN := freshMySQLDatabase(t)
	s1DSN, proxy := testservices.MySQLViaProxy(t, realDSN)
	ctx := context.Background()
	// bob's account and data on s1, written directly.
	direct, err := mysqlstore.Open(ctx, mysqlstore.Config{DSN: realDSN})
	if err != nil {
		t.Fatal(err)
	}
	hash, err := syncstore.HashPassword("password bob", 4)
	if err != nil {
		t.Fatal(err)
	}
	u := &syncstore.User{Name: "bob", PasswordHash: hash}
	payload := "on s1"
	if err := direct.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := direct.PutRecords(ctx, u.ID, "bookmarks", []syncstore.WBO{{ID: "where", Payload: &payload}}, syncstore.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	direct.Close()

	proxy.Stop()
	off := caddy.Duration(0)
	h := &Handler{
		Database:      &Database{Dir: t.TempDir()},
		Shards:        []Shard{{Name: "s1", Database: &Database{Driver: DriverMySQL, DSN: s1DSN}}},
		PurgeInterval: &off, BcryptCost: 4, AllowPlainUsernames: true,
		shardRetry: 100 * time.Millisecond,
	}
	provisioned(t, h)
	t.Cleanup(func() { h.Cleanup() })
	nativeUser(t, h, "", "alice", false)
	if err := h.stacks[0].pooled.routes.Table().SetRoute(ctx, syncstore.Route{Username: "bob", State: syncstore.RouteNative, Shard: "s1"}); err != nil {
		t.Fatal(err)
	}
	if code, got := whereIs(t, h, "alice"); code != 200 || got != "on default" {
		t.Errorf("alice while s1 is unreachable: %d %q", code, got)
	}
	rec := serve(t, h, "GET", "/1.1/bob/storage/bookmarks/where", "bob", "")
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("bob while s1 is unreachable: %d %v, want 503 with Retry-After", rec.Code, rec.Header())
	}
	// A new user placed on s1 (the only open shard) is told to retry.
	if rec := register(t, h, "newbie"); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("registration on an unopened shard: %d %q, want 503", rec.Code, rec.Body)
	}
	if row := routeOf(t, h, "newbie"); row != nil {
		t.Errorf("a registration answered 503 wrote the row %+v", row)
	}
	proxy.Start()
	waitServed(t, h, "bob")
	if code, got := whereIs(t, h, "bob"); code != 200 || got != "on s1" {
		t.Errorf("bob once s1 is open: %d %q", code, got)
	}
	if rec := register(t, h, "newbie"); rec.Code != 200 {
		t.Errorf("registration once s1 is open: %d %q", rec.Code, rec.Body)
	}
}

// TestCleanupFrozenUnopenedShard: the old handler's Cleanup in a config
// reload while a shard's MariaDB is frozen (SIGSTOP) and this instance
// never opened it returns while its background attempt to open the
// shard still hangs on the frozen server, instead of waiting for the
// driver's timeout (db_timeout, 30 s without one); the attempt, once the
// server answers, closes what it opened. (The new config's Provision
// waits for its own first attempt, bounded by db_timeout, as at start.)
func TestCleanupFrozenUnopenedShard(t *testing.T) {
	m := testservices.StartMariaDB(t)
	dsn := m.CreateDatabase("s1")
	m.Freeze()
	t.Cleanup(m.Thaw)
	off := caddy.Duration(0)
	old := &Handler{
		Database:      &Database{Dir: t.TempDir()},
		Shards:        []Shard{{Name: "s1", Database: &Database{Driver: DriverMySQL, DSN: dsn}}},
		PurgeInterval: &off, BcryptCost: 4,
		shardRetry: 10 * time.Millisecond,
	}
	start := time.Now()
	provisioned(t, old)
	t.Logf("Provision with s1 frozen took %v", time.Since(start))
	if len(old.pending) != 1 {
		t.Fatalf("s1 frozen at start: %d shards pending, want 1", len(old.pending))
	}
	p := old.pending[0]
	for p.started.Load() == p.ended.Load() {
		time.Sleep(time.Millisecond) // until an attempt hangs on the frozen server
	}
	start = time.Now()
	if err := old.Cleanup(); err != nil {
		t.Errorf("Cleanup: %v", err)
	}
	t.Logf("Cleanup took %v", time.Since(start))
	if p.ended.Load() == p.started.Load() {
		t.Errorf("Cleanup returned only once the attempt to open the frozen shard had ended (%d attempts)", p.ended.Load())
	}
	// The attempt ends once the server answers; whatever it opened is
	// closed, and no reference to the shard's database is left.
	m.Thaw()
	<-p.done
	key, err := old.Shards[0].Database.poolKey()
	if err != nil {
		t.Fatal(err)
	}
	if refs, ok := databases.References(key); ok {
		t.Errorf("s1's database is still held (%d references) after Cleanup", refs)
	}
}
