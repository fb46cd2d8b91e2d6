package migrate_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/syncserver/syncserver/migrate"
	"github.com/syncserver/syncserver/migrate/legacytest"
	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/mysqlstore"
	"github.com/syncserver/syncserver/syncstore/sqlitestore"
)

// The child process of TestMigrateSIGKILL is this test binary re-run with
// these variables set: it migrates the users and is killed on the way.
const (
	sigkillChildEnv  = "HRD2_MIGRATE_CHILD"
	sigkillLegacyEnv = "HRD2_MIGRATE_LEGACY_DSN"
	sigkillNativeEnv = "HRD2_MIGRATE_NATIVE" // sqlite:<dir> or mysql:<dsn>
	sigkillUsersEnv  = "HRD2_MIGRATE_USERS"  // comma-separated
	// The child's lease and drain: the shortest lease New allows, so the
	// parent's wait for a dead child's leases stays short, and a drain long
	// enough that many kills land while a user is migrating.
	sigkillLease = time.Second
	sigkillDrain = 100 * time.Millisecond
)

// openSigkillNative opens the native store a spec names.
func openSigkillNative(ctx context.Context, spec string) (native, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	switch kind {
	case "sqlite":
		return sqlitestore.Open(ctx, sqlitestore.Config{Dir: arg})
	case "mysql":
		return mysqlstore.Open(ctx, mysqlstore.Config{DSN: arg})
	}
	return nil, fmt.Errorf("native store %q: want sqlite:<dir> or mysql:<dsn>", spec)
}

