package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

func testTTLZero(t *testing.T, e *env) {
	u := e.user(t, "alice")
	e.put(t, u.ID, "tabs", rec("live", "12345"))
	res := e.put(t, u.ID, "forms", syncstore.WBO{ID: "gone", Payload: str("abc"), TTL: num(0)})
	e.put(t, u.ID, "tabs", syncstore.WBO{ID: "gone", Payload: str("abc"), TTL: num(0)})

	e.wantMissing(t, u.ID, "tabs", "gone")
	e.wantMissing(t, u.ID, "forms", "gone")
	if got := e.listIDs(t, u.ID, "tabs", nil); !slices.Equal(got, []string{"live"}) {
		t.Errorf("tabs listed %v, want [live]", got)
	}
	if got := e.listIDs(t, u.ID, "tabs", &syncstore.Query{IDs: []string{"gone"}}); len(got) != 0 {
		t.Errorf("expired record listed by id: %v", got)
	}
	if got := e.listIDs(t, u.ID, "forms", &syncstore.Query{Limit: 10, Sort: syncstore.SortNewest}); len(got) != 0 {
		t.Errorf("expired record listed: %v", got)
	}
	wantCounts(t, "counts", nonZero(e.counts(t, u.ID)), map[string]int64{"tabs": 1})
	wantCounts(t, "usage", nonZero(e.usage(t, u.ID)), map[string]int64{"tabs": 5})
	// Collection timestamps include expired rows (docs/protocol.md §5.4).
	if got, ok := e.stamps(t, u.ID)["forms"]; !ok || got != res.Modified {
		t.Errorf("forms timestamp = %s (present %v), want %s: expired rows still count", got, ok, res.Modified)
	}
}

func testTTLExpires(t *testing.T, e *env) {
	u := e.user(t, "alice")
	e.put(t, u.ID, "tabs", syncstore.WBO{ID: "a", Payload: str("x"), TTL: num(10)}, rec("b", "y"))
	e.clock.Advance(9 * time.Second)
	e.get(t, u.ID, "tabs", "a")
	wantCounts(t, "counts before expiry", e.counts(t, u.ID), map[string]int64{"tabs": 2})
	e.clock.Advance(time.Second) // expiry == now: gone (reads keep expiry > now)
	e.wantMissing(t, u.ID, "tabs", "a")
	if got := e.listIDs(t, u.ID, "tabs", nil); !slices.Equal(got, []string{"b"}) {
		t.Errorf("after expiry listed %v, want [b]", got)
	}
	wantCounts(t, "counts after expiry", nonZero(e.counts(t, u.ID)), map[string]int64{"tabs": 1})
	wantCounts(t, "usage after expiry", nonZero(e.usage(t, u.ID)), map[string]int64{"tabs": 1})
}

func testTTLPutOverExpired(t *testing.T, e *env) {
	u := e.user(t, "alice")
	e.put(t, u.ID, "tabs", full("a", "old payload", 3, "p", "q"), rec("b", "x"))
	e.put(t, u.ID, "tabs", syncstore.WBO{ID: "a", TTL: num(1)})
	e.clock.Advance(5 * time.Second)
	e.wantMissing(t, u.ID, "tabs", "a")

	res := e.put(t, u.ID, "tabs", rec("a", "new"))
	if res.RecordModified[0] != res.Modified {
		t.Errorf("PUT over an expired record RecordModified = %s, want %s", res.RecordModified[0], res.Modified)
	}
	// The row was updated in place: merged fields come from the old row.
	wantRecord(t, e.get(t, u.ID, "tabs", "a"), syncstore.WBO{
		ID: "a", Modified: res.Modified, Payload: str("new"), SortIndex: num(3), ParentID: str("p"), PredecessorID: str("q"),
	})
	wantCounts(t, "counts", e.counts(t, u.ID), map[string]int64{"tabs": 2})
	wantCounts(t, "usage", e.usage(t, u.ID), map[string]int64{"tabs": 4})
	if res.UsedBytes != 4 {
		t.Errorf("UsedBytes = %d, want 4", res.UsedBytes)
	}
}

func testPurgeExpired(t *testing.T, e *env) {
	alice := e.user(t, "alice")
	bob := e.user(t, "bob")
	keep := e.put(t, alice.ID, "history", rec("h1", "1234"))
	e.clock.Advance(time.Second)
	e.put(t, alice.ID, "history", syncstore.WBO{ID: "h2", Payload: str("12"), TTL: num(5)})
	e.put(t, alice.ID, "tabs", syncstore.WBO{ID: "t1", Payload: str("123"), TTL: num(5)}, syncstore.WBO{ID: "t2", Payload: str("1"), TTL: num(5)})
	e.put(t, bob.ID, "tabs", syncstore.WBO{ID: "t1", Payload: str("123456"), TTL: num(5)})
	e.put(t, bob.ID, "tabs", syncstore.WBO{ID: "t9", Payload: str("live"), TTL: num(1000)})

	n, err := e.store.PurgeExpired(e.ctx, e.clock.Now(), 0)
	if err != nil || n != 0 {
		t.Fatalf("PurgeExpired before anything expired = %d, %v; want 0", n, err)
	}
	// Expiry is T+6 s. Reads hide a record once expiry <= now, so a purge
	// at exactly T+6 s removes it and one a second earlier does not.
	e.clock.Advance(4 * time.Second)
	n, err = e.store.PurgeExpired(e.ctx, e.clock.Now(), 0)
	if err != nil || n != 0 {
		t.Fatalf("PurgeExpired a second before expiry = %d, %v; want 0", n, err)
	}
	e.clock.Advance(time.Second)
	n, err = e.store.PurgeExpired(e.ctx, e.clock.Now(), 2)
	if err != nil || n != 2 {
		t.Fatalf("PurgeExpired(limit 2) = %d, %v; want 2", n, err)
	}
	n, err = e.store.PurgeExpired(e.ctx, e.clock.Now(), 0)
	if err != nil || n != 2 {
		t.Fatalf("PurgeExpired(all) = %d, %v; want the remaining 2", n, err)
	}
	n, err = e.store.PurgeExpired(e.ctx, e.clock.Now(), 0)
	if err != nil || n != 0 {
		t.Fatalf("PurgeExpired again = %d, %v; want 0", n, err)
	}

	// Statistics follow: alice's tabs vanished, history's timestamp moved
	// back to the surviving row, and used bytes dropped the purged payloads.
	wantCounts(t, "alice's timestamps", e.stamps(t, alice.ID), map[string]syncstore.Timestamp{"history": keep.Modified})
	wantCounts(t, "alice's counts", nonZero(e.counts(t, alice.ID)), map[string]int64{"history": 1})
	if got := e.put(t, alice.ID, "forms", rec("f", "x")).UsedBytes; got != 5 {
		t.Errorf("alice's UsedBytes after purge = %d, want 5", got)
	}
	if got := e.listIDs(t, bob.ID, "tabs", nil); !slices.Equal(got, []string{"t9"}) {
		t.Errorf("bob's tabs after purge = %v, want [t9]", got)
	}
	if got := e.put(t, bob.ID, "forms", rec("f", "x")).UsedBytes; got != 5 {
		t.Errorf("bob's UsedBytes after purge = %d, want 5", got)
	}
}
