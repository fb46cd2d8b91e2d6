// Package migratecmd registers `syncserver migrate`, the command line of
// package migrate. It is a separate package so that migrate, a library
// written against its own small interfaces, depends neither on the native
// backends nor on Caddy's command line.
package migratecmd

import (
	"go.uber.org/zap"

	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"golang.org/x/time/rate"

	"github.com/syncserver/syncserver/migrate"
	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storeopen"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "migrate",
		Usage: "[USER…] [--file F] [--canary N] [--all] {--legacy-dsn DSN [--to SHARD] | --from SHARD [--to SHARD] [--keep-source]} [--config Caddyfile] [--db sqlite|mysql] [--data DIR] [--dsn DSN] [--memcached host:port…] …",
		Short: "Moves users from a legacy PHP Sync database to the native store, or between native shards, online",
		Long: `
Moves Firefox Sync users from a legacy PHP database (FSyncMS, an FSyncMS fork
with a table prefix, or Mozilla's PHP 1.0 server; detected from the tables)
into the native store while the shim keeps serving everyone else.

Per user: bulk copy while the user stays on legacy; route set to "migrating"
(clients get 503 + Retry-After); wait --drain; copy the delta (changed and
deleted records); verify counts, newest timestamps, checksums, meta/global and
crypto/keys byte for byte and the password hash; route set to "native". Any
failure puts the route back to legacy and records why; the native copy stays
for the next attempt. Runs may be killed at any moment and started again:
leases that expired are rolled back first.

The shim reads the route table for every request that can write, so once a
user is "migrating" no instance forwards their writes any more. --drain
(default 500ms) is for the writes forwarded just before: it must be at least the
time the legacy PHP server takes to answer a write. The shim's legacy
"timeout" is the hard bound: a write that takes longer is failed by the proxy
with 503, but PHP may still finish it afterwards, after the last copy, and
that change would be lost. Give write requests a timeout close to the drain,
or a drain as long as the timeout. --route-cache-bound is the old name of the
same wait (deprecated; if both are given, the longer applies).

Select users by name (an e-mail address or a Sync username, as everywhere),
with --file (one per line), --canary N (the N% of users whose stable bucket
is below N) or --all. A named user that does not exist is an error. --dry-run
reads and verifies only.

The native database is the one of the server's config (--config), or is
chosen with the same flags as the server's other commands, which win over the
config: --db sqlite|mysql, --data DIR, --dsn DSN (or SYNCSERVER_MYSQL_DSN,
which selects MySQL when set). It must exist already (start the server once,
or pass --create). The legacy DSN can come from SYNCSERVER_LEGACY_DSN.

Legacy PHP servers had no quota; the native server has one (quota_bytes,
default 5 MiB). Users who already store that much could no longer upload
once native, so --dry-run lists them, "migrate status" lists them when given
--legacy-dsn, and a run refuses them unless --allow-over-quota. --quota must
match the server's quota_bytes (0: the server has no quota).

When the server runs with memcached (its "memcached" directive), migrate must
reach it too: give the server's config with --config Caddyfile (its memcached
settings are read from it, {env.…} placeholders resolved), or the servers and
prefix with --memcached host:port[,host:port…] and --memcached-prefix (default
"syncserver:", as the server's). migrate writes the native database directly,
past the cache, so before it flips a user to native it invalidates that user's
cached answers (info/collections, quota, meta/global, crypto/keys, last-write
timestamp) there; otherwise a user who was native before, was rolled back and
changed data on legacy would be served the answers cached before the rollback
until the cache's ttl (default 5m) runs out. A user whose invalidation
memcached does not take stays on legacy (failed; the next run retries); a
memcached that does not answer at start stops the run. Without --memcached or
--config the run warns; --memcached off says the server has none. Rollbacks
and dry runs write nothing the server caches and do not need it.

Errors are printed as "Error: …" and exit with status 1; progress lines are
plain text, or JSON with --log-format json.

Native shards. With --config, migrate reads the server's databases from its
config: the handler's own database (route table and "default" shard) and
every "shard NAME { database … }". A legacy user goes to --to SHARD when
given (a closed shard too: naming it is explicit), else to the shard the
shards' weights pick for the name (the one a registration would get), else to
the default database. A rollback reads from the user's current shard.

--from SHARD moves native users between shards instead ("default" names the
server's own database), with the same protocol as a migration: lease, bulk
copy while the user is served from the source, "migrating" (503) and --drain,
delta copy, verification (every record with its TTL, meta/global and
crypto/keys byte for byte, info/collections, password hash, last write
timestamp), invalidation of the user's cached answers in the destination's
memcached (key prefix "<prefix><shard>:"), flip of the route to the
destination. Then the copy on the source is deleted, once the server's
route_cache_ttl has passed (reads may follow a cached route that long), unless
--keep-source. A failure before the flip leaves the user on the source with
the reason; a killed run's users are served from the source once the lease
expires, and the same command run again resumes, and finishes users whose
source copy a killed run had not deleted yet. Without --to each user goes to
the shard the weights pick among the open ones other than --from (draining a
closed shard). --all and --canary select the native users of --from. No
--legacy-dsn is needed.

Subcommands: "migrate status" (users per route state and per shard, recent
failures) and "migrate rollback USER…|--all" (native → legacy).

Examples:
  $ syncserver migrate --legacy-dsn 'sync:secret@tcp(db:3306)/fsyncms' --dry-run --canary 5
  $ syncserver migrate --legacy-dsn 'sync:secret@tcp(db:3306)/fsyncms' --config Caddyfile carol@example.com
  $ syncserver migrate --legacy-dsn 'sync:secret@tcp(db:3306)/fsyncms' --config Caddyfile --to s2 --canary 5
  $ syncserver migrate --config Caddyfile --from s1 --to s2 --canary 10
  $ syncserver migrate --config Caddyfile --from s1 --all --dry-run
  $ syncserver migrate rollback alice@example.com
  $ syncserver migrate status --legacy-dsn 'sync:secret@tcp(db:3306)/fsyncms'`,
		CobraFunc: func(cmd *cobra.Command) {
			o := &options{}
			o.persistentFlags(cmd)
			o.selectionFlags(cmd)
			cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "read and verify only; write nothing anywhere")
			cmd.Flags().BoolVar(&o.allowOverQuota, "allow-over-quota", false, "migrate users who store at least --quota bytes although they could not upload any more once native")
			o.shard.addFlags(cmd.Flags())
			cmd.RunE = func(cmd *cobra.Command, args []string) error { return o.run(cmd, args, false) }
			cmd.Args = cobra.ArbitraryArgs

			status := &cobra.Command{
				Use:   "status",
				Short: "Shows users per route state and recent failures",
				Args:  cobra.NoArgs,
			}
			status.Flags().IntVar(&o.recent, "recent", 20, "failures to list")
			status.RunE = func(cmd *cobra.Command, _ []string) error { return o.status(cmd) }

			rollback := &cobra.Command{
				Use:   "rollback [USER…] [--file F] [--canary N] [--all]",
				Short: "Moves users back from the native store to the legacy database",
				Long: `Moves native users back to the legacy database: route "migrating", wait
--drain (native writes already in flight), replace the user's legacy rows by
the native records in one transaction, verify, route "legacy". The native
copy is kept.`,
				Args: cobra.ArbitraryArgs,
			}
			o.selectionFlags(rollback)
			rollback.RunE = func(cmd *cobra.Command, args []string) error { return o.run(cmd, args, true) }
			cmd.AddCommand(status, rollback)
		},
	})
}

