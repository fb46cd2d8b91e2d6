package memcache

import (
	"testing"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storetest"
	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// BenchmarkWrite is storetest's write benchmarks through the cache in
// front of MariaDB: what the cache adds to a write shows as a higher
// store/floor than mysqlstore's. The floor writes through the inner
// store's database.
func BenchmarkWrite(b *testing.B) {
	mc := testservices.Memcached(b)
	storetest.RunWriteBenchmarks(b, func(b *testing.B) (syncstore.Store, storetest.SQLDB) {
		inner := openMySQL(b, testservices.NewMySQLDatabase(b, "mc_"), nil)
		db, ok := inner.(storetest.SQLDB)
		if !ok {
			b.Fatalf("%T has no DB method", inner)
		}
		s, err := New(inner, testConfig(b, mc), nil)
		if err != nil {
			inner.Close()
			b.Fatal(err)
		}
		return s, db
	})
}
