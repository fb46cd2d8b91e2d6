package memcache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// jitterStore delays every call to the real store a little, before and
// after, so the windows between reading the counters, reading the
// database, committing and bumping the generation overlap between
// goroutines far more often than they would by chance.
type jitterStore struct {
	syncstore.Store
}

func jitter() { time.Sleep(time.Duration(rand.IntN(1500)) * time.Microsecond) }

func (j jitterStore) CollectionTimestamps(ctx context.Context, uid int64) (map[string]syncstore.Timestamp, error) {
	jitter()
	defer jitter()
	return j.Store.CollectionTimestamps(ctx, uid)
}

func (j jitterStore) CollectionUsage(ctx context.Context, uid int64) (map[string]int64, error) {
	jitter()
	defer jitter()
	return j.Store.CollectionUsage(ctx, uid)
}

func (j jitterStore) GetRecord(ctx context.Context, uid int64, coll, id string) (*syncstore.WBO, error) {
	jitter()
	defer jitter()
	return j.Store.GetRecord(ctx, uid, coll, id)
}

func (j jitterStore) PutRecords(ctx context.Context, uid int64, coll string, recs []syncstore.WBO, opt syncstore.WriteOptions) (*syncstore.WriteResult, error) {
	jitter()
	defer jitter()
	return j.Store.PutRecords(ctx, uid, coll, recs, opt)
}

func (j jitterStore) DeleteRecords(ctx context.Context, uid int64, coll string, q *syncstore.Query, opt syncstore.WriteOptions) (syncstore.Timestamp, error) {
	jitter()
	defer jitter()
	return j.Store.DeleteRecords(ctx, uid, coll, q, opt)
}

// TestTwoInstancesConcurrentWriters: two syncserver instances share one
// memcached and one MariaDB; both write and read the same users at the
// same time. Two properties are checked:
//
//   - while running, a write that returned is visible through either
//     instance: Alice's collections only grow (her writes never delete), so
//     after a write with timestamp ts every cached read of the collection's
//     timestamp and of meta/global must be at least ts;
//   - each time the writers stop, every cached answer of either instance
//     equals the database's (Bob's writes include deletes).
func TestTwoInstancesConcurrentWriters(t *testing.T) {
	mc := testservices.Memcached(t)
	f := newFixture(t, mc)
	// The instances under test, each with its own connection pool, reading
	// the real clock so that writes get distinct, growing timestamps.
	instances := []*Store{
		wrap(t, jitterStore{openMySQL(t, f.dsn, nil)}, f.cfg),
		wrap(t, jitterStore{openMySQL(t, f.dsn, nil)}, f.cfg),
	}
	alice, bob := f.user(t, "alice"), f.user(t, "bob")
	users := []int64{alice, bob}
	ctx := f.ctx

	var mu sync.Mutex
	var errs []error
	report := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}

	// checkAlice verifies that Alice's write at ts to coll (and to
	// meta/global when meta is set) is visible through s.
	checkAlice := func(s *Store, coll string, meta bool, ts syncstore.Timestamp) {
		stamps, err := s.CollectionTimestamps(ctx, alice)
		if err != nil {
			report(err)
			return
		}
		if stamps[coll] < ts {
			report(fmt.Errorf("after a write at %s, info/collections[%s] = %s", ts, coll, stamps[coll]))
		}
		if !meta {
			return
		}
		w, err := s.GetRecord(ctx, alice, "meta", "global")
		if err != nil {
			report(fmt.Errorf("meta/global after a write at %s: %w", ts, err))
			return
		}
		if w.Modified < ts {
			report(fmt.Errorf("after a write at %s, meta/global.modified = %s", ts, w.Modified))
		}
	}

	write := func(s *Store, uid int64, r int, payload string) (coll string, meta bool, ts syncstore.Timestamp, err error) {
		put := func(coll string, recs ...syncstore.WBO) {
			var res *syncstore.WriteResult
			if res, err = s.PutRecords(ctx, uid, coll, recs, syncstore.WriteOptions{}); err == nil {
				ts = res.Modified
			}
		}
		switch r % 5 {
		case 0, 3:
			coll, meta = "meta", true
			put(coll, wbo("global", payload))
		case 1:
			coll = "crypto"
			put(coll, wbo("keys", payload))
		case 2:
			coll = fmt.Sprintf("coll%d", r%4)
			put(coll, wbo("x", payload), wbo(payload, "y"))
		case 4:
			if uid != bob {
				coll = "crypto"
				put(coll, wbo("keys", payload+"-"+payload))
				break
			}
			coll = "" // a delete: nothing to check
			q := &syncstore.Query{}
			del := fmt.Sprintf("coll%d", r%4)
			if r%10 == 9 {
				del = "meta"
			}
			_, err = s.DeleteRecords(ctx, uid, del, q, syncstore.WriteOptions{})
		}
		return coll, meta, ts, err
	}

	const episodes, rounds = 6, 25
	for ep := range episodes {
		var writers, readers sync.WaitGroup
		stop := make(chan struct{})
		for i, s := range instances {
			for w := range 2 {
				writers.Go(func() {
					for r := range rounds {
						uid := users[(r+w)%len(users)]
						coll, meta, ts, err := write(s, uid, r+ep, fmt.Sprintf("e%d-i%d-w%d-r%d", ep, i, w, r))
						if err != nil {
							report(fmt.Errorf("instance %d writer %d round %d: %w", i, w, r, err))
							continue
						}
						if uid == alice && coll != "" {
							checkAlice(instances[rand.IntN(len(instances))], coll, meta, ts)
						}
					}
				})
			}
			for range 3 {
				readers.Go(func() {
					for n := 0; ; n++ {
						select {
						case <-stop:
							return
						default:
						}
						if _, err := readView(ctx, s, users[n%len(users)]); err != nil {
							report(fmt.Errorf("instance %d read: %w", i, err))
						}
					}
				})
			}
		}
		writers.Wait()
		close(stop)
		readers.Wait()
		for _, err := range errs {
			t.Errorf("episode %d: %v", ep, err)
		}
		if t.Failed() {
			return
		}
		for i, s := range instances {
			for _, uid := range users {
				f.wantView(t, s, uid, fmt.Sprintf("episode %d, instance %d, user %d", ep, i, uid))
			}
		}
	}

	// The final reads must have been answered by the cache, or they prove
	// nothing.
	for i, s := range instances {
		hits := s.Stats().Hits
		for _, uid := range users {
			f.wantView(t, s, uid, fmt.Sprintf("instance %d, user %d, second read", i, uid))
		}
		if got := s.Stats().Hits - hits; got != uint64(4*len(users)) {
			t.Errorf("instance %d: %d of %d final reads were cache hits", i, got, 4*len(users))
		}
		st := s.Stats()
		t.Logf("instance %d: %d hits, %d misses, %d bypasses, %d errors, %d invalidations", i, st.Hits, st.Misses, st.Bypasses, st.Errors, st.Invalidations)
	}
}
