package memcache

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats are the counters of a Store since New.
type Stats struct {
	// Hits are cacheable reads answered from memcached.
	Hits uint64
	// Misses are cacheable reads that asked memcached, found no valid
	// answer and went to the inner store.
	Misses uint64
	// Bypasses are cacheable reads sent to the inner store without using
	// memcached: during a cooldown, while an invalidation of the user is
	// pending, or for a user with TTL records.
	Bypasses uint64
	// Errors are failed memcached calls (timeouts, refused connections,
	// server errors). Each one costs at most Config.Timeout and never fails
	// the request.
	Errors uint64
	// Invalidations are generation (or epoch) bumps memcached took.
	Invalidations uint64
	// PendingInvalidations are users (and the epoch) whose bump is waiting
	// for memcached to come back.
	PendingInvalidations int
	// InnerCalls counts calls to the inner store, all methods together;
	// InnerCallsByMethod splits them by Store method name.
	InnerCalls         uint64
	InnerCallsByMethod map[string]uint64
}

// method numbers the inner Store's methods for call counting.
type method int

const (
	mCreateUser method = iota
	mLookupUser
	mUpdateUser
	mDeleteUser
	mListUsers
	mCollectionTimestamps
	mCollectionCounts
	mCollectionUsage
	mGetRecords
	mGetRecord
	mPutRecords
	mDeleteRecords
	mDeleteStorage
	mPurgeExpired
	mUserTimestamp
	numMethods
)

func (m method) String() string {
	switch m {
	case mCreateUser:
		return "CreateUser"
	case mLookupUser:
		return "LookupUser"
	case mUpdateUser:
		return "UpdateUser"
	case mDeleteUser:
		return "DeleteUser"
	case mListUsers:
		return "ListUsers"
	case mCollectionTimestamps:
		return "CollectionTimestamps"
	case mCollectionCounts:
		return "CollectionCounts"
	case mCollectionUsage:
		return "CollectionUsage"
	case mGetRecords:
		return "GetRecords"
	case mGetRecord:
		return "GetRecord"
	case mPutRecords:
		return "PutRecords"
	case mDeleteRecords:
		return "DeleteRecords"
	case mDeleteStorage:
		return "DeleteStorage"
	case mPurgeExpired:
		return "PurgeExpired"
	case mUserTimestamp:
		return "UserTimestamp"
	}
	return "unknown"
}

// counters are updated lock-free on every call.
type counters struct {
	hits, misses, bypasses, errors, invalidations atomic.Uint64
	inner                                         [numMethods]atomic.Uint64
}

// Stats returns a snapshot of the counters.
func (s *Store) Stats() Stats {
	st := Stats{
		Hits:                 s.count.hits.Load(),
		Misses:               s.count.misses.Load(),
		Bypasses:             s.count.bypasses.Load(),
		Errors:               s.count.errors.Load(),
		Invalidations:        s.count.invalidations.Load(),
		PendingInvalidations: s.pending.len(),
		InnerCallsByMethod:   make(map[string]uint64, numMethods),
	}
	for m := range numMethods {
		n := s.count.inner[m].Load()
		st.InnerCalls += n
		if n > 0 {
			st.InnerCallsByMethod[m.String()] = n
		}
	}
	return st
}

// Collector exports the counters to Prometheus:
//
//	syncserver_memcache_reads_total{result="hit|miss|bypass"}
//	syncserver_memcache_errors_total
//	syncserver_memcache_invalidations_total
//	syncserver_memcache_pending_invalidations
//	syncserver_store_calls_total{method="..."}   (calls reaching the database)
//
// Register it once per Store (for example with the Caddy context's metrics
// registry); it holds no state of its own.
func (s *Store) Collector() prometheus.Collector {
	return collector{s}
}

var (
	readsDesc = prometheus.NewDesc("syncserver_memcache_reads_total",
		"Cacheable store reads by how they were answered.", []string{"result"}, nil)
	errorsDesc = prometheus.NewDesc("syncserver_memcache_errors_total",
		"Failed memcached calls; the request was answered from the database.", nil, nil)
	invalidationsDesc = prometheus.NewDesc("syncserver_memcache_invalidations_total",
		"Generation bumps delivered to memcached after writes.", nil, nil)
	pendingDesc = prometheus.NewDesc("syncserver_memcache_pending_invalidations",
		"Invalidations waiting for memcached to come back.", nil, nil)
	innerDesc = prometheus.NewDesc("syncserver_store_calls_total",
		"Calls that reached the database behind the cache, by Store method.", []string{"method"}, nil)
)

type collector struct{ s *Store }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- readsDesc
	ch <- errorsDesc
	ch <- invalidationsDesc
	ch <- pendingDesc
	ch <- innerDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	ch <- prometheus.MustNewConstMetric(readsDesc, prometheus.CounterValue, float64(st.Hits), "hit")
	ch <- prometheus.MustNewConstMetric(readsDesc, prometheus.CounterValue, float64(st.Misses), "miss")
	ch <- prometheus.MustNewConstMetric(readsDesc, prometheus.CounterValue, float64(st.Bypasses), "bypass")
	ch <- prometheus.MustNewConstMetric(errorsDesc, prometheus.CounterValue, float64(st.Errors))
	ch <- prometheus.MustNewConstMetric(invalidationsDesc, prometheus.CounterValue, float64(st.Invalidations))
	ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(st.PendingInvalidations))
	for m := range numMethods {
		ch <- prometheus.MustNewConstMetric(innerDesc, prometheus.CounterValue, float64(c.s.count.inner[m].Load()), m.String())
	}
}
