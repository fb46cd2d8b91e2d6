package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// fixture is the collection the query tests read: one record per write
// request, so fixture[i] has the i-th timestamp. Ids mix cases so that id
// order ("A" < "B" < "C" < "a" < …, bytewise) differs from write order and
// from sortindex order.
var fixture = []syncstore.WBO{
	{ID: "d", SortIndex: num(40), ParentID: str("p1")},
	{ID: "B", SortIndex: num(10), ParentID: str("p2"), PredecessorID: str("x")},
	{ID: "a", ParentID: str("p1"), PredecessorID: str("x")},
	{ID: "C", SortIndex: num(-syncstore.MaxSortIndex)},
	{ID: "e", SortIndex: num(syncstore.MaxSortIndex), ParentID: str("p1"), PredecessorID: str("y")},
	{ID: "f", SortIndex: num(25), ParentID: str("p2")},
	{ID: "b", SortIndex: num(5), PredecessorID: str("x")},
	{ID: "A", SortIndex: num(30), ParentID: str("p1")},
}

// loadFixture writes the fixture into coll a second apart and returns each
// record's timestamp.
func loadFixture(t *testing.T, e *env, uid int64, coll string) []syncstore.Timestamp {
	t.Helper()
	mod := make([]syncstore.Timestamp, len(fixture))
	for i, w := range fixture {
		w.Payload = str("payload of " + w.ID)
		mod[i] = e.put(t, uid, coll, w).Modified
		e.clock.Advance(time.Second)
	}
	return mod
}

