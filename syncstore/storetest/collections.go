package storetest

import (
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

func testCollectionTimestamps(t *testing.T, e *env) {
	u := e.user(t, "alice")
	if got := e.stamps(t, u.ID); len(got) != 0 {
		t.Errorf("new user's collections = %v, want none", got)
	}
	b1 := e.put(t, u.ID, "bookmarks", rec("a", "x"), rec("b", "x")).Modified
	e.clock.Advance(time.Second)
	h := e.put(t, u.ID, "history", rec("h", "x")).Modified
	e.clock.Advance(time.Second)
	b2 := e.put(t, u.ID, "bookmarks", rec("c", "x")).Modified
	e.clock.Advance(time.Second)
	m := e.put(t, u.ID, "meta", rec("global", "x")).Modified
	wantCounts(t, "timestamps", e.stamps(t, u.ID), map[string]syncstore.Timestamp{"bookmarks": b2, "history": h, "meta": m})

	// Deleting the newest record moves the collection's timestamp back.
	e.del(t, u.ID, "bookmarks", &syncstore.Query{IDs: []string{"c"}})
	wantCounts(t, "after deleting the newest bookmark", e.stamps(t, u.ID), map[string]syncstore.Timestamp{"bookmarks": b1, "history": h, "meta": m})
	// Deleting an older record changes nothing.
	e.del(t, u.ID, "bookmarks", &syncstore.Query{IDs: []string{"a"}})
	wantCounts(t, "after deleting an older bookmark", e.stamps(t, u.ID), map[string]syncstore.Timestamp{"bookmarks": b1, "history": h, "meta": m})
	// An emptied collection vanishes.
	e.del(t, u.ID, "history", &syncstore.Query{IDs: []string{"h"}})
	e.del(t, u.ID, "meta", nil)
	wantCounts(t, "after emptying history and meta", e.stamps(t, u.ID), map[string]syncstore.Timestamp{"bookmarks": b1})
	wantCounts(t, "counts", e.counts(t, u.ID), map[string]int64{"bookmarks": 1})
	wantCounts(t, "usage", e.usage(t, u.ID), map[string]int64{"bookmarks": 1})
	// A collection that was emptied comes back with its new rows.
	e.clock.Advance(time.Second)
	h2 := e.put(t, u.ID, "history", rec("h", "xy")).Modified
	wantCounts(t, "after refilling history", e.stamps(t, u.ID), map[string]syncstore.Timestamp{"bookmarks": b1, "history": h2})
	wantCounts(t, "usage after refilling", e.usage(t, u.ID), map[string]int64{"bookmarks": 1, "history": 2})
}

// testCollectionTimestampMetadataOnly: a metadata-only update leaves every
// record's modified alone, so the collection's maximum does not move.
func testCollectionTimestampMetadataOnly(t *testing.T, e *env) {
	u := e.user(t, "alice")
	first := e.put(t, u.ID, "bookmarks", rec("a", "x")).Modified
	e.clock.Advance(time.Second)
	res := e.put(t, u.ID, "bookmarks", syncstore.WBO{ID: "a", SortIndex: num(100)})
	if got := e.stamps(t, u.ID)["bookmarks"]; got != first {
		t.Errorf("collection timestamp after a metadata-only update = %s, want the unchanged %s", got, first)
	}
	// The request timestamp was still consumed: the next write is later.
	if next := e.put(t, u.ID, "history", rec("h", "x")).Modified; next <= res.Modified {
		t.Errorf("next write got %s, not after the metadata-only request's %s", next, res.Modified)
	}
}
