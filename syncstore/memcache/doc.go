// Package memcache puts memcached in front of the hot reads of a
// syncstore.Store: info/collections (CollectionTimestamps), the quota
// (CollectionUsage) and the meta/global and crypto/keys records. The
// database stays authoritative: every write goes to the inner store, and
// nothing lives only in memcached, so losing memcached loses nothing.
//
// # Correctness with several servers
//
// Several syncserver instances may share one memcached and one database.
// Cached answers are never invalidated by deleting them, because a reader
// that fetched the old value just before a write could store it again
// afterwards. Instead every user has a generation counter in memcached, and
// every cached answer records the generation (and the global epoch, bumped
// by PurgeExpired) it was read under. A read fetches the counters and the
// answer in one GetMulti and uses the answer only if both still match. A
// reader that misses reads the counters first and the database second, and
// a writer bumps the generation with Incr only after its transaction
// committed, so a value stored under generation g always reflects every
// write whose bump produced g or an earlier value.
//
// A counter that memcached lost (eviction, restart) is recreated with Add
// from the current time in nanoseconds, which is far above any value the
// lost counter reached by one Incr per write, so old answers cannot become
// valid again.
//
// Records carry a TTL the Store API does not return, so a cached record or
// quota could outlive a record that expires. A write with a TTL therefore
// first sets a per-user flag (kept for longer than the longest TTL) that
// makes reads of that user skip the cache for the answers that depend on
// expiry: CollectionUsage after any TTL, and the cached records after a TTL
// on one of them. info/collections counts expired rows until they are
// purged, so it stays cacheable.
//
// # Failures
//
// Every memcached call is bounded by Config.Timeout. A failed call makes
// the read fall through to the inner store; it is counted (Stats,
// Collector) and, for Config.Cooldown, reads go straight to the inner store
// without trying memcached, so a dead or black-holed memcached costs at
// most one timeout per cooldown. After the cooldown the next read tries
// memcached again: nothing marks it dead for good.
//
// An invalidation that could not be delivered is kept in memory and
// retried in the background until memcached takes it; meanwhile this
// instance reads that user (or, after a lost PurgeExpired epoch bump,
// everybody) from the inner store. Other instances may serve the old
// answer until the retry succeeds or the answer's Config.TTL runs out,
// whichever is first: the TTL bounds staleness when an invalidation is
// lost for good (this process died, memcached unreachable from here only).
//
// Operators who restore a database from a backup must change Prefix or
// flush memcached: the counters cannot know that the database went back in
// time.
package memcache
