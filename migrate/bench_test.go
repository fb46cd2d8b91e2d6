package migrate_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/syncserver/syncserver/migrate"
	"github.com/syncserver/syncserver/migrate/legacytest"
)

// benchUsers is the number of 6,000-record users of BenchmarkMigrate
// (MIGRATE_BENCH_USERS, default 10; the target is stated for 100).
func benchUsers() int {
	if n, err := strconv.Atoi(os.Getenv("MIGRATE_BENCH_USERS")); err == nil && n > 0 {
		return n
	}
	return 10
}

// benchVariant is the legacy schema of BenchmarkMigrate
// (MIGRATE_BENCH_LAYOUT: mozilla, the default, or fsyncms).
func benchVariant() string {
	if v := os.Getenv("MIGRATE_BENCH_LAYOUT"); v == legacytest.FSyncMS {
		return v
	}
	return legacytest.Mozilla
}

// BenchmarkMigrate moves users of 6,000 records from a Mozilla PHP (or
// FSyncMS) database in MariaDB to each native backend with the command's default
// concurrency, and reports records/s and the per-user unavailability
// window, with the command's default drain (what users see) and with
// none (the protocol's own work: delta copy, verification, route swaps;
// also the copy rate without the sleeps).
func BenchmarkMigrate(b *testing.B) {
	ctx := context.Background()
	l := legacytest.Layout{Variant: benchVariant()}
	name, db := legacytest.NewDatabase(b, "mig_", "")
	if err := legacytest.CreateSchema(ctx, db, l); err != nil {
		b.Fatal(err)
	}
	n := benchUsers()
	users := legacytest.Generate(11, l, legacytest.Spec{Users: n, Records: []int{6000}, BcryptCost: 4, SmallPayloads: true})
	if err := legacytest.Insert(ctx, db, l, users); err != nil {
		b.Fatal(err)
	}
	lg, err := migrate.OpenLegacy(ctx, legacytest.DSN(b, name), migrate.LegacyOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer lg.Close()
	var names []string
	for _, u := range users {
		names = append(names, u.Name)
	}
	for _, target := range []struct {
		name string
		open func(testing.TB, func() time.Time) native
	}{{"mysql-to-sqlite", openSQLite}, {"mysql-to-mysql", openMySQL}} {
		for _, drain := range []time.Duration{0, migrate.DefaultDrain} {
			benchMigrate(b, target.name, target.open, drain, lg, names)
		}
	}
}

// benchMigrate runs one BenchmarkMigrate case: every user moved with the
// given drain into a fresh native store per iteration.
func benchMigrate(b *testing.B, name string, open func(testing.TB, func() time.Time) native, drain time.Duration,
	lg *migrate.LegacyDB, names []string) {
	ctx := context.Background()
	b.Run(fmt.Sprintf("%s/drain=%v", name, drain), func(b *testing.B) {
		var records int64
		var elapsed time.Duration
		var windows, bulk, delta, verify []time.Duration
		for range b.N {
			b.StopTimer()
			st := open(b, time.Now)
			m, err := migrate.New(migrate.Config{Legacy: lg, Native: st, Routes: st, LeaseTTL: time.Minute, Drain: drain})
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			start := time.Now()
			rep, err := m.Run(ctx, names, 4, false, nil)
			elapsed += time.Since(start)
			if err != nil || rep.Failed() > 0 {
				b.Fatalf("run: %v, %d failed: %v", err, rep.Failed(), rep.Results[0].Err)
			}
			for _, r := range rep.Results {
				records += r.Records
				bulk, delta, verify = append(bulk, r.Bulk), append(delta, r.Delta), append(verify, r.Verify)
			}
			windows = append(windows, rep.Windows()...)
		}
		b.ReportMetric(float64(records)/elapsed.Seconds(), "records/s")
		b.ReportMetric(float64(migrate.Percentile(windows, 50).Microseconds())/1000, "window-p50-ms")
		b.ReportMetric(float64(migrate.Percentile(windows, 99).Microseconds())/1000, "window-p99-ms")
		// Where the time goes: the bulk copy per user, and the two parts
		// of the window besides the drain.
		b.ReportMetric(float64(migrate.Percentile(bulk, 50).Microseconds())/1000, "bulk-p50-ms")
		b.ReportMetric(float64(migrate.Percentile(delta, 99).Microseconds())/1000, "delta-p99-ms")
		b.ReportMetric(float64(migrate.Percentile(verify, 99).Microseconds())/1000, "verify-p99-ms")
	})
}