// TestMigrateSIGKILLChild is the migrate run that the parent kills. It
// does nothing unless started by TestMigrateSIGKILL.
func TestMigrateSIGKILLChild(t *testing.T) {
	if os.Getenv(sigkillChildEnv) == "" {
		t.Skip("only runs as TestMigrateSIGKILL's child process")
	}
	ctx := testContext(t)
	lg, err := migrate.OpenLegacy(ctx, os.Getenv(sigkillLegacyEnv), migrate.LegacyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	nat, err := openSigkillNative(ctx, os.Getenv(sigkillNativeEnv))
	if err != nil {
		t.Fatal(err)
	}
	defer nat.Close()
	m, err := migrate.New(migrate.Config{Legacy: lg, Native: nat, Routes: nat, Drain: sigkillDrain, LeaseTTL: sigkillLease})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := m.Run(ctx, strings.Split(os.Getenv(sigkillUsersEnv), ","), 2, false, nil)
	if err != nil || rep.Failed() > 0 {
		t.Fatalf("child run: %d failed, %v", rep.Failed(), err)
	}
}

// TestMigrateSIGKILL kills a real migrate process (this test binary as a
// child) with SIGKILL at a random moment, 20 times, each time on a fresh
// native store (alternately SQLite and MariaDB) in front of the same
// legacy database. After each kill, once the dead run's leases have
// expired, every user is served from legacy or native — never stuck in
// migrating — and a user the dead run flipped to native has exactly the
// legacy data. A second run then completes every user, and the legacy
// tables are never changed.
func TestMigrateSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 21 processes")
	}
	ctx := testContext(t)
	l := legacytest.Layout{Variant: legacytest.FSyncMS}
	legacyName, db := legacytest.NewDatabase(t, "hrd2_", "")
	if err := legacytest.CreateSchema(ctx, db, l); err != nil {
		t.Fatal(err)
	}
	users := legacytest.Generate(11, l, legacytest.Spec{Users: 4, Records: []int{300, 150, 60, 20}, BigPayloads: 1, BcryptCost: 4})
	if err := legacytest.Insert(ctx, db, l, users); err != nil {
		t.Fatal(err)
	}
	legacyDSN := legacytest.DSN(t, legacyName)
	lg, err := migrate.OpenLegacy(ctx, legacyDSN, migrate.LegacyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lg.Close() })
	e := &env{t: t, layout: l, db: db, users: users, legacy: lg, clock: &fakeClock{}}
	before := e.legacyDigests()
	var names []string
	for _, u := range users {
		names = append(names, u.Name)
	}

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 7))
	t.Logf("random delays from seed %d", seed)

	// freshNative creates an empty native store and its schema, so that
	// the child's time goes to migrating rather than creating tables.
	freshNative := func(run int) string {
		spec := "sqlite:" + t.TempDir()
		if run%2 == 1 {
			name, _ := legacytest.NewDatabase(t, "hrd2_", "")
			spec = "mysql:" + legacytest.DSN(t, name)
		}
		nat, err := openSigkillNative(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		nat.Close()
		return spec
	}
	// child runs a migrate process and kills it after delay (0: lets it
	// finish). It reports whether the kill came before the process ended.
	child := func(nativeSpec string, delay time.Duration) (killed bool, took time.Duration) {
		t.Helper()
		return runChild(t, "TestMigrateSIGKILLChild", delay, sigkillChildEnv+"=1", sigkillLegacyEnv+"="+legacyDSN,
			sigkillNativeEnv+"="+nativeSpec, sigkillUsersEnv+"="+strings.Join(names, ","))
	}

	// An uninterrupted run per backend measures how long a whole run
	// takes, so the kills spread over all of it (process start, bulk copy,
	// drain, delta, verify, flip).
	full := map[int]time.Duration{}
	for backend := range 2 {
		_, full[backend] = child(freshNative(backend), 0)
	}
	t.Logf("an uninterrupted run takes %v on SQLite, %v on MariaDB", full[0], full[1])

	const runs = 20
	statesAtKill := map[string]int{}
	killedRuns := 0
	for run := range runs {
		spec := freshNative(run)
		delay := time.Duration(rng.Int64N(int64(full[run%2])*11/10)) + time.Millisecond
		killed, _ := child(spec, delay)
		killedAt := time.Now()
		if killed {
			killedRuns++
		}
		nat, err := openSigkillNative(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		e.native = nat

		// Wait out the dead run's leases, then look at what it left.
		routes, err := nat.ListRoutes(ctx, "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		// A statement sent before the kill may still commit on MariaDB
		// after it, with a lease the rows read now miss; every lease the
		// child wrote ends within sigkillLease of the kill.
		expires := killedAt.Add(sigkillLease)
		for _, r := range routes {
			statesAtKill[string(r.State)]++
			if r.Owner != "" && r.LeaseExpires.After(expires) {
				expires = r.LeaseExpires
			}
		}
		time.Sleep(time.Until(expires) + 10*time.Millisecond)
		now := time.Now()
		nativeAfterKill := 0
		for _, name := range names {
			r := e.route(name)
			state := syncstore.RouteLegacy // no row: the shim's default
			if r != nil {
				state = r.Effective(now)
			}
			switch state {
			case syncstore.RouteLegacy:
			case syncstore.RouteNative:
				nativeAfterKill++
				e.checkNativeEqualsLegacy(name)
			default:
				t.Errorf("run %d (killed at %v): %s is %s after its lease expired: %+v", run, delay, name, state, r)
			}
		}

		// The next run recovers the stale leases and completes everyone.
		m := e.migrator(migrate.Config{LeaseTTL: sigkillLease, Drain: time.Millisecond})
		rep, err := m.Run(ctx, names, 2, false, nil)
		if err != nil || rep.Failed() > 0 {
			for _, res := range rep.Results {
				if res.Err != nil {
					t.Errorf("run %d: recovery run, %s: %v", run, res.User, res.Err)
				}
			}
			t.Fatalf("run %d (killed at %v): recovery run failed: %v", run, delay, err)
		}
		for _, name := range names {
			if r := e.route(name); r == nil || r.State != syncstore.RouteNative || r.Owner != "" {
				t.Errorf("run %d: %s after the recovery run: %+v, want native without a lease", run, name, r)
			}
			e.checkNativeEqualsLegacy(name)
		}
		t.Logf("run %d: %s, killed after %v (killed: %v); %d of %d users native after the kill, all native after recovery",
			run, spec[:strings.Index(spec, ":")], delay.Round(time.Millisecond), killed, nativeAfterKill, len(names))
		nat.Close()
	}
	e.sameLegacy(before, "after 20 killed runs and their recoveries")
	t.Logf("%d of %d runs killed before they ended; route states seen at the kill: %v", killedRuns, runs, statesAtKill)
	if killedRuns < runs/2 {
		t.Errorf("only %d of %d runs were killed before they ended: the delays miss the run", killedRuns, runs)
	}
}

// runChild runs the test binary's test named child as a process with env
// added and SIGKILLs it after delay (0: lets it finish); a child failing
// on its own fails the test. It reports whether the kill came before the
// process ended, and how long the process ran.
func runChild(t *testing.T, child string, delay time.Duration, env ...string) (killed bool, took time.Duration) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+child+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var timer <-chan time.Time
	if delay > 0 {
		timer = time.After(delay)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s failed on its own: %v\n%s", child, err, out.String())
		}
		return false, time.Since(start)
	case <-timer:
		_ = cmd.Process.Kill() // SIGKILL
		err := <-done
		var exit *exec.ExitError
		// err nil or not an exit: the process ended just before the signal.
		return err != nil && errors.As(err, &exit), time.Since(start)
	}
}
