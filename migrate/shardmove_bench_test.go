package migrate_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/syncserver/syncserver/migrate"
	"github.com/syncserver/syncserver/syncstore"
)

// envInt reads a positive integer from the environment, def otherwise.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkMoveShard moves SHARD_BENCH_USERS users (default 20) of
// SHARD_BENCH_RECORDS records (default 1,000, written through the
// protocol) from s1 to s2 with the command's default concurrency, and
// reports records/s and the per-user unavailability window (503), with the
// command's default drain (what users see) and with none (the protocol's
// own work in the window: the verification and the route swaps); with
// writes, each user gets a write between its bulk copy and its migrating
// swap, so its window also reads the whole source again for the delta.
func BenchmarkMoveShard(b *testing.B) {
	users, records := envInt("SHARD_BENCH_USERS", 20), envInt("SHARD_BENCH_RECORDS", 1000)
	ctx := context.Background()
	for _, backend := range []struct {
		name string
		open func(testing.TB, func() time.Time) native
	}{{"mysql-to-mysql", openMySQL}, {"sqlite-to-sqlite", openSQLite}} {
		for _, c := range []struct {
			drain  time.Duration
			writes bool
		}{{0, false}, {migrate.DefaultDrain, false}, {migrate.DefaultDrain, true}} {
			drain := c.drain
			b.Run(fmt.Sprintf("%s/drain=%v/writes=%v", backend.name, drain, c.writes), func(b *testing.B) {
				var moved int64
				var elapsed time.Duration
				var windows []time.Duration
				for range b.N {
					b.StopTimer()
					e := newShardEnv(b, backend.open)
					var names []string
					for i := range users {
						name := fmt.Sprintf("bench%03d", i)
						e.seed("s1", name, records)
						names = append(names, name)
					}
					cfg := migrate.Config{Drain: drain, LeaseTTL: time.Minute}
					b.StartTimer()
					start := time.Now()
					var rep *migrate.Report
					if c.writes {
						rep = moveWithWrites(b, e, cfg, names)
					} else {
						var err error
						rep, err = e.migrator(cfg).RunMove(ctx, names, "s1", func(string) string { return "s2" }, 4, nil)
						if err != nil {
							b.Fatal(err)
						}
					}
					elapsed += time.Since(start)
					if rep.Failed() > 0 {
						b.Fatalf("%d failed", rep.Failed())
					}
					for _, r := range rep.Results {
						moved += r.Records
					}
					windows = append(windows, rep.Windows()...)
				}
				b.ReportMetric(float64(moved)/elapsed.Seconds(), "records/s")
				b.ReportMetric(float64(migrate.Percentile(windows, 50).Microseconds())/1000, "window-p50-ms")
				b.ReportMetric(float64(migrate.Percentile(windows, 99).Microseconds())/1000, "window-p99-ms")
			})
		}
	}
}

// moveWithWrites moves the users four at a time, each with its own
// migrator whose fault hook writes one record for the user between its
// bulk copy and its migrating swap, as a client would.
func moveWithWrites(b *testing.B, e *shardEnv, cfg migrate.Config, names []string) *migrate.Report {
	ctx := context.Background()
	s1 := e.shards["s1"]
	rep := &migrate.Report{Start: time.Now()}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, name := range names {
		m := e.migrator(cfg)
		migrate.SetFault(m, func(step string) error {
			if step != migrate.StepMigrating {
				return nil
			}
			u, err := s1.LookupUser(ctx, name)
			if err != nil {
				return err
			}
			_, err = s1.PutRecords(ctx, u.ID, "tabs", []syncstore.WBO{{ID: "late", Payload: ptr("x")}}, syncstore.WriteOptions{})
			return err
		})
		wg.Go(func() {
			sem <- struct{}{}
			res, _ := m.MoveUser(ctx, name, "s1", "s2")
			<-sem
			if res.DeltaWritten != 1 {
				b.Errorf("%s: delta wrote %d records, want the 1 written after the bulk copy", name, res.DeltaWritten)
			}
			mu.Lock()
			rep.Results = append(rep.Results, res)
			mu.Unlock()
		})
	}
	wg.Wait()
	rep.End = time.Now()
	return rep
}