func testQueryFilters(t *testing.T, e *env) {
	u := e.user(t, "alice")
	m := loadFixture(t, e, u.ID, "bookmarks")
	all := idsOf(fixture)
	cases := []struct {
		name    string
		q       syncstore.Query
		want    []string
		ordered bool
	}{
		{"none", syncstore.Query{}, all, false},
		{"ids", syncstore.Query{IDs: []string{"a", "C", "zz"}}, []string{"a", "C"}, false},
		{"ids are case-sensitive", syncstore.Query{IDs: []string{"A"}}, []string{"A"}, false},
		{"empty ids", syncstore.Query{IDs: []string{}}, nil, false},
		{"parentid", syncstore.Query{ParentID: str("p1")}, []string{"d", "a", "e", "A"}, false},
		{"predecessorid", syncstore.Query{PredecessorID: str("x")}, []string{"B", "a", "b"}, false},
		{"parentid and predecessorid", syncstore.Query{ParentID: str("p1"), PredecessorID: str("x")}, []string{"a"}, false},
		{"parentid and ids", syncstore.Query{ParentID: str("p2"), IDs: []string{"B", "d"}}, []string{"B"}, false},
		{"newer is strict", syncstore.Query{Newer: &m[5]}, []string{"b", "A"}, false},
		{"older is strict", syncstore.Query{Older: &m[2]}, []string{"d", "B"}, false},
		{"newer and older", syncstore.Query{Newer: &m[1], Older: &m[5]}, []string{"a", "C", "e"}, false},
		{"newer and older equal", syncstore.Query{Newer: &m[3], Older: &m[3]}, nil, false},
		{"newer than all", syncstore.Query{Newer: &m[7]}, nil, false},
		{"older than all", syncstore.Query{Older: &m[0]}, nil, false},
		{"index_above is strict", syncstore.Query{IndexAbove: floatPtr(25)}, []string{"d", "e", "A"}, false},
		{"index_above fraction", syncstore.Query{IndexAbove: floatPtr(24.5)}, []string{"d", "e", "f", "A"}, false},
		{"index_below is strict", syncstore.Query{IndexBelow: floatPtr(10)}, []string{"C", "b"}, false},
		{"index_above and index_below", syncstore.Query{IndexAbove: floatPtr(5), IndexBelow: floatPtr(40)}, []string{"B", "f", "A"}, false},
		{"index_above minimum", syncstore.Query{IndexAbove: floatPtr(-syncstore.MaxSortIndex)}, []string{"d", "B", "e", "f", "b", "A"}, false},
		{"index_below maximum", syncstore.Query{IndexBelow: floatPtr(syncstore.MaxSortIndex)}, []string{"d", "B", "C", "f", "b", "A"}, false},
		{"limit without sort is id order", syncstore.Query{Limit: 3}, []string{"A", "B", "C"}, true},
		{"limit and offset", syncstore.Query{Limit: 3, Offset: 2}, []string{"C", "a", "b"}, true},
		{"offset past the end", syncstore.Query{Limit: 3, Offset: 8}, nil, true},
		{"offset without limit is ignored", syncstore.Query{Offset: 3}, all, false},
		{"limit larger than rows", syncstore.Query{Limit: 100}, []string{"A", "B", "C", "a", "b", "d", "e", "f"}, true},
		{"sort oldest", syncstore.Query{Sort: syncstore.SortOldest}, []string{"d", "B", "a", "C", "e", "f", "b", "A"}, true},
		{"sort newest", syncstore.Query{Sort: syncstore.SortNewest}, []string{"A", "b", "f", "e", "C", "a", "B", "d"}, true},
		{"sort index, no sortindex last", syncstore.Query{Sort: syncstore.SortIndex}, []string{"e", "d", "A", "f", "B", "b", "C", "a"}, true},
		{"sort newest with limit and offset", syncstore.Query{Sort: syncstore.SortNewest, Limit: 2, Offset: 1}, []string{"b", "f"}, true},
		{"sort oldest with limit", syncstore.Query{Sort: syncstore.SortOldest, Limit: 2}, []string{"d", "B"}, true},
		{"sort oldest and newer", syncstore.Query{Sort: syncstore.SortOldest, Newer: &m[4]}, []string{"f", "b", "A"}, true},
		{"sort index, parentid and limit", syncstore.Query{Sort: syncstore.SortIndex, ParentID: str("p1"), Limit: 2}, []string{"e", "d"}, true},
		{"newer, index_below, sort oldest", syncstore.Query{Newer: &m[0], IndexBelow: floatPtr(30), Sort: syncstore.SortOldest}, []string{"B", "C", "f", "b"}, true},
		{"ids, older, sort newest", syncstore.Query{IDs: []string{"a", "b", "d", "f"}, Older: &m[6], Sort: syncstore.SortNewest}, []string{"f", "a", "d"}, true},
	}
	for _, c := range cases {
		q := c.q
		got := e.listIDs(t, u.ID, "bookmarks", &q)
		if c.ordered && !slices.Equal(got, c.want) || !c.ordered && !sameSet(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func testQueryFields(t *testing.T, e *env) {
	u := e.user(t, "alice")
	m := loadFixture(t, e, u.ID, "bookmarks")
	got := e.list(t, u.ID, "bookmarks", &syncstore.Query{Sort: syncstore.SortOldest})
	if len(got) != len(fixture) {
		t.Fatalf("listed %d records, want %d", len(got), len(fixture))
	}
	for i, w := range fixture {
		w.Payload = str("payload of " + w.ID)
		w.Modified = m[i]
		wantRecord(t, &got[i], w)
		if got[i].TTL != nil {
			t.Errorf("GetRecords returned a TTL for %s", w.ID)
		}
		wantRecord(t, e.get(t, u.ID, "bookmarks", w.ID), w)
	}
}

func testQueryUnknownCollection(t *testing.T, e *env) {
	u := e.user(t, "alice")
	e.put(t, u.ID, "bookmarks", rec("a", "x"))
	if got := e.list(t, u.ID, "nonexistent", nil); len(got) != 0 {
		t.Errorf("unknown collection listed %v", idsOf(got))
	}
	if got := e.list(t, u.ID, "history", &syncstore.Query{Limit: 5, Sort: syncstore.SortNewest}); len(got) != 0 {
		t.Errorf("empty standard collection listed %v", idsOf(got))
	}
	if _, err := e.store.GetRecord(e.ctx, u.ID, "nonexistent", "a"); !errors.Is(err, syncstore.ErrNotFound) {
		t.Errorf("GetRecord in an unknown collection error = %v, want ErrNotFound", err)
	}
	e.wantMissing(t, u.ID, "bookmarks", "b")
}

// testQueryManyIDs uses an ids list longer than clients send, past the
// point where binding one parameter per id stops working in some engines.
func testQueryManyIDs(t *testing.T, e *env) {
	u := e.user(t, "alice")
	e.put(t, u.ID, "history", rec("keep", "1"), rec("x17", "2"), rec("x1999", "3"))
	ids := make([]string, 2000)
	for i := range ids {
		ids[i] = fmt.Sprintf("x%d", i)
	}
	if got := e.listIDs(t, u.ID, "history", &syncstore.Query{IDs: ids}); !sameSet(got, []string{"x17", "x1999"}) {
		t.Errorf("2000 ids listed %v, want [x17 x1999]", got)
	}
	e.del(t, u.ID, "history", &syncstore.Query{IDs: ids})
	if got := e.listIDs(t, u.ID, "history", nil); !slices.Equal(got, []string{"keep"}) {
		t.Errorf("after deleting 2000 ids: %v, want [keep]", got)
	}
}
