package sqlstore

import (
	"context"
	"slices"
	"sync"
)

// Where the engine runs one write transaction at a time (SQLite: one
// writer connection), the order in which waiting writes get it decides
// their latency. database/sql hands a freed connection to a random
// waiter, so under load a write can be passed over again and again while
// later ones go first: a long tail for everyone. And a delete of ten ids
// (under a millisecond of work) waits as long as a 100-record upload that
// arrived with it. writeGate queues them instead: short writes first, in
// arrival order, then long ones in arrival order, a long one being
// overtaken by at most maxOvertakes short ones in a row so it is never
// starved.

// shortTxRows is the most rows a short write transaction touches (a
// delete by ids weighs less per id: deleteSize).
const shortTxRows = 16

// maxOvertakes bounds how many short writes in a row may go before the
// long write at the head of the queue.
const maxOvertakes = 4

// txSize says how many rows a write transaction is about to touch, so the
// write gate can let short ones go first; txLong for anything that may
// touch many (a whole collection, an account).
type txSize int

const txLong txSize = 1 << 30

// txBrief is the size of work under the gate that touches no row of its
// own (HoldWrites).
const txBrief txSize = 0

func (n txSize) short() bool { return n <= shortTxRows }

// writeGate admits one write transaction at a time. The zero value is
// ready to use.
type writeGate struct {
	mu        sync.Mutex
	busy      bool
	short     []*gateWaiter
	long      []*gateWaiter
	overtaken int // short writes admitted since the head of long arrived or was admitted
}

type gateWaiter struct {
	ready chan struct{}
}

// enter waits for the gate, or for ctx to end (its error is returned and
// the gate is not held).
func (g *writeGate) enter(ctx context.Context, size txSize) error {
	g.mu.Lock()
	if !g.busy {
		g.busy = true
		g.mu.Unlock()
		return nil
	}
	w := &gateWaiter{ready: make(chan struct{})}
	if size.short() {
		g.short = append(g.short, w)
	} else {
		g.long = append(g.long, w)
	}
	g.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	g.mu.Lock()
	select {
	case <-w.ready:
		// Admitted as ctx ended: pass the gate on.
		g.mu.Unlock()
		g.leave()
	default:
		g.short = remove(g.short, w)
		g.long = remove(g.long, w)
		g.mu.Unlock()
	}
	return ctx.Err()
}

// leave releases the gate to the next waiter.
func (g *writeGate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	var next *gateWaiter
	switch {
	case len(g.short) > 0 && (len(g.long) == 0 || g.overtaken < maxOvertakes):
		next, g.short = g.short[0], g.short[1:]
		if len(g.long) > 0 {
			g.overtaken++
		}
	case len(g.long) > 0:
		next, g.long = g.long[0], g.long[1:]
		g.overtaken = 0
	default:
		g.busy = false
		return
	}
	close(next.ready)
}

func remove(q []*gateWaiter, w *gateWaiter) []*gateWaiter {
	if i := slices.Index(q, w); i >= 0 {
		return slices.Delete(q, i, i+1)
	}
	return q
}
