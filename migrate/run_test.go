package migrate_test

import (
	"testing"
	"time"

	"github.com/syncserver/syncserver/migrate"
	"github.com/syncserver/syncserver/migrate/legacytest"
)

// TestRunOverlapsDrains: --concurrency bounds the users being copied, not
// the users waiting out their drain, so with one copy slot the drains of
// several users still overlap: the users' own durations add up to more
// than the run took. (Holding the slot through the drain made a run at the
// default drain half as fast.)
func TestRunOverlapsDrains(t *testing.T) {
	e := newEnv(t, legacytest.Layout{Variant: legacytest.FSyncMS}, smallSpec, openSQLite)
	m := e.migrator(migrate.Config{Drain: 300 * time.Millisecond})
	var names []string
	for _, u := range e.users {
		names = append(names, u.Name)
	}
	rep, err := m.Run(testContext(t), names, 1, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var sum time.Duration
	for _, r := range rep.Results {
		if r.Err != nil {
			t.Fatalf("%s: %v", r.User, r.Err)
		}
		sum += r.Duration
	}
	if wall := rep.End.Sub(rep.Start); sum <= wall {
		t.Errorf("users took %v in all within a run of %v: their drains did not overlap", sum, wall)
	}
	for _, u := range e.users {
		e.checkNative(u)
	}
}
