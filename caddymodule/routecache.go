package caddymodule

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
// The staleness bound is exact: an entry is dated from before its row was
// read, so a change committed at time T is seen by every lookup after
// T + ttl, which is the bound the migrate tool waits out
// (--route-cache-bound) before it copies a user's last changes.
type routeCache struct {
	table routeTable
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

func newRouteCache(table routeTable) *routeCache {
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
	sh := c.shard(user)
	if ttl > 0 {
		sh.mu.RLock()
		e, ok := sh.m[user]
		sh.mu.RUnlock()
		if ok && now.Sub(e.loaded) < ttl {
			return e.route, true, nil
		}
	}
	gen := c.gen.Load()
	start := now
	r, err = c.table.GetRoute(ctx, user)
	if errors.Is(err, syncstore.ErrNoRoute) {
		r, err = nil, nil
	}
	if err != nil {
		// Never fall back to a stale entry: the user may have been set to
		// migrating meanwhile, and forwarding a write then loses it.
		return nil, false, err
	}
	if ttl > 0 {
		sh.mu.Lock()
		if c.gen.Load() == gen {
			if len(sh.m) >= routeShardCapacity {
				sh.evict(start, ttl)
			}
			sh.m[user] = routeEntry{route: r, loaded: start}
		}
		sh.mu.Unlock()
	}
	return r, false, nil
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
