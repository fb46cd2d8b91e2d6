package bench

import (
	"math/rand/v2"
	"sync"
)

// userState is what the bench knows about one account on one target:
// enough to predict every answer exactly. A session holds mu for its whole
// duration, so no other bench session changes the account meanwhile and a
// surprising answer is the server's fault.
type userState struct {
	mu       sync.Mutex
	id       identity
	records  map[string]*liveSet // collection → the records it holds
	colls    map[string]*collState
	devices  []map[string]int64 // per device: lastSync per collection
	lastSeen int64              // newest write timestamp the user got
}

// collState tracks the records this run wrote in one collection.
type collState struct {
	written map[string]writtenRecord
	// newest is the collection's timestamp as of our last write; 0 when
	// unknown (a delete may move it back, §11.6).
	newest int64
	// unsure is set when a write's outcome is unknown (no answer, a 5xx):
	// from then on the exact record checks of this collection are skipped.
	unsure bool
}

type writtenRecord struct {
	modified int64
	sum      uint64
}

func newUserState(id identity, layout []collCount, devices int) *userState {
	u := &userState{
		id:      id,
		records: make(map[string]*liveSet, len(layout)),
		colls:   make(map[string]*collState),
		devices: make([]map[string]int64, devices),
	}
	for _, c := range layout {
		u.records[c.collection] = newLiveSet(c.count, expiresOldest(c.collection))
	}
	for i := range u.devices {
		u.devices[i] = make(map[string]int64)
	}
	return u
}

// live is the model of the records a collection holds.
func (u *userState) live(name string) *liveSet {
	s := u.records[name]
	if s == nil {
		s = newLiveSet(0, expiresOldest(name))
		u.records[name] = s
	}
	return s
}

// recordID is the id of record num of a collection (see liveSet).
func (u *userState) recordID(collection string, num int32) string {
	return seedID(u.id.Name, collection, int(num))
}

func (u *userState) coll(name string) *collState {
	c := u.colls[name]
	if c == nil {
		c = &collState{written: make(map[string]writtenRecord)}
		u.colls[name] = c
	}
	return c
}

// population is the set of accounts a phase drives.
type population struct {
	users []*userState
}

// acquire picks a user and locks it. It prefers a free user so workers
// rarely wait for each other; with more workers than users they queue.
func (p *population) acquire(r *rand.Rand) *userState {
	var u *userState
	for range 8 {
		u = p.users[r.IntN(len(p.users))]
		if u.mu.TryLock() {
			return u
		}
	}
	u.mu.Lock()
	return u
}
