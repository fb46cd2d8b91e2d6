package syncstore

import (
	"fmt"
	"hash/fnv"
	"math"
)

// ShardWeight is one native shard's share of new users: a shard with
// weight 2 receives about twice the new users of one with weight 1, and a
// shard with weight 0 is closed to new users (it keeps serving the ones
// it has).
type ShardWeight struct {
	Name   string
	Weight int
}

// PickShard chooses the native shard of a new user (registration, or a
// legacy user migrated without an explicit target) by weighted rendezvous
// hashing over the open shards. It depends only on the username and the
// weights, never on the clock or on a counter, so every instance of a
// fleet and the migrate tool pick the same shard for the same name
// without talking to each other: two instances registering one name at
// once agree on where it lives. ok is false when no shard is open.
func PickShard(user string, shards []ShardWeight) (name string, ok bool) {
	best := math.Inf(-1)
	for _, s := range shards {
		if s.Weight <= 0 {
			continue
		}
		h := fnv.New64a()
		_, _ = h.Write([]byte(s.Name))
		_, _ = h.Write([]byte{0})
		_, _ = h.Write([]byte(user))
		// A uniform number in (0, 1) from the hash; -w/ln(u) is the
		// weighted rendezvous score (the largest wins, with probability
		// proportional to w).
		u := (float64(mix64(h.Sum64())>>11) + 0.5) / (1 << 53)
		score := -float64(s.Weight) / math.Log(u)
		if score > best || (score == best && s.Name < name) {
			best, name, ok = score, s.Name, true
		}
	}
	return name, ok
}

// mix64 is SplitMix64's finalizer: FNV-1a's low bits are poorly mixed for
// inputs that differ only at the end, which usernames often do.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// DefaultShard names the database that holds the route table (a route
// row's Shard "") wherever a shard is named to operators: flags, logs,
// metrics, status output. No configured shard may take the name.
const DefaultShard = "default"

// ValidShardName reports whether name can name a configured shard: 1 to
// 32 characters of a-z, 0-9, "_" and "-", starting with a letter or digit,
// and not DefaultShard. The rule keeps names usable as memcached key
// prefixes, metric labels and command-line words.
func ValidShardName(name string) bool {
	if name == DefaultShard || len(name) == 0 || len(name) > 32 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// ShardLabel shows a route row's shard to operators: DefaultShard for "".
func ShardLabel(shard string) string {
	if shard == "" {
		return DefaultShard
	}
	return shard
}

// ParseShardName reads a shard as an operator names it: DefaultShard is
// the route table's own database (""), anything else must be a valid
// shard name.
func ParseShardName(s string) (string, error) {
	if s == DefaultShard {
		return "", nil
	}
	if !ValidShardName(s) {
		return "", fmt.Errorf("shard %q: want %q or a shard name (a-z, 0-9, _ and -, at most 32 characters)", s, DefaultShard)
	}
	return s, nil
}
