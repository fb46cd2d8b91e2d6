package migratecmd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/syncserver/syncserver/migrate"
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
	config  string
}

func (c *cacheOptions) addFlags(f *pflag.FlagSet) {
	f.StringSliceVar(&c.servers, "memcached", nil, `the server's memcached (its "memcached" directive): host:port or socket path, comma-separated; migrated users' cached answers are invalidated there before they go native. "off": the server has none`)
	f.StringVar(&c.prefix, "memcached-prefix", memcache.DefaultPrefix, `with --memcached: the server's memcached key prefix (its memcached "prefix" setting)`)
	f.StringVar(&c.config, "config", "", `the server's config (Caddyfile or JSON): its database and shards are used unless --db/--data/--dsn name the database, its memcached settings unless --memcached is given`)
}

// check refuses a prefix that no --memcached would use.
func (c *cacheOptions) check() error {
	if c.prefix != memcache.DefaultPrefix && (len(c.servers) == 0 || c.off()) {
		return fmt.Errorf("--memcached-prefix %q goes with --memcached (with --config the prefix comes from the config)", c.prefix)
	}
	return nil
}

// off reports whether --memcached says the server has no memcached.
func (c *cacheOptions) off() bool {
	return len(c.servers) == 1 && strings.EqualFold(c.servers[0], memcachedOff)
}

// resolve returns the memcached configurations to invalidate (none when
// the server has no cache) and whether the flags said anything about it.
func (c *cacheOptions) resolve() (cfgs []memcache.Config, known bool, err error) {
	if err := c.check(); err != nil {
		return nil, false, err
	}
	switch {
	case c.off():
		return nil, true, nil
	case len(c.servers) > 0:
		if slices.ContainsFunc(c.servers, func(s string) bool { return strings.EqualFold(s, memcachedOff) }) {
			return nil, true, fmt.Errorf("--memcached %q: %q stands alone, for a server without memcached", strings.Join(c.servers, ","), memcachedOff)
		}
		return []memcache.Config{{Servers: c.servers, Prefix: c.prefix}}, true, nil
	case c.config != "":
		cfgs, err := configMemcached(c.config)
		if err != nil {
			return nil, true, fmt.Errorf("--config: %w", err)
		}
		return cfgs, true, nil
	}
	return nil, false, nil
}

// openCaches connects to each memcached in cfgs, over native, and checks that
// every server answers: a run whose flips could not invalidate would
// fail every user after its copy.
func openCaches(native syncstore.Store, cfgs []memcache.Config) (caches, error) {
	var cs caches
	for _, cfg := range cfgs {
		name := strings.Join(cfg.Servers, ",")
		c, err := memcache.New(unclosable{native}, cfg, nil)
		if err != nil {
			cs.Close()
			return nil, fmt.Errorf("memcached %s: %w", name, err)
		}
		cs = append(cs, c)
		if err := c.Ping(); err != nil {
			cs.Close()
			return nil, fmt.Errorf("memcached %s: %w (migrate must invalidate migrated users' cached answers there; "+
				"give the server's memcached, or --memcached off if the server runs without one)", name, err)
		}
	}
	return cs, nil
}

// caches are the memcached layers of the server's firefox_sync handlers
// (one, unless sites of one config use different memcached settings).
type caches []*memcache.Store

// InvalidateUser invalidates the user in every cache.
func (cs caches) InvalidateUser(ctx context.Context, userID int64) error {
	for _, c := range cs {
		if err := c.InvalidateUser(ctx, userID); err != nil {
			return err
		}
	}
	return nil
}

// MarkExpiring flags the user's expiring records in every cache.
func (cs caches) MarkExpiring(ctx context.Context, userID int64, records bool) error {
	for _, c := range cs {
		if err := c.MarkExpiring(ctx, userID, records); err != nil {
			return err
		}
	}
	return nil
}

// Close closes every cache (the native store stays open).
func (cs caches) Close() error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// unclosable keeps the cache layer from closing the native store, which
// the command closes itself.
type unclosable struct {
	syncstore.Store
}

