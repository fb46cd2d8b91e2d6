package bench

import (
	"context"
	"testing"
	"time"
)

// TestLocalLegacyAndShim runs a tiny bench against --local legacy and
// shim: the FSyncMS stand-in on MariaDB, and Caddy with the shim proxying
// to another one. Both must answer correctly but for their documented
// quirks, and the shim's writes must land in its legacy database.
func TestLocalLegacyAndShim(t *testing.T) {
	ctx := context.Background()
	dsn := defaultOptions().mysqlDSN
	cfg := DefaultConfig()
	cfg.Users, cfg.RecordsPerUser = 3, 60
	cfg.Concurrency = []int{3}
	cfg.StepDuration, cfg.MaxRequests, cfg.Warmup = 1500*time.Millisecond, 300, 0
	cfg.BcryptCost = 4
	cfg.Mix = busyMix()
	cfg.seeders = map[string]seeder{}
	var shimDB *fsyncmsSeeder
	for _, kind := range []string{LocalShim, LocalLegacy} {
		srv, err := StartLocal(ctx, kind, LocalOptions{MySQLDSN: dsn, BcryptCost: 4})
		if err != nil {
			t.Fatalf("starting %s (is MariaDB running?): %v", kind, err)
		}
		t.Cleanup(func() {
			if err := srv.Close(); err != nil {
				t.Errorf("closing %s: %v", kind, err)
			}
		})
		if !srv.Target.Legacy || srv.Store != nil || srv.seeder == nil {
			t.Fatalf("%s: legacy %v, store %v, seeder %v", kind, srv.Target.Legacy, srv.Store, srv.seeder)
		}
		if kind == LocalShim {
			shimDB = srv.seeder.(*fsyncmsSeeder)
		}
		cfg.Targets = append(cfg.Targets, srv.Target)
		cfg.seeders[srv.Target.Name] = srv.seeder
	}
	res, err := Run(ctx, cfg)
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
		if s.LegacyQuirks[quirkPostNoModified.String()] == 0 {
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
