package storetest

import (
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

func testFirstWriteUsesClock(t *testing.T, e *env) {
	u := e.user(t, "alice")
	e.clock.Advance(1234 * time.Millisecond) // not a whole second: the store must truncate to 10 ms
	want := syncstore.TimestampFromTime(e.clock.Now())
	res := e.put(t, u.ID, "bookmarks", rec("a", "x"))
	if res.Modified != want {
		t.Errorf("first write Modified = %s, want the clock's %s", res.Modified, want)
	}
}

func testOneTimestampPerRequest(t *testing.T, e *env) {
	u := e.user(t, "alice")
	res := e.put(t, u.ID, "history", rec("a", "1"), rec("b", "2"), rec("c", "3"), rec("d", "4"), rec("e", "5"))
	for i, m := range res.RecordModified {
		if m != res.Modified {
			t.Errorf("RecordModified[%d] = %s, want the request's %s", i, m, res.Modified)
		}
	}
	for _, w := range e.list(t, u.ID, "history", nil) {
		if w.Modified != res.Modified {
			t.Errorf("stored %s, want modified %s", describe(&w), res.Modified)
		}
	}
	if got := e.stamps(t, u.ID)["history"]; got != res.Modified {
		t.Errorf("collection timestamp = %s, want %s", got, res.Modified)
	}
}

// testStrictlyIncreasing writes several times within one 10 ms tick: every
// write request, deletes included, must get a later timestamp.
func testStrictlyIncreasing(t *testing.T, e *env) {
	u := e.user(t, "alice")
	now := syncstore.TimestampFromTime(e.clock.Now())
	var seen []syncstore.Timestamp
	seen = append(seen, e.put(t, u.ID, "bookmarks", rec("a", "x")).Modified)
	seen = append(seen, e.put(t, u.ID, "bookmarks", rec("b", "x")).Modified)
	seen = append(seen, e.put(t, u.ID, "history", rec("c", "x")).Modified)
	seen = append(seen, e.del(t, u.ID, "bookmarks", &syncstore.Query{IDs: []string{"a"}}))
	seen = append(seen, e.del(t, u.ID, "nothing-here", nil))
	ts, err := e.store.DeleteStorage(e.ctx, u.ID)
	if err != nil {
		t.Fatalf("DeleteStorage: %v", err)
	}
	seen = append(seen, ts)
	seen = append(seen, e.put(t, u.ID, "bookmarks", rec("d", "x")).Modified)
	if seen[0] != now {
		t.Errorf("first timestamp = %s, want the clock's %s", seen[0], now)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			t.Errorf("write %d got %s, not after write %d's %s (all: %v)", i, seen[i], i-1, seen[i-1], seen)
		}
	}
	// Once the clock moves past the bumped values, timestamps follow it again.
	e.clock.Advance(time.Minute)
	if got, want := e.put(t, u.ID, "bookmarks", rec("e", "x")).Modified, syncstore.TimestampFromTime(e.clock.Now()); got != want {
		t.Errorf("after the clock advanced, Modified = %s, want %s", got, want)
	}
}

func testClockStepsBack(t *testing.T, e *env) {
	u := e.user(t, "alice")
	first := e.put(t, u.ID, "bookmarks", rec("a", "x")).Modified
	e.clock.Advance(-time.Hour)
	second := e.put(t, u.ID, "bookmarks", rec("b", "x")).Modified
	if second <= first {
		t.Errorf("after the clock stepped back an hour, Modified = %s, not after %s", second, first)
	}
	third, err := e.store.DeleteRecords(e.ctx, u.ID, "bookmarks", &syncstore.Query{IDs: []string{"a"}}, syncstore.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if third <= second {
		t.Errorf("delete after the step back got %s, not after %s", third, second)
	}
	if w := e.get(t, u.ID, "bookmarks", "b"); w.Modified != second {
		t.Errorf("record written after the step back has modified %s, want %s", w.Modified, second)
	}
	if got := e.list(t, u.ID, "bookmarks", &syncstore.Query{Newer: tsPtr(first)}); len(got) != 1 || got[0].ID != "b" {
		t.Errorf("newer=%s after the step back = %v, want [b]", first, idsOf(got))
	}
}

func testTimestampsPerUser(t *testing.T, e *env) {
	alice := e.user(t, "alice")
	bob := e.user(t, "bob")
	now := syncstore.TimestampFromTime(e.clock.Now())
	for i := range 3 {
		if got := e.put(t, alice.ID, "bookmarks", rec("a", "x")).Modified; got != now+syncstore.Timestamp(i) {
			t.Errorf("alice's write %d at a frozen clock = %s, want %s", i, got, now+syncstore.Timestamp(i))
		}
	}
	if got := e.put(t, bob.ID, "bookmarks", rec("b", "x")).Modified; got != now {
		t.Errorf("bob's first write = %s, want the clock's %s (users' sequences are independent)", got, now)
	}
}
