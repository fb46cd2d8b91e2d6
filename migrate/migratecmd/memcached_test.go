package migratecmd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncserver/syncserver/migrate/legacytest"
	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/memcache"
	"github.com/syncserver/syncserver/syncstore/mysqlstore"
)

// testMemcached is the memcached the tests share (make services).
const testMemcached = "127.0.0.1:11211"

// server is the native server as a client sees it: the MySQL store
// behind the memcached layer, with the prefix the migrate runs are given.
type server struct {
	direct syncstore.Store // the database, bypassing memcached: the truth
	cached *memcache.Store
}

func newServer(t *testing.T, dsn, prefix string) *server {
	t.Helper()
	ctx := context.Background()
	direct, err := mysqlstore.Open(ctx, mysqlstore.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { direct.Close() })
	inner, err := mysqlstore.Open(ctx, mysqlstore.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	cached, err := memcache.New(inner, memcache.Config{Servers: []string{testMemcached}, Prefix: prefix}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cached.Close() })
	return &server{direct: direct, cached: cached}
}

// view is what the cached reads answer for one user.
type view struct {
	stamps     map[string]syncstore.Timestamp
	metaGlobal string
	cryptoKeys string
	modified   syncstore.Timestamp
}

func read(t *testing.T, s syncstore.Store, userID int64) view {
	t.Helper()
	ctx := context.Background()
	var v view
	var err error
	if v.stamps, err = s.CollectionTimestamps(ctx, userID); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		coll, id string
		into     *string
	}{{"meta", "global", &v.metaGlobal}, {"crypto", "keys", &v.cryptoKeys}} {
		w, err := s.GetRecord(ctx, userID, r.coll, r.id)
		if err != nil {
			t.Fatalf("%s/%s: %v", r.coll, r.id, err)
		}
		*r.into = *w.Payload
	}
	if v.modified, err = s.UserTimestamp(ctx, userID); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v view) diff(want view) string {
	var d []string
	if !maps.Equal(v.stamps, want.stamps) {
		d = append(d, "info/collections")
	}
	if v.metaGlobal != want.metaGlobal {
		d = append(d, "meta/global")
	}
	if v.cryptoKeys != want.cryptoKeys {
		d = append(d, "crypto/keys")
	}
	if v.modified != want.modified {
		d = append(d, "user timestamp")
	}
	return strings.Join(d, ", ")
}

func randomPrefix(t *testing.T) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "mcinval" + hex.EncodeToString(b[:]) + ":"
}

// TestRemigrateInvalidatesMemcached: a native user whose answers the
// server cached is rolled back, changes data on the legacy server and is
// migrated again, all within the cache TTL. migrate writes the database
// directly; given the server's memcached it must invalidate the user
// before the flip to native, so the server answers from the new data.
func TestRemigrateInvalidatesMemcached(t *testing.T) {
	t.Run("flags", func(t *testing.T) {
		remigrate(t, func(prefix string) []string {
			return []string{"--memcached", testMemcached, "--memcached-prefix", prefix}
		})
	})
	t.Run("server config", func(t *testing.T) {
		remigrate(t, func(prefix string) []string {
			// As the server reads it: the address from the environment.
			t.Setenv("H15_TEST_MEMCACHED", testMemcached)
			path := filepath.Join(t.TempDir(), "caddy.json")
			cfg := `{"apps": {"http": {"servers": {"sync": {"routes": [{"handle": [{"handler": "firefox_sync",
				"memcached": {"servers": ["{env.H15_TEST_MEMCACHED}"], "prefix": "` + prefix + `"}}]}]}}}}}`
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			return []string{"--config", path}
		})
	})
}

