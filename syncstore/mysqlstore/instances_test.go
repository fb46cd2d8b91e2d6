package mysqlstore

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storetest"
)

// TestTwoInstancesOneUser has two stores on one database (two servers)
// write and delete for the same user at once: the user row lock is held in
// the database, so timestamps stay unique and increasing per user, no
// record is lost and the aggregates stay exact.
func TestTwoInstancesOneUser(t *testing.T) {
	dsn := freshDatabase(t)
	a := openStore(t, Config{DSN: dsn})
	defer a.Close()
	b := openStore(t, Config{DSN: dsn})
	defer b.Close()
	ctx := context.Background()
	u := &syncstore.User{Name: "alice", PasswordHash: "h"}
	if err := a.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	const perWorker, workers = 10, 3
	var (
		mu     sync.Mutex
		stamps []syncstore.Timestamp
		puts   []syncstore.Timestamp
		wg     sync.WaitGroup
	)
	for i, s := range []*Store{a, b} {
		for w := range workers {
			wg.Go(func() {
				for n := range perWorker {
					id := fmt.Sprintf("s%d-w%d-%d", i, w, n)
					res, err := s.PutRecords(ctx, u.ID, "history", []syncstore.WBO{{ID: id, Payload: ptr("x")}, {ID: "shared", Payload: ptr(id)}}, syncstore.WriteOptions{})
					if err != nil {
						t.Errorf("put %s: %v", id, err)
						return
					}
					ts, err := s.DeleteRecords(ctx, u.ID, "history", &syncstore.Query{IDs: []string{"gone-" + id}}, syncstore.WriteOptions{})
					if err != nil {
						t.Errorf("delete: %v", err)
						return
					}
					mu.Lock()
					stamps = append(stamps, res.Modified, ts)
					puts = append(puts, res.Modified)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	slices.Sort(stamps)
	if len(slices.Compact(slices.Clone(stamps))) != len(stamps) {
		t.Errorf("two write requests of one user shared a timestamp: %v", stamps)
	}
	counts, err := b.CollectionCounts(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(2*workers*perWorker + 1); counts["history"] != want {
		t.Errorf("history holds %d records, want %d", counts["history"], want)
	}
	storetest.CheckAggregates(t, a.DB(), "the concurrent writes")
	w, err := a.GetRecord(ctx, u.ID, "history", "shared")
	if err != nil {
		t.Fatal(err)
	}
	if last := slices.Max(puts); w.Modified != last || *w.Payload == "" {
		t.Errorf("shared record modified %s, want the last put's %s", w.Modified, last)
	}
}
