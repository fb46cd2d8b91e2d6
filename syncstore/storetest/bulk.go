package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// RunBulk runs the syncstore.BulkStore conformance suite (the migrate
// tool's import and export) against the stores open returns, one fresh
// store per subtest. Protocol reads in between go through the same store,
// so a caching layer must invalidate what bulk writes change.
func RunBulk(t *testing.T, open Opener) {
	find := func(s syncstore.Store) (syncstore.BulkStore, bool) {
		b, ok := s.(syncstore.BulkStore)
		return b, ok
	}
	runContract(t, open, "bulk import and export", find, []contractTest[syncstore.BulkStore]{
		{"ImportUser", testImportUser},
		{"ReplaceExact", testReplaceExact},
		{"ReplaceAggregates", testReplaceAggregates},
		{"InsertFresh", testInsertFresh},
		{"DeleteIDs", testDeleteRecordIDs},
		{"Export", testExport},
		{"UnknownUser", testBulkUnknownUser},
	})
}

// stored builds a StoredRecord that never expires.
func stored(id string, modified syncstore.Timestamp, payload string) syncstore.StoredRecord {
	return syncstore.StoredRecord{ID: id, Modified: modified, Payload: str(payload), Expiry: syncstore.NoExpiry}
}

func (e *env) importUser(t *testing.T, b syncstore.BulkStore, name string, last syncstore.Timestamp) *syncstore.User {
	t.Helper()
	u, err := b.ImportUser(e.ctx, syncstore.User{Name: name, PasswordHash: "hash-" + name, Email: name + "@example.com"}, last)
	if err != nil {
		t.Fatalf("ImportUser(%q): %v", name, err)
	}
	if u.ID == 0 {
		t.Fatalf("ImportUser(%q) returned ID 0", name)
	}
	return u
}

func (e *env) replace(t *testing.T, b syncstore.BulkStore, uid int64, coll string, recs ...syncstore.StoredRecord) {
	t.Helper()
	if err := b.ReplaceRecords(e.ctx, uid, coll, recs); err != nil {
		t.Fatalf("ReplaceRecords(%s, %d records): %v", coll, len(recs), err)
	}
}

// ts is a timestamp well past the suite clock's start.
func ts(centis int64) syncstore.Timestamp {
	return syncstore.TimestampFromTime(startTime) + syncstore.Timestamp(centis)
}

func testImportUser(t *testing.T, e *env, b syncstore.BulkStore) {
	late := syncstore.TimestampFromTime(startTime.Add(time.Hour))
	u := e.importUser(t, b, "Alice", late)
	if u.Name != "alice" {
		t.Errorf("imported name %q, want it normalized to alice", u.Name)
	}
	got, err := b.LookupUser(e.ctx, "ALICE")
	if err != nil || got.ID != u.ID || got.PasswordHash != "hash-Alice" || got.Email != "Alice@example.com" {
		t.Fatalf("LookupUser after ImportUser = %+v, %v", got, err)
	}
	// The next protocol write is stamped after the imported timestamp,
	// although the clock is an hour behind it.
	if res := e.put(t, u.ID, "bookmarks", rec("a", "x")); res.Modified <= late {
		t.Errorf("first write after import stamped %s, want after %s", res.Modified, late)
	}
	// Importing again overwrites the credentials, keeps the id, and never
	// lowers the timestamp.
	again, err := b.ImportUser(e.ctx, syncstore.User{Name: "alice", PasswordHash: "new", Email: "new@example.com"}, 1)
	if err != nil || again.ID != u.ID {
		t.Fatalf("second ImportUser = %+v, %v; want id %d", again, err, u.ID)
	}
	if got, err := e.store.LookupUser(e.ctx, "alice"); err != nil || got.PasswordHash != "new" || got.Email != "new@example.com" {
		t.Errorf("LookupUser after re-import = %+v, %v", got, err)
	}
	if res := e.put(t, u.ID, "bookmarks", rec("b", "x")); res.Modified <= late {
		t.Errorf("write after a re-import with an older timestamp stamped %s, want after %s", res.Modified, late)
	}
	if _, err := b.LookupUser(e.ctx, "nobody"); !errors.Is(err, syncstore.ErrNotFound) {
		t.Errorf("LookupUser(nobody) = %v, want ErrNotFound", err)
	}
}

