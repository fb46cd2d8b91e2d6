package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"golang.org/x/term"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/deadline"
	"github.com/syncserver/syncserver/syncstore/mysqlstore"
	"github.com/syncserver/syncserver/syncstore/storeopen"
)

// purgeBatch bounds one PurgeExpired call so that a large backlog is
// deleted in short transactions instead of one that blocks writers.
const purgeBatch = 1000

// purgeExpired deletes every record whose TTL expired before now, batch
// records per PurgeExpired call, and returns how many went. onBatch, if
// set, is told the running total after each call.
func purgeExpired(ctx context.Context, store syncstore.Store, now time.Time, batch int, onBatch func(deleted int64)) (int64, error) {
	if batch < 1 {
		return 0, fmt.Errorf("purge batch %d: must be at least 1", batch)
	}
	var total int64
	for {
		n, err := store.PurgeExpired(ctx, now, batch)
		total += n
		if err != nil {
			return total, fmt.Errorf("purging expired records: %w", err)
		}
		if onBatch != nil {
			onBatch(total)
		}
		if n < int64(batch) || ctx.Err() != nil {
			return total, ctx.Err()
		}
	}
}

// purgeLocker is a store shared by several instances (MySQL) that elects
// one of them to purge: its TryPurgeLock takes the database's purge lock
// if no other session holds it (nil, nil when one does). SQLite has no
// such lock: one file is one box, and its write lock serialises purges.
type purgeLocker interface {
	TryPurgeLock(ctx context.Context) (*mysqlstore.PurgeLock, error)
}

// purgeLockerOf finds the purge lock of s, looking through the layers
// that wrap the database's store (memcached, deadlines).
func purgeLockerOf(s syncstore.Store) (purgeLocker, bool) {
	for {
		if l, ok := s.(purgeLocker); ok {
			return l, true
		}
		if w, ok := s.(syncstore.Wrapper); ok {
			s = w.Unwrap()
			continue
		}
		if inner := deadline.Unwrap(s); inner != s {
			s = inner
			continue
		}
		return nil, false
	}
}

// purger runs the background TTL purge of one handler.
type purger struct {
	cancel context.CancelFunc
	done   sync.WaitGroup
}

func startPurger(store syncstore.Store, every time.Duration, logger *zap.Logger) *purger {
	// Not the provisioning context: the loop must run until Cleanup, and
	// Cleanup waits for it so that the store is never closed under it.
	ctx, cancel := context.WithCancel(context.Background())
	p := &purger{cancel: cancel}
	p.done.Go(func() { purgeLoop(ctx, store, every, logger) })
	return p
}

// stop ends the loop and waits for a purge in progress to finish.
func (p *purger) stop() {
	p.cancel()
	p.done.Wait()
}

// purgeLoop purges every interval. On a store with a purge lock, only the
// loop holding the lock purges: it takes the lock at its first tick when
// free and keeps it (and purges every interval) until it stops or loses
// its connection, while the loops of the other instances on the database
// try again at each of their ticks. So the database is purged once per
// interval, not once per instance, and an instance that dies hands the
// purge on within one interval.
func purgeLoop(ctx context.Context, store syncstore.Store, every time.Duration, logger *zap.Logger) {
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	locker, shared := purgeLockerOf(store)
	var lock *mysqlstore.PurgeLock
	defer func() {
		if lock != nil {
			lock.Release(context.WithoutCancel(ctx))
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticker.C:
			if shared {
				var purge bool
				if lock, purge = leadPurge(ctx, locker, lock, logger); !purge {
					continue
				}
			}
			start := time.Now()
			n, err := purgeExpired(ctx, store, now, purgeBatch, nil)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				logger.Error("purge of expired records failed", zap.Int64("deleted", n), zap.Error(err))
			case n > 0:
				logger.Info("purged expired records", zap.Int64("deleted", n), zap.Duration("took", time.Since(start)))
			}
		}
	}
}

// leadPurge returns the purge lock this loop holds for the coming purge,
// nil when it holds none, and whether to purge: held is kept if its
// session still holds it, else the lock is taken if free. When the lock
// cannot be taken for another reason than another holder (a database that
// has no user locks, such as a Galera cluster, or a failing one), the loop
// purges without it: concurrent purges are safe, since each user's rows
// go under that user's row lock with the expiry checked again, only
// redundant.
func leadPurge(ctx context.Context, locker purgeLocker, held *mysqlstore.PurgeLock, logger *zap.Logger) (*mysqlstore.PurgeLock, bool) {
	if held != nil {
		ok, err := held.Held(ctx)
		if ok {
			return held, true
		}
		held.Release(ctx)
		logger.Warn("lost the purge lock; another instance may purge now", zap.Error(err))
	}
	lock, err := locker.TryPurgeLock(ctx)
	switch {
	case err != nil:
		logger.Warn("cannot take the purge lock; purging without it", zap.Error(err))
		return nil, true
	case lock != nil:
		logger.Info("this instance purges expired records for the database", zap.Int64("lock_connection_id", lock.ConnectionID()))
	}
	return lock, lock != nil
}