func remigrate(t *testing.T, cacheArgs func(prefix string) []string) {
	ctx := context.Background()
	l := legacytest.Layout{Variant: legacytest.FSyncMS}
	legacyName, legacyDB := legacytest.NewDatabase(t, "mig_", "")
	if err := legacytest.CreateSchema(ctx, legacyDB, l); err != nil {
		t.Fatal(err)
	}
	users := legacytest.Generate(5, l, legacytest.Spec{Users: 1, Records: []int{120}, BcryptCost: 4})
	if err := legacytest.Insert(ctx, legacyDB, l, users); err != nil {
		t.Fatal(err)
	}
	u := users[0]
	nativeName, _ := legacytest.NewDatabase(t, "mig_", "")
	nativeDSN := legacytest.DSN(t, nativeName)
	prefix := randomPrefix(t)
	cache := cacheArgs(prefix)
	args := func(a ...string) []string {
		a = append(a, "--legacy-dsn", legacytest.DSN(t, legacyName), "--db", "mysql", "--dsn", nativeDSN,
			"--drain", "10ms", "--lease", "5s")
		return append(a, cache...)
	}

	if out, err := execute(t, args("--create", u.Name)...); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	srv := newServer(t, nativeDSN, prefix)
	nu, err := srv.direct.LookupUser(ctx, u.Name)
	if err != nil {
		t.Fatal(err)
	}
	before := read(t, srv.cached, nu.ID) // the server caches the answers
	if d := read(t, srv.cached, nu.ID).diff(read(t, srv.direct, nu.ID)); d != "" {
		t.Fatalf("before the rollback the cache already differs in %s", d)
	}

	if out, err := execute(t, args("rollback", u.Name)...); err != nil {
		t.Fatalf("rollback: %v\n%s", err, out)
	}
	// Firefox syncs against the legacy server: a new record in a new
	// collection and a fresh meta/global and crypto/keys (a "reset sync").
	ts := float64(before.modified)/100 + 60
	w := l.WboTable(0)
	for _, q := range []string{
		"INSERT INTO " + w + " (username, id, collection, modified, payload, payload_size) VALUES (?, 'while-legacy', 'addons', ?, '{\"new\":1}', 9)",
		"UPDATE " + w + " SET payload = '{\"syncID\":\"reset\",\"storageVersion\":5}', payload_size = 37, modified = ? WHERE username = ? AND collection = 'meta' AND id = 'global'",
		"UPDATE " + w + " SET payload = '{\"new\":\"keys\"}', payload_size = 14, modified = ? WHERE username = ? AND collection = 'crypto' AND id = 'keys'",
	} {
		a := []any{ts, u.Name}
		if strings.HasPrefix(q, "INSERT") {
			a = []any{u.Name, ts}
		}
		res, err := legacyDB.ExecContext(ctx, q, a...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("%s changed %d rows", q, n)
		}
	}

	if out, err := execute(t, args(u.Name)...); err != nil || !strings.Contains(out, "migrated  1") {
		t.Fatalf("migrating again: %v\n%s", err, out)
	}
	want := read(t, srv.direct, nu.ID)
	if want.diff(before) != "info/collections, meta/global, crypto/keys, user timestamp" {
		t.Fatalf("the legacy changes did not reach the database: %+v", want)
	}
	if d := read(t, srv.cached, nu.ID).diff(want); d != "" {
		t.Errorf("after migrating again the server answers the pre-rollback %s from memcached", d)
	}
}

// TestMemcachedFlags: a migration run without --memcached warns about
// the server's cache, --memcached off silences that, and a memcached
// that does not answer stops the run before any user is touched.
func TestMemcachedFlags(t *testing.T) {
	dsn, users := legacyFixture(t, legacytest.Layout{Variant: legacytest.FSyncMS})
	dir := t.TempDir()
	common := []string{"--legacy-dsn", dsn, "--data", dir, "--drain", "1ms", "--lease", "5s", "--create"}
	run := func(args ...string) (string, error) { return execute(t, append(args, common...)...) }

	out, err := run("--memcached", "127.0.0.1:1", users[0].Name)
	if err == nil || !strings.Contains(err.Error(), "memcached 127.0.0.1:1: memcached does not answer") {
		t.Errorf("unreachable memcached: %v\n%s", err, out)
	}
	if strings.Contains(out, "user done") {
		t.Errorf("a run whose memcached does not answer touched users:\n%s", out)
	}
	if out, err := run("--memcached", "off,127.0.0.1:11211", users[0].Name); err == nil || !strings.Contains(err.Error(), `"off" stands alone`) {
		t.Errorf("off with servers: %v\n%s", err, out)
	}

	out, err = run(users[0].Name)
	if err != nil || !strings.Contains(out, "no --memcached or --config given") || !strings.Contains(out, `"memcached": "not given"`) {
		t.Errorf("run without --memcached should warn:\n%v\n%s", err, out)
	}
	out, err = run("--memcached", "off", users[1].Name)
	if err != nil || strings.Contains(out, "no --memcached or --config given") {
		t.Errorf("--memcached off should not warn:\n%v\n%s", err, out)
	}
	// A server config without memcached says as much as --memcached off;
	// a config that is not the Sync server's is refused.
	cfgDir := t.TempDir()
	noCache, notSync := filepath.Join(cfgDir, "nocache.json"), filepath.Join(cfgDir, "other.json")
	for path, body := range map[string]string{
		noCache: `{"apps": {"http": {"servers": {"s": {"routes": [{"handle": [{"handler": "firefox_sync"}]}]}}}}}`,
		notSync: `{"apps": {"http": {"servers": {"s": {"routes": [{"handle": [{"handler": "file_server"}]}]}}}}}`,
	} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err = run("--config", noCache, users[2].Name)
	if err != nil || strings.Contains(out, "no --memcached or --config given") || !strings.Contains(out, `"memcached": "off"`) {
		t.Errorf("--config without memcached:\n%v\n%s", err, out)
	}
	if out, err := run("--config", notSync, users[3].Name); err == nil || !strings.Contains(err.Error(), "has no firefox_sync handler") {
		t.Errorf("--config of another server: %v\n%s", err, out)
	}

	// Rollbacks write nothing the server caches: no warning, no memcached.
	out, err = execute(t, append([]string{"rollback", users[0].Name}, common...)...)
	if err != nil || strings.Contains(out, "no --memcached or --config given") {
		t.Errorf("rollback should neither need memcached nor warn:\n%v\n%s", err, out)
	}
}
