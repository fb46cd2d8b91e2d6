package memcache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

const benchUsers = 100

// BenchmarkSteadySync measures the requests of a steady sync, one op being
// one client's sync of a random user: GET info/collections, meta/global
// and crypto/keys, plus, in the "post1in10" mix, a POST of one small
// record one time in ten (the user changed something since the last
// sync); "nochange" is the common sync that finds nothing new. It runs on
// MariaDB alone and with memcached in front, and reports the store calls
// that reached the database per sync (each is one or more SQL statements)
// and the share of cacheable reads memcached answered.
func BenchmarkSteadySync(b *testing.B) {
	mc := testservices.Memcached(b)
	dsn := testservices.NewMySQLDatabase(b, "mc_")
	plain := openMySQL(b, dsn, nil)
	b.Cleanup(func() { plain.Close() })
	users := seedSyncUsers(b, plain)

	for _, bc := range []struct {
		name       string
		writeEvery int // 0: never
		parallel   bool
	}{
		{"nochange/serial", 0, false},
		{"nochange/parallel", 0, true},
		{"post1in10/serial", 10, false},
		{"post1in10/parallel", 10, true},
	} {
		mode, par := bc.name, bc.parallel
		b.Run("mariadb/"+mode, func(b *testing.B) {
			var issued atomic.Uint64
			runSyncMix(b, plain, users, bc.writeEvery, par, &issued)
			b.ReportMetric(float64(issued.Load())/float64(b.N), "db-calls/op")
		})
		b.Run("mariadb+memcached/"+mode, func(b *testing.B) {
			s, err := New(openMySQL(b, dsn, nil), testConfig(b, mc), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var issued atomic.Uint64
			runSyncMix(b, s, users, bc.writeEvery, par, &issued)
			st := s.Stats()
			b.ReportMetric(float64(st.InnerCalls)/float64(b.N), "db-calls/op")
			if reads := st.Hits + st.Misses + st.Bypasses; reads > 0 {
				b.ReportMetric(100*float64(st.Hits)/float64(reads), "hit-%")
			}
			if st.Errors > 0 {
				b.Errorf("%d memcached errors during the benchmark", st.Errors)
			}
		})
	}
}

// seedSyncUsers creates users holding what a synced profile has on the
// server: meta/global, crypto/keys, a client record and some bookmarks.
func seedSyncUsers(b *testing.B, s syncstore.Store) []int64 {
	b.Helper()
	ctx := context.Background()
	ids := make([]int64, benchUsers)
	for i := range ids {
		u := &syncstore.User{Name: fmt.Sprintf("bench%d", i), PasswordHash: "x"}
		if err := s.CreateUser(ctx, u); err != nil {
			b.Fatal(err)
		}
		ids[i] = u.ID
		for coll, recs := range map[string][]syncstore.WBO{
			"meta":      {wbo("global", `{"syncID":"abcdefghijkl","storageVersion":5,"engines":{"bookmarks":{"version":2,"syncID":"0123456789ab"}}}`)},
			"crypto":    {wbo("keys", `{"ciphertext":"`+benchCiphertext+`","IV":"MDEyMzQ1Njc4OWFiY2RlZg==","hmac":"0f0f"}`)},
			"clients":   {wbo("client0", benchCiphertext)},
			"bookmarks": {wbo("bm0", benchCiphertext), wbo("bm1", benchCiphertext), wbo("bm2", benchCiphertext)},
		} {
			if _, err := s.PutRecords(ctx, u.ID, coll, recs, syncstore.WriteOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	return ids
}

const benchCiphertext = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVpBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWkFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFla"

// runSyncMix runs b.N syncs against s, one in writeEvery with an upload,
// serially or from parallel goroutines, counting the store calls it
// issues.
func runSyncMix(b *testing.B, s syncstore.Store, users []int64, writeEvery int, parallel bool, issued *atomic.Uint64) {
	ctx := context.Background()
	sync := func(rng *rand.Rand) {
		uid := users[rng.IntN(len(users))]
		if _, err := s.CollectionTimestamps(ctx, uid); err != nil {
			b.Error(err)
		}
		for _, r := range cachedRecords {
			if _, err := s.GetRecord(ctx, uid, r.collection, r.id); err != nil {
				b.Error(err)
			}
		}
		issued.Add(3)
		if writeEvery > 0 && rng.IntN(writeEvery) == 0 {
			if _, err := s.PutRecords(ctx, uid, "clients", []syncstore.WBO{wbo("client0", benchCiphertext)}, syncstore.WriteOptions{}); err != nil {
				b.Error(err)
			}
			issued.Add(1)
		}
	}
	b.ReportAllocs()
	if !parallel {
		rng := rand.New(rand.NewPCG(1, 2))
		for b.Loop() {
			sync(rng)
		}
		return
	}
	var seed atomic.Uint64
	b.SetParallelism(4) // several clients per core, as a server sees
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(seed.Add(1), 7))
		for pb.Next() {
			sync(rng)
		}
	})
}
