package local

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/syncserver/syncserver/bench"
)

func testMySQLDSN() string {
	if v := os.Getenv("SYNCSERVER_BENCH_MYSQL"); v != "" {
		return v
	}
	return "root@tcp(127.0.0.1:3306)/"
}

// TestLocalLegacyAndShim runs a tiny bench against --local legacy and
// shim: the FSyncMS stand-in on MariaDB, and Caddy with the shim proxying
// to another one. Both must answer correctly but for their documented
// quirks, and the shim's writes must land in its legacy database.
func TestLocalLegacyAndShim(t *testing.T) {
	ctx := context.Background()
	cfg := bench.DefaultConfig()
	cfg.Users, cfg.RecordsPerUser = 3, 60
	cfg.Concurrency = []int{3}
	cfg.StepDuration, cfg.MaxRequests, cfg.Warmup = 1500*time.Millisecond, 300, 0
	cfg.BcryptCost = 4
	cfg.Mix.NodeWeave, cfg.Mix.Idle, cfg.Mix.MetaGlobal, cfg.Mix.CryptoKeys = 0.5, 0, 1, 1
	cfg.Mix.GetCount = bench.Weights{0, 1, 1}
	cfg.Mix.PostCount = bench.Weights{0, 2, 1}
	cfg.Mix.DeleteCount = bench.Weights{1, 1}
	cfg.Seeders = map[string]bench.Seeder{}
	var shimDB *fsyncmsSeeder
	for _, kind := range []string{Shim, Legacy} {
		srv, err := Start(ctx, kind, Options{MySQLDSN: testMySQLDSN(), BcryptCost: 4})
		if err != nil {
			t.Fatalf("starting %s (is MariaDB running?): %v", kind, err)
		}
		t.Cleanup(func() {
			if err := srv.Close(); err != nil {
				t.Errorf("closing %s: %v", kind, err)
			}
		})
		fs, ok := srv.Seeder.(*fsyncmsSeeder)
		if !srv.Target.Legacy || srv.store != nil || !ok {
			t.Fatalf("%s: legacy %v, store %v, seeder %T", kind, srv.Target.Legacy, srv.store, srv.Seeder)
		}
		if kind == Shim {
			shimDB = fs
		}
		cfg.Targets = append(cfg.Targets, srv.Target)
		cfg.Seeders[srv.Target.Name] = srv.Seeder
	}
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range res.Targets {
		s := &tr.Steps[0]
		checkAccounting(t, s, cfg.MaxRequests)
		if tr.Seed.Method != "direct" || tr.Seed.Records != 180 {
			t.Errorf("%s: seed %+v", tr.Name, tr.Seed)
		}
		if s.Errors != 0 {
			t.Errorf("%s: %d errors: %v", tr.Name, s.Errors, s.ErrorExamples)
		}
		if s.LegacyQuirks["post-without-modified"] == 0 {
			t.Errorf("%s: no POST answer without modified: %v", tr.Name, s.LegacyQuirks)
		}
	}
	// The shim proxied every write to its legacy server.
	var rows int64
	if err := shimDB.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM wbo").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if seeded := res.Targets[0].Seed.Records + 3*(1+1+2); rows <= seeded {
		t.Errorf("the shim's legacy database holds %d rows, %d seeded: the workload's uploads did not reach it", rows, seeded)
	}
}

// checkAccounting checks that a step's counts add up (as the bench
// package's own tests do).
func checkAccounting(t *testing.T, s *bench.StepResult, maxRequests int64) {
	t.Helper()
	var reqs, errs, kinds, timeline int64
	for _, e := range s.Endpoints {
		reqs += e.Count
		errs += e.Errors
	}
	for _, n := range s.ErrorsByKind {
		kinds += n
	}
	for _, p := range s.Timeline {
		timeline += p.Requests
	}
	if reqs != s.Requests || timeline != s.Requests || s.Latency.Count != s.Requests {
		t.Errorf("%s: requests %d, Σ endpoints %d, Σ timeline %d, latency count %d", s.Label, s.Requests, reqs, timeline, s.Latency.Count)
	}
	if errs != s.Errors || kinds != s.Errors {
		t.Errorf("%s: errors %d, Σ endpoints %d, Σ kinds %d", s.Label, s.Errors, errs, kinds)
	}
	if s.Requests > maxRequests || s.Requests < s.Sessions || s.Sessions == 0 {
		t.Errorf("%s: %d requests, %d sessions, limit %d", s.Label, s.Requests, s.Sessions, maxRequests)
	}
	if s.SessionErrors > s.Errors {
		t.Errorf("%s: %d failed sessions but %d errors", s.Label, s.SessionErrors, s.Errors)
	}
}
