package migratecmd

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncserver/syncserver/migrate/legacytest"
	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/memcache"
	"github.com/syncserver/syncserver/syncstore/storeopen"
	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// shardedConfig writes a server config (JSON, as Caddy adapts the
// Caddyfile) whose firefox_sync handler has the default database def and
// the given shards, memcached with prefix, and a legacy block whose
// route_cache_ttl is 0 (no wait before a moved user's source copy is
// deleted).
func shardedConfig(t *testing.T, def map[string]any, shards []map[string]any, memcached, prefix string) string {
	t.Helper()
	handler := map[string]any{
		"handler":   "firefox_sync",
		"database":  def,
		"shards":    shards,
		"memcached": map[string]any{"servers": []string{memcached}, "prefix": prefix},
		"legacy":    map[string]any{"nodes": map[string]any{}, "route_cache_ttl": 0},
	}
	cfg := map[string]any{"apps": map[string]any{"http": map[string]any{"servers": map[string]any{"srv": map[string]any{
		"routes": []any{map[string]any{"handle": []any{handler}}}}}}}}
	body, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "caddy.json")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func openStore(t *testing.T, c storeopen.Config) nativeStore {
	t.Helper()
	s, err := storeopen.Open(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.(nativeStore)
}

// TestCommandShards: legacy users migrate into a named shard and by the
// shards' weights; status lists users per shard; a dry-run move changes
// nothing; a move flips the route and deletes the source copy; the
// destination's memcached (prefix "<prefix><shard>:") is invalidated;
// and wrong moves are refused with errors naming the problem.
func TestCommandShards(t *testing.T) {
	ctx := context.Background()
	dsn, users := legacyFixture(t, legacytest.Layout{Variant: legacytest.FSyncMS})
	s1Name, _ := legacytest.NewDatabase(t, "mig_", "")
	defDir, s2Dir, s3Dir := t.TempDir(), t.TempDir(), t.TempDir()
	prefix := randomPrefix(t)
	mc := testservices.Memcached(t)
	s1DSN := legacytest.DSN(t, s1Name)
	cfg := shardedConfig(t, map[string]any{"dir": defDir}, []map[string]any{
		{"name": "s1", "database": map[string]any{"driver": "mysql", "dsn": s1DSN, "max_open_conns": 4}},
		{"name": "s2", "database": map[string]any{"dir": s2Dir}, "weight": 2},
		{"name": "s3", "database": map[string]any{"dir": s3Dir}, "closed": true},
	}, mc, prefix)
	common := []string{"--config", cfg, "--drain", "10ms", "--lease", "5s"}
	run := func(args ...string) (string, error) { return execute(t, append(args, common...)...) }

	// Into s1 by name, the others by weight (s3 is closed).
	out, err := run("--legacy-dsn", dsn, "--to", "s1", "--create", users[0].Name, users[1].Name)
	if err != nil || outcome(out, "migrated") != 2 {
		t.Fatalf("migrate --to s1: %v\n%s", err, out)
	}
	out, err = run("--legacy-dsn", dsn, "--all", "--create")
	if err != nil || outcome(out, "migrated") != 2 {
		t.Fatalf("migrate --all: %v\n%s", err, out)
	}
	def := openStore(t, storeopen.Config{Dir: defDir})
	stores := map[string]nativeStore{
		"":   def,
		"s1": openStore(t, storeopen.Config{Driver: "mysql", DSN: s1DSN}),
		"s2": openStore(t, storeopen.Config{Dir: s2Dir}),
	}
	shardOf := func(name string) string {
		t.Helper()
		r, err := def.GetRoute(ctx, syncstore.NormalizeUsername(name))
		if err != nil {
			t.Fatal(err)
		}
		if r.State != syncstore.RouteNative || r.Owner != "" {
			t.Errorf("route of %s: %+v", name, r)
		}
		return r.Shard
	}
	weights := []syncstore.ShardWeight{{Name: "s1", Weight: 1}, {Name: "s2", Weight: 2}}
	perShard := map[string]int{}
	for i, u := range users {
		want := "s1"
		if i >= 2 {
			want, _ = syncstore.PickShard(syncstore.NormalizeUsername(u.Name), weights)
		}
		if got := shardOf(u.Name); got != want {
			t.Errorf("%s is on %q, want %q", u.Name, got, want)
		}
		perShard[want]++
		if _, err := stores[want].LookupUser(ctx, u.Name); err != nil {
			t.Errorf("%s on %s: %v", u.Name, want, err)
		}
	}

	out, err = run("status")
	if err != nil || !strings.Contains(out, "shard") || !strings.Contains(out, "closed") || !strings.Contains(out, "weight 2") {
		t.Errorf("status: %v\n%s", err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "s1" && f[1] != itoa(perShard["s1"]) {
			t.Errorf("status says %s users on s1, want %d:\n%s", f[1], perShard["s1"], out)
		}
	}

	// A dry run reads and changes nothing.
	mover := users[0].Name
	out, err = run("--from", "s1", "--to", "s2", "--dry-run", mover)
	if err != nil || outcome(out, "dry run") != 1 || !strings.Contains(out, "no copy on the destination yet") || shardOf(mover) != "s1" {
		t.Errorf("dry run: %v\n%s", err, out)
	}

	// The server's memcached over s2 caches an older copy of users[1]:
	// moved to s2 and back with the copies kept.
	cached := users[1].Name
	for _, mv := range [][]string{{"--from", "s1", "--to", "s2"}, {"--from", "s2", "--to", "s1"}} {
		if out, err := run(append(mv, "--keep-source", cached)...); err != nil || outcome(out, "moved") != 1 {
			t.Fatalf("move %v: %v\n%s", mv, err, out)
		}
	}
	inner := openStore(t, storeopen.Config{Dir: s2Dir})
	srv, err := memcache.New(unclosable{inner}, memcache.Config{Servers: []string{mc}, Prefix: prefix + "s2:"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	u2, err := stores["s2"].LookupUser(ctx, cached)
	if err != nil {
		t.Fatal(err)
	}
	before := read(t, srv, u2.ID)
	u1, _ := stores["s1"].LookupUser(ctx, cached)
	if _, err := stores["s1"].PutRecords(ctx, u1.ID, "meta", []syncstore.WBO{{ID: "global", Payload: ptrTo(`{"syncID":"changed"}`)}}, syncstore.WriteOptions{}); err != nil {
		t.Fatal(err)
	}

	// The moves: both users to s2, the source copies deleted.
	out, err = run("--from", "s1", "--to", "s2", "--log-format", "json", mover, cached)
	if err != nil || outcome(out, "moved") != 2 || !strings.Contains(out, "unavailability window") ||
		!strings.Contains(out, `"msg":"user done"`) || !strings.Contains(out, `"action":"moved","from":"s1","to":"s2"`) ||
		!strings.Contains(out, "users moved in, per shard: s2 2") {
		t.Fatalf("move: %v\n%s", err, out)
	}
	for _, n := range []string{mover, cached} {
		if got := shardOf(n); got != "s2" {
			t.Errorf("%s is on %q after the move", n, got)
		}
		if _, err := stores["s1"].LookupUser(ctx, n); err == nil {
			t.Errorf("%s is still on s1", n)
		}
	}
	if u, _ := stores["s2"].LookupUser(ctx, cached); u.ID != u2.ID {
		t.Fatalf("the s2 account changed id: the cache check shows nothing")
	}
	want := read(t, stores["s2"], u2.ID)
	if want.diff(before) == "" {
		t.Fatal("the change on s1 did not reach s2; the test shows nothing")
	}
	if d := read(t, srv, u2.ID).diff(want); d != "" {
		t.Errorf("after the move the s2 server answers the older %s from memcached", d)
	}

	// Back to the default database by its name.
	if out, err := run("--from", "s2", "--to", "default", mover); err != nil || outcome(out, "moved") != 1 || shardOf(mover) != "" {
		t.Errorf("move to default: %v\n%s", err, out)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown shard", []string{"--from", "s9", "--to", "s1", "--all"}, `unknown shard "s9": the config defines default, s1, s2, s3`},
		{"unknown --to", []string{"--legacy-dsn", dsn, "--to", "s9", "--all"}, `unknown shard "s9"`},
		{"same shard", []string{"--from", "s2", "--to", "s2", "--all"}, "both name shard s2"},
		{"user elsewhere", []string{"--from", "s2", "--to", "s1", "nobody-here"}, "no user nobody-here: neither an account on the source shard nor a route row"},
		{"wrong shard", []string{"--from", "default", "--to", "s1", cached}, "1 of 1 users failed"},
		{"keep-source without --from", []string{"--legacy-dsn", dsn, "--keep-source", "--all"}, "--keep-source goes with --from"},
		{"empty canary", []string{"--from", "s3", "--to", "s1", "--canary", "5", "--create"}, "canary 5% selected no users out of 0 native users on shard s3"},
	} {
		out, err := run(tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q\n%s", tc.name, err, tc.want, out)
		}
	}
	if out, err := run("--from", "default", "--to", "s1", cached); !strings.Contains(out, "is on shard s2, not default") {
		t.Errorf("a user on another shard: %v\n%s", err, out)
	}
	// Every shard but the source closed, no --to: nowhere to go.
	closed := shardedConfig(t, map[string]any{"dir": defDir}, []map[string]any{
		{"name": "s1", "database": map[string]any{"driver": "mysql", "dsn": s1DSN}},
		{"name": "s2", "database": map[string]any{"dir": s2Dir}, "weight": 0},
	}, mc, prefix)
	if out, err := execute(t, "--config", closed, "--from", "s1", "--all"); err == nil || !strings.Contains(err.Error(), "no shard besides s1 is open") {
		t.Errorf("no open destination: %v\n%s", err, out)
	}
	if out, err := execute(t, "--data", defDir, "--from", "s1", "--to", "s2", "--all"); err == nil || !strings.Contains(err.Error(), "needs the server's config") {
		t.Errorf("--from without --config: %v\n%s", err, out)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func ptrTo[T any](v T) *T { return &v }

// outcome reads the count of an action from a run's summary table.
func outcome(out, action string) int {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && strings.Join(f[:len(f)-1], " ") == action {
			n := 0
			if err := json.Unmarshal([]byte(f[len(f)-1]), &n); err == nil {
				return n
			}
		}
	}
	return -1
}

// TestConfigDatabaseUnset: a config whose database DSN comes from an
// unset environment variable is fine while --data names the database
// (the production Caddyfile read for its memcached only), and otherwise
// an error that says what is missing — for the handler's database and for
// a shard.
func TestConfigDatabaseUnset(t *testing.T) {
	dir := t.TempDir()
	unset := map[string]any{"driver": "mysql", "dsn": "{env.SYNCSERVER_TEST_SURELY_UNSET_DSN}"}
	cfg := shardedConfig(t, unset, []map[string]any{{"name": "s1", "database": unset}}, "127.0.0.1:1", "x:")
	if out, err := execute(t, "status", "--config", cfg, "--data", dir, "--create"); err != nil || !strings.Contains(out, "shard") {
		t.Errorf("status with --data: %v\n%s", err, out)
	}
	out, err := execute(t, "status", "--config", cfg)
	if err == nil || !strings.Contains(err.Error(), "native database of --config") || !strings.Contains(err.Error(), "is the environment variable set") {
		t.Errorf("status without --data: %v\n%s", err, out)
	}
	out, err = execute(t, "--config", cfg, "--data", dir, "--from", "s1", "--to", "default", "--all")
	if err == nil || !strings.Contains(err.Error(), "shard s1: database:") || !strings.Contains(err.Error(), "is the environment variable set") {
		t.Errorf("move from a shard without its DSN: %v\n%s", err, out)
	}
}
