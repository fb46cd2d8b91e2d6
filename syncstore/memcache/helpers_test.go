package memcache

import (
	"context"
	"errors"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// fakeClock is the time source of the stores under test, so records can
// be expired without waiting.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_300_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fixture is one database seen through a cache (cached) and directly
// (direct), the latter being the truth the cache must agree with.
type fixture struct {
	ctx    context.Context
	clock  *fakeClock
	dsn    string
	direct syncstore.Store
	cached *Store
	cfg    Config
}

func newFixture(t *testing.T, servers ...string) *fixture {
	t.Helper()
	f := &fixture{ctx: context.Background(), clock: newFakeClock(), dsn: testservices.NewMySQLDatabase(t, "mc_")}
	f.direct = openMySQL(t, f.dsn, f.clock.Now)
	t.Cleanup(func() { f.direct.Close() })
	f.cfg = testConfig(t, servers...)
	f.cached = wrap(t, openMySQL(t, f.dsn, f.clock.Now), f.cfg)
	return f
}

// another opens a second instance ("server") on the same database and
// memcached, with its own connections.
func (f *fixture) another(t *testing.T, cfg Config) *Store {
	t.Helper()
	return wrap(t, openMySQL(t, f.dsn, f.clock.Now), cfg)
}

func (f *fixture) user(t *testing.T, name string) int64 {
	t.Helper()
	u := &syncstore.User{Name: name, PasswordHash: "x"}
	if err := f.cached.CreateUser(f.ctx, u); err != nil {
		t.Fatalf("CreateUser(%s): %v", name, err)
	}
	return u.ID
}

func (f *fixture) put(t *testing.T, s syncstore.Store, uid int64, coll string, recs ...syncstore.WBO) syncstore.Timestamp {
	t.Helper()
	res, err := s.PutRecords(f.ctx, uid, coll, recs, syncstore.WriteOptions{})
	if err != nil {
		t.Fatalf("PutRecords(%s): %v", coll, err)
	}
	return res.Modified
}

func wbo(id, payload string) syncstore.WBO {
	return syncstore.WBO{ID: id, Payload: &payload}
}

func withTTL(w syncstore.WBO, ttl int64) syncstore.WBO {
	w.TTL = &ttl
	return w
}

// view is everything the cache serves for one user.
type view struct {
	stamps map[string]syncstore.Timestamp
	usage  map[string]int64
	meta   string // payload, or "<missing>"
	keys   string
}

func readView(ctx context.Context, s syncstore.Store, uid int64) (view, error) {
	var v view
	var err error
	if v.stamps, err = s.CollectionTimestamps(ctx, uid); err != nil {
		return v, err
	}
	if v.usage, err = s.CollectionUsage(ctx, uid); err != nil {
		return v, err
	}
	if v.meta, err = payloadOf(ctx, s, uid, "meta", "global"); err != nil {
		return v, err
	}
	v.keys, err = payloadOf(ctx, s, uid, "crypto", "keys")
	return v, err
}

func payloadOf(ctx context.Context, s syncstore.Store, uid int64, coll, id string) (string, error) {
	w, err := s.GetRecord(ctx, uid, coll, id)
	if errors.Is(err, syncstore.ErrNotFound) {
		return "<missing>", nil
	}
	if err != nil {
		return "", err
	}
	if w.Payload == nil {
		return "<nil payload> " + w.Modified.String(), nil
	}
	return *w.Payload + " " + w.Modified.String(), nil
}

func (v view) equal(o view) bool {
	return maps.Equal(v.stamps, o.stamps) && maps.Equal(v.usage, o.usage) && v.meta == o.meta && v.keys == o.keys
}

// wantView fails unless s serves for uid exactly what the database holds.
func (f *fixture) wantView(t *testing.T, s syncstore.Store, uid int64, what string) {
	t.Helper()
	want, err := readView(f.ctx, f.direct, uid)
	if err != nil {
		t.Fatalf("%s: reading the database: %v", what, err)
	}
	got, err := readView(f.ctx, s, uid)
	if err != nil {
		t.Fatalf("%s: reading through the cache: %v", what, err)
	}
	if !got.equal(want) {
		t.Errorf("%s: cache serves %+v\n  database holds %+v", what, got, want)
	}
}