const purgeLong = `
Deletes the records whose TTL has expired (clients give tabs and some
other records a lifetime). Reads already hide expired records; purging
gives their space back and keeps quotas exact.

A running server purges by itself every purge_interval (default 1h).
Several servers sharing a MySQL database purge it once per interval
between them: the one holding the database's purge lock does. Run this
instead from cron when purge_interval is off everywhere. It takes no
lock: a purge running at the same time only costs it some wasted work.

With --config (the server's config) the command purges the server's own
database and every shard, one after the other.

Records go in transactions of --batch records, so writers wait at most
for one of them. On a terminal a spinner counts the records deleted so
far and their rate; otherwise a line every 10 seconds does.

Examples:
  $ syncserver purge
  $ syncserver purge --data /var/lib/syncserver
  $ SYNCSERVER_MYSQL_DSN='sync:secret@tcp(db:3306)/sync' syncserver purge --db mysql
  $ syncserver purge --config /etc/syncserver/Caddyfile
`

func setupPurgeCommand(cmd *cobra.Command) {
	storeopen.AddFlags(cmd.Flags())
	cmd.Flags().Int("batch", purgeBatch, "records deleted per transaction")
	cmd.Flags().String("config", "", "The server's config (Caddyfile or JSON): purge its database (unless --db, --data or --dsn say otherwise) and every shard")
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		batch, _ := cmd.Flags().GetInt("batch")
		if batch < 1 {
			return fmt.Errorf("--batch %d: must be at least 1", batch)
		}
		stores, err := openCommandStores(cmd)
		if err != nil {
			return err
		}
		defer stores.close()
		shards := []string{""}
		if stores.config != nil {
			for _, s := range stores.config.shards {
				shards = append(shards, s.Name)
			}
		}
		var failed []string
		for _, shard := range shards {
			err := purgeOne(cmd, stores, shard, batch, len(shards) > 1)
			if errors.Is(err, context.Canceled) {
				return err
			}
			if err != nil {
				// The other shards are still worth purging.
				fmt.Fprintf(cmd.ErrOrStderr(), "purge: %v\n", err)
				failed = append(failed, syncstore.ShardLabel(shard))
			}
		}
		if len(failed) > 0 {
			return fmt.Errorf("purging failed on shard %s", strings.Join(failed, ", "))
		}
		return nil
	}
}

// purgeOne purges one shard ("" = the server's own database); named says
// whether to name the shard in the output.
func purgeOne(cmd *cobra.Command, stores *commandStores, shard string, batch int, named bool) error {
	store, err := stores.store(shard)
	if err != nil {
		return err
	}
	errOut := cmd.ErrOrStderr()
	p := newPurgeProgress(errOut, isTerminal(errOut), purgeLogEvery)
	n, err := purgeExpired(commandContext(cmd), store, time.Now(), batch, p.batch)
	p.finish()
	where := ""
	if named {
		where = "shard " + syncstore.ShardLabel(shard) + ": "
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("%sinterrupted after deleting %d expired records: %w", where, n, err)
		}
		return fmt.Errorf("%s%w", where, err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%sdeleted %d expired records\n", where, n)
	return nil
}

// purgeLogEvery is how often the purge command prints a progress line
// when standard error is not a terminal.
const purgeLogEvery = 10 * time.Second

// isTerminal reports whether w is a terminal, where a bar can be redrawn
// in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// purgeProgress shows the purge command's progress batch by batch: a
// spinner with the count and rate on a terminal (the total is not known
// before the last batch), a line every logEvery otherwise.
type purgeProgress struct {
	out      io.Writer
	bar      *progressbar.ProgressBar // nil unless on a terminal
	logEvery time.Duration
	start    time.Time
	lastLog  time.Time
}

func newPurgeProgress(out io.Writer, tty bool, logEvery time.Duration) *purgeProgress {
	now := time.Now()
	p := &purgeProgress{out: out, logEvery: logEvery, start: now, lastLog: now}
	if tty {
		p.bar = progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(out),
			progressbar.OptionSetDescription("deleting expired records"),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("records"),
			// The summary line replaces it.
			progressbar.OptionClearOnFinish(),
		)
		_ = p.bar.RenderBlank()
	}
	return p
}

// batch records that deleted records have gone so far.
func (p *purgeProgress) batch(deleted int64) {
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("deleted %d expired records", deleted))
		_ = p.bar.Set64(deleted)
		return
	}
	now := time.Now()
	if now.Sub(p.lastLog) < p.logEvery {
		return
	}
	p.lastLog = now
	elapsed := now.Sub(p.start)
	fmt.Fprintf(p.out, "purge: deleted %d expired records so far in %s (%.0f records/s)\n",
		deleted, elapsed.Round(time.Second), float64(deleted)/max(elapsed.Seconds(), 0.001))
}

// finish removes the spinner.
func (p *purgeProgress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
