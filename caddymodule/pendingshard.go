package caddymodule

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// defaultShardRetry is how often a shard whose database could not be
// opened when the config loaded is tried again.
const defaultShardRetry = 5 * time.Second

// storeOpenError is openStack's failure to open the database itself (as
// opposed to a mistake in the configuration): for a shard, worth trying
// again later.
type storeOpenError struct{ err error }

func (e *storeOpenError) Error() string { return e.err.Error() }
func (e *storeOpenError) Unwrap() error { return e.err }

// pendingShard opens, in the background, a shard whose database was
// unreachable when the config loaded. Meanwhile the handler serves every
// other user and answers the shard's users 503 with Retry-After, as it
// does for a shard that goes down later: a shard being down must not
// keep an instance from starting, nor, when its server hangs, a reload
// from finishing: stop does not wait for an attempt in flight, which
// closes what it opens once it sees the handler cleaned up.
type pendingShard struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	stack  *nativeStack // set once open; closed by stop
	// started and ended count the attempts to open the database.
	started, ended atomic.Int64
}

// openShardLater retries opening shard i until it opens or the handler
// is cleaned up, then hands its handler to the route dispatch.
func (h *Handler) openShardLater(ctx caddy.Context, i int, firstErr error) *pendingShard {
	sh := &h.Shards[i]
	logger := h.logger.With(zap.String("shard", sh.Name))
	logger.Error("the shard's database cannot be opened; its users get 503 until it can (retrying in the background)", zap.Error(firstErr))
	every := h.shardRetry
	if every <= 0 {
		every = defaultShardRetry
	}
	pctx, cancel := context.WithCancel(ctx)
	p := &pendingShard{cancel: cancel, done: make(chan struct{})}
	// What the attempts need of the handler, taken now: Cleanup clears
	// both while an attempt may still be running.
	limits, dispatch := h.stacks[0].api, h.shim
	go func() {
		defer close(p.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case <-t.C:
			}
			p.started.Add(1)
			st, err := h.openStack(ctx, sh.Name, *sh.Database)
			p.ended.Add(1)
			if err != nil {
				logger.Debug("the shard's database still cannot be opened", zap.Int64("attempts", p.ended.Load()), zap.Error(err))
				continue
			}
			st.api.ShareLimits(limits)
			p.mu.Lock()
			if pctx.Err() != nil {
				p.mu.Unlock()
				if err := st.close(); err != nil {
					logger.Error("closing a shard opened during cleanup", zap.Error(err))
				}
				return
			}
			p.stack = st
			dispatch.ShardReady(sh.Name, st.api, st.store)
			p.mu.Unlock()
			logger.Info("the shard's database is open; its users are served")
			return
		}
	}()
	return p
}

// stop ends the retries and closes the shard if it opened. It does not
// wait for an attempt in flight: on a frozen server that lasts until the
// driver's timeout (db_timeout, or 30 s without one). Cancelling under mu
// decides who closes a stack opened meanwhile: stop, if the attempt
// stored it before, else the attempt itself.
func (p *pendingShard) stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cancel()
	if p.stack == nil {
		return nil
	}
	err := p.stack.close()
	p.stack = nil
	return err
}

// isStoreOpenError reports whether err is a database that could not be
// opened.
func isStoreOpenError(err error) bool {
	var e *storeOpenError
	return errors.As(err, &e)
}
