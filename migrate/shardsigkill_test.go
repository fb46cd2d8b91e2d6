package migrate_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/syncserver/syncserver/migrate"
	"github.com/syncserver/syncserver/migrate/legacytest"
	"github.com/syncserver/syncserver/syncstore"
)

// The child process of TestMoveSIGKILL is this test binary re-run with
// these variables set: it moves the users from s1 to s2 and is killed on
// the way.
const (
	moveChildEnv  = "SYNCSERVER_MOVE_CHILD" // the default database, s1 and s2: native specs joined by "|"
	moveUsersEnv  = "SYNCSERVER_MOVE_USERS" // comma-separated
	moveChildRuns = 10
)

// TestMoveSIGKILLChild is the move run that the parent kills. It does
// nothing unless started by TestMoveSIGKILL.
func TestMoveSIGKILLChild(t *testing.T) {
	specs := strings.Split(os.Getenv(moveChildEnv), "|")
	if len(specs) != 3 {
		t.Skip("only runs as TestMoveSIGKILL's child process")
	}
	ctx := testContext(t)
	var stores []native
	for _, spec := range specs {
		s, err := openSigkillNative(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores = append(stores, s)
	}
	// A source grace makes kills between a flip and the deletion of the
	// source copy likely.
	m, err := migrate.New(migrate.Config{Native: stores[0], Routes: stores[0], Drain: sigkillDrain, LeaseTTL: sigkillLease,
		SourceGrace: 300 * time.Millisecond, Shards: map[string]migrate.ShardStore{"s1": stores[1], "s2": stores[2]}})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := m.RunMove(ctx, strings.Split(os.Getenv(moveUsersEnv), ","), "s1", func(string) string { return "s2" }, 2, nil)
	if err != nil || rep.Failed() > 0 {
		t.Fatalf("child run: %d failed, %v", rep.Failed(), err)
	}
}

// TestMoveSIGKILL kills a real move process (this test binary as a child)
// with SIGKILL at a random moment, on fresh shards each time (SQLite and
// MariaDB alternately). Once the dead run's leases have expired, every
// user is native — never stuck in migrating — on the shard its row names,
// which holds exactly the user's data; a second run then finishes every
// user: all on s2, nothing left on s1.
func TestMoveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 12 processes")
	}
	ctx := testContext(t)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 13))
	t.Logf("random delays from seed %d", seed)
	names := []string{"kilo", "lima", "mike", "nova"}

	// fresh returns a shard env on new databases, seeded, with the specs
	// the child opens.
	fresh := func(run int) (*shardEnv, []string, map[string]*snap) {
		e := &shardEnv{t: t, clock: &fakeClock{}, shards: map[string]native{}}
		var specs []string
		for _, shard := range []string{"", "s1", "s2"} {
			spec := "sqlite:" + t.TempDir()
			if run%2 == 1 {
				name, _ := legacytest.NewDatabase(t, "mvk_", "")
				spec = "mysql:" + legacytest.DSN(t, name)
			}
			s, err := openSigkillNative(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			e.shards[shard] = s
			specs = append(specs, spec)
		}
		e.def = e.shards[""]
		before := map[string]*snap{}
		for i, n := range names {
			e.seed("s1", n, 150+100*i)
			before[n] = e.snapshot("s1", n)
		}
		return e, specs, before
	}
	child := func(specs []string, delay time.Duration) (killed bool, took time.Duration) {
		t.Helper()
		return runChild(t, "TestMoveSIGKILLChild", delay, moveChildEnv+"="+strings.Join(specs, "|"), moveUsersEnv+"="+strings.Join(names, ","))
	}

	full := map[int]time.Duration{}
	for backend := range 2 {
		_, specs, _ := fresh(backend)
		_, full[backend] = child(specs, 0)
	}
	t.Logf("an uninterrupted run takes %v on SQLite, %v on MariaDB", full[0], full[1])

	killedRuns := 0
	seen := map[string]int{}
	for run := range moveChildRuns {
		e, specs, before := fresh(run)
		delay := time.Duration(rng.Int64N(int64(full[run%2])*11/10)) + time.Millisecond
		killed, _ := child(specs, delay)
		killedAt := time.Now()
		if killed {
			killedRuns++
		}
		routes, err := e.def.ListRoutes(ctx, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		// A statement the dead child sent may still commit on the server
		// after the kill (MariaDB finishes it), so the rows read now may
		// miss its last lease; every lease it wrote was computed before
		// the kill and ends within sigkillLease of it.
		expires := killedAt.Add(sigkillLease)
		for _, r := range routes {
			seen[string(r.State)+"/"+r.Shard]++
			if r.Owner != "" && r.LeaseExpires.After(expires) {
				expires = r.LeaseExpires
			}
		}
		time.Sleep(time.Until(expires) + 50*time.Millisecond)
		now := time.Now()
		for _, n := range names {
			r := e.route(n)
			if st := r.Effective(now); st != syncstore.RouteNative || (r.Shard != "s1" && r.Shard != "s2") {
				t.Errorf("run %d (killed at %v): %s is %s on %q after its lease expired", run, delay, n, st, r.Shard)
				continue
			}
			e.sameData(fmt.Sprintf("run %d: %s on %s after the kill", run, n, r.Shard), before[n], e.snapshot(r.Shard, n))
		}

		m := e.migrator(migrate.Config{LeaseTTL: sigkillLease, Drain: time.Millisecond})
		rep, err := m.RunMove(ctx, names, "s1", func(string) string { return "s2" }, 2, nil)
		if err != nil || rep.Failed() > 0 {
			for _, res := range rep.Results {
				if res.Err != nil {
					t.Errorf("run %d: recovery run, %s: %v", run, res.User, res.Err)
				}
			}
			t.Fatalf("run %d (killed at %v): recovery run failed: %v", run, delay, err)
		}
		for _, n := range names {
			e.checkRoute(n, "s2")
			e.sameData(fmt.Sprintf("run %d: %s on s2 after the recovery", run, n), before[n], e.snapshot("s2", n))
			if e.snapshot("s1", n) != nil {
				t.Errorf("run %d: %s is still on s1 after the recovery", run, n)
			}
		}
	}
	t.Logf("%d of %d runs killed before they ended; rows seen at the kill (state/shard): %v", killedRuns, moveChildRuns, seen)
	if killedRuns < moveChildRuns/2 {
		t.Errorf("only %d of %d runs were killed before they ended: the delays miss the run", killedRuns, moveChildRuns)
	}
}
