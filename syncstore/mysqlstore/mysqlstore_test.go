package mysqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storetest"
)

// testDatabasePrefix marks the databases these tests create; other test
// suites share the server.
const testDatabasePrefix = "mys_"

// baseDSN is the server the tests use, without a database name.
func baseDSN() string {
	if dsn := os.Getenv("SYNCSERVER_TEST_MYSQL"); dsn != "" {
		return dsn
	}
	return "root@tcp(127.0.0.1:3306)/"
}

// adminDB connects to the test server without selecting a database.
func adminDB(t testing.TB) *sql.DB {
	t.Helper()
	cfg, err := mysql.ParseDSN(baseDSN())
	if err != nil {
		t.Fatalf("SYNCSERVER_TEST_MYSQL: %v", err)
	}
	cfg.DBName = ""
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(); err != nil {
		t.Skipf("no MySQL server at %s (set SYNCSERVER_TEST_MYSQL): %v", cfg.Addr, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// freshDatabase creates an empty database that is dropped when the test
// ends, and returns its DSN.
func freshDatabase(t testing.TB) string {
	t.Helper()
	admin := adminDB(t)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := testDatabasePrefix + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name); err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
		}
	})
	cfg, _ := mysql.ParseDSN(baseDSN())
	cfg.DBName = name
	return cfg.FormatDSN()
}

// openStore opens a store on a fresh database.
func openStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	if cfg.DSN == "" {
		cfg.DSN = freshDatabase(t)
	}
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clock func() time.Time) syncstore.Store {
		return openStore(t, Config{Clock: clock})
	})
}

func BenchmarkStore(b *testing.B) {
	storetest.RunBenchmarks(b, func(b *testing.B) syncstore.Store {
		s := openStore(b, Config{})
		b.Cleanup(func() { s.Close() })
		return s
	})
}

// BenchmarkPutRecords100 compares the driver's modes for the statements
// of a write other than the hot ones (prepared once in both modes):
// parameters interpolated client-side (one round trip per statement, the
// default) against prepare + execute + close.
func BenchmarkPutRecords100(b *testing.B) {
	for _, mode := range []struct {
		name    string
		prepare bool
	}{{"interpolated", false}, {"prepared", true}} {
		b.Run(mode.name, func(b *testing.B) {
			s := openStore(b, Config{prepareStatements: mode.prepare})
			defer s.Close()
			ctx := context.Background()
			u := &syncstore.User{Name: "bench", PasswordHash: "h"}
			if err := s.CreateUser(ctx, u); err != nil {
				b.Fatal(err)
			}
			recs := batchOf("r", 100)
			if _, err := s.PutRecords(ctx, u.ID, "history", recs, syncstore.WriteOptions{}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.PutRecords(ctx, u.ID, "history", recs, syncstore.WriteOptions{QuotaBytes: 1 << 40}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestRouteTableConformance(t *testing.T) {
	storetest.RunRouteTable(t, func(t *testing.T, clock func() time.Time) syncstore.Store {
		return openStore(t, Config{Clock: clock})
	})
}

func TestBulkConformance(t *testing.T) {
	storetest.RunBulk(t, func(t *testing.T, clock func() time.Time) syncstore.Store {
		return openStore(t, Config{Clock: clock})
	})
}