// options are the command's flags.
type options struct {
	legacyDSN, variant, prefix string
	shards                     int
	node                       string
	drain, routeCacheBound     time.Duration
	lease                      time.Duration
	concurrency                int
	rate                       float64
	dryRun                     bool
	file                       string
	canary                     int
	all                        bool
	recent                     int
	nativeLabel                string // the native database, for logs
	quota                      int64
	allowOverQuota             bool
	logFormat                  string
	cache                      cacheOptions
	shard                      shardOptions
	server                     *serverConfig // --config's databases, read once
}

func (o *options) persistentFlags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&o.legacyDSN, "legacy-dsn", os.Getenv("SYNCSERVER_LEGACY_DSN"), "legacy MySQL database, user:password@tcp(host:3306)/dbname (env SYNCSERVER_LEGACY_DSN)")
	f.StringVar(&o.variant, "variant", "auto", "legacy schema: auto, fsyncms or mozilla")
	f.StringVar(&o.prefix, "prefix", "", "FSyncMS fork table prefix (tables PREFIX_wbo, PREFIX_users)")
	f.IntVar(&o.shards, "shards", 0, "Mozilla PHP WEAVE_USER_TABLE_MODULO (tables wbo0…wboN-1); 0 detects")
	storeopen.AddFlags(f)
	addOldNativeFlags(f)
	f.Int64Var(&o.quota, "quota", syncstore.DefaultQuotaBytes, "the native server's quota_bytes; users storing at least this much are listed and refused (0: no quota)")
	f.StringVar(&o.logFormat, "log-format", "text", "progress and per-user log lines: text or json")
	f.StringVar(&o.node, "node", "", "name of the legacy node this database belongs to (route rows carry it)")
	f.DurationVar(&o.drain, "drain", migrate.DefaultDrain, "wait after setting a user migrating, for writes the shim forwarded just before; at least the legacy server's response time for writes")
	f.DurationVar(&o.routeCacheBound, "route-cache-bound", 0, "old name of --drain")
	_ = f.MarkDeprecated("route-cache-bound", "writes no longer use the shim's route cache; use --drain")
	f.DurationVar(&o.lease, "lease", 2*time.Minute, "how long a user stays locked if this run dies")
	f.IntVar(&o.concurrency, "concurrency", 4, "users moved at once")
	f.Float64Var(&o.rate, "rate", 0, "maximum legacy records read per second (0: unlimited)")
	o.cache.addFlags(f)
}

