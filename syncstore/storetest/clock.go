package storetest

import (
	"sync"
	"time"
)

// startTime is where every subtest's clock starts: a whole second, so TTL
// arithmetic in seconds lines up with the expectations.
var startTime = time.Unix(1_300_000_000, 0)

// fakeClock is the time source handed to the store under test, so the
// suite can expire records and step the clock backwards.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock(t time.Time) *fakeClock {
	return &fakeClock{now: t}
}

// Now is the func() time.Time given to the Opener.
func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
