package memcache

import (
	"context"
	"fmt"
	"time"
)

// invalidate makes the cached answers of userID stale. It runs after a
// write committed (or failed in a way that may have committed): bumping
// before the commit would let a reader cache the old rows under the new
// generation.
func (s *Store) invalidate(userID int64) {
	// A user with a queued invalidation queues behind it, so flags are
	// still set before the generation moves.
	if !s.pending.has(userID) && s.health.usable() {
		err := s.bump(s.keys.gen(userID))
		if err == nil {
			return
		}
		s.failed("incr", err)
	}
	s.queue(userID, 0)
}

// markTTL flags userID before a write that stores records with a TTL.
func (s *Store) markTTL(userID int64, f flags) {
	if !s.pending.has(userID) && s.health.usable() {
		err := s.setFlags(userID, f)
		if err == nil {
			return
		}
		s.failed("set", err)
	}
	s.queue(userID, f)
}

// invalidateAll bumps the epoch after PurgeExpired, which removes rows of
// users it does not name.
func (s *Store) invalidateAll() {
	if s.health.usable() {
		err := s.bump(s.keys.epoch)
		if err == nil {
			return
		}
		s.failed("incr", err)
	}
	s.pending.addEpoch()
	s.wakeFlusher()
}

func (s *Store) queue(userID int64, f flags) {
	s.pending.add(userID, f)
	s.wakeFlusher()
}

func (s *Store) wakeFlusher() {
	select {
	case s.wake <- struct{}{}:
	default: // already awake
	}
}

// failed records a memcached failure: counted, logged once per outage, and
// reads skip memcached for the cooldown.
func (s *Store) failed(op string, err error) {
	s.count.errors.Add(1)
	s.health.failed(op, err)
}

// flushLoop delivers queued invalidations once memcached answers again.
func (s *Store) flushLoop() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			return
		case <-s.wake:
		}
		for s.pending.len() > 0 {
			if !s.sleep(s.health.wait()) {
				return
			}
			s.flushPending()
		}
	}
}

// sleep waits d unless the store closes first (then it returns false).
func (s *Store) sleep(d time.Duration) bool {
	if d <= 0 {
		select {
		case <-s.stop:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.stop:
		return false
	case <-t.C:
		return true
	}
}

// flushPending tries every queued invalidation once, stopping at the first
// failure (which starts a cooldown).
func (s *Store) flushPending() {
	if !s.health.usable() {
		return
	}
	users, epoch, epochSeq := s.pending.snapshot()
	for userID, op := range users {
		if op.flags != 0 {
			if err := s.setFlags(userID, op.flags); err != nil {
				s.failed("set", err)
				return
			}
		}
		if err := s.bump(s.keys.gen(userID)); err != nil {
			s.failed("incr", err)
			return
		}
		s.health.succeeded()
		s.pending.delivered(userID, op.seq)
	}
	if epoch {
		if err := s.bump(s.keys.epoch); err != nil {
			s.failed("incr", err)
			return
		}
		s.pending.deliveredEpoch(epochSeq)
	}
}

// InvalidateUser makes every cached answer of userID stale at once, on
// every instance sharing this memcached, and reports whether memcached
// took it. It is for writers that change the database without going
// through a Store of this package (the migrate tool writes the native
// tables directly): they call it after their last write and before the
// change becomes visible to clients, and must not make it visible when it
// fails. Unlike the invalidations after this layer's own writes, which
// are retried in the background, a failure is returned; the
// invalidation is still queued for the background retries.
func (s *Store) InvalidateUser(ctx context.Context, userID int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.invalidate(userID)
	if !s.pending.blocks(userID) {
		return nil
	}
	// memcached failed just now, or an earlier invalidation of this user
	// is still queued: deliver it in order, once, ignoring the cooldown
	// (the caller waits for this answer).
	err := s.deliver(userID)
	if err != nil {
		return fmt.Errorf("invalidating the cached answers of user %d in memcached: %w", userID, err)
	}
	return nil
}

// deliver sends what is queued for userID now: its flags and generation
// bump, and the epoch bump that stands in for it when too many users were
// queued.
func (s *Store) deliver(userID int64) error {
	if op, ok := s.pending.get(userID); ok {
		if op.flags != 0 {
			if err := s.setFlags(userID, op.flags); err != nil {
				s.failed("set", err)
				return err
			}
		}
		if err := s.bump(s.keys.gen(userID)); err != nil {
			s.failed("incr", err)
			return err
		}
		s.health.succeeded()
		s.pending.delivered(userID, op.seq)
	}
	if epoch, seq := s.pending.epochPending(); epoch {
		if err := s.bump(s.keys.epoch); err != nil {
			s.failed("incr", err)
			return err
		}
		s.health.succeeded()
		s.pending.deliveredEpoch(seq)
	}
	return nil
}

// MarkExpiring flags userID as a user with records that expire (records:
// also among the cached ones, meta/global and crypto/keys), on every
// instance sharing this memcached, and reports whether memcached took it.
// It is for writers that copy records with an expiry past this layer (a
// shard move keeps each record's expiry): a flagged user's answers that
// depend on expiry are never served from the cache, as after a
// PutRecords with a TTL. Call it after the last write and before
// InvalidateUser; a failure must keep the change from clients, as
// InvalidateUser's does.
func (s *Store) MarkExpiring(ctx context.Context, userID int64, records bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f := flagTTL
	if records {
		f |= flagRecordTTL
	}
	s.markTTL(userID, f)
	if !s.pending.blocks(userID) {
		return nil
	}
	if err := s.deliver(userID); err != nil {
		return fmt.Errorf("flagging the expiring records of user %d in memcached: %w", userID, err)
	}
	return nil
}