func (unclosable) Close() error { return nil }

// configMemcached reads a server config (a Caddyfile, or JSON when the
// file holds a JSON object) and returns the distinct memcached settings
// of its firefox_sync handlers, with global placeholders such as
// {env.NAME} resolved as the server resolves them.
func configMemcached(path string) ([]memcache.Config, error) {
	cfg, err := adaptConfig(path)
	if err != nil {
		return nil, err
	}
	repl := caddy.NewReplacer()
	var out []memcache.Config
	var handlers int
	walkJSON(cfg, func(m map[string]any) {
		if m["handler"] != "firefox_sync" {
			return
		}
		handlers++
		mc, _ := m["memcached"].(map[string]any)
		if mc == nil {
			return
		}
		c := memcache.Config{Prefix: memcache.DefaultPrefix}
		if p, _ := mc["prefix"].(string); p != "" {
			c.Prefix = p
		}
		servers, _ := mc["servers"].([]any)
		for _, s := range servers {
			if s, ok := s.(string); ok {
				c.Servers = append(c.Servers, repl.ReplaceKnown(s, ""))
			}
		}
		if !slices.ContainsFunc(out, func(o memcache.Config) bool { return o.Prefix == c.Prefix && slices.Equal(o.Servers, c.Servers) }) {
			out = append(out, c)
		}
	})
	if handlers == 0 {
		return nil, fmt.Errorf("%s has no firefox_sync handler: is it the Sync server's config?", path)
	}
	return out, nil
}

// walkJSON calls fn on every object in v.
func walkJSON(v any, fn func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		fn(v)
		for _, e := range v {
			walkJSON(e, fn)
		}
	case []any:
		for _, e := range v {
			walkJSON(e, fn)
		}
	}
}

// cacheLabel says, for the run's first log line, which memcached the run
// invalidates.
func cacheLabel(needed bool, cfgs []memcache.Config, known bool) string {
	switch {
	case !needed:
		return "not needed"
	case !known:
		return "not given"
	case len(cfgs) == 0:
		return "off"
	}
	var s []string
	for _, c := range cfgs {
		s = append(s, strings.Join(c.Servers, ",")+" prefix "+c.Prefix)
	}
	return strings.Join(s, "; ")
}

// noCacheWarning is logged when a run may flip users to native without
// being told about the server's memcached.
const noCacheWarning = "no --memcached or --config given: if the server runs with a memcached directive, users migrated again after a rollback " +
	"may be served info/collections, meta/global and crypto/keys from before the rollback until the cache ttl (default 5m) runs out; " +
	"give the server's config with --config, or its memcached servers with --memcached (and its prefix with --memcached-prefix), " +
	"or --memcached off when it has none"

// wireCaches gives cfg the server's memcached, for the default database
// and for every shard, when the run writes (needed) and a memcached is
// configured; it warns when the run writes and nobody said whether the
// server has one. It returns the run's memcached for its first log line
// and a func that closes what was opened.
func (o *options) wireCaches(cfg *migrate.Config, native syncstore.Store, shards *shardSet, needed bool, log *zap.Logger) (string, func(), error) {
	cacheCfgs, known, err := o.cache.resolve()
	if err != nil {
		return "", nil, err
	}
	label := cacheLabel(needed, cacheCfgs, known)
	if !needed {
		return label, func() {}, nil
	}
	if !known {
		log.Warn(noCacheWarning)
	}
	if len(cacheCfgs) == 0 {
		return label, func() {}, nil
	}
	cs, err := openCaches(native, cacheCfgs)
	if err != nil {
		return "", nil, err
	}
	sc, closeShardCaches, err := shards.caches(cacheCfgs)
	if err != nil {
		cs.Close()
		return "", nil, err
	}
	cfg.Cache, cfg.ShardCaches = cs, sc
	return label, func() {
		closeShardCaches()
		cs.Close()
	}, nil
}
