package migrate

import (
	"context"
	"sync"
)

// urgency lets the work a user waits for run ahead of the work nobody
// waits for. Between the drain and the flip a user gets 503s, while a bulk
// copy is throughput only; on a box whose CPU (the database's and ours)
// the bulk copies of the other users saturate, the delta copy and the
// verification would otherwise queue behind them and stretch the window.
// So a bulk copy yields at each batch while any user of this migrator is
// in that part of the window. Windows are short and only start after a
// bulk copy has finished, so the bulk copies cannot starve.
type urgency struct {
	mu     sync.Mutex
	active int
	idle   chan struct{} // closed when active drops to 0
}

// begin marks urgent work until the returned func is called (once).
func (u *urgency) begin() (end func()) {
	u.mu.Lock()
	if u.active == 0 {
		u.idle = make(chan struct{})
	}
	u.active++
	u.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			u.mu.Lock()
			if u.active--; u.active == 0 {
				close(u.idle)
			}
			u.mu.Unlock()
		})
	}
}

// yield waits while urgent work is in progress.
func (u *urgency) yield(ctx context.Context) error {
	u.mu.Lock()
	active, idle := u.active, u.idle
	u.mu.Unlock()
	if active == 0 {
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
