package memcache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/mysqlstore"
)

func randomSuffix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
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
		// The tests count hits, misses and errors: a call that ran out
		// of the production 100 ms on a loaded test machine would turn
		// a hit into an error (TestHotReadsServedFromCache failed so).
		// A killed memcached still fails at once (refused connection);
		// the tests of slow servers set their own timeout.
		Timeout: 5 * time.Second,
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
