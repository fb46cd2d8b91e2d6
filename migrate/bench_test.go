package migrate_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/syncserver/syncserver/migrate"
	"github.com/syncserver/syncserver/migrate/legacytest"
	"github.com/syncserver/syncserver/syncstore"
)

// benchConcurrencies are the users moved at once: the command's default
// --concurrency, or MIGRATE_BENCH_CONCURRENCY, a comma-separated list
// whose values run side by side on the same legacy data (each its own
// sub-benchmark, named c=N when there are several).
func benchConcurrencies() []int {
	var out []int
	for _, f := range strings.Split(os.Getenv("MIGRATE_BENCH_CONCURRENCY"), ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return []int{4}
	}
	return out
}

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
// also the copy rate without the sleeps), each next to its floor
// (benchFloor): the bare read and insert of the same records.
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
	cpu := newCPUMeter(ctx, db)
	for _, target := range []struct {
		name string
		open func(testing.TB, func() time.Time) native
		rows int // rows per statement of the floor: the backend's MaxRows
	}{{"mysql-to-sqlite", openSQLite, 128}, {"mysql-to-mysql", openMySQL, 512}} {
		cs := benchConcurrencies()
		for _, c := range cs {
			name := target.name
			if len(cs) > 1 {
				name += fmt.Sprintf("/c=%d", c)
			}
			benchFloor(b, name, target.open, target.rows, lg, names, c, cpu)
			for _, drain := range []time.Duration{0, migrate.DefaultDrain} {
				benchMigrate(b, name, target.open, drain, lg, names, c, cpu)
			}
		}
	}
}

// benchFloor is what a migration cannot go below: each legacy record read
// once (the bulk copy's read) and inserted once into the native wbo table
// with bare prepared multi-row INSERTs in id order, one transaction per
// user and collection, the same users at once as a run. No aggregates,
// routes, digests, delta or verification. Its records/s next to the
// migration's, measured in the same run, is the ratio to watch.
func benchFloor(b *testing.B, name string, open func(testing.TB, func() time.Time) native, rows int, lg *migrate.LegacyDB, names []string, concurrency int, cpu *cpuMeter) {
	ctx := context.Background()
	b.Run(name+"/floor", func(b *testing.B) {
		var records int64
		var elapsed, self, server time.Duration
		for range b.N {
			b.StopTimer()
			st := open(b, time.Now)
			db := st.(interface{ DB() *sql.DB }).DB()
			ins, err := db.PrepareContext(ctx, "INSERT INTO wbo (user_id, collection_id, id, modified, sortindex, payload, payload_size, parentid, predecessorid, expiry) VALUES "+
				strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?), ", rows), ", "))
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			cpu.start()
			start := time.Now()
			var n atomic.Int64
			g, gctx := errgroup.WithContext(ctx)
			g.SetLimit(concurrency)
			for i, u := range names {
				g.Go(func() error {
					lu, err := lg.LookupUser(gctx, u)
					if err != nil {
						return err
					}
					colls := map[string][]syncstore.StoredRecord{}
					err = lg.Records(gctx, lu, func(c string, r *syncstore.StoredRecord) error {
						colls[c] = append(colls[c], *r)
						return nil
					})
					if err != nil {
						return err
					}
					cid := 0
					for _, recs := range colls {
						cid++
						slices.SortFunc(recs, func(a, b syncstore.StoredRecord) int { return strings.Compare(a.ID, b.ID) })
						if err := floorInsert(gctx, db, ins, int64(i+1), cid, rows, recs); err != nil {
							return err
						}
						n.Add(int64(len(recs)))
					}
					return nil
				})
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
			elapsed += time.Since(start)
			cpu.stop(&self, &server)
			records += n.Load()
			ins.Close()
		}
		b.ReportMetric(float64(records)/elapsed.Seconds(), "records/s")
		reportCPU(b, records, self, server)
		cpu.logStatus(b, records)
	})
}

// floorInsert writes recs in one transaction, rows per statement (the
// last statement padded with fresh ids).
func floorInsert(ctx context.Context, db *sql.DB, ins *sql.Stmt, uid int64, cid, rows int, recs []syncstore.StoredRecord) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st := tx.StmtContext(ctx, ins)
	args := make([]any, 0, rows*10)
	for i := 0; i < len(recs); i += rows {
		args = args[:0]
		for j := i; j < i+rows; j++ {
			if j < len(recs) {
				r := &recs[j]
				args = append(args, uid, cid, []byte(r.ID), int64(r.Modified), sortIndex(r.SortIndex), optBytes(r.Payload), r.PayloadSize(),
					optBytes(r.ParentID), optBytes(r.PredecessorID), r.Expiry)
			} else {
				args = append(args, uid, cid, []byte(fmt.Sprintf("~pad%d", j)), 0, nil, nil, 0, nil, nil, 0)
			}
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func sortIndex(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func optBytes(p *string) any {
	if p == nil {
		return nil
	}
	return []byte(*p)
}

// benchMigrate runs one BenchmarkMigrate case: every user moved with the
// given drain into a fresh native store per iteration.
func benchMigrate(b *testing.B, name string, open func(testing.TB, func() time.Time) native, drain time.Duration,
	lg *migrate.LegacyDB, names []string, concurrency int, cpu *cpuMeter) {
	ctx := context.Background()
	b.Run(fmt.Sprintf("%s/drain=%v", name, drain), func(b *testing.B) {
		var records int64
		var elapsed, self, server time.Duration
		var windows, bulk, delta, verify []time.Duration
		for range b.N {
			b.StopTimer()
			st := open(b, time.Now)
			m, err := migrate.New(migrate.Config{Legacy: lg, Native: st, Routes: st, LeaseTTL: time.Minute, Drain: drain})
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			cpu.start()
			start := time.Now()
			rep, err := m.Run(ctx, names, concurrency, false, nil)
			elapsed += time.Since(start)
			cpu.stop(&self, &server)
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
		reportCPU(b, records, self, server)
		cpu.logStatus(b, records)
		b.ReportMetric(float64(migrate.Percentile(windows, 50).Microseconds())/1000, "window-p50-ms")
		b.ReportMetric(float64(migrate.Percentile(windows, 99).Microseconds())/1000, "window-p99-ms")
		// Where the time goes: the bulk copy per user, and the two parts
		// of the window besides the drain.
		b.ReportMetric(float64(migrate.Percentile(bulk, 50).Microseconds())/1000, "bulk-p50-ms")
		b.ReportMetric(float64(migrate.Percentile(delta, 99).Microseconds())/1000, "delta-p99-ms")
		b.ReportMetric(float64(migrate.Percentile(verify, 99).Microseconds())/1000, "verify-p99-ms")
	})
}
