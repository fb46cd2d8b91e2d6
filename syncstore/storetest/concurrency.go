package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/syncserver/syncserver/syncstore"
)

// testConcurrentWriters runs writers for one user in parallel with the
// clock frozen: every request must still get its own timestamp and no
// record may be lost.
func testConcurrentWriters(t *testing.T, e *env) {
	u := e.user(t, "alice")
	other := e.user(t, "bob")
	const writers, writes = 6, 8
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		stamp []syncstore.Timestamp
		errs  []error
	)
	for w := range writers {
		wg.Go(func() {
			for i := range writes {
				coll := "history"
				if i%2 == 1 {
					coll = fmt.Sprintf("custom%d", w%3) // also races to create collection names
				}
				recs := []syncstore.WBO{rec(fmt.Sprintf("w%d-%d-a", w, i), "x"), rec(fmt.Sprintf("w%d-%d-b", w, i), "yy")}
				res, err := e.store.PutRecords(e.ctx, u.ID, coll, recs, syncstore.WriteOptions{})
				var ts syncstore.Timestamp
				if err == nil {
					ts = res.Modified
					if i%4 == 0 {
						// A delete of nothing is a write request too.
						ts2, derr := e.store.DeleteRecords(e.ctx, u.ID, coll, &syncstore.Query{IDs: []string{"none"}}, syncstore.WriteOptions{})
						err = derr
						mu.Lock()
						stamp = append(stamp, ts2)
						mu.Unlock()
					}
				}
				if _, berr := e.store.PutRecords(e.ctx, other.ID, "history", recs, syncstore.WriteOptions{}); berr != nil && err == nil {
					err = berr
				}
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					stamp = append(stamp, ts)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Errorf("concurrent write: %v", err)
	}
	if t.Failed() {
		return
	}
	slices.Sort(stamp)
	for i := 1; i < len(stamp); i++ {
		if stamp[i] == stamp[i-1] {
			t.Errorf("two write requests of one user got timestamp %s", stamp[i])
		}
	}
	counts := e.counts(t, u.ID)
	var total int64
	for _, n := range counts {
		total += n
	}
	if want := int64(writers * writes * 2); total != want {
		t.Errorf("stored %d records (%v), want %d", total, counts, want)
	}
	if got := int64(len(e.list(t, u.ID, "history", nil))); got != counts["history"] {
		t.Errorf("history lists %d records, counts say %d", got, counts["history"])
	}
	stamps := e.stamps(t, u.ID)
	var newest syncstore.Timestamp
	for _, ts := range stamps {
		newest = max(newest, ts)
	}
	lastPut := stamp[len(stamp)-1]
	if newest > lastPut {
		t.Errorf("a collection timestamp %s is after every write timestamp (last %s)", newest, lastPut)
	}
	if got := e.counts(t, other.ID)["history"]; got != writers*writes*2 {
		t.Errorf("bob's history count = %d, want %d", got, writers*writes*2)
	}
	if got := e.put(t, u.ID, "forms", rec("f", "")).UsedBytes; got != writers*writes*3 {
		t.Errorf("UsedBytes = %d, want %d", got, writers*writes*3)
	}
}
