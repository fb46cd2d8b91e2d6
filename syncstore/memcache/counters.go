package memcache

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	gomemcache "github.com/bradfitz/gomemcache/memcache"

	"github.com/syncserver/syncserver/syncstore"
)

// errCorruptCounter: a counter key holds something other than a number.
var errCorruptCounter = errors.New("malformed counter value")

// parseCounter reads a counter value. memcached may pad an incremented
// value with trailing spaces.
func parseCounter(v []byte) (uint64, error) {
	n, err := strconv.ParseUint(string(bytes.TrimRight(v, " ")), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", errCorruptCounter, v)
	}
	return n, nil
}

// initCounter creates a missing counter (a user's generation or the
// epoch) and returns its value. The first value is the current time in
// nanoseconds: a counter that memcached lost had advanced by one per write
// from an earlier such time, which lies far below, so entries written
// under the lost counter can never match the new one. If another instance
// created the counter first, its value is used.
func (s *Store) initCounter(key string) (uint64, error) {
	v := uint64(time.Now().UnixNano())
	err := s.client.Add(&gomemcache.Item{Key: key, Value: strconv.AppendUint(nil, v, 10)})
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, gomemcache.ErrNotStored) {
		return 0, fmt.Errorf("creating counter %s: %w", key, err)
	}
	it, err := s.client.Get(key)
	if err != nil {
		// Evicted again at once (ErrCacheMiss) or memcached failed: either
		// way this read goes to the inner store.
		return 0, fmt.Errorf("reading counter %s created elsewhere: %w", key, err)
	}
	return parseCounter(it.Value)
}

// bump increments a counter after a committed write. A missing counter
// needs nothing: the next reader creates it anew, above every value the
// old one had.
func (s *Store) bump(key string) error {
	_, err := s.client.Increment(key, 1)
	if err != nil && !errors.Is(err, gomemcache.ErrCacheMiss) {
		return fmt.Errorf("incrementing %s: %w", key, err)
	}
	s.count.invalidations.Add(1)
	return nil
}

// flags mark a user whose records have TTLs, which the Store API does not
// return: answers that depend on expiry cannot be cached for that user.
type flags uint8

const (
	// flagTTL: some record was written with a TTL (CollectionUsage then
	// changes with the clock).
	flagTTL flags = 1 << iota
	// flagRecordTTL: a cached record was written with a TTL.
	flagRecordTTL
)

// flagLifetime outlives the longest TTL a client may set (one year,
// docs/protocol.md §9), so a flag is not dropped while a record it warns about
// can still be alive.
const flagLifetime = 366 * 24 * time.Hour

// setFlags stores the user's flags. It must happen before the write they
// describe commits, so no reader caches an expiring answer unflagged.
func (s *Store) setFlags(userID int64, f flags) error {
	// Beyond 30 days memcached reads expirations as absolute Unix times;
	// the protocol field is 32 bits, so clamp rather than wrap to the past
	// (which would expire the flag at once) from 2037 on.
	exp := int32(min(time.Now().Add(flagLifetime).Unix(), math.MaxInt32))
	for _, k := range []struct {
		bit flags
		key string
	}{{flagTTL, s.keys.ttlFlag(userID)}, {flagRecordTTL, s.keys.recordTTLFlag(userID)}} {
		if f&k.bit == 0 {
			continue
		}
		if err := s.client.Set(&gomemcache.Item{Key: k.key, Value: []byte{'1'}, Expiration: exp}); err != nil {
			return fmt.Errorf("setting %s: %w", k.key, err)
		}
	}
	return nil
}

// ttlFlags returns the flags a PutRecords of recs into collection sets.
func ttlFlags(collection string, recs []syncstore.WBO) flags {
	var f flags
	for i := range recs {
		if recs[i].TTL == nil {
			continue
		}
		f |= flagTTL
		if _, ok := isCachedRecord(collection, recs[i].ID); ok {
			f |= flagRecordTTL
		}
	}
	return f
}

// storedTTLFlags returns the flags a bulk import of recs into collection
// sets: records stored with an expiry, like records written with a TTL,
// stop counting when the clock passes it, without a write.
func storedTTLFlags(collection string, recs []syncstore.StoredRecord) flags {
	var f flags
	for i := range recs {
		if recs[i].Expiry == syncstore.NoExpiry {
			continue
		}
		f |= flagTTL
		if _, ok := isCachedRecord(collection, recs[i].ID); ok {
			f |= flagRecordTTL
		}
	}
	return f
}
