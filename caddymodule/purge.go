package caddymodule

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/syncserver/syncserver/syncstore"
)

// purgeBatch bounds one PurgeExpired call so that a large backlog is
// deleted in short transactions instead of one that blocks writers.
const purgeBatch = 1000

// purgeExpired deletes every record whose TTL expired before now, in
// batches, and returns how many went.
func purgeExpired(ctx context.Context, store syncstore.Store, now time.Time) (int64, error) {
	var total int64
	for {
		n, err := store.PurgeExpired(ctx, now, purgeBatch)
		total += n
		if err != nil {
			return total, fmt.Errorf("purging expired records: %w", err)
		}
		if n < purgeBatch || ctx.Err() != nil {
			return total, ctx.Err()
		}
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

func purgeLoop(ctx context.Context, store syncstore.Store, every time.Duration, logger *zap.Logger) {
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticker.C:
			start := time.Now()
			n, err := purgeExpired(ctx, store, now)
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
