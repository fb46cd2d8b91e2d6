package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
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
const (
	checkpointEvery = time.Second
	// backstopCheckpointPages is the writer's own autocheckpoint
	// threshold, reached only if the checkpointer falls behind (about
	// 40 MiB of WAL at 4 KiB pages).
	backstopCheckpointPages = 10_000
	// walSizeLimit is what a WAL is truncated to once checkpointed.
	walSizeLimit = 64 << 20
)

// checkpointer runs PASSIVE checkpoints: they copy what no reader still
// needs and never wait for, or block, the writer or the readers.
type checkpointer struct {
	db       *sql.DB
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

func startCheckpointer(ctx context.Context, path string, busy time.Duration) (*checkpointer, error) {
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
	c := &checkpointer{db: db, stop: make(chan struct{}), done: make(chan struct{})}
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
			_, _ = c.db.Exec("PRAGMA wal_checkpoint(PASSIVE)")
		}
	}
}

// close stops the checkpointer; the last connection to close runs the
// final checkpoint itself. Closing twice is harmless, as for the pools.
func (c *checkpointer) close() error {
	c.stopOnce.Do(func() { close(c.stop) })
	<-c.done
	return c.db.Close()
}
