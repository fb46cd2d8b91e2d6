package migrate_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"testing"
	"time"

	"github.com/syncserver/syncserver/migrate"
	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/memcache"
)

// testMemcached is the memcached the tests share (make services).
const testMemcached = "127.0.0.1:11211"

// unclosable keeps a cache layer from closing the env's store.
type unclosable struct{ syncstore.Store }

func (unclosable) Close() error { return nil }

func newCache(t *testing.T, s syncstore.Store, server, prefix string) *memcache.Store {
	t.Helper()
	c, err := memcache.New(unclosable{s}, memcache.Config{Servers: []string{server}, Prefix: prefix}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func cachePrefix(t *testing.T) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "mig" + hex.EncodeToString(b[:]) + ":"
}

// infoAndMeta is what a client reads first on every sync.
func infoAndMeta(t *testing.T, s syncstore.Store, uid int64) (map[string]syncstore.Timestamp, string) {
	t.Helper()
	ctx := context.Background()
	stamps, err := s.CollectionTimestamps(ctx, uid)
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.GetRecord(ctx, uid, "meta", "global")
	if err != nil {
		t.Fatal(err)
	}
	return stamps, *w.Payload + " " + w.Modified.String()
}

// TestRemigrationInvalidatesCache: native user, answers cached by the
// server, rollback, changes on legacy, migration again: with Config.Cache
// the server serves the new data right after the flip; when the cache
// cannot be invalidated the user stays on legacy.
func TestRemigrationInvalidatesCache(t *testing.T) {
	e := newEnv(t, layouts[0], smallSpec, openMySQL)
	ctx := testContext(t)
	prefix := cachePrefix(t)
	srv := newCache(t, e.native, testMemcached, prefix) // the server's layer
	m := e.migrator(migrate.Config{Cache: newCache(t, e.native, testMemcached, prefix)})
	u := e.users[0]
	if _, err := m.MigrateUser(ctx, u.Name); err != nil {
		t.Fatal(err)
	}
	nu, err := e.native.LookupUser(ctx, u.Name)
	if err != nil {
		t.Fatal(err)
	}
	stamps0, meta0 := infoAndMeta(t, srv, nu.ID) // cached now
	if _, err := m.RollbackUser(ctx, u.Name); err != nil {
		t.Fatal(err)
	}
	e.legacyWrites(u)
	q := "UPDATE " + e.layout.WboTable(0) + " SET payload = '{\"syncID\":\"reset\"}', payload_size = 18, modified = modified + 1 WHERE username = ? AND collection = 'meta' AND id = 'global'"
	if _, err := e.db.ExecContext(ctx, q, u.Name); err != nil {
		t.Fatal(err)
	}

	// memcached unreachable from the migrate tool: the user is not flipped.
	dead := e.migrator(migrate.Config{Cache: newCache(t, e.native, "127.0.0.1:1", prefix)})
	res, err := dead.MigrateUser(ctx, u.Name)
	if err == nil || res.Step != migrate.StepCache {
		t.Fatalf("migrating with an unreachable memcached: %+v, %v", res, err)
	}
	if r := e.route(u.Name); r.State != syncstore.RouteLegacy {
		t.Fatalf("route after the failed invalidation: %+v", r)
	}

	if res, err := m.MigrateUser(ctx, u.Name); err != nil || res.Action != migrate.ActionMigrated {
		t.Fatalf("migrating again: %+v, %v", res, err)
	}
	wantStamps, wantMeta := infoAndMeta(t, e.native, nu.ID)
	if maps.Equal(wantStamps, stamps0) || wantMeta == meta0 {
		t.Fatal("the legacy changes did not reach the native store; the test shows nothing")
	}
	gotStamps, gotMeta := infoAndMeta(t, srv, nu.ID)
	if !maps.Equal(gotStamps, wantStamps) || gotMeta != wantMeta {
		t.Errorf("the server serves stale answers after migrating again:\n info/collections %v\n want %v\n meta/global %q\n want %q",
			gotStamps, wantStamps, gotMeta, wantMeta)
	}
}

// TestMoveFlagsExpiringRecords: a shard move copies each record's expiry;
// the destination's cache must then treat the user as one with TTLs, or
// the quota (and meta/global, had it a TTL) read after the move keeps
// being served from memcached once records expire, while the database no
// longer counts them.
func TestMoveFlagsExpiringRecords(t *testing.T) {
	e := newShardEnv(t, openSQLite)
	ctx := testContext(t)
	e.seed("s1", "alice", 400) // tabs and every 11th record have a TTL of about an hour
	prefix := cachePrefix(t)
	tool := newCache(t, e.shards["s2"], testMemcached, prefix)
	server := newCache(t, e.shards["s2"], testMemcached, prefix)
	m := e.migrator(migrate.Config{ShardCaches: map[string]migrate.UserCache{"s2": tool}})
	if res, err := m.MoveUser(ctx, "alice", "s1", "s2"); err != nil || res.Action != migrate.ActionMoved {
		t.Fatalf("MoveUser: %+v, %v", res, err)
	}
	u, err := e.shards["s2"].LookupUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		want, err := e.shards["s2"].CollectionUsage(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // fill, then what the cache serves
			got, err := server.CollectionUsage(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, want) {
				t.Errorf("%s: the server's cache serves usage %v, the database holds %v", what, got, want)
				return
			}
		}
	}
	check("after the move")
	e.clock.advance(2 * time.Hour)
	check("after the records' expiry")
}
