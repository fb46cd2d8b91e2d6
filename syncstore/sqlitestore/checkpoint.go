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
//
// What is left of the pause is kept short. Under the bench mix at 16
// clients (3,800 requests/s, so a restart every two seconds) a RESTART
// held the gate 20-28 ms: it queued as a long write behind the waiting
// uploads, then copied back and synced what was written meanwhile and
// during the PASSIVE checkpoint before it (1,500-2,600 frames). Now more
// PASSIVE checkpoints copy what arrived during the first one
// (catchUpFrames) while writes still run, HoldWrites queues as a short
// write, and the RESTART looks for the readers of the old frames every
// restartPoll rather than sleeping in SQLite's busy handler (steps of 1,
// 2, 5, 10 ms…): it copies 100-400 frames and holds the gate 3-15 ms,
// mostly syncing the file.
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
	// the old frames (PASSIVE checkpoints never wait): writes queue
	// behind it meanwhile. If readers are still there, it tries again on
	// the next tick.
	restartWait = 250 * time.Millisecond
	// restartPoll is how often a waiting RESTART looks again.
	restartPoll = 200 * time.Microsecond
	// catchUpFrames is how many frames may have been added during the
	// last PASSIVE checkpoint when the gate is taken; catchUpPasses
	// bounds the PASSIVE checkpoints run to get there, as writes keep
	// adding frames meanwhile.
	catchUpFrames = 1024
	catchUpPasses = 3
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
	// restartWait is restartWait, longer in tests that must not depend
	// on how soon a goroutine runs.
	restartWait atomic.Int64
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
	// Opened with a busy timeout (setting up the connection may meet a
	// lock), then without: restart polls instead. A connection the pool
	// had to open again would wait in the busy handler: slower, not wrong.
	if _, err := db.ExecContext(ctx, "PRAGMA busy_timeout = 0"); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening the checkpoint connection: %w", err)
	}
	c := &checkpointer{db: db, holdWrites: holdWrites, stop: make(chan struct{}), done: make(chan struct{})}
	c.restartAt.Store(restartFrames)
	c.restartWait.Store(int64(restartWait))
	go c.run()
	return c, nil
}

func (c *checkpointer) run() {
	defer close(c.done)
	// A RESTART waiting for the write gate or for readers gives up when
	// the store closes.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
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
			_, _ = c.checkpoint(ctx)
		}
	}
}

// halt stops the ticks (tests that run checkpoints themselves); close
// still closes the connection.
func (c *checkpointer) halt() {
	c.stopOnce.Do(func() { close(c.stop) })
	<-c.done
}

// checkpoint runs one PASSIVE checkpoint and, if it leaves a long WAL, a
// RESTART one; restarted says whether the RESTART found the readers gone,
// so that the next write starts the WAL over.
func (c *checkpointer) checkpoint(ctx context.Context) (restarted bool, err error) {
	r, err := c.run1("PASSIVE")
	if err != nil || r.frames < c.restartAt.Load() {
		return false, err
	}
	// A PASSIVE checkpoint copies the frames there were when it began;
	// writes went on meanwhile. Copy those too while writes still run.
	for i := 0; i < catchUpPasses; i++ {
		next, err := c.run1("PASSIVE")
		if err != nil {
			return false, err
		}
		added := next.frames - r.frames
		r = next
		if added <= catchUpFrames {
			break
		}
	}
	err = c.holdWrites(ctx, func() error {
		var err error
		restarted, err = c.restart(ctx)
		return err
	})
	return restarted, err
}

// restart runs RESTART checkpoints until one finds no reader left in the
// old frames, for up to restartWait; if readers are still there, the
// next tick tries again.
func (c *checkpointer) restart(ctx context.Context) (bool, error) {
	deadline := time.Now().Add(time.Duration(c.restartWait.Load()))
	t := time.NewTimer(restartPoll)
	defer t.Stop()
	for {
		r, err := c.run1("RESTART")
		if err != nil || !r.busy || time.Now().After(deadline) {
			return err == nil && !r.busy, err
		}
		t.Reset(restartPoll)
		select {
		case <-ctx.Done():
			return false, nil
		case <-t.C:
		}
	}
}

// walState is what a checkpoint reports: whether it could not finish
// (readers, or another checkpoint, were in the way), the WAL's length in
// frames and how many of them are copied back.
type walState struct {
	busy           bool
	frames, copied int64
}

// run1 runs a checkpoint of the given mode.
func (c *checkpointer) run1(mode string) (walState, error) {
	var busy int
	var r walState
	if err := c.db.QueryRow("PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &r.frames, &r.copied); err != nil {
		return walState{}, fmt.Errorf("%s checkpoint: %w", mode, err)
	}
	r.busy = busy != 0
	return r, nil
}

// close stops the checkpointer; the last connection to close runs the
// final checkpoint itself. Closing twice is harmless, as for the pools.
func (c *checkpointer) close() error {
	c.halt()
	return c.db.Close()
}
