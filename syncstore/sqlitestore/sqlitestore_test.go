package sqlitestore

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storetest"

	"github.com/syncserver/syncserver/syncstore/sqlschema"
)

func openTemp(t testing.TB, clock func() time.Time) *Store {
	t.Helper()
	s, err := Open(context.Background(), Config{Dir: t.TempDir(), Clock: clock})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clock func() time.Time) syncstore.Store {
		return openTemp(t, clock)
	})
}

func BenchmarkStore(b *testing.B) {
	storetest.RunBenchmarks(b, func(b *testing.B) syncstore.Store {
		return openTemp(b, nil)
	})
}

func TestReopenKeepsDataAndMigrations(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	u := &syncstore.User{Name: "alice", PasswordHash: "h"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	res, err := s.PutRecords(ctx, u.ID, "custom", []syncstore.WBO{{ID: "a", Payload: new("x")}}, syncstore.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var applied int64
	if err := s.DB().QueryRowContext(ctx, `SELECT applied_at FROM schema_migrations WHERE version = 1`).Scan(&applied); err != nil {
		t.Fatalf("reading schema_migrations: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The second Open runs a minute later: a re-applied migration would
	// fail on CREATE TABLE or at least rewrite applied_at.
	later := func() time.Time { return time.Now().Add(time.Minute) }
	s, err = Open(ctx, Config{Dir: dir, Clock: later})
	if err != nil {
		t.Fatalf("reopening: %v", err)
	}
	defer s.Close()
	var n int
	var applied2 int64
	if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*), MAX(applied_at) FROM schema_migrations`).Scan(&n, &applied2); err != nil {
		t.Fatal(err)
	}
	ms, err := sqlschema.Load(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(ms) || applied2 != applied {
		t.Errorf("schema_migrations after reopening: %d rows, applied_at %d; want %d rows, applied_at %d", n, applied2, len(ms), applied)
	}
	got, err := s.LookupUser(ctx, "alice")
	if err != nil || got.ID != u.ID {
		t.Fatalf("LookupUser after reopening = %+v, %v", got, err)
	}
	w, err := s.GetRecord(ctx, u.ID, "custom", "a")
	if err != nil || *w.Payload != "x" || w.Modified != res.Modified {
		t.Fatalf("GetRecord after reopening = %+v, %v", w, err)
	}
	// The custom collection keeps its id, and the next custom name gets
	// the next one.
	if _, err := s.PutRecords(ctx, u.ID, "custom2", []syncstore.WBO{{ID: "b", Payload: new("y")}}, syncstore.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	wantIDs := map[string]int{"custom": syncstore.FirstCustomCollectionID, "custom2": syncstore.FirstCustomCollectionID + 1}
	for name, want := range wantIDs {
		var id int
		if err := s.DB().QueryRowContext(ctx, `SELECT id FROM collections WHERE name = ?`, name).Scan(&id); err != nil || id != want {
			t.Errorf("collection %q has id %d (%v), want %d", name, id, err, want)
		}
	}
	var mode string
	if err := s.DB().QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
}

// TestStandardCollections checks the ids seeded by 0001_init.sql against
// syncstore's map, which the other backend and the migrate tool share.
func TestStandardCollections(t *testing.T) {
	s := openTemp(t, nil)
	defer s.Close()
	rows, err := s.DB().Query(`SELECT id, name FROM collections`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var id int
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			t.Fatal(err)
		}
		if want, ok := syncstore.StandardCollectionName(id); !ok || want != name {
			t.Errorf("seeded collection %d = %q, syncstore says %q (%v)", id, name, want, ok)
		}
		seen++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for id := 1; ; id++ {
		if _, ok := syncstore.StandardCollectionName(id); !ok {
			if seen != id-1 {
				t.Errorf("seeded %d collections, syncstore has %d", seen, id-1)
			}
			break
		}
	}
}

func TestOpenUnwritableDir(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A path through a regular file can never be created, even by root.
	bad := filepath.Join(file, "data")
	_, err := Open(ctx, Config{Dir: bad})
	if err == nil {
		t.Fatalf("Open(%q) succeeded", bad)
	}
	if !strings.Contains(err.Error(), bad) {
		t.Errorf("error %q does not name the directory %q", err, bad)
	}

	if os.Geteuid() == 0 {
		t.Log("running as root: permission bits do not stop writes, skipping the read-only directory case")
		return
	}
	ro := filepath.Join(base, "ro")
	if err := os.Mkdir(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, Config{Dir: ro})
	if err == nil {
		t.Fatalf("Open(%q) of a read-only directory succeeded", ro)
	}
	if !strings.Contains(err.Error(), ro) || !strings.Contains(err.Error(), "not writable") {
		t.Errorf("error %q does not say that %q is not writable", err, ro)
	}
}

func TestRouteTableConformance(t *testing.T) {
	storetest.RunRouteTable(t, func(t *testing.T, clock func() time.Time) syncstore.Store {
		return openTemp(t, clock)
	})
}

func TestBulkConformance(t *testing.T) {
	storetest.RunBulk(t, func(t *testing.T, clock func() time.Time) syncstore.Store {
		return openTemp(t, clock)
	})
}

// TestCloseTwice: callers (test cleanups, a pooled store and its owner)
// may close a store more than once; the second Close must not panic.
func TestCloseTwice(t *testing.T) {
	s := openTemp(t, nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestAggregatesMatchRows: storetest.RunAggregates on SQLite, whose
// deletes by id size what they remove from the DELETE's RETURNING rows.
func TestAggregatesMatchRows(t *testing.T) {
	storetest.RunAggregates(t, func(t *testing.T, clock func() time.Time) (syncstore.Store, storetest.SQLDB) {
		s := openTemp(t, clock)
		t.Cleanup(func() { s.Close() })
		return s, s
	})
}
