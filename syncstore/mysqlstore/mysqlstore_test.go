package mysqlstore

import (
	"context"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storetest"
	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// freshDatabase creates an empty database that is dropped when the test
// ends, and returns its DSN.
func freshDatabase(t testing.TB) string {
	t.Helper()
	return testservices.NewMySQLDatabase(t, "mys_")
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
