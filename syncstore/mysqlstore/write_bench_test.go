package mysqlstore

import (
	"testing"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storetest"
)

// BenchmarkWrite compares the write requests with the bare SQL that stores
// the same rows (storetest.RunWriteBenchmarks); `make writebench` runs it.
func BenchmarkWrite(b *testing.B) {
	storetest.RunWriteBenchmarks(b, func(b *testing.B) (syncstore.Store, storetest.SQLDB) {
		s := openStore(b, Config{})
		return s, s
	})
}
