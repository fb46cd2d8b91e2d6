package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// testUserTimestamp: UserTimestamp follows every write request, deletes
// included, also when writes within one tick run ahead of the clock; it
// is per user and ErrNotFound for a missing one.
func testUserTimestamp(t *testing.T, e *env) {
	alice := e.user(t, "alice")
	bob := e.user(t, "bob")
	want := func(u *syncstore.User, ts syncstore.Timestamp, after string) {
		t.Helper()
		got, err := e.store.UserTimestamp(e.ctx, u.ID)
		if err != nil || got != ts {
			t.Errorf("UserTimestamp of %s after %s = %s, %v; want %s", u.Name, after, got, err, ts)
		}
	}
	want(alice, 0, "no write")
	first := e.put(t, alice.ID, "bookmarks", rec("a", "x")).Modified
	want(alice, first, "a put")
	second := e.put(t, alice.ID, "bookmarks", rec("b", "x")).Modified
	if second <= syncstore.TimestampFromTime(e.clock.Now()) {
		t.Fatalf("premise: a second write in the same tick (%s) must run ahead of the clock", second)
	}
	want(alice, second, "a second put in the same tick")
	want(bob, 0, "another user's writes")
	third := e.del(t, alice.ID, "bookmarks", &syncstore.Query{IDs: []string{"a"}})
	want(alice, third, "a delete")
	e.clock.Advance(time.Second)
	fourth, err := e.store.DeleteStorage(e.ctx, alice.ID)
	if err != nil {
		t.Fatalf("DeleteStorage: %v", err)
	}
	want(alice, fourth, "DeleteStorage")
	if err := e.store.DeleteUser(e.ctx, alice.ID); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if _, err := e.store.UserTimestamp(e.ctx, alice.ID); !errors.Is(err, syncstore.ErrNotFound) {
		t.Errorf("UserTimestamp of a deleted user: error %v, want ErrNotFound", err)
	}
}
