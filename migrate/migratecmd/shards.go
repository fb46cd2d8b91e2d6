package migratecmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/syncserver/syncserver/migrate"
	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/memcache"
	"github.com/syncserver/syncserver/syncstore/storeopen"
)

// shardOptions are the flags of native shards (SHARDS.md): where a legacy
// user goes (--to), and a move between shards (--from, --to,
// --keep-source). The shards themselves come from the server's --config.
type shardOptions struct {
	from, to   string
	keepSource bool
}

func (s *shardOptions) addFlags(f *pflag.FlagSet) {
	f.StringVar(&s.from, "from", "", `move native users off this shard ("default": the server's own database) instead of migrating legacy users; shards come from --config`)
	f.StringVar(&s.to, "to", "", `the shard users go to ("default": the server's own database); default: chosen per user by the shards' weights, as for a new registration`)
	f.BoolVar(&s.keepSource, "keep-source", false, "with --from: keep each moved user's copy on the source shard (by default it is deleted once the route names the destination)")
}

// moving reports whether the run moves users between shards.
func (s *shardOptions) moving(f *pflag.FlagSet) bool { return f.Changed("from") }

// shardName turns a flag value into a route's shard ("default" = "").
func shardName(flag string) string {
	if flag == syncstore.DefaultShard {
		return ""
	}
	return flag
}

// shardSet is the open shard stores of a run, by route name ("" is the
// default database, which the command opens and closes itself).
type shardSet struct {
	cfg    *serverConfig
	stores map[string]nativeStore
	labels map[string]string
}

// openShards opens the named shards of cfg (not the default database),
// each as an existing database: a shard the command cannot open stops
// the run, naming it.
func openShards(ctx context.Context, cfg *serverConfig, names []string, create bool, log io.Writer) (*shardSet, error) {
	set := &shardSet{cfg: cfg, stores: map[string]nativeStore{}, labels: map[string]string{}}
	for _, name := range names {
		if name == "" || set.stores[name] != nil {
			continue
		}
		sc, ok := cfg.shard(name)
		if !ok {
			set.Close()
			return nil, unknownShard(cfg, name)
		}
		c := sc.Database
		c.Create = create
		if err := c.Validate(); err != nil {
			set.Close()
			return nil, fmt.Errorf("shard %s: database: %w%s", name, err, emptyDSNHint(c))
		}
		s, err := storeopen.Open(ctx, c)
		if errors.Is(err, storeopen.ErrNoDatabase) {
			err = fmt.Errorf("%w (the server creates its shards' databases when it starts; --create makes them here)", err)
		}
		if err != nil {
			set.Close()
			return nil, fmt.Errorf("shard %s: %w", name, err)
		}
		n, ok := s.(nativeStore)
		if !ok {
			s.Close()
			set.Close()
			return nil, fmt.Errorf("shard %s: the %T store cannot take imports", name, s)
		}
		set.stores[name] = n
		set.labels[name] = c.Label()
		fmt.Fprintf(log, "shard %s: %s\n", name, c.Label())
	}
	return set, nil
}

