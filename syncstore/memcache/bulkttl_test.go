package memcache

import (
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

func stored(id, payload string, modified syncstore.Timestamp, expiry int64) syncstore.StoredRecord {
	return syncstore.StoredRecord{ID: id, Payload: &payload, Modified: modified, Expiry: expiry}
}

// TestBulkExpiryNotServedAfterExpiry: records imported with an expiry
// (the bulk writes keep every stored value, expiry included) stop
// counting when it passes, as records written with a TTL do, so the
// cache must not keep serving meta/global or the quota from before.
func TestBulkExpiryNotServedAfterExpiry(t *testing.T) {
	f := newFixture(t, testservices.Memcached(t))
	uid := f.user(t, "alice")
	exp := f.clock.Now().Unix() + 10
	mod := syncstore.Timestamp(f.clock.Now().UnixMilli() / 10)
	if err := f.cached.ReplaceRecords(f.ctx, uid, "meta", []syncstore.StoredRecord{stored("global", "g", mod, exp)}); err != nil {
		t.Fatal(err)
	}
	if err := f.cached.InsertRecords(f.ctx, uid, "tabs", []syncstore.StoredRecord{stored("t1", "123456", mod, exp)}); err != nil {
		t.Fatal(err)
	}
	f.wantView(t, f.cached, uid, "fresh")
	f.wantView(t, f.cached, uid, "fresh, again")
	f.clock.Advance(15 * time.Second)
	f.wantView(t, f.cached, uid, "expired")

	// Records that never expire keep the user fully cached.
	plain := f.user(t, "bob")
	if err := f.cached.ReplaceRecords(f.ctx, plain, "meta", []syncstore.StoredRecord{stored("global", "g", mod, syncstore.NoExpiry)}); err != nil {
		t.Fatal(err)
	}
	f.wantView(t, f.cached, plain, "bob fill")
	hits := f.cached.Stats().Hits
	f.wantView(t, f.cached, plain, "bob again")
	if got := f.cached.Stats().Hits - hits; got != 4 {
		t.Errorf("bob: %d hits, want 4", got)
	}
}