func (o *options) selectionFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.file, "file", "", "file of usernames, one per line (# comments)")
	f.IntVar(&o.canary, "canary", 0, "select the users whose canary bucket (0–99) is below N, i.e. N% of them")
	f.BoolVar(&o.all, "all", false, "select every user")
}

// drainWait is --drain, or --route-cache-bound when only that old name is
// given (scripts written for it keep their wait); the longer of both when
// both are.
func (o *options) drainWait(cmd *cobra.Command) time.Duration {
	f := cmd.Flags()
	switch {
	case f.Changed("route-cache-bound") && f.Changed("drain"):
		return max(o.drain, o.routeCacheBound)
	case f.Changed("route-cache-bound"):
		return o.routeCacheBound
	}
	return o.drain
}

// signalContext ends on SIGINT/SIGTERM so users in flight are put back
// before the process exits.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// check refuses flag values that would otherwise be taken silently.
func (o *options) check() error {
	if o.logFormat != "text" && o.logFormat != "json" {
		return fmt.Errorf("--log-format %q: want text or json", o.logFormat)
	}
	if o.quota < 0 {
		return fmt.Errorf("--quota %d: want 0 (the server has no quota) or the server's quota_bytes", o.quota)
	}
	if o.canary < 0 || o.canary > 100 {
		return fmt.Errorf("--canary %d: want 1 to 100 (the percentage of users, by their stable bucket)", o.canary)
	}
	return o.cache.check()
}

