package bench

import (
	"math/rand/v2"
)

// Account is one account's seeded data set: meta/global, crypto/keys, a
// client record per device, and its records in the bench collections. It
// depends only on the account and the layout, never on --seed, so a later
// run recognises it.
type Account struct {
	id      identity
	layout  []collCount
	devices int
}

// Record is one record of a data set.
type Record struct {
	ID        string
	Payload   []byte
	SortIndex int // < 0: none
}

// Email is the account's e-mail address.
func (d *Account) Email() string { return d.id.Email }

// Name is the account's Sync username (docs/protocol.md §2.3).
func (d *Account) Name() string { return d.id.Name }

// Password is the account's password.
func (d *Account) Password() string { return d.id.Password }

// Batches hands the whole data set to fn, at most n records at a time, one
// collection per call: meta/global, crypto/keys and the client records
// first, then the engines' records. fn must not keep the slice.
func (d *Account) Batches(n int, fn func(collection string, recs []Record) error) error {
	for _, f := range d.fixedRecords() {
		if err := fn(f.collection, f.records); err != nil {
			return err
		}
	}
	return d.eachBatch(n, fn)
}

func (d *Account) records() int64 {
	var n int64
	for _, c := range d.layout {
		n += int64(c.count)
	}
	return n
}

// fixedRecords are the records every Sync account has besides its engines'
// data: meta/global (clear text), crypto/keys and one client record per
// device (encrypted envelopes).
func (d *Account) fixedRecords() []struct {
	collection string
	records    []Record
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
	clients := make([]Record, d.devices)
	for i := range clients {
		clients[i] = Record{ID: seedID(d.id.Name, "clients", i), Payload: appendPayload(nil, r, 520), SortIndex: -1}
	}
	return []struct {
		collection string
		records    []Record
	}{
		{"meta", []Record{{ID: "global", Payload: meta, SortIndex: -1}}},
		{"crypto", []Record{{ID: "keys", Payload: keys, SortIndex: -1}}},
		{"clients", clients},
	}
}

// eachBatch generates the engine records collection by collection and
// hands them to fn in batches of at most n. fn must not keep the slice.
func (d *Account) eachBatch(n int, fn func(collection string, recs []Record) error) error {
	batch := make([]Record, 0, n)
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

func (d *Account) record(r *rand.Rand, collection string, i int) Record {
	size := payloadSize(r)
	rec := Record{ID: seedID(d.id.Name, collection, i), Payload: appendPayload(make([]byte, 0, size), r, size), SortIndex: -1}
	if r.IntN(2) == 0 {
		rec.SortIndex = r.IntN(2000)
	}
	return rec
}

// Complete reports whether counts (collection → records) already hold the
// whole data set, so seeding can be skipped.
func (d *Account) Complete(counts map[string]int64) bool {
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
