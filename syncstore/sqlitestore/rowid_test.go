package sqlitestore

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"testing/fstest"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// migrationsBefore returns the embedded migrations older than version.
func migrationsBefore(t *testing.T, version string) fstest.MapFS {
	t.Helper()
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	old := fstest.MapFS{}
	for _, name := range names {
		if filepath.Base(name) >= version {
			continue
		}
		data, err := migrationFiles.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		old[name] = &fstest.MapFile{Data: data}
	}
	return old
}

// TestRowidMigrationKeepsRecords: 0005 rebuilds wbo as a rowid table;
// every record of a database written under the clustered layout comes
// back unchanged, the id index still enforces the key, and writes keep
// working on the rebuilt table (upsert of a stored id, delete by id).
func TestRowidMigrationKeepsRecords(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sql.Open("sqlite", dsn(filepath.Join(dir, DBFile), time.Second, roleWriter))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if err := migrate(ctx, db, migrationsBefore(t, "0005"), time.Now); err != nil {
		t.Fatalf("migrating to 0004: %v", err)
	}
	// Two users, two collections, rows with and without optional fields
	// and an expiry, inserted in an order that is neither the key's nor
	// the timestamps'.
	stmts := []string{
		`INSERT INTO users (id, name, password_hash, created, last_modified) VALUES (1, 'a', 'x', 0, 300), (2, 'b', 'x', 0, 200)`,
		`INSERT INTO wbo (user_id, collection_id, id, modified, sortindex, payload, payload_size, parentid, predecessorid, expiry) VALUES
			(1, 4, 'zz', 100, 5, 'one', 3, 'p', 'q', 9223372036854775807),
			(2, 4, 'zz', 200, NULL, 'other user', 10, NULL, NULL, 9223372036854775807),
			(1, 4, 'aa', 300, NULL, 'three', 5, NULL, NULL, 9223372036854775807),
			(1, 7, 'bm', 150, -3, '', 0, 'root', NULL, 4102444800)`,
		`INSERT INTO user_collections (user_id, collection_id, modified, record_count, total_bytes) VALUES
			(1, 4, 300, 2, 8), (1, 7, 150, 1, 0), (2, 4, 200, 1, 10)`,
	}
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, Config{Dir: dir})
	if err != nil {
		t.Fatalf("Open applying 0005: %v", err)
	}
	defer s.Close()
	var withoutRowid int
	if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE name = 'wbo' AND sql LIKE '%WITHOUT ROWID%'`).Scan(&withoutRowid); err != nil || withoutRowid != 0 {
		t.Fatalf("wbo still WITHOUT ROWID (%d, %v)", withoutRowid, err)
	}
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO wbo (user_id, collection_id, id, modified, payload_size, expiry) VALUES (1, 4, 'aa', 1, 0, 0)`); err == nil {
		t.Fatal("a second row with the key (1, history, aa) was accepted: the id index does not enforce the key")
	}

	got, err := s.GetRecords(ctx, 1, "history", &syncstore.Query{})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].ID < got[j].ID })
	want := []syncstore.WBO{
		{ID: "aa", Modified: 300, Payload: new("three")},
		{ID: "zz", Modified: 100, SortIndex: new(int64(5)), Payload: new("one"), ParentID: new("p"), PredecessorID: new("q")},
	}
	if len(got) != len(want) {
		t.Fatalf("history of user 1 after 0005: %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if d := describeWBO(&got[i]); d != describeWBO(&want[i]) {
			t.Errorf("record %d after 0005: %s, want %s", i, d, describeWBO(&want[i]))
		}
	}
	bm, err := s.GetRecord(ctx, 1, "bookmarks", "bm")
	if err != nil || describeWBO(bm) != describeWBO(&syncstore.WBO{ID: "bm", Modified: 150, SortIndex: new(int64(-3)), Payload: new(""), ParentID: new("root")}) {
		t.Errorf("bookmarks/bm after 0005: %v %v", bm, err)
	}
	other, err := s.GetRecord(ctx, 2, "history", "zz")
	if err != nil || *other.Payload != "other user" {
		t.Errorf("user 2's history/zz after 0005: %v %v", other, err)
	}

	// The upsert's conflict target is the id index now.
	res, err := s.PutRecords(ctx, 1, "history", []syncstore.WBO{{ID: "zz", Payload: new("changed")}}, syncstore.WriteOptions{})
	if err != nil {
		t.Fatalf("upserting a migrated record: %v", err)
	}
	zz, err := s.GetRecord(ctx, 1, "history", "zz")
	if err != nil || *zz.Payload != "changed" || zz.Modified != res.Modified || *zz.SortIndex != 5 {
		t.Errorf("history/zz after the upsert: %v %v, want payload changed, modified %s, sortindex kept", zz, err, res.Modified)
	}
	if _, err := s.DeleteRecords(ctx, 1, "history", &syncstore.Query{IDs: []string{"aa"}}, syncstore.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	counts, err := s.CollectionCounts(ctx, 1)
	if err != nil || counts["history"] != 1 || counts["bookmarks"] != 1 {
		t.Errorf("counts of user 1 after the delete: %v %v, want history 1, bookmarks 1", counts, err)
	}
}

// describeWBO is a record's fields in one comparable line.
func describeWBO(w *syncstore.WBO) string {
	opt := func(p *string) string {
		if p == nil {
			return "<nil>"
		}
		return "'" + *p + "'"
	}
	idx := "<nil>"
	if w.SortIndex != nil {
		idx = strconv.FormatInt(*w.SortIndex, 10)
	}
	return w.ID + " " + w.Modified.String() + " " + idx + " " + opt(w.Payload) + " " + opt(w.ParentID) + " " + opt(w.PredecessorID)
}
