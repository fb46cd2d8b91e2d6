package shim

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/sqlitestore"
)

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// sqliteRoutes opens a SQLite store in a temporary directory; its route
// table is the real one.
func sqliteRoutes(t testing.TB) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(context.Background(), sqlitestore.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRouteCacheBound(t *testing.T) {
	store := sqliteRoutes(t)
	ctx := context.Background()
	clock := &testClock{t: time.Now()}
	c := newRouteCache(store)
	const ttl = 5 * time.Second

	r, hit, err := c.lookup(ctx, "alice", ttl, clock.now())
	if r != nil || hit || err != nil {
		t.Fatalf("first lookup of a rowless user: %v %v %v", r, hit, err)
	}
	if r, hit, _ := c.lookup(ctx, "alice", ttl, clock.now()); r != nil || !hit {
		t.Fatalf("second lookup: %v hit=%v, want the cached absence", r, hit)
	}

	// A change made elsewhere (another instance, the migrate tool) is seen
	// once the entry is ttl old, and not before.
	if err := store.SetRoute(ctx, syncstore.Route{Username: "alice", State: syncstore.RouteNative}); err != nil {
		t.Fatal(err)
	}
	clock.advance(ttl - time.Millisecond)
	if r, hit, _ := c.lookup(ctx, "alice", ttl, clock.now()); r != nil || !hit {
		t.Fatalf("just inside the bound: %v hit=%v, want the old (absent) row", r, hit)
	}
	clock.advance(time.Millisecond)
	r, hit, err = c.lookup(ctx, "alice", ttl, clock.now())
	if err != nil || hit || r == nil || r.State != syncstore.RouteNative {
		t.Fatalf("at the bound: %+v hit=%v %v, want the native row from the table", r, hit, err)
	}

	// A change made through this process invalidates at once.
	if err := store.SetRoute(ctx, syncstore.Route{Username: "alice", State: syncstore.RouteMigrating}); err != nil {
		t.Fatal(err)
	}
	c.invalidate("alice")
	if r, hit, _ := c.lookup(ctx, "alice", ttl, clock.now()); hit || r == nil || r.State != syncstore.RouteMigrating {
		t.Fatalf("after invalidate: %+v hit=%v, want migrating", r, hit)
	}

	// TTL 0 reads the table every time and caches nothing.
	c0 := newRouteCache(store)
	for range 2 {
		if _, hit, _ := c0.lookup(ctx, "alice", 0, clock.now()); hit {
			t.Fatal("ttl 0 served from the cache")
		}
	}
	if n := c0.len(); n != 0 {
		t.Errorf("ttl 0 cached %d entries", n)
	}
}

// pausedRoutes is the real route table with a pause after the first
// read, to land a route change while that read is in flight.
type pausedRoutes struct {
	*sqlitestore.Store
	once         sync.Once
	read, resume chan struct{}
}

func (p *pausedRoutes) GetRoute(ctx context.Context, user string) (*syncstore.Route, error) {
	r, err := p.Store.GetRoute(ctx, user)
	p.once.Do(func() {
		close(p.read)
		<-p.resume
	})
	return r, err
}

// TestRouteCacheStaleRead: a read that began before an invalidation must
// not put its (older) row into the cache, or a flip made through this
// instance would not take effect at once.
func TestRouteCacheStaleRead(t *testing.T) {
	p := &pausedRoutes{Store: sqliteRoutes(t), read: make(chan struct{}), resume: make(chan struct{})}
	ctx := context.Background()
	c := newRouteCache(p)
	done := make(chan *syncstore.Route)
	go func() {
		r, _, _ := c.lookup(ctx, "bob", time.Minute, time.Now())
		done <- r
	}()
	<-p.read // bob has no row, as far as this read knows
	if err := p.SetRoute(ctx, syncstore.Route{Username: "bob", State: syncstore.RouteMigrating}); err != nil {
		t.Fatal(err)
	}
	c.invalidate("bob")
	close(p.resume)
	if r := <-done; r != nil {
		t.Fatalf("the in-flight read saw %+v; the test wants it to predate the change", r)
	}
	r, hit, err := c.lookup(ctx, "bob", time.Minute, time.Now())
	if err != nil || hit || r == nil || r.State != syncstore.RouteMigrating {
		t.Fatalf("after the change: %+v hit=%v %v; the stale read was cached", r, hit, err)
	}
	if r, hit, _ := c.lookup(ctx, "bob", time.Minute, time.Now()); !hit || r.State != syncstore.RouteMigrating {
		t.Errorf("fresh read not cached: %+v hit=%v", r, hit)
	}
}

func TestRouteCacheEviction(t *testing.T) {
	store := sqliteRoutes(t)
	ctx := context.Background()
	clock := &testClock{t: time.Now()}
	c := newRouteCache(store)
	// Fill one shard past its capacity with users that hash to it.
	var names []string
	for i := 0; len(names) < routeShardCapacity+10; i++ {
		n := fmt.Sprintf("u%d", i)
		if c.shard(n) == &c.shards[0] {
			names = append(names, n)
		}
	}
	for _, n := range names {
		if _, _, err := c.lookup(ctx, n, time.Hour, clock.now()); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(c.shards[0].m); n > routeShardCapacity || n < routeShardCapacity/2 {
		t.Errorf("shard holds %d entries, want at most %d and not emptied", n, routeShardCapacity)
	}
	// Expired entries go first.
	clock.advance(2 * time.Hour)
	if _, _, err := c.lookup(ctx, "fresh", time.Hour, clock.now()); err != nil {
		t.Fatal(err)
	}
	c.shards[0].mu.Lock()
	c.shards[0].evict(clock.now(), time.Hour)
	left := len(c.shards[0].m)
	c.shards[0].mu.Unlock()
	if left > 1 {
		t.Errorf("%d expired entries survived eviction", left)
	}
}

// TestRouteCacheRefresh: the write path sees a change made elsewhere at
// once, however young the cached entry, and the reads after it get the
// row it read; an older read finishing later does not put its row back.
func TestRouteCacheRefresh(t *testing.T) {
	store := sqliteRoutes(t)
	ctx := context.Background()
	clock := &testClock{t: time.Now()}
	c := newRouteCache(store)
	const ttl = time.Hour

	if r, _, err := c.lookup(ctx, "carol", ttl, clock.now()); r != nil || err != nil {
		t.Fatalf("first lookup: %+v %v", r, err)
	}
	// Another instance sets carol to migrating.
	if err := store.SetRoute(ctx, syncstore.Route{Username: "carol", State: syncstore.RouteMigrating}); err != nil {
		t.Fatal(err)
	}
	if r, hit, _ := c.lookup(ctx, "carol", ttl, clock.now()); r != nil || !hit {
		t.Fatalf("a read inside the TTL: %+v hit=%v, want the cached absence", r, hit)
	}
	before := clock.now()
	clock.advance(time.Millisecond)
	r, err := c.refresh(ctx, "carol", ttl, clock.now())
	if err != nil || r == nil || r.State != syncstore.RouteMigrating {
		t.Fatalf("refresh: %+v %v, want migrating from the table", r, err)
	}
	if r, hit, _ := c.lookup(ctx, "carol", ttl, clock.now()); !hit || r == nil || r.State != syncstore.RouteMigrating {
		t.Fatalf("a read after the refresh: %+v hit=%v, want the refreshed row", r, hit)
	}
	// A read that began before the refresh and ends after it (its row
	// may be the older one) leaves the newer entry alone.
	c.store("carol", routeEntry{loaded: before}, c.gen.Load(), ttl)
	if r, _, _ := c.lookup(ctx, "carol", ttl, clock.now()); r == nil || r.State != syncstore.RouteMigrating {
		t.Fatalf("an older read replaced the refreshed entry: %+v", r)
	}
	// ttl 0 (route_cache_ttl off) reads and caches nothing.
	c0 := newRouteCache(store)
	if r, err := c0.refresh(ctx, "carol", 0, clock.now()); err != nil || r == nil {
		t.Fatalf("refresh with ttl 0: %+v %v", r, err)
	}
	if n := c0.len(); n != 0 {
		t.Errorf("ttl 0 cached %d entries", n)
	}
}
