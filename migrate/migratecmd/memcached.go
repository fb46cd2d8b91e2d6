package migratecmd

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/memcache"
)

// memcachedOff is the --memcached value that says the server runs
// without memcached.
const memcachedOff = "off"

// cacheOptions are the flags naming the server's memcached. migrate
// writes the native tables directly, past the memcached layer, so it
// must invalidate a migrated user's cached answers there itself before
// the flip to native; without that, a user who was native before (rolled
// back, changed on legacy, migrated again within the cache's ttl) would
// be served info/collections, meta/global, crypto/keys and the last-write
// timestamp from before the rollback.
type cacheOptions struct {
	servers []string
	prefix  string
}

func (c *cacheOptions) addFlags(f *pflag.FlagSet) {
	f.StringSliceVar(&c.servers, "memcached", nil, `the server's memcached (its "memcached" directive): host:port or socket path, comma-separated; migrated users' cached answers are invalidated there before they go native. "off": the server has none`)
	f.StringVar(&c.prefix, "memcached-prefix", memcache.DefaultPrefix, `the server's memcached key prefix (its memcached "prefix" setting)`)
}

// configured reports whether --memcached names servers.
func (c *cacheOptions) configured() bool {
	return len(c.servers) > 0 && !c.off()
}

// off reports whether --memcached says the server has no memcached.
func (c *cacheOptions) off() bool {
	return len(c.servers) == 1 && strings.EqualFold(c.servers[0], memcachedOff)
}

// open connects to the server's memcached, over native, and checks that
// every server answers: a run whose flips could not invalidate would
// fail every user after its copy.
func (c *cacheOptions) open(native syncstore.Store) (*memcache.Store, error) {
	for _, s := range c.servers {
		if strings.EqualFold(s, memcachedOff) {
			return nil, fmt.Errorf("--memcached %q: %q stands alone, for a server without memcached", strings.Join(c.servers, ","), memcachedOff)
		}
	}
	cache, err := memcache.New(unclosable{native}, memcache.Config{Servers: c.servers, Prefix: c.prefix}, nil)
	if err != nil {
		return nil, fmt.Errorf("--memcached: %w", err)
	}
	if err := cache.Ping(); err != nil {
		cache.Close()
		return nil, fmt.Errorf("--memcached %s: %w (migrate must invalidate migrated users' cached answers there; "+
			"give the server's memcached, or --memcached off if the server runs without one)", strings.Join(c.servers, ","), err)
	}
	return cache, nil
}

// unclosable keeps the cache layer from closing the native store, which
// the command closes itself.
type unclosable struct {
	syncstore.Store
}

func (unclosable) Close() error { return nil }

// noCacheWarning is logged when a run may flip users to native without
// being told about the server's memcached.
const noCacheWarning = "no --memcached given: if the server runs with a memcached directive, users migrated again after a rollback " +
	"may be served info/collections, meta/global and crypto/keys from before the rollback until the cache ttl (default 5m) runs out; " +
	"give the server's memcached servers with --memcached (and its prefix with --memcached-prefix), or --memcached off when it has none"

// cacheLabel says, for the run's first log line, which memcached the run
// invalidates.
func (o *options) cacheLabel(needed, used bool) string {
	switch {
	case !needed:
		return "not needed"
	case used:
		return strings.Join(o.cache.servers, ",") + " prefix " + o.cache.prefix
	case o.cache.off():
		return "off"
	}
	return "not given"
}
