package memcache

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/mysqlstore"
)

// mysqlEnv is the DSN prefix (up to and including the '/') of the MariaDB
// server the tests create their databases on.
const mysqlEnv = "SYNCSERVER_TEST_MYSQL"

func mysqlBase() string {
	if dsn := os.Getenv(mysqlEnv); dsn != "" {
		return dsn
	}
	return "root@tcp(127.0.0.1:3306)/"
}

func randomSuffix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// newDatabase creates an empty database named mc_<random>, dropped when
// the test ends, and returns its DSN.
func newDatabase(t testing.TB) string {
	t.Helper()
	admin, err := sql.Open("mysql", mysqlBase())
	if err != nil {
		t.Fatal(err)
	}
	name := "mc_" + randomSuffix(t)
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		t.Fatalf("creating database %s on %s (set %s): %v", name, mysqlBase(), mysqlEnv, err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(ctx, "DROP DATABASE "+name); err != nil {
			t.Errorf("dropping database %s: %v", name, err)
		}
		admin.Close()
	})
	return mysqlBase() + name
}

// openMySQL opens a mysqlstore on dsn; the caller (usually the wrapper)
// closes it.
func openMySQL(t testing.TB, dsn string, clock func() time.Time) syncstore.Store {
	t.Helper()
	s, err := mysqlstore.Open(context.Background(), mysqlstore.Config{DSN: dsn, Clock: clock})
	if err != nil {
		t.Fatalf("opening mysqlstore: %v", err)
	}
	return s
}

// testConfig is a Config for one test: its own key prefix, so tests can
// share a memcached, and a short cooldown so recovery tests run fast.
func testConfig(t testing.TB, servers ...string) Config {
	return Config{
		Servers:  servers,
		Prefix:   "t" + randomSuffix(t) + ":",
		Cooldown: 50 * time.Millisecond,
	}
}

// wrap puts a cache in front of inner, closed when the test ends.
func wrap(t testing.TB, inner syncstore.Store, cfg Config) *Store {
	t.Helper()
	s, err := New(inner, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}