func testReplaceExact(t *testing.T, e *env, b syncstore.BulkStore) {
	u := e.importUser(t, b, "alice", ts(500))
	full := syncstore.StoredRecord{ID: "full", Modified: ts(100), SortIndex: num(-7), ParentID: str("p"), PredecessorID: str("q"),
		Payload: str(`{"x":1}`), Expiry: startTime.Unix() + 3600}
	bare := syncstore.StoredRecord{ID: "bare", Modified: ts(200), Expiry: syncstore.NoExpiry}
	old := syncstore.StoredRecord{ID: "old", Modified: ts(50), Payload: str("gone"), Expiry: startTime.Unix() - 1}
	e.replace(t, b, u.ID, "custom-coll", full, bare, old)

	wantRecord(t, e.get(t, u.ID, "custom-coll", "full"), syncstore.WBO{ID: "full", Modified: ts(100), SortIndex: num(-7),
		ParentID: str("p"), PredecessorID: str("q"), Payload: str(`{"x":1}`)})
	wantRecord(t, e.get(t, u.ID, "custom-coll", "bare"), syncstore.WBO{ID: "bare", Modified: ts(200)})
	// Imported with an expiry in the past: stored, but hidden.
	e.wantMissing(t, u.ID, "custom-coll", "old")
	wantCounts(t, "CollectionTimestamps", e.stamps(t, u.ID), map[string]syncstore.Timestamp{"custom-coll": ts(200)})

	// Replacing overwrites every field, NULLs included.
	e.replace(t, b, u.ID, "custom-coll", syncstore.StoredRecord{ID: "full", Modified: ts(300), Payload: str("y"), Expiry: syncstore.NoExpiry})
	wantRecord(t, e.get(t, u.ID, "custom-coll", "full"), syncstore.WBO{ID: "full", Modified: ts(300), Payload: str("y")})
}

func testReplaceAggregates(t *testing.T, e *env, b syncstore.BulkStore) {
	u := e.importUser(t, b, "alice", 0)
	e.replace(t, b, u.ID, "history", stored("a", ts(100), "aaaa"), stored("b", ts(300), "bb"))
	e.replace(t, b, u.ID, "history", stored("c", ts(200), "c"))
	wantCounts(t, "CollectionTimestamps", e.stamps(t, u.ID), map[string]syncstore.Timestamp{"history": ts(300)})
	wantCounts(t, "CollectionUsage", nonZero(e.usage(t, u.ID)), map[string]int64{"history": 7})
	wantCounts(t, "CollectionCounts", nonZero(e.counts(t, u.ID)), map[string]int64{"history": 3})
	// Overwriting the newest record with an older version lowers the
	// collection's timestamp to the newest that remains.
	e.replace(t, b, u.ID, "history", stored("b", ts(150), "bbbbbb"))
	wantCounts(t, "CollectionTimestamps", e.stamps(t, u.ID), map[string]syncstore.Timestamp{"history": ts(200)})
	wantCounts(t, "CollectionUsage", nonZero(e.usage(t, u.ID)), map[string]int64{"history": 11})
	wantCounts(t, "CollectionCounts", nonZero(e.counts(t, u.ID)), map[string]int64{"history": 3})
	// A protocol write on top sees exact aggregates: the quota check and
	// UsedBytes come from them.
	res := e.put(t, u.ID, "history", rec("d", "dd"))
	if res.UsedBytes != 13 {
		t.Errorf("UsedBytes after import and a write = %d, want 13", res.UsedBytes)
	}
	if res.Modified <= ts(300) {
		t.Errorf("write after import stamped %s, want after the imported %s", res.Modified, ts(300))
	}
}

// testInsertFresh: InsertRecords stores new records as ReplaceRecords
// does, and one already held makes the whole call write nothing, even
// when it comes after several statements' worth of new rows.
func testInsertFresh(t *testing.T, e *env, b syncstore.BulkStore) {
	u := e.importUser(t, b, "alice", 0)
	insert := func(recs ...syncstore.StoredRecord) error {
		return b.InsertRecords(e.ctx, u.ID, "history", recs)
	}
	if err := insert(stored("a", ts(100), "aaaa"), stored("b", ts(300), "bb")); err != nil {
		t.Fatalf("InsertRecords into an empty collection: %v", err)
	}
	// A second call into the collection it filled: aggregates add up.
	if err := insert(stored("c", ts(200), "c")); err != nil {
		t.Fatalf("InsertRecords of a new id: %v", err)
	}
	wantRecord(t, e.get(t, u.ID, "history", "b"), syncstore.WBO{ID: "b", Modified: ts(300), Payload: str("bb")})
	want := func() {
		t.Helper()
		wantCounts(t, "CollectionTimestamps", e.stamps(t, u.ID), map[string]syncstore.Timestamp{"history": ts(300)})
		wantCounts(t, "CollectionUsage", nonZero(e.usage(t, u.ID)), map[string]int64{"history": 7})
		wantCounts(t, "CollectionCounts", nonZero(e.counts(t, u.ID)), map[string]int64{"history": 3})
	}
	want()
	// 1,100 new records sorted before a held one: more rows than any
	// backend puts in one statement.
	var recs []syncstore.StoredRecord
	for i := range 1100 {
		recs = append(recs, stored(fmt.Sprintf("0new%04d", i), ts(400), "n"))
	}
	recs = append(recs, stored("c", ts(500), "changed"))
	if err := insert(recs...); !errors.Is(err, syncstore.ErrRecordExists) {
		t.Fatalf("InsertRecords with a held id = %v, want ErrRecordExists", err)
	}
	e.wantMissing(t, u.ID, "history", "0new0000")
	wantRecord(t, e.get(t, u.ID, "history", "c"), syncstore.WBO{ID: "c", Modified: ts(200), Payload: str("c")})
	want()
	// What the migrate tool does then.
	e.replace(t, b, u.ID, "history", recs...)
	wantCounts(t, "CollectionCounts", nonZero(e.counts(t, u.ID)), map[string]int64{"history": 1103})
	wantCounts(t, "CollectionTimestamps", e.stamps(t, u.ID), map[string]syncstore.Timestamp{"history": ts(500)})
}

