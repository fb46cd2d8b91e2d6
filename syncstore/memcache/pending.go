package memcache

import (
	"sync"
	"sync/atomic"
)

// maxPendingUsers bounds the memory held for undelivered invalidations;
// past it, a single epoch bump stands in for the per-user ones.
const maxPendingUsers = 100_000

// pendingOp is an undelivered invalidation of one user: the flags to set
// first, then a generation bump. seq tells a delivered op from one that
// was re-added while the delivery was under way.
type pendingOp struct {
	flags flags
	seq   uint64
}

// pendingSet holds the invalidations memcached did not take. While a
// user's invalidation is pending, this instance must not trust the cache
// for that user (nor for anybody while an epoch bump is pending).
type pendingSet struct {
	// n is the number of pending entries (users plus the epoch), read
	// without the lock on every cached read.
	n atomic.Int64

	mu       sync.Mutex
	seq      uint64
	users    map[int64]pendingOp
	epoch    bool
	epochSeq uint64
}

func (p *pendingSet) len() int { return int(p.n.Load()) }

// blocks reports whether reads of userID must skip the cache.
func (p *pendingSet) blocks(userID int64) bool {
	if p.n.Load() == 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.users[userID]
	return ok || p.epoch
}

// has reports whether userID has an invalidation pending, so a new one
// must queue behind it to keep flags-before-bump order.
func (p *pendingSet) has(userID int64) bool {
	if p.n.Load() == 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.users[userID]
	return ok
}

// get returns userID's queued invalidation.
func (p *pendingSet) get(userID int64) (pendingOp, bool) {
	if p.n.Load() == 0 {
		return pendingOp{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	op, ok := p.users[userID]
	return op, ok
}

// epochPending reports whether an epoch bump is queued, and its seq.
func (p *pendingSet) epochPending() (bool, uint64) {
	if p.n.Load() == 0 {
		return false, 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.epoch, p.epochSeq
}

// add queues an invalidation of userID, merging with one already queued.
// When too many users are queued it queues an epoch bump instead, which
// invalidates every user (the flags of that user are then lost; see the
// package doc for what that risks).
func (p *pendingSet) add(userID int64, f flags) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	if op, ok := p.users[userID]; ok {
		p.users[userID] = pendingOp{flags: op.flags | f, seq: p.seq}
		return
	}
	if len(p.users) >= maxPendingUsers {
		p.addEpochLocked()
		return
	}
	if p.users == nil {
		p.users = make(map[int64]pendingOp)
	}
	p.users[userID] = pendingOp{flags: f, seq: p.seq}
	p.n.Add(1)
}

// addEpoch queues a bump of the global epoch.
func (p *pendingSet) addEpoch() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	p.addEpochLocked()
}

func (p *pendingSet) addEpochLocked() {
	p.epochSeq = p.seq
	if !p.epoch {
		p.epoch = true
		p.n.Add(1)
	}
}

// snapshot copies what is queued, for delivery without holding the lock.
func (p *pendingSet) snapshot() (users map[int64]pendingOp, epoch bool, epochSeq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	users = make(map[int64]pendingOp, len(p.users))
	for id, op := range p.users {
		users[id] = op
	}
	return users, p.epoch, p.epochSeq
}

// delivered removes userID's op unless it was re-queued after seq.
func (p *pendingSet) delivered(userID int64, seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if op, ok := p.users[userID]; ok && op.seq == seq {
		delete(p.users, userID)
		p.n.Add(-1)
	}
}

// deliveredEpoch removes the epoch bump unless it was re-queued after seq.
func (p *pendingSet) deliveredEpoch(seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.epoch && p.epochSeq == seq {
		p.epoch = false
		p.n.Add(-1)
	}
}
