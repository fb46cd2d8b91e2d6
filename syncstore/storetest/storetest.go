// Package storetest is the conformance suite every syncstore.Store backend
// runs. It pins the store-level semantics of docs/protocol.md §3, §5 and §6 (and
// the Store interface's doc comments) once, so the SQLite and MySQL
// backends cannot drift apart.
//
// A backend's test calls Run with an Opener:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, clock func() time.Time) syncstore.Store {
//			s, err := mystore.Open(ctx, mystore.Config{Clock: clock, ...})
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// Expectations beyond the interface's doc comments, decided here so both
// backends agree: UpdateUser and DeleteUser of a missing user return
// syncstore.ErrNotFound, as does PutRecords for a missing user; a
// collection whose rows are all expired is absent from (or zero in)
// CollectionCounts and CollectionUsage; sort=index puts records without a
// sortindex last.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// Opener returns a fresh, empty store that reads the time from clock. Run
// closes the store when the subtest ends, before the opener's own
// t.Cleanup functions run (so they may drop the database).
type Opener func(t *testing.T, clock func() time.Time) syncstore.Store

// env is what one subtest works with.
type env struct {
	ctx   context.Context
	store syncstore.Store
	clock *fakeClock
}

// suite lists the subtests; each gets its own store and clock.
var suite = []struct {
	name string
	fn   func(t *testing.T, e *env)
}{
	{"Users/CreateLookup", testCreateLookup},
	{"Users/Exists", testUserExists},
	{"Users/Update", testUpdateUser},
	{"Users/List", testListUsers},
	{"Users/Delete", testDeleteUser},
	{"Users/UnknownUserWrite", testUnknownUserWrite},

	{"Timestamps/FirstWriteUsesClock", testFirstWriteUsesClock},
	{"Timestamps/OnePerRequest", testOneTimestampPerRequest},
	{"Timestamps/StrictlyIncreasing", testStrictlyIncreasing},
	{"Timestamps/ClockStepsBack", testClockStepsBack},
	{"Timestamps/PerUser", testTimestampsPerUser},
	{"Timestamps/UserTimestamp", testUserTimestamp},

	{"Merge/MetadataOnlyUpdate", testMergeMetadataOnly},
	{"Merge/NewMetadataOnlyRecord", testMergeNewMetadataOnly},
	{"Merge/PayloadOnlyUpdate", testMergePayloadOnly},
	{"Merge/TTLAlwaysRewritten", testMergeTTLRewritten},
	{"Merge/DuplicatesInBatch", testMergeDuplicates},
	{"Merge/RecordModified", testRecordModified},
	{"Merge/UsedBytes", testUsedBytes},

	{"Query/Filters", testQueryFilters},
	{"Query/Fields", testQueryFields},
	{"Query/UnknownCollection", testQueryUnknownCollection},
	{"Query/ManyIDs", testQueryManyIDs},

	{"TTL/ZeroHidesAtOnce", testTTLZero},
	{"TTL/ExpiresWithClock", testTTLExpires},
	{"TTL/PutOverExpired", testTTLPutOverExpired},
	{"TTL/PurgeExpired", testPurgeExpired},

	{"CollectionTimestamps/MaxOfRows", testCollectionTimestamps},
	{"CollectionTimestamps/MetadataOnlyKeeps", testCollectionTimestampMetadataOnly},

	{"Names/CustomCollections", testCustomCollections},
	{"Names/CaseSensitiveIDs", testCaseSensitiveIDs},
	{"Values/PayloadRoundTrip", testPayloadRoundTrip},
	{"Values/SortIndexExtremes", testSortIndexExtremes},

	{"Preconditions/IfUnmodifiedSince", testIfUnmodifiedSince},
	{"Preconditions/Quota", testQuota},
	{"Preconditions/QuotaIgnoresExpired", testQuotaIgnoresExpired},
	{"Preconditions/RecordAndCollectionLimits", testRecordAndCollectionLimits},

	{"Delete/ByIDs", testDeleteByIDs},
	{"Delete/Filters", testDeleteFilters},
	{"Delete/LimitSort", testDeleteLimitSort},
	{"Delete/All", testDeleteAll},
	{"Delete/UnknownCollection", testDeleteUnknownCollection},
	{"Delete/Storage", testDeleteStorage},

	{"Concurrency/Writers", testConcurrentWriters},
}

// Run runs the conformance suite against the stores open returns, one
// fresh store per subtest.
func Run(t *testing.T, open Opener) {
	for _, tc := range suite {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock(startTime)
			s := open(t, clock.Now)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, &env{ctx: context.Background(), store: s, clock: clock})
		})
	}
}
