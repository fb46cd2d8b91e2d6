package storetest

import (
	"slices"
	"strings"
	"testing"

	"github.com/syncserver/syncserver/syncstore"
)

func testCustomCollections(t *testing.T, e *env) {
	alice := e.user(t, "alice")
	bob := e.user(t, "bob")
	long := strings.Repeat("z", syncstore.MaxCollectionLen)
	names := []string{"bookmarks", "foo", "Foo", "a.b-c_d", long, "addons", "clients"}
	want := map[string]syncstore.Timestamp{}
	for _, n := range names {
		want[n] = e.put(t, alice.ID, n, rec("r", "in "+n)).Modified
	}
	wantCounts(t, "alice's timestamps", e.stamps(t, alice.ID), want)
	for _, n := range names {
		if w := e.get(t, alice.ID, n, "r"); *w.Payload != "in "+n {
			t.Errorf("%s/r = %s, want payload %q", n, describe(w), "in "+n)
		}
	}
	// Names are shared across users (ids are global) but records are not.
	bobTS := e.put(t, bob.ID, "foo", rec("s", "bob's")).Modified
	wantCounts(t, "bob's timestamps", e.stamps(t, bob.ID), map[string]syncstore.Timestamp{"foo": bobTS})
	if got := e.listIDs(t, bob.ID, "foo", nil); !slices.Equal(got, []string{"s"}) {
		t.Errorf("bob's foo = %v, want [s]", got)
	}
	if got := e.listIDs(t, alice.ID, "foo", nil); !slices.Equal(got, []string{"r"}) {
		t.Errorf("alice's foo = %v, want [r]", got)
	}
	// Reading an unknown name first must not break writing it later.
	if got := e.listIDs(t, bob.ID, "fresh", nil); len(got) != 0 {
		t.Errorf("unknown collection listed %v", got)
	}
	e.put(t, bob.ID, "fresh", rec("x", "y"))
	if got := e.listIDs(t, bob.ID, "fresh", nil); !slices.Equal(got, []string{"x"}) {
		t.Errorf("fresh = %v, want [x]", got)
	}
}

func testCaseSensitiveIDs(t *testing.T, e *env) {
	u := e.user(t, "alice")
	e.put(t, u.ID, "bookmarks", rec("aBc", "lower-upper-lower"), rec("ABC", "upper"), rec("abc", "lower"))
	for id, p := range map[string]string{"aBc": "lower-upper-lower", "ABC": "upper", "abc": "lower"} {
		if w := e.get(t, u.ID, "bookmarks", id); *w.Payload != p {
			t.Errorf("%s = %s, want payload %q", id, describe(w), p)
		}
	}
	e.wantMissing(t, u.ID, "bookmarks", "Abc")
	if got := e.listIDs(t, u.ID, "bookmarks", &syncstore.Query{IDs: []string{"ABC"}}); !slices.Equal(got, []string{"ABC"}) {
		t.Errorf("ids=ABC listed %v", got)
	}
	if got := e.listIDs(t, u.ID, "bookmarks", &syncstore.Query{Limit: 10}); !slices.Equal(got, []string{"ABC", "aBc", "abc"}) {
		t.Errorf("id order = %v, want bytewise [ABC aBc abc]", got)
	}
	e.del(t, u.ID, "bookmarks", &syncstore.Query{IDs: []string{"abc"}})
	if got := e.listIDs(t, u.ID, "bookmarks", &syncstore.Query{Limit: 10}); !slices.Equal(got, []string{"ABC", "aBc"}) {
		t.Errorf("after deleting abc: %v, want [ABC aBc]", got)
	}
	// Ids may hold any printable ASCII but '/' and ','.
	odd := "{6820f3ca-6e8a-4a1f} %\"'\\;*?"
	e.put(t, u.ID, "bookmarks", rec(odd, "odd"))
	if w := e.get(t, u.ID, "bookmarks", odd); *w.Payload != "odd" {
		t.Errorf("%q = %s", odd, describe(w))
	}
	long := strings.Repeat("L", syncstore.MaxIDLen)
	e.put(t, u.ID, "bookmarks", syncstore.WBO{ID: long, Payload: str("long"), ParentID: str(long), PredecessorID: str(long)})
	wantRecord(t, e.get(t, u.ID, "bookmarks", long), syncstore.WBO{
		ID: long, Modified: e.get(t, u.ID, "bookmarks", long).Modified, Payload: str("long"), ParentID: str(long), PredecessorID: str(long),
	})
}
