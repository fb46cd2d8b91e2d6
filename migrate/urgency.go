package migrate

import (
	"context"
	"sync"
)

// urgency lets the work a user waits for run ahead of the work nobody
// waits for. Between the drain and the flip a user gets 503s, while a bulk
// copy is throughput only; on a box whose CPU (the database's and ours)
// the bulk copies of the other users saturate, the delta copy and the
// verification would otherwise queue behind them and stretch the window,
// and on SQLite the window's route swap queues at the single writer behind
// every batch already waiting there. So while any user of this migrator is
// in that part of the window, bulk batches are written one at a time
// instead of one per copying user. They are not stopped: with the default
// drain some user is in a window most of the time, and stopping every bulk
// copy then cost a third of the throughput.
type urgency struct {
	mu     sync.Mutex
	active int
	// lane is the one bulk batch allowed while urgent work runs.
	lane chan struct{}
}

// begin marks urgent work until the returned func is called (once).
func (u *urgency) begin() (end func()) {
	u.mu.Lock()
	u.active++
	u.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			u.mu.Lock()
			u.active--
			u.mu.Unlock()
		})
	}
}

// yield is called before a bulk batch is written: with urgent work in
// progress it waits for the single lane, which release gives back after
// the batch.
func (u *urgency) yield(ctx context.Context) (release func(), err error) {
	u.mu.Lock()
	active := u.active
	if u.lane == nil {
		u.lane = make(chan struct{}, 1)
	}
	lane := u.lane
	u.mu.Unlock()
	if active == 0 {
		return func() {}, nil
	}
	select {
	case lane <- struct{}{}:
		return func() { <-lane }, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}
