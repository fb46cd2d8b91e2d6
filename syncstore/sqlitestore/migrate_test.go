package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func openRaw(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(filepath.Join(t.TempDir(), DBFile), time.Second, roleWriter))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestLaterMigration shows how a 0002 file is picked up: earlier versions
// are skipped, the new one runs once.
func TestLaterMigration(t *testing.T) {
	ctx := context.Background()
	db := openRaw(t)
	if err := migrate(ctx, db, migrationFiles, time.Now); err != nil {
		t.Fatalf("initial migration: %v", err)
	}
	// The next migration is one version after every embedded one, so the
	// test keeps working as real migrations are added.
	embedded, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil || len(embedded) == 0 {
		t.Fatalf("embedded migrations: %v %v", embedded, err)
	}
	next := fstest.MapFS{}
	for _, name := range embedded {
		data, err := migrationFiles.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		next[name] = &fstest.MapFile{Data: data}
	}
	next[fmt.Sprintf("migrations/%04d_extra.sql", len(embedded)+1)] = &fstest.MapFile{
		Data: []byte("CREATE TABLE extra (k TEXT PRIMARY KEY);\nINSERT INTO extra VALUES ('a'), ('b');"),
	}
	for range 2 {
		if err := migrate(ctx, db, next, time.Now); err != nil {
			t.Fatalf("applying 0002: %v", err)
		}
	}
	var rows, versions int
	if err := db.QueryRow(`SELECT COUNT(*) FROM extra`).Scan(&rows); err != nil || rows != 2 {
		t.Errorf("extra has %d rows (%v), want 2: 0002 ran more or less than once", rows, err)
	}
	if err := db.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&versions); err != nil || versions != len(embedded)+1 {
		t.Errorf("schema_migrations has %d rows (%v), want %d", versions, err, len(embedded)+1)
	}

	// A binary that only knows the embedded migrations refuses the newer database.
	err = migrate(ctx, db, migrationFiles, time.Now)
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("migrating a newer database with older migrations: error = %v, want one saying the schema is newer", err)
	}
}

// TestFailedMigrationRollsBack: a broken migration leaves neither its
// changes nor a schema_migrations row behind.
func TestFailedMigrationRollsBack(t *testing.T) {
	ctx := context.Background()
	db := openRaw(t)
	bad := fstest.MapFS{
		"migrations/0001_bad.sql": {Data: []byte("CREATE TABLE half (x INTEGER);\nTHIS IS NOT SQL;")},
	}
	err := migrate(ctx, db, bad, time.Now)
	if err == nil || !strings.Contains(err.Error(), "0001_bad.sql") {
		t.Fatalf("broken migration: error = %v, want one naming 0001_bad.sql", err)
	}
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE name = 'half'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("table of the failed migration exists (%d, %v)", n, err)
	}
	if err := db.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != 0 {
		t.Errorf("failed migration recorded (%d rows, %v)", n, err)
	}
}

// TestOpenRelativeDir: the default data directory is the relative
// "./data"; Open must not turn it into a URI host.
func TestOpenRelativeDir(t *testing.T) {
	t.Chdir(t.TempDir())
	s, err := Open(context.Background(), Config{Dir: "data"})
	if err != nil {
		t.Fatalf("Open with a relative Dir: %v", err)
	}
	defer s.Close()
	if !filepath.IsAbs(s.Path()) || filepath.Base(filepath.Dir(s.Path())) != "data" {
		t.Errorf("database path %q, want an absolute path inside data/", s.Path())
	}
}
