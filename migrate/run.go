package migrate

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// Report is the outcome of a run over many users.
type Report struct {
	Results []*UserResult
	Start   time.Time
	End     time.Time
}

// Failed counts the users that failed.
func (r *Report) Failed() int {
	n := 0
	for _, res := range r.Results {
		if res.Err != nil {
			n++
		}
	}
	return n
}

// Progress is a live view of a run, safe to read while it goes on.
type Progress struct {
	Total   int
	done    atomic.Int64
	failed  atomic.Int64
	records atomic.Int64
	bytes   atomic.Int64
	Start   time.Time
}

// Snapshot is one reading of Progress.
type Snapshot struct {
	Total, Done, Failed int
	Records, Bytes      int64
	Elapsed             time.Duration
}

// Snapshot reads the counters.
func (p *Progress) Snapshot() Snapshot {
	return Snapshot{Total: p.Total, Done: int(p.done.Load()), Failed: int(p.failed.Load()),
		Records: p.records.Load(), Bytes: p.bytes.Load(), Elapsed: time.Since(p.Start)}
}

// ETA estimates the time left from the users finished so far.
func (s Snapshot) ETA() (time.Duration, bool) {
	if s.Done == 0 || s.Done >= s.Total {
		return 0, s.Done >= s.Total
	}
	per := s.Elapsed / time.Duration(s.Done)
	return per * time.Duration(s.Total-s.Done), true
}

// NewProgress returns the progress of a run over total users. Pass its
// Observe method as Config.OnCopy.
func NewProgress(total int) *Progress {
	return &Progress{Total: total, Start: time.Now()}
}

// Observe counts copied records (Config.OnCopy).
func (p *Progress) Observe(records, bytes int64) {
	p.records.Add(records)
	p.bytes.Add(bytes)
}

// drainWorkers is how many users per copy slot may be in flight, most of
// them waiting out their drain.
const drainWorkers = 4

// Run migrates (or, with rollback, rolls back) users with concurrency
// copying at once, after putting back stale leases of earlier runs. It stops
// starting users when ctx ends; the report holds every user started.
func (m *Migrator) Run(ctx context.Context, users []string, concurrency int, rollback bool, p *Progress) (*Report, error) {
	return m.run(ctx, users, concurrency, p, func(ctx context.Context, name string) *UserResult {
		var res *UserResult
		if rollback {
			res, _ = m.RollbackUser(ctx, name)
		} else {
			res, _ = m.MigrateUser(ctx, name)
		}
		return res
	})
}

// RunMove moves users from shard from to the shard to(user) names
// (MoveUser), like Run.
func (m *Migrator) RunMove(ctx context.Context, users []string, from string, to func(user string) string, concurrency int, p *Progress) (*Report, error) {
	return m.run(ctx, users, concurrency, p, func(ctx context.Context, name string) *UserResult {
		res, _ := m.MoveUser(ctx, name, from, to(syncstore.NormalizeUsername(name)))
		return res
	})
}

func (m *Migrator) run(ctx context.Context, users []string, concurrency int, p *Progress, one func(context.Context, string) *UserResult) (*Report, error) {
	rep := &Report{Start: time.Now()}
	if _, err := m.RecoverStale(ctx); err != nil {
		return rep, err
	}
	if concurrency < 1 {
		concurrency = 1
	}
	jobs := make(chan string)
	var mu sync.Mutex
	var wg sync.WaitGroup
	// concurrency bounds the users being copied (slots.go); more workers
	// let other users copy while some wait out their drain.
	slots := make(chan struct{}, concurrency)
	for range min(concurrency*drainWorkers, max(len(users), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range jobs {
				uctx, slot, err := acquireSlot(ctx, slots)
				if err != nil {
					continue // ctx ended: the user was not started
				}
				res := one(uctx, name)
				slot.release()
				if p != nil {
					p.done.Add(1)
					if res.Err != nil {
						p.failed.Add(1)
					}
				}
				mu.Lock()
				rep.Results = append(rep.Results, res)
				mu.Unlock()
			}
		}()
	}
feed:
	for _, u := range users {
		select {
		case jobs <- u:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	rep.End = time.Now()
	sort.Slice(rep.Results, func(i, j int) bool { return rep.Results[i].User < rep.Results[j].User })
	return rep, ctx.Err()
}
