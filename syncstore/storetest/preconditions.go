package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

func testIfUnmodifiedSince(t *testing.T, e *env) {
	u := e.user(t, "alice")
	t1 := e.put(t, u.ID, "bookmarks", rec("a", "v1")).Modified
	e.clock.Advance(time.Second)

	// Equal passes; the check is "strictly greater fails".
	t2 := e.putOpt(t, u.ID, "bookmarks", syncstore.WriteOptions{IfUnmodifiedSince: tsPtr(t1)}, rec("a", "v2")).Modified
	e.clock.Advance(time.Second)

	_, err := e.store.PutRecords(e.ctx, u.ID, "bookmarks", []syncstore.WBO{rec("a", "v3"), rec("b", "new")},
		syncstore.WriteOptions{IfUnmodifiedSince: tsPtr(t2 - 1)})
	if !errors.Is(err, syncstore.ErrModified) {
		t.Fatalf("PutRecords with X-If-Unmodified-Since before the collection's timestamp: error = %v, want ErrModified", err)
	}
	if w := e.get(t, u.ID, "bookmarks", "a"); *w.Payload != "v2" || w.Modified != t2 {
		t.Errorf("refused write changed the record: %s", describe(w))
	}
	e.wantMissing(t, u.ID, "bookmarks", "b")

	_, err = e.store.DeleteRecords(e.ctx, u.ID, "bookmarks", &syncstore.Query{}, syncstore.WriteOptions{IfUnmodifiedSince: tsPtr(t1)})
	if !errors.Is(err, syncstore.ErrModified) {
		t.Fatalf("DeleteRecords with a stale X-If-Unmodified-Since: error = %v, want ErrModified", err)
	}
	e.get(t, u.ID, "bookmarks", "a")

	// Another collection's timestamp does not matter, and a collection
	// with no rows never fails the check.
	e.putOpt(t, u.ID, "history", syncstore.WriteOptions{IfUnmodifiedSince: tsPtr(0)}, rec("h", "x"))
	if _, err := e.store.DeleteRecords(e.ctx, u.ID, "forms", &syncstore.Query{}, syncstore.WriteOptions{IfUnmodifiedSince: tsPtr(0)}); err != nil {
		t.Errorf("DeleteRecords on an empty collection with X-If-Unmodified-Since 0: %v", err)
	}

	// A later value passes for deletes too.
	if _, err := e.store.DeleteRecords(e.ctx, u.ID, "bookmarks", &syncstore.Query{IDs: []string{"a"}},
		syncstore.WriteOptions{IfUnmodifiedSince: tsPtr(t2 + 500)}); err != nil {
		t.Errorf("DeleteRecords with a later X-If-Unmodified-Since: %v", err)
	}
	e.wantMissing(t, u.ID, "bookmarks", "a")

	// Expired rows still count for the check (docs/protocol.md §5.4).
	e.clock.Advance(time.Second)
	t3 := e.put(t, u.ID, "tabs", syncstore.WBO{ID: "t", Payload: str("x"), TTL: num(0)}).Modified
	_, err = e.store.PutRecords(e.ctx, u.ID, "tabs", []syncstore.WBO{rec("u", "y")}, syncstore.WriteOptions{IfUnmodifiedSince: tsPtr(t3 - 1)})
	if !errors.Is(err, syncstore.ErrModified) {
		t.Errorf("X-If-Unmodified-Since against a collection of expired rows: error = %v, want ErrModified", err)
	}
}

func testQuota(t *testing.T, e *env) {
	u := e.user(t, "alice")
	opt := syncstore.WriteOptions{QuotaBytes: 100}
	if got := e.putOpt(t, u.ID, "history", opt, rec("a", string(make([]byte, 60)))).UsedBytes; got != 60 {
		t.Errorf("UsedBytes = %d, want 60", got)
	}
	// 60 < 100: allowed even though it ends above the quota.
	if got := e.putOpt(t, u.ID, "bookmarks", opt, rec("b", string(make([]byte, 50)))).UsedBytes; got != 110 {
		t.Errorf("UsedBytes = %d, want 110", got)
	}
	_, err := e.store.PutRecords(e.ctx, u.ID, "forms", []syncstore.WBO{rec("c", "x")}, opt)
	if !errors.Is(err, syncstore.ErrOverQuota) {
		t.Fatalf("write at 110 of 100 bytes: error = %v, want ErrOverQuota", err)
	}
	e.wantMissing(t, u.ID, "forms", "c")
	// Without a quota the same write succeeds.
	if got := e.put(t, u.ID, "forms", rec("c", "x")).UsedBytes; got != 111 {
		t.Errorf("UsedBytes = %d, want 111", got)
	}
	// Exactly at the quota is over it.
	e.del(t, u.ID, "forms", nil)
	e.put(t, u.ID, "bookmarks", rec("b", string(make([]byte, 40))))
	_, err = e.store.PutRecords(e.ctx, u.ID, "forms", []syncstore.WBO{rec("c", "x")}, opt)
	if !errors.Is(err, syncstore.ErrOverQuota) {
		t.Fatalf("write at exactly the quota: error = %v, want ErrOverQuota", err)
	}
	// Deleting brings the user under the quota again.
	e.del(t, u.ID, "history", nil)
	if got := e.putOpt(t, u.ID, "forms", opt, rec("c", "xy")).UsedBytes; got != 42 {
		t.Errorf("UsedBytes after deleting = %d, want 42", got)
	}
	// Quotas are per user.
	bob := e.user(t, "bob")
	if got := e.putOpt(t, bob.ID, "forms", syncstore.WriteOptions{QuotaBytes: 10}, rec("c", "abc")).UsedBytes; got != 3 {
		t.Errorf("bob's UsedBytes = %d, want 3", got)
	}
}

