package memcache

import (
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storetest"
	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// TestConformance runs the backend suite through the cache: a cache that
// answers anything differently from the database fails here.
func TestConformance(t *testing.T) {
	mc := testservices.Memcached(t)
	storetest.Run(t, func(t *testing.T, clock func() time.Time) syncstore.Store {
		inner := openMySQL(t, testservices.NewMySQLDatabase(t, "mc_"), clock)
		// Every subtest gets its own prefix: user ids restart at 1 in each
		// fresh database.
		s, err := New(inner, testConfig(t, mc), nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
