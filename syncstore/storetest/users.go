package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

func testCreateLookup(t *testing.T, e *env) {
	alice := e.user(t, "alice")
	bob := e.user(t, "bob")
	if alice.ID == bob.ID {
		t.Fatalf("two users share ID %d", alice.ID)
	}
	for _, name := range []string{"alice", "ALICE", "Alice"} {
		u, err := e.store.LookupUser(e.ctx, name)
		if err != nil {
			t.Fatalf("LookupUser(%q): %v", name, err)
		}
		if *u != *alice {
			t.Errorf("LookupUser(%q) = %+v, want %+v", name, *u, *alice)
		}
	}
	if _, err := e.store.LookupUser(e.ctx, "carol"); !errors.Is(err, syncstore.ErrNotFound) {
		t.Errorf("LookupUser(missing) error = %v, want ErrNotFound", err)
	}
}

func testUserExists(t *testing.T, e *env) {
	first := e.user(t, "alice")
	dup := &syncstore.User{Name: "alice", PasswordHash: "other", Email: "x@example.com"}
	if err := e.store.CreateUser(e.ctx, dup); !errors.Is(err, syncstore.ErrUserExists) {
		t.Fatalf("CreateUser(duplicate) error = %v, want ErrUserExists", err)
	}
	u, err := e.store.LookupUser(e.ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if *u != *first {
		t.Errorf("after a refused duplicate, user = %+v, want %+v", *u, *first)
	}
}

func testUpdateUser(t *testing.T, e *env) {
	u := e.user(t, "alice")
	u.PasswordHash = "{SSHA-256}newhash"
	u.Email = "new@example.com"
	if err := e.store.UpdateUser(e.ctx, u); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	got, err := e.store.LookupUser(e.ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if *got != *u {
		t.Errorf("after UpdateUser, user = %+v, want %+v", *got, *u)
	}
	// Storing unchanged values is still a success (MySQL reports 0 affected
	// rows for it unless told to count found rows).
	if err := e.store.UpdateUser(e.ctx, u); err != nil {
		t.Errorf("UpdateUser with unchanged values: %v", err)
	}
	missing := &syncstore.User{ID: u.ID + 1000, Name: "ghost", PasswordHash: "x"}
	if err := e.store.UpdateUser(e.ctx, missing); !errors.Is(err, syncstore.ErrNotFound) {
		t.Errorf("UpdateUser(missing) error = %v, want ErrNotFound", err)
	}
}

func testListUsers(t *testing.T, e *env) {
	for _, n := range []string{"carol", "alice", "dave", "bob"} {
		e.user(t, n)
	}
	cases := []struct {
		after string
		limit int
		want  []string
	}{
		{"", 0, []string{"alice", "bob", "carol", "dave"}},
		{"", -1, []string{"alice", "bob", "carol", "dave"}},
		{"", 2, []string{"alice", "bob"}},
		{"bob", 0, []string{"carol", "dave"}},
		{"alice", 2, []string{"bob", "carol"}},
		{"b", 1, []string{"bob"}},
		{"dave", 0, nil},
	}
	for _, c := range cases {
		us, err := e.store.ListUsers(e.ctx, c.after, c.limit)
		if err != nil {
			t.Fatalf("ListUsers(%q, %d): %v", c.after, c.limit, err)
		}
		var names []string
		for _, u := range us {
			names = append(names, u.Name)
			if u.ID == 0 || u.PasswordHash == "" {
				t.Errorf("ListUsers returned an incomplete user %+v", u)
			}
		}
		if !slices.Equal(names, c.want) {
			t.Errorf("ListUsers(%q, %d) = %v, want %v", c.after, c.limit, names, c.want)
		}
	}
}

func testDeleteUser(t *testing.T, e *env) {
	alice := e.user(t, "alice")
	bob := e.user(t, "bob")
	e.put(t, alice.ID, "bookmarks", rec("a1", "x"), rec("a2", "y"))
	e.put(t, alice.ID, "custom1", rec("a3", "z"))
	e.put(t, alice.ID, "tabs", syncstore.WBO{ID: "t", Payload: str("expired"), TTL: num(0)})
	e.put(t, bob.ID, "bookmarks", rec("b1", "bob"))

	if err := e.store.DeleteUser(e.ctx, alice.ID); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if _, err := e.store.LookupUser(e.ctx, "alice"); !errors.Is(err, syncstore.ErrNotFound) {
		t.Errorf("LookupUser after DeleteUser error = %v, want ErrNotFound", err)
	}
	if got := e.listIDs(t, alice.ID, "bookmarks", nil); len(got) != 0 {
		t.Errorf("deleted user's records still listed: %v", got)
	}
	if got := e.stamps(t, alice.ID); len(got) != 0 {
		t.Errorf("deleted user's collections still listed: %v", got)
	}
	if got := e.counts(t, alice.ID); len(nonZero(got)) != 0 {
		t.Errorf("deleted user's counts = %v", got)
	}
	if got := e.listIDs(t, bob.ID, "bookmarks", nil); !slices.Equal(got, []string{"b1"}) {
		t.Errorf("other user's records = %v, want [b1]", got)
	}
	if n, err := e.store.PurgeExpired(e.ctx, e.clock.Now().Add(time.Hour), 0); err != nil || n != 0 {
		t.Errorf("PurgeExpired after DeleteUser = %d, %v; want 0 (expired rows must be deleted too)", n, err)
	}
	if err := e.store.DeleteUser(e.ctx, alice.ID); !errors.Is(err, syncstore.ErrNotFound) {
		t.Errorf("DeleteUser(missing) error = %v, want ErrNotFound", err)
	}

	again := e.user(t, "alice")
	if got := e.stamps(t, again.ID); len(got) != 0 {
		t.Errorf("recreated user starts with collections %v", got)
	}
	if got := e.listIDs(t, again.ID, "bookmarks", nil); len(got) != 0 {
		t.Errorf("recreated user sees old records %v", got)
	}
}

func testUnknownUserWrite(t *testing.T, e *env) {
	u := e.user(t, "alice")
	_, err := e.store.PutRecords(e.ctx, u.ID+1000, "bookmarks", []syncstore.WBO{rec("a", "x")}, syncstore.WriteOptions{})
	if !errors.Is(err, syncstore.ErrNotFound) {
		t.Errorf("PutRecords for a missing user error = %v, want ErrNotFound", err)
	}
}
