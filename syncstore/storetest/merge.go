package storetest

import (
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// full is a record with every optional field set.
func full(id, payload string, sortindex int64, parent, pred string) syncstore.WBO {
	return syncstore.WBO{ID: id, Payload: str(payload), SortIndex: num(sortindex), ParentID: str(parent), PredecessorID: str(pred)}
}

func testMergeMetadataOnly(t *testing.T, e *env) {
	u := e.user(t, "alice")
	first := e.put(t, u.ID, "bookmarks", full("a", "payload-1", 5, "p", "q"))
	e.clock.Advance(time.Second)
	second := e.put(t, u.ID, "bookmarks", syncstore.WBO{ID: "a", SortIndex: num(7)})
	if second.Modified <= first.Modified {
		t.Fatalf("second request Modified = %s, not after %s", second.Modified, first.Modified)
	}
	if second.RecordModified[0] != first.Modified {
		t.Errorf("metadata-only update RecordModified = %s, want the unchanged %s", second.RecordModified[0], first.Modified)
	}
	wantRecord(t, e.get(t, u.ID, "bookmarks", "a"), syncstore.WBO{
		ID: "a", Modified: first.Modified, Payload: str("payload-1"), SortIndex: num(7), ParentID: str("p"), PredecessorID: str("q"),
	})

	e.clock.Advance(time.Second)
	e.put(t, u.ID, "bookmarks", syncstore.WBO{ID: "a", ParentID: str("p2"), PredecessorID: str("q2")})
	wantRecord(t, e.get(t, u.ID, "bookmarks", "a"), syncstore.WBO{
		ID: "a", Modified: first.Modified, Payload: str("payload-1"), SortIndex: num(7), ParentID: str("p2"), PredecessorID: str("q2"),
	})
	if got := e.list(t, u.ID, "bookmarks", &syncstore.Query{Newer: tsPtr(first.Modified)}); len(got) != 0 {
		t.Errorf("metadata-only updates made the record newer than %s: %v", first.Modified, idsOf(got))
	}
}

func testMergeNewMetadataOnly(t *testing.T, e *env) {
	u := e.user(t, "alice")
	e.put(t, u.ID, "bookmarks", rec("other", "x"))
	e.clock.Advance(time.Second)
	res := e.put(t, u.ID, "bookmarks", syncstore.WBO{ID: "a", SortIndex: num(3)})
	if res.RecordModified[0] != res.Modified {
		t.Errorf("new metadata-only record RecordModified = %s, want the request's %s", res.RecordModified[0], res.Modified)
	}
	wantRecord(t, e.get(t, u.ID, "bookmarks", "a"), syncstore.WBO{ID: "a", Modified: res.Modified, SortIndex: num(3)})
	if got := e.stamps(t, u.ID)["bookmarks"]; got != res.Modified {
		t.Errorf("collection timestamp = %s, want %s", got, res.Modified)
	}
	if got := e.counts(t, u.ID)["bookmarks"]; got != 2 {
		t.Errorf("count = %d, want 2", got)
	}
}

func testMergePayloadOnly(t *testing.T, e *env) {
	u := e.user(t, "alice")
	e.put(t, u.ID, "bookmarks", full("a", "old", -3, "p", "q"))
	e.clock.Advance(time.Second)
	res := e.put(t, u.ID, "bookmarks", rec("a", "new payload"))
	if res.RecordModified[0] != res.Modified {
		t.Errorf("payload update RecordModified = %s, want %s", res.RecordModified[0], res.Modified)
	}
	wantRecord(t, e.get(t, u.ID, "bookmarks", "a"), syncstore.WBO{
		ID: "a", Modified: res.Modified, Payload: str("new payload"), SortIndex: num(-3), ParentID: str("p"), PredecessorID: str("q"),
	})
	if got := e.usage(t, u.ID)["bookmarks"]; got != int64(len("new payload")) {
		t.Errorf("usage = %d, want %d (the new payload's size)", got, len("new payload"))
	}
}

func testMergeTTLRewritten(t *testing.T, e *env) {
	u := e.user(t, "alice")
	// A TTL, then a metadata-only update without one: never expires.
	e.put(t, u.ID, "tabs", syncstore.WBO{ID: "a", Payload: str("x"), TTL: num(10)})
	e.put(t, u.ID, "tabs", syncstore.WBO{ID: "a", SortIndex: num(1)})
	// No TTL, then a metadata-only update with one: expires.
	e.put(t, u.ID, "tabs", rec("b", "y"))
	e.put(t, u.ID, "tabs", syncstore.WBO{ID: "b", TTL: num(10)})
	// A TTL, then a payload update with a longer one.
	e.put(t, u.ID, "tabs", syncstore.WBO{ID: "c", Payload: str("z"), TTL: num(10)})
	e.put(t, u.ID, "tabs", syncstore.WBO{ID: "c", Payload: str("zz"), TTL: num(100)})

	e.clock.Advance(11 * time.Second)
	e.get(t, u.ID, "tabs", "a")
	e.wantMissing(t, u.ID, "tabs", "b")
	if w := e.get(t, u.ID, "tabs", "c"); w.Payload == nil || *w.Payload != "zz" {
		t.Errorf("record c = %s, want payload zz", describe(w))
	}
	e.clock.Advance(100 * time.Second)
	e.wantMissing(t, u.ID, "tabs", "c")
	e.get(t, u.ID, "tabs", "a")
}

func testMergeDuplicates(t *testing.T, e *env) {
	u := e.user(t, "alice")
	stored := e.put(t, u.ID, "bookmarks", full("x", "stored", 1, "p", "q"))
	e.clock.Advance(time.Second)
	res := e.put(t, u.ID, "bookmarks",
		syncstore.WBO{ID: "n", Payload: str("first"), SortIndex: num(1)},
		syncstore.WBO{ID: "n", SortIndex: num(2), ParentID: str("pn")},
		syncstore.WBO{ID: "m", Payload: str("one")},
		syncstore.WBO{ID: "m", Payload: str("two")},
		syncstore.WBO{ID: "x", SortIndex: num(9)},
		syncstore.WBO{ID: "x", ParentID: str("p2")},
		syncstore.WBO{ID: "t", Payload: str("t"), TTL: num(10)},
		syncstore.WBO{ID: "t", TTL: num(100)},
	)
	wantRecord(t, e.get(t, u.ID, "bookmarks", "n"), syncstore.WBO{
		ID: "n", Modified: res.Modified, Payload: str("first"), SortIndex: num(2), ParentID: str("pn"),
	})
	wantRecord(t, e.get(t, u.ID, "bookmarks", "m"), syncstore.WBO{ID: "m", Modified: res.Modified, Payload: str("two")})
	old := stored.Modified
	if res.RecordModified[4] != old || res.RecordModified[5] != old {
		t.Errorf("metadata-only duplicates of an existing record: RecordModified = %v, want %s for both", res.RecordModified[4:], old)
	}
	wantRecord(t, e.get(t, u.ID, "bookmarks", "x"), syncstore.WBO{
		ID: "x", Modified: old, Payload: str("stored"), SortIndex: num(9), ParentID: str("p2"), PredecessorID: str("q"),
	})
	if got := e.counts(t, u.ID)["bookmarks"]; got != 4 {
		t.Errorf("count = %d, want 4", got)
	}
	if got, want := e.usage(t, u.ID)["bookmarks"], int64(len("first")+len("two")+len("stored")+len("t")); got != want {
		t.Errorf("usage = %d, want %d (duplicates counted once)", got, want)
	}
	// The later duplicate's TTL wins.
	e.clock.Advance(50 * time.Second)
	e.get(t, u.ID, "bookmarks", "t")
	e.clock.Advance(50 * time.Second)
	e.wantMissing(t, u.ID, "bookmarks", "t")
}

// testRecordModified checks that RecordModified[i] is the stored modified
// of recs[i] after the write, whatever mix of updates the request holds.
func testRecordModified(t *testing.T, e *env) {
	u := e.user(t, "alice")
	first := e.put(t, u.ID, "bookmarks", rec("old1", "a"), rec("old2", "b"))
	e.clock.Advance(time.Second)
	recs := []syncstore.WBO{
		{ID: "old1", SortIndex: num(4)},  // metadata only: keeps first.Modified
		{ID: "new1", ParentID: str("p")}, // new: request timestamp
		{ID: "old2", Payload: str("b2")}, // payload: request timestamp
		{ID: "new2", Payload: str("c")},
	}
	res := e.put(t, u.ID, "bookmarks", recs...)
	want := []syncstore.Timestamp{first.Modified, res.Modified, res.Modified, res.Modified}
	for i, w := range recs {
		if res.RecordModified[i] != want[i] {
			t.Errorf("RecordModified[%d] (%s) = %s, want %s", i, w.ID, res.RecordModified[i], want[i])
		}
		if got := e.get(t, u.ID, "bookmarks", w.ID).Modified; got != res.RecordModified[i] {
			t.Errorf("stored modified of %s = %s, RecordModified says %s", w.ID, got, res.RecordModified[i])
		}
	}
}

func testUsedBytes(t *testing.T, e *env) {
	u := e.user(t, "alice")
	if got := e.put(t, u.ID, "bookmarks", rec("a", "12345"), rec("b", "123")).UsedBytes; got != 8 {
		t.Errorf("UsedBytes = %d, want 8", got)
	}
	if got := e.put(t, u.ID, "history", rec("h", "1234567890")).UsedBytes; got != 18 {
		t.Errorf("UsedBytes over two collections = %d, want 18", got)
	}
	if got := e.put(t, u.ID, "bookmarks", rec("a", "1")).UsedBytes; got != 14 {
		t.Errorf("UsedBytes after shrinking a payload = %d, want 14", got)
	}
	if got := e.put(t, u.ID, "bookmarks", syncstore.WBO{ID: "b", SortIndex: num(1)}).UsedBytes; got != 14 {
		t.Errorf("UsedBytes after a metadata-only update = %d, want 14", got)
	}
	// Expired but unpurged rows still count.
	if got := e.put(t, u.ID, "tabs", syncstore.WBO{ID: "t", Payload: str("xyz"), TTL: num(0)}).UsedBytes; got != 17 {
		t.Errorf("UsedBytes with an expired record = %d, want 17", got)
	}
	wantCounts(t, "usage", nonZero(e.usage(t, u.ID)), map[string]int64{"bookmarks": 4, "history": 10})
	e.del(t, u.ID, "history", nil)
	if got := e.put(t, u.ID, "bookmarks", rec("c", "")).UsedBytes; got != 7 {
		t.Errorf("UsedBytes after deleting a collection = %d, want 7", got)
	}
}