func (o *options) status(cmd *cobra.Command) error {
	if err := o.check(); err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	n, err := o.openNative(ctx, cmd)
	if err != nil {
		return err
	}
	defer n.Close()
	st, err := syncstore.ReadRouteStatus(ctx, n, time.Now())
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	st.Write(out, o.recent)
	server, err := o.serverConfig()
	if err != nil {
		return err
	}
	if server != nil && len(server.Shards) > 0 {
		fmt.Fprintln(out)
		if err := writeShardStatus(ctx, out, server, n, n, time.Now()); err != nil {
			return err
		}
	}
	if o.legacyDSN == "" {
		fmt.Fprintln(out, "\n(give --legacy-dsn to list legacy users at or above the native quota)")
		return nil
	}
	lg, err := o.openLegacy(ctx)
	if err != nil {
		return err
	}
	defer lg.Close()
	counts, stored, err := countLegacyUsers(ctx, lg, n, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(out)
	counts.write(out)
	over, err := migrate.OverQuota(ctx, lg, nil, o.quota)
	if err != nil {
		return err
	}
	// Users already native are the server's business now; list those
	// still to come.
	waiting := over[:0]
	for _, u := range over {
		if stored[u.User] == syncstore.RouteNative {
			continue
		}
		waiting = append(waiting, u)
	}
	fmt.Fprintln(out)
	migrate.WriteOverQuota(out, waiting, o.quota)
	return nil
}

func (o *options) openLegacy(ctx context.Context) (*migrate.LegacyDB, error) {
	variant, err := migrate.ParseVariant(o.variant)
	if err != nil {
		return nil, err
	}
	if o.legacyDSN == "" {
		return nil, errors.New("no legacy database: give --legacy-dsn or SYNCSERVER_LEGACY_DSN")
	}
	return migrate.OpenLegacy(ctx, o.legacyDSN, migrate.LegacyOptions{Variant: variant, Prefix: o.prefix, Shards: o.shards})
}

// selection is the users the arguments and selection flags name; the
// returned function closes --file.
func (o *options) selection(args []string) (*migrate.Selection, func(), error) {
	sel := &migrate.Selection{Users: args, Canary: o.canary, All: o.all}
	closeFile := func() {}
	if o.file != "" {
		f, err := os.Open(o.file)
		if err != nil {
			return nil, nil, fmt.Errorf("opening the user file: %w", err)
		}
		closeFile = func() { f.Close() }
		sel.File = f
	}
	if sel.Empty() {
		closeFile()
		return nil, nil, migrate.ErrNothingSelected
	}
	return sel, closeFile, nil
}

func (o *options) run(cmd *cobra.Command, args []string, rollback bool) error {
	ctx, cancel := signalContext()
	defer cancel()
	if err := o.check(); err != nil {
		return err
	}
	if !rollback && o.shard.moving(cmd.Flags()) {
		return o.move(ctx, cmd, args)
	}
	if !rollback && cmd.Flags().Changed("keep-source") {
		return errors.New("--keep-source goes with --from (a move between shards); a migration from legacy never deletes the legacy data")
	}
	sel, closeFile, err := o.selection(args)
	if err != nil {
		return err
	}
	defer closeFile()
	lg, err := o.openLegacy(ctx)
	if err != nil {
		return err
	}
	defer lg.Close()
	n, err := o.openNative(ctx, cmd)
	if err != nil {
		return err
	}
	defer n.Close()

	var users []string
	if rollback {
		users, err = sel.ResolveNative(ctx, n)
		if err == nil {
			err = sel.CheckNative(ctx, n, n)
		}
	} else {
		users, err = sel.ResolveLegacy(ctx, lg)
		if err == nil {
			err = sel.CheckLegacy(ctx, lg)
		}
	}
	if err != nil {
		return fmt.Errorf("selecting users: %w", err)
	}
	if len(users) == 0 {
		what := "legacy users"
		if rollback {
			what = "native users"
		}
		return sel.NothingSelected(what)
	}
	if !rollback {
		over, err := migrate.OverQuota(ctx, lg, users, o.quota)
		if err != nil {
			return fmt.Errorf("checking the selected users against the native quota: %w", err)
		}
		if len(over) > 0 {
			w := cmd.OutOrStdout()
			if !o.dryRun && !o.allowOverQuota {
				w = cmd.ErrOrStderr()
			}
			migrate.WriteOverQuota(w, over, o.quota)
			fmt.Fprintln(w)
			if !o.dryRun && !o.allowOverQuota {
				return fmt.Errorf("%d of %d selected users store at least the native quota of %s and could not upload any more once native: "+
					"raise the server's quota_bytes and pass the same --quota, leave them out, or pass --allow-over-quota",
					len(over), len(users), migrate.FormatBytes(o.quota))
			}
		}
	}

	// The shards: a rollback reads from each user's shard, a migration
	// writes to the --to shard or the one the weights pick.
	server, err := o.serverConfig()
	if err != nil {
		return err
	}
	var target func(string) string
	var shardNames []string
	if rollback {
		if server != nil {
			for _, sc := range server.Shards {
				shardNames = append(shardNames, sc.Name)
			}
		}
	} else if target, shardNames, err = targets(server, o.shard.to, cmd.Flags().Changed("to"), ""); err != nil {
		return err
	}
	create, _ := cmd.Flags().GetBool("create")
	shards, err := openShards(ctx, server, shardNames, create, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer shards.Close()

	out := cmd.ErrOrStderr()
	rep := newReporter(out, isTerminal(out), len(users), o.logFormat == "json")
	defer rep.logger.Sync()
	cfg := migrate.Config{
		Legacy: lg, Native: n, Routes: n, Logger: rep.logger,
		Drain: o.drainWait(cmd), LeaseTTL: o.lease, Node: o.node, DryRun: o.dryRun,
		OnCopy: rep.progress.Observe, Shards: shards.migrateShards(), Target: target,
	}
	if o.rate > 0 {
		cfg.Limiter = rate.NewLimiter(rate.Limit(o.rate), max(int(o.rate/10), 100))
	}
	// Rollbacks and dry runs write nothing the server's cache holds:
	// only flips to native need it.
	cacheText, closeCaches, err := o.wireCaches(&cfg, n, shards, !rollback && !o.dryRun, rep.logger)
	if err != nil {
		return err
	}
	defer closeCaches()
	m, err := migrate.New(cfg)
	if err != nil {
		return err
	}
	what := "migrating"
	if rollback {
		what = "rolling back"
	}
	rep.logger.Info(what+" users", zap.Int("users", len(users)), zap.String("legacy", lg.Schema().String()),
		zap.String("native", o.nativeLabel), zap.String("memcached", cacheText), zap.Bool("dry_run", o.dryRun))
	return runUsers(cmd, rep, len(users), func(p *migrate.Progress) (*migrate.Report, error) {
		return m.Run(ctx, users, o.concurrency, rollback, p)
	})
}

// runUsers runs a migration, rollback or move of n users with the
// progress display, writes the summary, and makes an interrupted run or
// failed users the command's error.
func runUsers(cmd *cobra.Command, rep *reporter, n int, run func(*migrate.Progress) (*migrate.Report, error)) error {
	stop := rep.start()
	report, runErr := run(rep.progress)
	stop()
	report.WriteSummary(cmd.OutOrStdout())
	if runErr != nil {
		return fmt.Errorf("interrupted after %d of %d users: %w", len(report.Results), n, runErr)
	}
	if f := report.Failed(); f > 0 {
		return fmt.Errorf("%d of %d users failed", f, n)
	}
	return nil
}
