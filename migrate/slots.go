package migrate

import (
	"context"
	"time"
)

// A run bounds how many users are copied at once (--concurrency), not how
// many sit out their drain: the drain is a plain wait while the user
// answers 503, and holding a copy slot through it would halve a run's
// throughput at the default drain. A worker gives its slot back when its
// user's drain starts; the short delta copy, verification and flip after
// it run without one, so a user's 503 window never waits for a slot.
type copySlot struct {
	sem  chan struct{}
	held bool
}

type copySlotKey struct{}

// acquireSlot takes a copy slot of sem for one user's migration or
// rollback and returns the context that carries it.
func acquireSlot(ctx context.Context, sem chan struct{}) (context.Context, *copySlot, error) {
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return ctx, nil, ctx.Err()
	}
	s := &copySlot{sem: sem, held: true}
	return context.WithValue(ctx, copySlotKey{}, s), s, nil
}

// release gives the slot back; later calls do nothing.
func (s *copySlot) release() {
	if s != nil && s.held {
		s.held = false
		<-s.sem
	}
}

// drain waits d with the context's copy slot (if any) given back.
func drain(ctx context.Context, d time.Duration) error {
	if s, ok := ctx.Value(copySlotKey{}).(*copySlot); ok {
		s.release()
	}
	return sleep(ctx, d)
}
