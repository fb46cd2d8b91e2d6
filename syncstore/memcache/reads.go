package memcache

import (
	"context"
	"errors"

	gomemcache "github.com/bradfitz/gomemcache/memcache"
	"go.uber.org/zap"

	"github.com/syncserver/syncserver/syncstore"
)

// validity is what a cached answer must match to be used.
type validity struct{ epoch, gen uint64 }

// lookup fetches, in one round trip, the epoch, the user's generation, the
// cached answer under key and, when flagKey is set, the flag that forbids
// caching it. ok false means: do not use memcached for this read at all
// (neither the answer nor storing one). data is nil on a miss.
func (s *Store) lookup(userID int64, key, flagKey string) (data []byte, v validity, ok bool) {
	if !s.health.usable() || s.pending.blocks(userID) {
		s.count.bypasses.Add(1)
		return nil, v, false
	}
	genKey := s.keys.gen(userID)
	ks := []string{s.keys.epoch, genKey, key, flagKey}
	if flagKey == "" {
		ks = ks[:3]
	}
	items, err := s.client.GetMulti(ks)
	if err != nil {
		s.failed("get", err)
		s.count.bypasses.Add(1)
		return nil, v, false
	}
	s.health.succeeded()
	if flagKey != "" && items[flagKey] != nil {
		s.count.bypasses.Add(1)
		return nil, v, false
	}
	var fresh bool // a counter was just created: no answer can match it
	v.epoch, fresh, err = s.counter(items[s.keys.epoch], s.keys.epoch)
	if err == nil {
		var freshGen bool
		v.gen, freshGen, err = s.counter(items[genKey], genKey)
		fresh = fresh || freshGen
	}
	if err != nil {
		if !errors.Is(err, errCorruptCounter) && isFailure(err) {
			s.failed("counter", err)
		}
		s.count.bypasses.Add(1)
		return nil, v, false
	}
	if it := items[key]; it != nil && !fresh {
		data = it.Value
	}
	return data, v, true
}

// counter parses a fetched counter or creates it when it is missing.
func (s *Store) counter(it *gomemcache.Item, key string) (n uint64, created bool, err error) {
	if it == nil {
		n, err = s.initCounter(key)
		return n, true, err
	}
	n, err = parseCounter(it.Value)
	if err != nil {
		// Not written by this package's code; drop it so the next reader
		// creates a fresh one.
		s.logger.Warn("dropping a malformed memcached counter", zap.String("key", key), zap.Error(err))
		_ = s.client.Delete(key)
	}
	return n, false, err
}

// cached answers a read from memcached when a valid answer is there, and
// otherwise from fill, storing what fill returned for the next reader.
// The counters are read before fill reads the inner store, so an answer
// stored under them cannot predate a write that already bumped them.
func cached[T any](s *Store, userID int64, key, flagKey string, fill func() (T, error)) (T, error) {
	data, v, ok := s.lookup(userID, key, flagKey)
	if ok && data != nil {
		if e, err := decode[T](data); err == nil && e.Epoch == v.epoch && e.Gen == v.gen {
			s.count.hits.Add(1)
			return e.Value, nil
		}
	}
	if ok {
		s.count.misses.Add(1)
	}
	val, err := fill()
	if err == nil && ok {
		put(s, key, envelope[T]{Epoch: v.epoch, Gen: v.gen, Value: val})
	}
	return val, err
}

// put stores a cached answer; failing to is only counted.
func put[T any](s *Store, key string, e envelope[T]) {
	data, err := encode(e)
	if err != nil || len(data) > maxItemSize {
		return // not cacheable; the next read asks the inner store again
	}
	if err := s.client.Set(&gomemcache.Item{Key: key, Value: data, Expiration: s.ttl}); err != nil {
		s.failed("set", err)
	}
}

// CollectionTimestamps is info/collections, cached per user.
func (s *Store) CollectionTimestamps(ctx context.Context, userID int64) (map[string]syncstore.Timestamp, error) {
	st, err := cached(s, userID, s.keys.stamps(userID), "", func() (stamps, error) {
		s.count.inner[mCollectionTimestamps].Add(1)
		m, err := s.inner.CollectionTimestamps(ctx, userID)
		if err != nil {
			return nil, err
		}
		return stampsFrom(m), nil
	})
	if err != nil {
		return nil, err
	}
	return st.timestamps(), nil
}

// CollectionUsage is the quota's per-collection byte count, cached per
// user unless the user has records with a TTL (their bytes stop counting
// when the clock passes the expiry, without a write).
func (s *Store) CollectionUsage(ctx context.Context, userID int64) (map[string]int64, error) {
	return cached(s, userID, s.keys.usage(userID), s.keys.ttlFlag(userID), func() (map[string]int64, error) {
		s.count.inner[mCollectionUsage].Add(1)
		return s.inner.CollectionUsage(ctx, userID)
	})
}

// GetRecordAndLast is GetRecord and UserTimestamp (syncstore.RecordStamper).
// A record this cache keeps comes from the cache, with the cached
// timestamp; any other is read with the user's timestamp in one database
// read when the inner store can, instead of a cache look-up and a read.
func (s *Store) GetRecordAndLast(ctx context.Context, userID int64, collection, id string) (*syncstore.WBO, syncstore.Timestamp, error) {
	rs, ok := s.inner.(syncstore.RecordStamper)
	if _, kept := isCachedRecord(collection, id); kept || !ok {
		last, err := s.UserTimestamp(ctx, userID)
		if err != nil {
			return nil, 0, err
		}
		w, err := s.GetRecord(ctx, userID, collection, id)
		return w, last, err
	}
	s.count.inner[mGetRecord].Add(1)
	return rs.GetRecordAndLast(ctx, userID, collection, id)
}

// GetRecord caches meta/global and crypto/keys, present or absent, unless
// the user gave one of them a TTL; other records go to the inner store.
func (s *Store) GetRecord(ctx context.Context, userID int64, collection, id string) (*syncstore.WBO, error) {
	ref, ok := isCachedRecord(collection, id)
	if !ok {
		s.count.inner[mGetRecord].Add(1)
		return s.inner.GetRecord(ctx, userID, collection, id)
	}
	r, err := cached(s, userID, s.keys.record(userID, ref), s.keys.recordTTLFlag(userID), func() (record, error) {
		s.count.inner[mGetRecord].Add(1)
		w, err := s.inner.GetRecord(ctx, userID, collection, id)
		if errors.Is(err, syncstore.ErrNotFound) {
			return record{}, nil
		}
		if err != nil {
			return record{}, err
		}
		return recordFrom(w), nil
	})
	if err != nil {
		return nil, err
	}
	return r.wbo()
}
