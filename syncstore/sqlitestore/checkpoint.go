package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// WAL checkpoints copy committed pages from the WAL back into the database
// file and fsync both. SQLite runs them by default inside the commit that
// pushes the WAL past 1,000 pages, so one write request in a few hundred
// pays for copying and syncing megabytes: a latency spike on the request
// path. The checkpointer runs them on a connection of its own instead.
//
// It also bounds what a power loss can cost: with synchronous=NORMAL the
// WAL is synced only by checkpoints, so commits are durable once the next
// checkpoint ran, at most checkpointEvery later (plus the time the
// checkpoint takes) instead of whenever the WAL happens to reach its
// threshold, which on a quiet server may be never.
//
// A PASSIVE checkpoint copies the frames back but cannot make the WAL
// start over: only a writer restarts it, at the start of a transaction,
// once every frame is copied back and no reader still reads from it.
// Under steady load some reader always does (each new reader starts from
// the newest frame, and the writer keeps adding frames), so the WAL grows
// past the writer's backstop and from then on every commit runs a
// checkpoint of its own: measured with the bench mix at 16 clients, a
// tenth of the writer's time. So once the WAL holds restartFrames, the
// checkpointer runs a RESTART checkpoint, which waits for the readers of
// the old frames to finish (milliseconds) and lets the next write start
// the WAL over. It holds the write gate meanwhile (sqlstore HoldWrites),
// so writes queue in order behind it instead of polling SQLite's busy
// lock.
//
// That pause is what a RESTART costs the writes: under the bench mix at
// 16 clients it took 40-210 ms (copying the frames written since the
// PASSIVE one, syncing the file, waiting for the readers), and with a
// restart every 4,096 frames it came every second or two, so about one
// write in twenty queued behind one: the p95 and p99 of writes. Every
// PASSIVE checkpoint already copies the WAL back, so how long the WAL
// grows between restarts costs disk, not time; restartFrames is set so
// that at that load a restart comes every ten seconds or so.
const (
	checkpointEvery = time.Second
	// restartFrames is the WAL length (frames of 4 KiB pages, about
	// 128 MiB) past which the checkpointer restarts the WAL.
	restartFrames = 32 << 10
	// backstopCheckpointPages is the writer's own autocheckpoint
	// threshold, reached only if the checkpointer falls behind (about
	// 256 MiB of WAL at 4 KiB pages).
	backstopCheckpointPages = 2 * restartFrames
	// walSizeLimit is what a WAL is truncated to once checkpointed: a
	// little more than restartFrames, so that under steady load the file
	// is reused rather than cut and grown again after every restart.
	walSizeLimit = 160 << 20
	// restartWait bounds how long a RESTART waits for the readers of
	// the old frames (the checkpoint connection's busy timeout; PASSIVE
	// ones never wait): writes queue behind it meanwhile. If readers
	// are still there, it tries again on the next tick.
	restartWait = 250 * time.Millisecond
)

// checkpointer runs the checkpoints: PASSIVE ones, which copy what no
// reader still needs and never wait for, or block, the writer or the
// readers; and, when the WAL got long, a RESTART under holdWrites.
type checkpointer struct {
	db         *sql.DB
	holdWrites func(context.Context, func() error) error
	stop       chan struct{}
	done       chan struct{}
	stopOnce   sync.Once
	// restartAt is the WAL length in frames that calls for a RESTART:
	// restartFrames, lower in tests that would otherwise write hundreds
	// of megabytes to get there.
	restartAt atomic.Int64
}

func startCheckpointer(ctx context.Context, path string, busy time.Duration, holdWrites func(context.Context, func() error) error) (*checkpointer, error) {
	db, err := sql.Open("sqlite", dsn(path, busy, roleCheckpointer))
	if err != nil {
		return nil, fmt.Errorf("opening the checkpoint connection: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening the checkpoint connection: %w", err)
	}
	c := &checkpointer{db: db, holdWrites: holdWrites, stop: make(chan struct{}), done: make(chan struct{})}
	c.restartAt.Store(restartFrames)
	go c.run()
	return c, nil
}

func (c *checkpointer) run() {
	defer close(c.done)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			// A failure (the file is busy, the disk full) is retried on
			// the next tick; the writer's backstop threshold bounds the
			// WAL meanwhile.
			_ = c.checkpoint()
		}
	}
}

// checkpoint runs one PASSIVE checkpoint and, if it leaves a long WAL, a
// RESTART one.
func (c *checkpointer) checkpoint() error {
	frames, err := c.run1("PASSIVE")
	if err != nil || frames < c.restartAt.Load() {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return c.holdWrites(ctx, func() error {
		_, err := c.run1("RESTART")
		return err
	})
}

// run1 runs a checkpoint of the given mode and returns the WAL's length
// in frames.
func (c *checkpointer) run1(mode string) (frames int64, err error) {
	var busy, copied int64
	if err := c.db.QueryRow("PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &copied); err != nil {
		return 0, fmt.Errorf("%s checkpoint: %w", mode, err)
	}
	return frames, nil
}

// close stops the checkpointer; the last connection to close runs the
// final checkpoint itself. Closing twice is harmless, as for the pools.
func (c *checkpointer) close() error {
	c.stopOnce.Do(func() { close(c.stop) })
	<-c.done
	return c.db.Close()
}
