package migrate_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/syncserver/syncserver/migrate"
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
// own work in the window: the delta export of the source, the
// verification, the route swaps).
func BenchmarkMoveShard(b *testing.B) {
	users, records := envInt("SHARD_BENCH_USERS", 20), envInt("SHARD_BENCH_RECORDS", 1000)
	ctx := context.Background()
	for _, backend := range []struct {
		name string
		open func(testing.TB, func() time.Time) native
	}{{"mysql-to-mysql", openMySQL}, {"sqlite-to-sqlite", openSQLite}} {
		for _, drain := range []time.Duration{0, migrate.DefaultDrain} {
			b.Run(fmt.Sprintf("%s/drain=%v", backend.name, drain), func(b *testing.B) {
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
					m := e.migrator(migrate.Config{Drain: drain, LeaseTTL: time.Minute})
					b.StartTimer()
					start := time.Now()
					rep, err := m.RunMove(ctx, names, "s1", func(string) string { return "s2" }, 4, nil)
					elapsed += time.Since(start)
					if err != nil || rep.Failed() > 0 {
						b.Fatalf("run: %v, %d failed", err, rep.Failed())
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