// Close closes the shard stores.
func (set *shardSet) Close() error {
	if set == nil {
		return nil
	}
	var errs []error
	for _, s := range set.stores {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// migrateShards are the stores as migrate.Config.Shards takes them.
func (set *shardSet) migrateShards() map[string]migrate.ShardStore {
	if set == nil {
		return nil
	}
	out := map[string]migrate.ShardStore{}
	for n, s := range set.stores {
		out[n] = s
	}
	return out
}

// caches opens the server's memcached layer of each open shard: the
// server's servers, key prefix "<prefix><shard>:" (SHARDS.md).
func (set *shardSet) caches(cfgs []memcache.Config) (map[string]migrate.UserCache, func(), error) {
	out := map[string]migrate.UserCache{}
	var opened []caches
	closeAll := func() {
		for _, c := range opened {
			c.Close()
		}
	}
	if set == nil || len(cfgs) == 0 {
		return out, closeAll, nil
	}
	for name, s := range set.stores {
		per := make([]memcache.Config, len(cfgs))
		for i, c := range cfgs {
			per[i] = c
			per[i].Prefix = c.Prefix + name + ":"
		}
		cs, err := openCaches(s, per)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("shard %s: %w", name, err)
		}
		opened = append(opened, cs)
		out[name] = cs
	}
	return out, closeAll, nil
}

// unknownShard names a shard the config does not define.
func unknownShard(cfg *serverConfig, name string) error {
	if cfg == nil {
		return fmt.Errorf("%w %q: shards are defined in the server's config; give it with --config", migrate.ErrUnknownShard, name)
	}
	return fmt.Errorf("%w %q: the config defines %s", migrate.ErrUnknownShard, name, strings.Join(cfg.names(), ", "))
}

// checkShardFlag refuses a --from or --to naming no shard of cfg.
func checkShardFlag(cfg *serverConfig, flag, name string) error {
	if name == "" {
		return fmt.Errorf("--%s needs a shard name (%q for the server's own database)", flag, syncstore.DefaultShard)
	}
	if name == syncstore.DefaultShard {
		return nil
	}
	if cfg == nil {
		return fmt.Errorf("--%s %s: %w", flag, name, unknownShard(nil, name))
	}
	if _, ok := cfg.shard(name); !ok {
		return fmt.Errorf("--%s %s: %w", flag, name, unknownShard(cfg, name))
	}
	return nil
}

// targets returns the shard of each user (as migrate.Config.Target) and
// the shards it can name: --to when given (a closed shard too: naming it
// is explicit), else syncstore.PickShard over the open shards, as the
// server places a new registration, else the default database. Shards in
// exclude are never picked (a move's source).
func targets(cfg *serverConfig, to string, toSet bool, exclude string) (func(string) string, []string, error) {
	if toSet {
		if err := checkShardFlag(cfg, "to", to); err != nil {
			return nil, nil, err
		}
		t := shardName(to)
		return func(string) string { return t }, []string{t}, nil
	}
	if cfg == nil || len(cfg.Shards) == 0 {
		return func(string) string { return "" }, []string{""}, nil
	}
	var open []syncstore.ShardWeight
	var names []string
	for _, w := range cfg.weights() {
		if w.Weight > 0 && w.Name != exclude {
			open = append(open, w)
			names = append(names, w.Name)
		}
	}
	if len(open) == 0 {
		if exclude != "" {
			return nil, nil, fmt.Errorf("no shard besides %s is open to new users (every other one is closed): name the destination with --to", exclude)
		}
		return func(string) string { return "" }, []string{""}, nil
	}
	return func(user string) string {
		name, _ := syncstore.PickShard(user, open)
		return name
	}, names, nil
}

// writeShardStatus prints the native users per shard: route rows naming
// each shard (native, or being moved off it), and the default database's
// users without a row when the server serves those natively.
func writeShardStatus(ctx context.Context, w io.Writer, cfg *serverConfig, routes syncstore.RouteTable, def nativeStore, now time.Time) error {
	counts := map[string]int{}
	moving := map[string]int{}
	rows := map[string]bool{}
	err := syncstore.EachRoute(ctx, routes, func(r *syncstore.Route) error {
		rows[r.Username] = true
		switch {
		case r.Effective(now) == syncstore.RouteNative:
			counts[r.Shard]++
		case r.State == syncstore.RouteMigrating && r.Origin == syncstore.RouteNative:
			moving[r.Shard]++
		}
		return nil
	})
	if err != nil {
		return err
	}
	rowless := 0
	if cfg.RowlessNative {
		err := eachUser(ctx, def, func(u *syncstore.User) {
			if !rows[u.Name] {
				rowless++
			}
		})
		if err != nil {
			return fmt.Errorf("listing the default database's users: %w", err)
		}
	}
	names := []string{""}
	for _, s := range cfg.Shards {
		names = append(names, s.Name)
	}
	for n := range counts {
		if !slices.Contains(names, n) {
			names = append(names, n) // a row naming a shard the config lacks
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "shard\tnative users\tbeing moved off\tnew users\n")
	for _, n := range names {
		share := "-"
		if n != "" {
			share = "closed"
			if sc, ok := cfg.shard(n); !ok {
				share = "NOT IN THE CONFIG"
			} else if sc.Weight > 0 {
				share = fmt.Sprintf("weight %d", sc.Weight)
			}
		}
		users := fmt.Sprint(counts[n])
		if n == "" && cfg.RowlessNative {
			users = fmt.Sprintf("%d (+%d without a route row)", counts[n], rowless)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", syncstore.ShardLabel(n), users, moving[n], share)
	}
	return tw.Flush()
}

// eachUser calls fn for every account of s.
func eachUser(ctx context.Context, s syncstore.Store, fn func(*syncstore.User)) error {
	after := ""
	for {
		us, err := s.ListUsers(ctx, after, 1000)
		if err != nil {
			return err
		}
		for i := range us {
			fn(&us[i])
		}
		if len(us) < 1000 {
			return nil
		}
		after = us[len(us)-1].Name
	}
}

// emptyDSNHint explains an empty MySQL DSN read from a config: most often
// an {env.…} placeholder whose variable is not set where migrate runs.
func emptyDSNHint(c storeopen.Config) string {
	if c.DriverName() == storeopen.DriverMySQL && c.DSN == "" {
		return " (empty after replacing placeholders: is the environment variable set here as for the server?)"
	}
	return ""
}
