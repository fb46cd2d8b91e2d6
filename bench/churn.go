package bench

import "math/rand/v2"

// A real profile stays about the same size over time: history and form
// entries expire (Firefox gives history records a TTL, the server drops
// them), and bookmarks or passwords are deleted as others are added. A
// run lasts minutes, not the weeks of a TTL, so the workload gets the
// same effect by deleting: every collection of an account keeps its
// seeded size, new records push the oldest history and form entries out
// and random other records, as DELETE ?ids= in chunks of expireChunk. An
// account's size is therefore stationary, and a long run against a
// server with the default quota never reaches it.

// expireChunk is how many surplus records gather in a collection before
// they are deleted, in one request (Firefox deletes in chunks of 100
// ids, docs/protocol.md §1): a collection holds at most its seeded size plus
// expireChunk−1 records between sessions.
const expireChunk = 100

// expiresOldest reports whether a collection's surplus goes oldest first
// (entries that expire) rather than at random (deleted by the user).
func expiresOldest(collection string) bool {
	return collection == "history" || collection == "forms"
}

// liveSet is the bench's model of the records one account holds in one
// collection. Records are numbered: 0…seeded−1 are the seeded ones, each
// new record takes the next number, and record n has the id
// seedID(user, collection, n), so the model holds numbers, not ids.
type liveSet struct {
	size        int  // the stationary number of records: the seeded count
	oldestFirst bool // surplus records are deleted oldest (lowest number) first
	live        []int32
	pos         []int32 // record number → index in live; −1 once deleted
	low         int     // no record numbered below it is live
	drawn       map[int32]struct{}
}

func newLiveSet(seeded int, oldestFirst bool) *liveSet {
	s := &liveSet{size: seeded, oldestFirst: oldestFirst, live: make([]int32, seeded), pos: make([]int32, seeded)}
	for i := range seeded {
		s.live[i], s.pos[i] = int32(i), int32(i)
	}
	return s
}

func (s *liveSet) len() int { return len(s.live) }

// add creates a record and returns its number.
func (s *liveSet) add() int32 {
	n := int32(len(s.pos))
	s.pos = append(s.pos, int32(len(s.live)))
	s.live = append(s.live, n)
	return n
}

// remove deletes record n if it is live.
func (s *liveSet) remove(n int32) {
	i := s.pos[n]
	if i < 0 {
		return
	}
	last := s.live[len(s.live)-1]
	s.live[i], s.pos[last] = last, i
	s.live = s.live[:len(s.live)-1]
	s.pos[n] = -1
}

// pick draws a live record; the set must not be empty.
func (s *liveSet) pick(r *rand.Rand) int32 {
	return s.live[r.IntN(len(s.live))]
}

// oldest returns the live record with the lowest number.
func (s *liveSet) oldest() int32 {
	for s.pos[s.low] < 0 {
		s.low++
	}
	return int32(s.low)
}

// upload plans the records of a POST of n records: each overwrites a
// live record with probability update, otherwise (and when the record
// drawn is already in the batch) it is a new one, which joins the set.
// fn gets each record's number and whether it is new.
func (s *liveSet) upload(r *rand.Rand, n int, update float64, fn func(num int32, fresh bool)) {
	if s.drawn == nil {
		s.drawn = make(map[int32]struct{}, n)
	}
	clear(s.drawn)
	for range n {
		if len(s.live) > 0 && r.Float64() < update {
			num := s.pick(r)
			if _, dup := s.drawn[num]; !dup {
				s.drawn[num] = struct{}{}
				fn(num, false)
				continue
			}
		}
		num := s.add()
		s.drawn[num] = struct{}{}
		fn(num, true)
	}
}

// expire plans the deletion of the surplus once expireChunk records have
// gathered beyond the stationary size: up to expireChunk records, the
// oldest or random ones. It returns nil while the surplus is smaller.
func (s *liveSet) expire(r *rand.Rand) []int32 {
	surplus := len(s.live) - s.size
	if surplus < expireChunk {
		return nil
	}
	out := make([]int32, 0, expireChunk)
	for range expireChunk {
		var num int32
		if s.oldestFirst {
			num = s.oldest()
		} else {
			num = s.pick(r)
		}
		s.remove(num)
		out = append(out, num)
	}
	return out
}

// deleteSome plans a user's deletion of 1–10 random records, taken out
// of the surplus: a collection never holds fewer than its seeded size
// after a session, so a later run finds every account complete and
// reuses it (none when there is no surplus).
func (s *liveSet) deleteSome(r *rand.Rand) []int32 {
	if len(s.live) == 0 {
		return nil
	}
	k := min(1+r.IntN(min(len(s.live), 10)), len(s.live)-s.size)
	if k <= 0 {
		return nil
	}
	out := make([]int32, 0, k)
	for range k {
		num := s.pick(r)
		s.remove(num)
		out = append(out, num)
	}
	return out
}
