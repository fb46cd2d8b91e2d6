package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

func testDeleteByIDs(t *testing.T, e *env) {
	u := e.user(t, "alice")
	e.put(t, u.ID, "bookmarks", rec("a", "1"), rec("b", "22"), rec("c", "333"), rec("d", "4444"))
	e.put(t, u.ID, "history", rec("a", "h"))
	e.del(t, u.ID, "bookmarks", &syncstore.Query{IDs: []string{"a", "c", "missing"}})
	if got := e.listIDs(t, u.ID, "bookmarks", nil); !sameSet(got, []string{"b", "d"}) {
		t.Errorf("after deleting a and c: %v, want [b d]", got)
	}
	e.get(t, u.ID, "history", "a") // same id in another collection survives
	wantCounts(t, "counts", e.counts(t, u.ID), map[string]int64{"bookmarks": 2, "history": 1})
	wantCounts(t, "usage", e.usage(t, u.ID), map[string]int64{"bookmarks": 6, "history": 1})
	// An empty id list deletes nothing.
	e.del(t, u.ID, "bookmarks", &syncstore.Query{IDs: []string{}})
	if got := e.listIDs(t, u.ID, "bookmarks", nil); len(got) != 2 {
		t.Errorf("ids=[] deleted records: left %v", got)
	}
}

func testDeleteFilters(t *testing.T, e *env) {
	u := e.user(t, "alice")
	m := loadFixture(t, e, u.ID, "bookmarks")
	e.del(t, u.ID, "bookmarks", &syncstore.Query{Newer: &m[5]}) // b, A
	e.del(t, u.ID, "bookmarks", &syncstore.Query{ParentID: str("p2")})
	e.del(t, u.ID, "bookmarks", &syncstore.Query{IndexBelow: floatPtr(0)})
	want := []string{"d", "a", "e"}
	if got := e.listIDs(t, u.ID, "bookmarks", nil); !sameSet(got, want) {
		t.Errorf("after deletes: %v, want %v", got, want)
	}
	wantCounts(t, "timestamps", e.stamps(t, u.ID), map[string]syncstore.Timestamp{"bookmarks": m[4]})
	e.del(t, u.ID, "bookmarks", &syncstore.Query{Older: &m[4], PredecessorID: str("x")})
	if got := e.listIDs(t, u.ID, "bookmarks", nil); !sameSet(got, []string{"d", "e"}) {
		t.Errorf("after older+predecessorid delete: %v, want [d e]", got)
	}
	wantCounts(t, "counts", e.counts(t, u.ID), map[string]int64{"bookmarks": 2})
}

func testDeleteLimitSort(t *testing.T, e *env) {
	u := e.user(t, "alice")
	m := loadFixture(t, e, u.ID, "bookmarks")
	e.del(t, u.ID, "bookmarks", &syncstore.Query{Sort: syncstore.SortOldest, Limit: 2}) // d, B
	if got := e.listIDs(t, u.ID, "bookmarks", nil); !sameSet(got, []string{"a", "C", "e", "f", "b", "A"}) {
		t.Errorf("after deleting the 2 oldest: %v", got)
	}
	e.del(t, u.ID, "bookmarks", &syncstore.Query{Sort: syncstore.SortNewest, Limit: 1, Offset: 1}) // b
	if got := e.listIDs(t, u.ID, "bookmarks", nil); !sameSet(got, []string{"a", "C", "e", "f", "A"}) {
		t.Errorf("after deleting the 2nd newest: %v", got)
	}
	e.del(t, u.ID, "bookmarks", &syncstore.Query{Sort: syncstore.SortIndex, Limit: 2}) // e, A
	if got := e.listIDs(t, u.ID, "bookmarks", nil); !sameSet(got, []string{"a", "C", "f"}) {
		t.Errorf("after deleting the 2 highest sortindexes: %v", got)
	}
	e.del(t, u.ID, "bookmarks", &syncstore.Query{Limit: 1}) // id order: C
	if got := e.listIDs(t, u.ID, "bookmarks", nil); !sameSet(got, []string{"a", "f"}) {
		t.Errorf("after deleting the first id: %v", got)
	}
	wantCounts(t, "timestamps", e.stamps(t, u.ID), map[string]syncstore.Timestamp{"bookmarks": m[5]})
	wantCounts(t, "counts", e.counts(t, u.ID), map[string]int64{"bookmarks": 2})
	wantCounts(t, "usage", e.usage(t, u.ID), map[string]int64{"bookmarks": int64(2 * len("payload of a"))})
}

