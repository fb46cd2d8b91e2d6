package memcache

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	gomemcache "github.com/bradfitz/gomemcache/memcache"
	"go.uber.org/zap"
)

// health remembers the last memcached failure so that reads stop paying a
// timeout per request while memcached is down, and start using it again
// on their own once the cooldown has passed.
type health struct {
	cooldown time.Duration
	logger   *zap.Logger
	// downUntil is the Unix time in ns before which reads skip memcached.
	downUntil atomic.Int64
	// down is set by a failure and cleared by the next success, so an
	// outage logs once when it starts and once when it ends.
	down atomic.Bool
}

// usable reports whether memcached may be tried now.
func (h *health) usable() bool {
	return time.Now().UnixNano() >= h.downUntil.Load()
}

// wait is how long until memcached may be tried again (0: now).
func (h *health) wait() time.Duration {
	return max(0, time.Duration(h.downUntil.Load()-time.Now().UnixNano()))
}

// failed starts a cooldown after err.
func (h *health) failed(op string, err error) {
	h.downUntil.Store(time.Now().Add(h.cooldown).UnixNano())
	if h.down.CompareAndSwap(false, true) {
		h.logger.Warn("memcached failed; answering from the database until it is back",
			zap.String("op", op), zap.Error(err), zap.Duration("retry_every", h.cooldown))
	}
}

// succeeded notes a memcached call that worked.
func (h *health) succeeded() {
	if h.down.Load() && h.down.CompareAndSwap(true, false) {
		h.logger.Info("memcached is back; using the cache again")
	}
}

// isFailure tells memcached failures from its ordinary answers.
func isFailure(err error) bool {
	return err != nil &&
		!errors.Is(err, gomemcache.ErrCacheMiss) &&
		!errors.Is(err, gomemcache.ErrNotStored) &&
		!errors.Is(err, gomemcache.ErrCASConflict)
}

// Ping checks that every configured memcached answers, so a tool that
// needs memcached (the migrate tool, whose flips wait for invalidations)
// can refuse to start rather than fail user after user.
func (s *Store) Ping() error {
	if err := s.client.Ping(); err != nil {
		return fmt.Errorf("memcached does not answer: %w", err)
	}
	return nil
}
