package memcache

import (
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storetest"
	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// openCached opens a cache over a fresh MySQL store, as the server does.
func openCached(t *testing.T, mc string, clock func() time.Time) syncstore.Store {
	inner := openMySQL(t, testservices.NewMySQLDatabase(t, "mc_"), clock)
	s, err := New(inner, testConfig(t, mc), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRouteTableConformance finds the route table through the cache
// (Unwrap) and runs its suite.
func TestRouteTableConformance(t *testing.T) {
	mc := testservices.Memcached(t)
	storetest.RunRouteTable(t, func(t *testing.T, clock func() time.Time) syncstore.Store {
		return openCached(t, mc, clock)
	})
}

// TestBulkConformance imports underneath the cache and reads through it.
func TestBulkConformance(t *testing.T) {
	mc := testservices.Memcached(t)
	storetest.RunBulk(t, func(t *testing.T, clock func() time.Time) syncstore.Store {
		return openCached(t, mc, clock)
	})
}
