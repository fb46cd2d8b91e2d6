package memcache

import (
	"testing"

	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// TestUserTimestampCachedAndFollowsOtherInstances: the timestamp every
// storage request asks for is served from memcached, and a write through
// another instance (in the same tick, so ahead of the clock) is seen at
// once.
func TestUserTimestampCachedAndFollowsOtherInstances(t *testing.T) {
	f := newFixture(t, testservices.Memcached(t))
	b := f.another(t, f.cfg)
	uid := f.user(t, "alice")
	want := func(s *Store, what string) {
		t.Helper()
		truth, err := f.direct.UserTimestamp(f.ctx, uid)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.UserTimestamp(f.ctx, uid)
		if err != nil || got != truth {
			t.Errorf("%s: UserTimestamp = %s, %v; the database has %s", what, got, err, truth)
		}
	}
	f.put(t, f.cached, uid, "bookmarks", wbo("a", "x"))
	want(f.cached, "A after its write")
	before := innerCalls(f.cached, "UserTimestamp")
	for range 3 {
		want(f.cached, "A again")
	}
	if got := innerCalls(f.cached, "UserTimestamp") - before; got != 0 {
		t.Errorf("repeated UserTimestamp reached the database %d times, want 0", got)
	}
	want(b, "B reads A's answer")
	f.put(t, b, uid, "bookmarks", wbo("b", "x"))
	want(f.cached, "A after B's write in the same tick")
	f.put(t, f.cached, uid, "bookmarks", wbo("c", "x"))
	want(b, "B after A's next write")
}
