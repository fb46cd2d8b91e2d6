package caddymodule

import (
	"context"
	"database/sql"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/deadline"
	"github.com/syncserver/syncserver/syncstore/memcache"
	"github.com/syncserver/syncserver/syncstore/mysqlstore"
)

// lockWatch is one instance's store as the purge loop sees it (behind the
// deadline layer, as in a server), recording the purge lock its loop takes
// and checking, at every purge, in the database itself, that this very
// session holds it.
type lockWatch struct {
	syncstore.Store
	name    string
	raw     *mysqlstore.Store
	monitor *sql.DB // a third session, neither instance's
	t       *testing.T

	lock   atomic.Pointer[mysqlstore.PurgeLock]
	purges atomic.Int64
	calls  chan string
}

func (w *lockWatch) TryPurgeLock(ctx context.Context) (*mysqlstore.PurgeLock, error) {
	l, err := w.raw.TryPurgeLock(ctx)
	if l != nil {
		w.lock.Store(l)
	}
	return l, err
}

func (w *lockWatch) PurgeExpired(ctx context.Context, now time.Time, limit int) (int64, error) {
	var holder sql.NullInt64
	err := w.monitor.QueryRowContext(ctx, "SELECT IS_USED_LOCK(CONCAT('syncserver.purge.', SHA1(DATABASE())))").Scan(&holder)
	switch l := w.lock.Load(); {
	case err != nil && ctx.Err() != nil:
		// The loop is being stopped (the leader's stop in the test may
		// cancel it mid-purge): the check could not run, nothing to judge.
	case err != nil:
		w.t.Errorf("%s: reading the purge lock's holder: %v", w.name, err)
	case l == nil || !holder.Valid || holder.Int64 != l.ConnectionID():
		w.t.Errorf("%s purges while the purge lock is held by connection %v, not by its own lock %+v", w.name, holder, l)
	}
	w.purges.Add(1)
	select {
	case w.calls <- w.name:
	default:
	}
	return w.Store.PurgeExpired(ctx, now, limit)
}

// TestPurgeOncePerDatabase: two instances' purge loops on one MariaDB
// database (each its own pool) never purge at once: every purge runs
// while the purging instance's own session holds the database's purge
// lock, as the database reports it; one instance purges while the other
// stands by, and when the purging instance stops, the other takes over.
func TestPurgeOncePerDatabase(t *testing.T) {
	dsn := freshMySQLDatabase(t)
	ctx := context.Background()
	monitor, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer monitor.Close()
	calls := make(chan string, 100)
	open := func(name string) *lockWatch {
		raw, err := mysqlstore.Open(ctx, mysqlstore.Config{DSN: dsn})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close() })
		return &lockWatch{Store: deadline.Wrap(raw, 10*time.Second), name: name, raw: raw, monitor: monitor, t: t, calls: calls}
	}
	a, b := open("A"), open("B")
	// The loop must find the lock through the layers over the store.
	if l, ok := purgeLockerOf(deadline.Wrap(a, time.Second)); !ok || l != purgeLocker(a) {
		t.Fatalf("purgeLockerOf found %v, %v through the deadline layer", l, ok)
	}

	const every = 5 * time.Millisecond
	pa := startPurger(a, every, zap.NewNop())
	pb := startPurger(b, every, zap.NewNop())
	stopped := map[string]bool{}
	defer func() {
		if !stopped["A"] {
			pa.stop()
		}
		if !stopped["B"] {
			pb.stop()
		}
	}()
	// next waits for the next purge; the timeout only turns a hang
	// (no instance purging at all) into a failure.
	next := func() string {
		select {
		case name := <-calls:
			return name
		case <-time.After(30 * time.Second):
			t.Fatalf("no purge for 30s (A %d, B %d so far)", a.purges.Load(), b.purges.Load())
			return ""
		}
	}
	// Twenty purges: both loops have ticked about as often by then.
	leader := next()
	for range 19 {
		next()
	}
	if a.purges.Load() > 0 && b.purges.Load() > 0 {
		t.Errorf("both instances purged (A %d, B %d times) without ever stopping: want one elected", a.purges.Load(), b.purges.Load())
	}
	// The leader stops; its session releases the lock, the other
	// instance takes it at its next tick.
	other := b
	if leader == "A" {
		pa.stop()
	} else {
		pb.stop()
		other = a
	}
	stopped[leader] = true
	before := other.purges.Load()
	for next() != other.name || other.purges.Load() <= before {
	}
	var holder sql.NullInt64
	if err := monitor.QueryRow("SELECT IS_USED_LOCK(CONCAT('syncserver.purge.', SHA1(DATABASE())))").Scan(&holder); err != nil {
		t.Fatal(err)
	}
	if l := other.lock.Load(); !holder.Valid || l == nil || holder.Int64 != l.ConnectionID() {
		t.Errorf("after the handover the lock is held by %v, want %s's session", holder, other.name)
	}
}

// TestPurgeLockLostConnection: a purging instance whose session the
// server killed (restart, KILL, wait_timeout) has lost the lock with it;
// it notices before its next purge and takes the lock again, or stands
// by if another instance took it meanwhile.
func TestPurgeLockLostConnection(t *testing.T) {
	dsn := freshMySQLDatabase(t)
	ctx := context.Background()
	var stores [2]*mysqlstore.Store
	for i := range stores {
		s, err := mysqlstore.Open(ctx, mysqlstore.Config{DSN: dsn})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
	}
	a, b := stores[0], stores[1]
	// A server's store: memcached over deadlines over the database.
	cached, err := memcache.New(unclosable{deadline.Wrap(a, time.Second)}, memcache.Config{Servers: []string{"127.0.0.1:11211"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := purgeLockerOf(cached); !ok || l != purgeLocker(a) {
		t.Errorf("purgeLockerOf a server's store: %v, %v", l, ok)
	}
	la := leadPurgeOnce(t, a, nil)
	if la == nil {
		t.Fatal("A could not take the free lock")
	}
	if lb := leadPurgeOnce(t, b, nil); lb != nil {
		t.Fatal("B took the lock A holds")
	}
	if _, err := a.DB().ExecContext(ctx, "KILL ?", la.ConnectionID()); err != nil {
		t.Fatal(err)
	}
	// KILL returns before the session has ended and dropped its locks.
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		var holder sql.NullInt64
		if err := b.DB().QueryRowContext(ctx, "SELECT IS_USED_LOCK(CONCAT('syncserver.purge.', SHA1(DATABASE())))").Scan(&holder); err != nil {
			t.Fatal(err)
		}
		if !holder.Valid {
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("the killed session %d still holds the lock after 30s (holder %d)", la.ConnectionID(), holder.Int64)
		}
	}
	lb := leadPurgeOnce(t, b, nil)
	if lb == nil {
		t.Fatal("B could not take the lock of A's killed session")
	}
	if again := leadPurgeOnce(t, a, la); again != nil {
		t.Fatal("A still purges after losing its lock to B")
	}
	lb.Release(ctx)
	if again := leadPurgeOnce(t, a, nil); again == nil {
		t.Fatal("A could not take the lock B released")
	} else {
		again.Release(ctx)
	}
}

// leadPurgeOnce runs one tick's election of the purge loop, where the
// database answers: the loop purges exactly when it holds the lock.
func leadPurgeOnce(t *testing.T, s *mysqlstore.Store, held *mysqlstore.PurgeLock) *mysqlstore.PurgeLock {
	t.Helper()
	l, purge := leadPurge(context.Background(), s, held, zap.NewNop())
	if purge != (l != nil) {
		t.Fatalf("leadPurge: lock %v but purge %v", l, purge)
	}
	return l
}