func testDeleteAll(t *testing.T, e *env) {
	u := e.user(t, "alice")
	e.put(t, u.ID, "bookmarks", rec("a", "1"), rec("b", "2"))
	e.put(t, u.ID, "bookmarks", syncstore.WBO{ID: "expired", Payload: str("3"), TTL: num(0)})
	e.put(t, u.ID, "history", rec("h", "x"))
	e.clock.Advance(time.Second)
	ts := e.del(t, u.ID, "bookmarks", nil)
	if got := e.listIDs(t, u.ID, "bookmarks", nil); len(got) != 0 {
		t.Errorf("after deleting the collection: %v", got)
	}
	// The expired row went too, so the collection vanished.
	if _, ok := e.stamps(t, u.ID)["bookmarks"]; ok {
		t.Errorf("deleted collection still in timestamps: %v", e.stamps(t, u.ID))
	}
	if want := syncstore.TimestampFromTime(e.clock.Now()); ts != want {
		t.Errorf("DeleteRecords returned %s, want the request timestamp %s", ts, want)
	}
	e.get(t, u.ID, "history", "h")
	if got := e.put(t, u.ID, "history", rec("h", "x")).UsedBytes; got != 1 {
		t.Errorf("UsedBytes after deleting the collection = %d, want 1", got)
	}
	// Deleting an expired record by id removes it too.
	e.put(t, u.ID, "tabs", syncstore.WBO{ID: "t", Payload: str("x"), TTL: num(0)})
	e.del(t, u.ID, "tabs", &syncstore.Query{IDs: []string{"t"}})
	if _, ok := e.stamps(t, u.ID)["tabs"]; ok {
		t.Errorf("expired record survived a delete by id: %v", e.stamps(t, u.ID))
	}
}

func testDeleteUnknownCollection(t *testing.T, e *env) {
	u := e.user(t, "alice")
	first := e.put(t, u.ID, "bookmarks", rec("a", "1")).Modified
	ts := e.del(t, u.ID, "never-used", nil)
	if ts <= first {
		t.Errorf("delete of an unknown collection returned %s, not after %s", ts, first)
	}
	ts2 := e.del(t, u.ID, "history", &syncstore.Query{IDs: []string{"x"}})
	if ts2 <= ts {
		t.Errorf("delete of nothing returned %s, not after %s", ts2, ts)
	}
	wantCounts(t, "timestamps", e.stamps(t, u.ID), map[string]syncstore.Timestamp{"bookmarks": first})
}

func testDeleteStorage(t *testing.T, e *env) {
	alice := e.user(t, "alice")
	bob := e.user(t, "bob")
	e.put(t, alice.ID, "bookmarks", rec("a", "1"))
	e.put(t, alice.ID, "custom", rec("c", "2"))
	last := e.put(t, alice.ID, "tabs", syncstore.WBO{ID: "t", Payload: str("3"), TTL: num(0)}).Modified
	bobTS := e.put(t, bob.ID, "bookmarks", rec("b", "1")).Modified

	ts, err := e.store.DeleteStorage(e.ctx, alice.ID)
	if err != nil {
		t.Fatalf("DeleteStorage: %v", err)
	}
	if ts <= last {
		t.Errorf("DeleteStorage returned %s, not after %s", ts, last)
	}
	if got := e.stamps(t, alice.ID); len(got) != 0 {
		t.Errorf("timestamps after DeleteStorage = %v, want {}", got)
	}
	if got := nonZero(e.counts(t, alice.ID)); len(got) != 0 {
		t.Errorf("counts after DeleteStorage = %v", got)
	}
	if got := nonZero(e.usage(t, alice.ID)); len(got) != 0 {
		t.Errorf("usage after DeleteStorage = %v", got)
	}
	e.wantMissing(t, alice.ID, "bookmarks", "a")
	if _, err := e.store.LookupUser(e.ctx, "alice"); err != nil {
		t.Errorf("DeleteStorage removed the account: %v", err)
	}
	wantCounts(t, "bob's timestamps", e.stamps(t, bob.ID), map[string]syncstore.Timestamp{"bookmarks": bobTS})
	// The expired record went too: there is nothing left to purge.
	if n, err := e.store.PurgeExpired(e.ctx, e.clock.Now().Add(time.Hour), 0); err != nil || n != 0 {
		t.Errorf("PurgeExpired after DeleteStorage = %d, %v; want 0 (expired rows must be deleted too)", n, err)
	}
	if got := e.put(t, alice.ID, "custom", rec("c", "xy")).UsedBytes; got != 2 {
		t.Errorf("UsedBytes after DeleteStorage and one write = %d, want 2", got)
	}
	if got := e.listIDs(t, alice.ID, "custom", nil); !slices.Equal(got, []string{"c"}) {
		t.Errorf("custom after rewrite = %v", got)
	}
}
