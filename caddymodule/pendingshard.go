package caddymodule

import (
	"context"
	"errors"
	"sync"
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
// keep an instance from starting.
type pendingShard struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	stack  *nativeStack // set once open; closed by stop
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
			st, err := h.openStack(ctx, sh.Name, *sh.Database)
			if err != nil {
				logger.Debug("the shard's database still cannot be opened", zap.Error(err))
				continue
			}
			st.api.ShareLimits(h.stacks[0].api)
			p.mu.Lock()
			if pctx.Err() != nil {
				p.mu.Unlock()
				if err := st.close(); err != nil {
					logger.Error("closing a shard opened during cleanup", zap.Error(err))
				}
				return
			}
			p.stack = st
			p.mu.Unlock()
			h.shim.ShardReady(sh.Name, st.api, st.store)
			logger.Info("the shard's database is open; its users are served")
			return
		}
	}()
	return p
}

// stop ends the retries and closes the shard if it opened.
func (p *pendingShard) stop() error {
	p.cancel()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
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
