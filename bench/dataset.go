package bench

import (
	"math/rand/v2"
)

// userData is one account's seeded data set: meta/global, crypto/keys, a
// client record per device, and its records in the bench collections. It
// depends only on the account and the layout, never on --seed, so a later
// run recognises it.
type userData struct {
	id      identity
	layout  []collCount
	devices int
}

// seedRecord is one record of the data set.
type seedRecord struct {
	id        string
	payload   []byte
	sortIndex int // < 0: none
}

func (d *userData) records() int64 {
	var n int64
	for _, c := range d.layout {
		n += int64(c.count)
	}
	return n
}

// fixedRecords are the records every Sync account has besides its engines'
// data: meta/global (clear text), crypto/keys and one client record per
// device (encrypted envelopes).
func (d *userData) fixedRecords() []struct {
	collection string
	records    []seedRecord
} {
	r := seedRand(d.id.Name, "meta")
	meta := []byte(`{"syncID":"` + newID(r) + `","storageVersion":5,"engines":{`)
	for i, e := range []string{"clients", "bookmarks", "forms", "history", "passwords", "prefs", "tabs"} {
		if i > 0 {
			meta = append(meta, ',')
		}
		meta = append(meta, `"`+e+`":{"version":1,"syncID":"`+newID(r)+`"}`...)
	}
	meta = append(meta, "}}"...)
	keys := appendPayload(nil, r, 420)
	clients := make([]seedRecord, d.devices)
	for i := range clients {
		clients[i] = seedRecord{id: seedID(d.id.Name, "clients", i), payload: appendPayload(nil, r, 520), sortIndex: -1}
	}
	return []struct {
		collection string
		records    []seedRecord
	}{
		{"meta", []seedRecord{{id: "global", payload: meta, sortIndex: -1}}},
		{"crypto", []seedRecord{{id: "keys", payload: keys, sortIndex: -1}}},
		{"clients", clients},
	}
}

// eachBatch generates the engine records collection by collection and
// hands them to fn in batches of at most n. fn must not keep the slice.
func (d *userData) eachBatch(n int, fn func(collection string, recs []seedRecord) error) error {
	batch := make([]seedRecord, 0, n)
	for _, c := range d.layout {
		r := seedRand(d.id.Name, c.collection)
		for i := range c.count {
			batch = append(batch, d.record(r, c.collection, i))
			if len(batch) == n || i == c.count-1 {
				if err := fn(c.collection, batch); err != nil {
					return err
				}
				batch = batch[:0]
			}
		}
	}
	return nil
}

func (d *userData) record(r *rand.Rand, collection string, i int) seedRecord {
	size := payloadSize(r)
	rec := seedRecord{id: seedID(d.id.Name, collection, i), payload: appendPayload(make([]byte, 0, size), r, size), sortIndex: -1}
	if r.IntN(2) == 0 {
		rec.sortIndex = r.IntN(2000)
	}
	return rec
}

// complete reports whether counts (collection → records) already hold the
// whole data set, so seeding can be skipped.
func (d *userData) complete(counts map[string]int64) bool {
	if counts["meta"] < 1 || counts["crypto"] < 1 || counts["clients"] < int64(d.devices) {
		return false
	}
	for _, c := range d.layout {
		if counts[c.collection] < int64(c.count) {
			return false
		}
	}
	return true
}
