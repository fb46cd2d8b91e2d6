package bench

import (
	"math/rand/v2"
	"testing"
)

// TestAccountSizeStationary drives one account of the soak's size (1,000
// records) through the sessions of a run far longer than the soak, with
// the workload's own model of what each session uploads and deletes, and
// a map standing in for the server's storage. The account's bytes must
// stay bounded, under the default quota of 5 MiB and near the seeded
// size, while the run uploads many times the account in new records.
func TestAccountSizeStationary(t *testing.T) {
	const (
		records  = 1000
		sessions = 40_000
		quota    = 5 << 20
	)
	mix := DefaultMix()
	d := &Account{id: newIdentity("t", roleMain, 0), layout: seedLayout(records), devices: 2}
	u := newUserState(d.id, d.layout, d.devices)

	stored := map[string]int{} // collection/id → payload bytes
	var bytes int64
	d.Batches(DirectBatch, func(c string, recs []Record) error {
		for _, r := range recs {
			stored[c+"/"+r.ID] = len(r.Payload)
			bytes += int64(len(r.Payload))
		}
		return nil
	})
	seeded := bytes
	perColl := map[string]int{}
	for _, c := range d.layout {
		perColl[c.collection] = c.count
	}

	r := rand.New(rand.NewPCG(1, 2))
	var created int
	maxBytes, minBytes := bytes, bytes
	for i := range sessions {
		plan := mix.plan(r, d.devices)
		for _, p := range plan.posts {
			u.live(p.collection).upload(r, p.records, mix.Update, func(num int32, fresh bool) {
				key := p.collection + "/" + u.recordID(p.collection, num)
				old, exists := stored[key]
				if exists == fresh {
					t.Fatalf("session %d: %s uploaded as new %v, stored already %v", i, key, fresh, exists)
				}
				if fresh {
					created++
				}
				size := payloadSize(r)
				stored[key] = size
				bytes += int64(size - old)
			})
		}
		remove := func(coll string, nums []int32) {
			for _, num := range nums {
				key := coll + "/" + u.recordID(coll, num)
				size, ok := stored[key]
				if !ok {
					t.Fatalf("session %d: deletes %s, which is not stored", i, key)
				}
				delete(stored, key)
				bytes -= int64(size)
			}
		}
		for _, p := range plan.posts {
			remove(p.collection, u.live(p.collection).expire(r))
		}
		for _, name := range plan.deletes {
			remove(name, u.live(name).deleteSome(r))
		}
		for coll, size := range perColl {
			if n := u.live(coll).len(); n < size || n >= size+expireChunk {
				t.Fatalf("session %d: %s holds %d records, seeded %d", i, coll, n, size)
			}
		}
		maxBytes, minBytes = max(maxBytes, bytes), min(minBytes, bytes)
	}
	t.Logf("%d sessions: %d records created (%.0f× the account); bytes seeded %d, min %d, max %d, end %d",
		sessions, created, float64(created)/records, seeded, minBytes, maxBytes, bytes)
	if created < 50*records {
		t.Fatalf("only %d records created: the run is too short to show growth", created)
	}
	if maxBytes >= quota {
		t.Errorf("the account reached %d bytes, over the quota of %d", maxBytes, quota)
	}
	// Stationary: within a band around the seeded size, however long the
	// run (surplus of up to expireChunk−1 records per collection, and the
	// payload sizes' spread).
	if maxBytes > seeded*3/2 || minBytes < seeded/2 {
		t.Errorf("bytes ranged over %d…%d, seeded %d", minBytes, maxBytes, seeded)
	}
}