func testDeleteRecordIDs(t *testing.T, e *env, b syncstore.BulkStore) {
	u := e.importUser(t, b, "alice", 0)
	e.replace(t, b, u.ID, "history", stored("a", ts(100), "aa"), stored("b", ts(300), "bbb"), stored("c", ts(200), "c"))
	del := func(coll string, ids ...string) {
		t.Helper()
		if err := b.DeleteRecordIDs(e.ctx, u.ID, coll, ids); err != nil {
			t.Fatalf("DeleteRecordIDs(%s, %v): %v", coll, ids, err)
		}
	}
	del("history", "b", "missing")
	e.wantMissing(t, u.ID, "history", "b")
	wantCounts(t, "CollectionTimestamps", e.stamps(t, u.ID), map[string]syncstore.Timestamp{"history": ts(200)})
	wantCounts(t, "CollectionUsage", nonZero(e.usage(t, u.ID)), map[string]int64{"history": 3})
	del("unknown-collection", "a")
	del("history")
	del("history", "a", "c")
	wantCounts(t, "CollectionTimestamps", e.stamps(t, u.ID), map[string]syncstore.Timestamp{})
	// The user's write timestamp is not lowered.
	if res := e.put(t, u.ID, "history", rec("e", "e")); res.Modified <= ts(300) {
		t.Errorf("write after deleting the newest import stamped %s, want after %s", res.Modified, ts(300))
	}
}

func testExport(t *testing.T, e *env, b syncstore.BulkStore) {
	u := e.importUser(t, b, "alice", 0)
	other := e.importUser(t, b, "bob", 0)
	want := map[string][]syncstore.StoredRecord{
		"bookmarks": {
			{ID: "B", Modified: ts(1), Expiry: syncstore.NoExpiry},
			{ID: "a", Modified: ts(2), SortIndex: num(5), ParentID: str("p"), PredecessorID: str("q"), Payload: str("pa"), Expiry: syncstore.NoExpiry},
		},
		"zzz-custom": {stored("x", ts(3), "")},
		"history":    {{ID: "expired", Modified: ts(4), Payload: str("h"), Expiry: startTime.Unix() - 10}},
	}
	for coll, recs := range want {
		e.replace(t, b, u.ID, coll, recs...)
	}
	e.replace(t, b, other.ID, "bookmarks", stored("not-alice", ts(5), "o"))
	var got []string
	err := b.ExportRecords(e.ctx, u.ID, func(coll string, r *syncstore.StoredRecord) error {
		got = append(got, coll+"/"+r.ID)
		for _, w := range want[coll] {
			if w.ID == r.ID && !reflect.DeepEqual(w, *r) {
				t.Errorf("exported %s/%s = %+v, want %+v", coll, r.ID, *r, w)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[bookmarks/B bookmarks/a history/expired zzz-custom/x]" {
		t.Errorf("exported %v, want bookmarks/B, bookmarks/a, history/expired, zzz-custom/x in that order", got)
	}
	stop := errors.New("stop")
	if err := b.ExportRecords(e.ctx, u.ID, func(string, *syncstore.StoredRecord) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("ExportRecords with a failing callback = %v, want its error", err)
	}
}

func testBulkUnknownUser(t *testing.T, e *env, b syncstore.BulkStore) {
	err := b.ReplaceRecords(e.ctx, 999_999, "history", []syncstore.StoredRecord{stored("a", ts(1), "x")})
	if !errors.Is(err, syncstore.ErrNotFound) {
		t.Errorf("ReplaceRecords for a missing user = %v, want ErrNotFound", err)
	}
	if err := b.ReplaceRecords(e.ctx, 999_999, "history", nil); err != nil {
		t.Errorf("ReplaceRecords of nothing = %v, want nil", err)
	}
}
