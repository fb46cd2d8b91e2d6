package shim

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// Route cache sizing: entries are a pointer and a time, so the bound
// keeps the cache to a few MiB however many users sync.
const (
	routeCacheShards   = 32
	routeCacheCapacity = 200_000
	routeShardCapacity = routeCacheCapacity / routeCacheShards
)

// routeCache remembers route rows (and their absence) so that the routing
// decision is a map read, not a query. It is shared by every handler on
// one database, whatever their TTL: each lookup says how old an entry
// may be.
//
// Only reads use cached entries. Requests that can write call refresh,
// which always reads the table, so a user set to migrating has no write
// forwarded anywhere from the moment the change commits, on every
// instance; the migrate tool then only waits out the writes already in
// flight (--drain), not the cache.
//
// The staleness bound of reads is exact: an entry is dated from before
// its row was read, so a change committed at time T is seen by every
// lookup after T + ttl.
type routeCache struct {
	table syncstore.RouteTable
	seed  maphash.Seed
	// gen counts invalidations: a read that started before one must not
	// put what it read into the cache, since it may predate the change.
	gen    atomic.Uint64
	shards [routeCacheShards]routeShard
}

type routeShard struct {
	mu sync.RWMutex
	m  map[string]routeEntry
}

type routeEntry struct {
	route  *syncstore.Route // nil: the user has no row
	loaded time.Time        // when the read that produced it began
}

func newRouteCache(table syncstore.RouteTable) *routeCache {
	c := &routeCache{table: table, seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[string]routeEntry)
	}
	return c
}

func (c *routeCache) shard(user string) *routeShard {
	return &c.shards[maphash.String(c.seed, user)%routeCacheShards]
}

// lookup returns the user's row, nil when there is none, from the cache
// if the entry is younger than ttl at now (ttl 0 always reads the table).
// now must be taken before the call: a row read here is dated now. The
// row is shared: callers must not modify it. hit says whether the table
// was spared.
func (c *routeCache) lookup(ctx context.Context, user string, ttl time.Duration, now time.Time) (r *syncstore.Route, hit bool, err error) {
	if ttl > 0 {
		sh := c.shard(user)
		sh.mu.RLock()
		e, ok := sh.m[user]
		sh.mu.RUnlock()
		if ok && now.Sub(e.loaded) < ttl {
			return e.route, true, nil
		}
	}
	r, err = c.refresh(ctx, user, ttl, now)
	return r, false, err
}

// refresh reads the user's row from the table whatever the cache holds,
// and caches it (when ttl > 0) for the reads that follow. now is as for
// lookup.
func (c *routeCache) refresh(ctx context.Context, user string, ttl time.Duration, now time.Time) (*syncstore.Route, error) {
	gen := c.gen.Load()
	r, err := c.table.GetRoute(ctx, user)
	if errors.Is(err, syncstore.ErrNoRoute) {
		r, err = nil, nil
	}
	if err != nil {
		// Never fall back to a stale entry: the user may have been set to
		// migrating meanwhile, and forwarding a write then loses it.
		return nil, err
	}
	if ttl > 0 {
		c.store(user, routeEntry{route: r, loaded: now}, gen, ttl)
	}
	return r, nil
}

// store caches e unless the user's route was changed by this process
// since gen was read (e may predate the change) or a read that began
// later already left a newer entry.
func (c *routeCache) store(user string, e routeEntry, gen uint64, ttl time.Duration) {
	sh := c.shard(user)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if old, ok := sh.m[user]; ok && old.loaded.After(e.loaded) {
		return
	}
	if len(sh.m) >= routeShardCapacity {
		sh.evict(e.loaded, ttl)
	}
	sh.m[user] = e
}

// evict makes room in a full shard: expired entries go first, then an
// arbitrary quarter (map order is random). The caller holds the lock.
func (sh *routeShard) evict(now time.Time, ttl time.Duration) {
	for k, e := range sh.m {
		if now.Sub(e.loaded) >= ttl {
			delete(sh.m, k)
		}
	}
	if len(sh.m) < routeShardCapacity {
		return
	}
	drop := len(sh.m) / 4
	for k := range sh.m {
		if drop == 0 {
			break
		}
		delete(sh.m, k)
		drop--
	}
}

// invalidate forgets the user's entry after a route change made by this
// process, so that its next request reads the new row.
func (c *routeCache) invalidate(user string) {
	c.gen.Add(1)
	sh := c.shard(user)
	sh.mu.Lock()
	delete(sh.m, user)
	sh.mu.Unlock()
}

// len counts the cached entries (tests).
func (c *routeCache) len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}