// testQuotaIgnoresExpired: expired rows count in UsedBytes until purged,
// but must not make the store refuse a write (common.md: recompute the
// exact unexpired bytes before refusing).
func testQuotaIgnoresExpired(t *testing.T, e *env) {
	u := e.user(t, "alice")
	opt := syncstore.WriteOptions{QuotaBytes: 100}
	e.putOpt(t, u.ID, "tabs", opt, syncstore.WBO{ID: "t", Payload: str(string(make([]byte, 150))), TTL: num(5)})
	_, err := e.store.PutRecords(e.ctx, u.ID, "tabs", []syncstore.WBO{rec("u", "x")}, opt)
	if !errors.Is(err, syncstore.ErrOverQuota) {
		t.Fatalf("write while 150 live bytes are stored: error = %v, want ErrOverQuota", err)
	}
	e.clock.Advance(10 * time.Second)
	res := e.putOpt(t, u.ID, "tabs", opt, rec("u", "x"))
	if res.UsedBytes < 1 {
		t.Errorf("UsedBytes = %d, want at least the new record's 1", res.UsedBytes)
	}
	if got := e.listIDs(t, u.ID, "tabs", nil); !slices.Equal(got, []string{"u"}) {
		t.Errorf("tabs = %v, want [u]", got)
	}
}

// testRecordAndCollectionLimits: MaxRecords refuses a batch that adds
// records beyond it, whole, and never an update of stored records;
// MaxCollections refuses a collection the user does not hold yet, a name
// no one uses as well as an existing one.
func testRecordAndCollectionLimits(t *testing.T, e *env) {
	u := e.user(t, "alice")
	opt := syncstore.WriteOptions{MaxRecords: 5, MaxCollections: 2}
	e.putOpt(t, u.ID, "history", opt, rec("h1", ""), rec("h2", ""), rec("h3", ""))
	_, err := e.store.PutRecords(e.ctx, u.ID, "bookmarks", []syncstore.WBO{rec("b1", ""), rec("b2", ""), rec("b3", "")}, opt)
	if !errors.Is(err, syncstore.ErrOverQuota) {
		t.Fatalf("6 records of at most 5: error = %v, want ErrOverQuota", err)
	}
	e.wantMissing(t, u.ID, "bookmarks", "b1")
	// Updates and new records up to the limit pass, in one batch too.
	e.putOpt(t, u.ID, "history", opt, rec("h1", "again"), rec("h4", ""), rec("h5", ""))
	_, err = e.store.PutRecords(e.ctx, u.ID, "history", []syncstore.WBO{rec("h2", "x"), rec("h6", "")}, opt)
	if !errors.Is(err, syncstore.ErrOverQuota) {
		t.Fatalf("a 6th record in a batch with an update: error = %v, want ErrOverQuota", err)
	}
	if w := e.get(t, u.ID, "history", "h2"); *w.Payload != "" {
		t.Errorf("the refused batch's update was kept: %s", describe(w))
	}
	e.putOpt(t, u.ID, "history", opt, rec("h2", "x"), rec("h3", "y"))
	if got := e.listIDs(t, u.ID, "history", nil); len(got) != 5 {
		t.Errorf("history = %v, want 5 records", got)
	}

	// Collections: a second one passes, a third does not, whether its name
	// exists (bookmarks, a standard one) or not.
	bob := e.user(t, "bob")
	opt = syncstore.WriteOptions{MaxCollections: 2}
	e.putOpt(t, bob.ID, "history", opt, rec("h", "x"))
	e.putOpt(t, bob.ID, "limit-test-a", opt, rec("a", "x"))
	for _, c := range []string{"bookmarks", "limit-test-never-used"} {
		if _, err := e.store.PutRecords(e.ctx, bob.ID, c, []syncstore.WBO{rec("c", "x")}, opt); !errors.Is(err, syncstore.ErrOverQuota) {
			t.Errorf("a third collection %s of at most 2: error = %v, want ErrOverQuota", c, err)
		}
		e.wantMissing(t, bob.ID, c, "c")
	}
	e.putOpt(t, bob.ID, "limit-test-a", opt, rec("b", "x"))
	// Without limits the same writes pass.
	e.put(t, bob.ID, "limit-test-never-used", rec("c", "x"))
	e.put(t, u.ID, "bookmarks", rec("b1", ""))
}
