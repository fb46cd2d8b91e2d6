package migratecmd

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/syncserver/syncserver/migrate"
	"github.com/syncserver/syncserver/syncstore"
)

// move is `syncserver migrate --from S1 [--to S2] USER…|--canary N|--all`:
// native users moved between shards with migrate.Migrator.MoveUser.
func (o *options) move(ctx context.Context, cmd *cobra.Command, args []string) error {
	f := cmd.Flags()
	server, err := o.serverConfig()
	if err != nil {
		return err
	}
	if server == nil {
		return errors.New("--from: moving users between shards needs the server's config, which defines them: give it with --config")
	}
	if err := checkShardFlag(server, "from", o.shard.from); err != nil {
		return err
	}
	from := shardName(o.shard.from)
	if f.Changed("to") && shardName(o.shard.to) == from {
		return fmt.Errorf("--from and --to both name shard %s: users move between two different shards", syncstore.ShardLabel(from))
	}
	for _, name := range []string{"allow-over-quota"} {
		if f.Changed(name) {
			return fmt.Errorf("--%s is for migrations from legacy; a move between shards keeps the same quota", name)
		}
	}
	to, toNames, err := targets(server, o.shard.to, f.Changed("to"), from)
	if err != nil {
		return err
	}
	grace := server.RouteCacheTTL
	if o.lease <= grace {
		return fmt.Errorf("--lease %v must exceed the server's route_cache_ttl (%v): the lease is held until the source copy is deleted, that long after the move", o.lease, grace)
	}
	sel, closeFile, err := o.selection(args)
	if err != nil {
		return err
	}
	defer closeFile()

	n, err := o.openNative(ctx, cmd)
	if err != nil {
		return err
	}
	defer n.Close()
	create, _ := f.GetBool("create")
	shards, err := openShards(ctx, server, append([]string{from}, toNames...), create, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer shards.Close()
	src := n
	if from != "" {
		src = shards.stores[from]
	}

	source := migrate.ShardSource{Shard: from, Accounts: src, RowlessNative: server.RowlessNative}
	if !o.shard.keepSource {
		source.Leftover = func(user, shard string) bool { return shard == to(user) }
	}
	users, err := sel.ResolveShard(ctx, n, source)
	if err == nil {
		err = sel.CheckShard(ctx, src, n)
	}
	if err != nil {
		return fmt.Errorf("selecting users: %w", err)
	}
	if len(users) == 0 {
		return sel.NothingSelected("native users on shard " + syncstore.ShardLabel(from))
	}

	out := cmd.ErrOrStderr()
	rep := newReporter(out, isTerminal(out), len(users), o.logFormat == "json")
	defer rep.logger.Sync()
	cfg := migrate.Config{
		Native: n, Routes: n, Logger: rep.logger,
		Drain: o.drainWait(cmd), LeaseTTL: o.lease, DryRun: o.dryRun,
		OnCopy: rep.progress.Observe, Shards: shards.migrateShards(),
		KeepSource: o.shard.keepSource, SourceGrace: grace, RowlessNative: server.RowlessNative,
	}
	if o.rate > 0 {
		cfg.Limiter = rate.NewLimiter(rate.Limit(o.rate), max(int(o.rate/10), 100))
	}
	cacheText, closeCaches, err := o.wireCaches(&cfg, n, shards, !o.dryRun, rep.logger)
	if err != nil {
		return err
	}
	defer closeCaches()
	m, err := migrate.New(cfg)
	if err != nil {
		return err
	}
	dest := o.shard.to
	if !f.Changed("to") {
		dest = "by weight: " + strings.Join(toNames, ", ")
	}
	rep.logger.Info("moving users", zap.Int("users", len(users)), zap.String("from", syncstore.ShardLabel(from)), zap.String("to", dest),
		zap.Bool("keep_source", o.shard.keepSource), zap.String("memcached", cacheText), zap.Bool("dry_run", o.dryRun))
	return runUsers(cmd, rep, len(users), func(p *migrate.Progress) (*migrate.Report, error) {
		return m.RunMove(ctx, users, from, to, o.concurrency, p)
	})
}
