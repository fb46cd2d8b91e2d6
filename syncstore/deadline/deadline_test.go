package deadline_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/deadline"
	"github.com/syncserver/syncserver/syncstore/sqlitestore"
	"github.com/syncserver/syncserver/syncstore/storetest"
)

// hangBound is how long past its deadline a call may take to come back on
// a loaded 2-core machine. It is not a speed target: without the deadline
// these calls wait for SQLite's busy timeout, set far beyond it.
const hangBound = 5 * time.Second

func openSQLite(t testing.TB, clock func() time.Time, busy time.Duration) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(context.Background(), sqlitestore.Config{Dir: t.TempDir(), Clock: clock, BusyTimeout: busy})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// The decorator changes nothing but the deadline: the whole store
// contract holds through it.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clock func() time.Time) syncstore.Store {
		return deadline.Wrap(openSQLite(t, clock, 0), time.Minute)
	})
}

// Callers type-assert on the route table and the importer; both must
// survive wrapping.
func TestOptionalInterfaces(t *testing.T) {
	inner := openSQLite(t, nil, 0)
	s := deadline.Wrap(inner, time.Minute)
	defer s.Close()
	if _, ok := s.(syncstore.RouteTable); !ok {
		t.Errorf("%T lost the route table", s)
	}
	if _, ok := s.(interface {
		CountRoutes(context.Context) (map[syncstore.RouteState]int64, error)
	}); !ok {
		t.Errorf("%T lost CountRoutes", s)
	}
	if _, ok := s.(syncstore.BulkStore); !ok {
		t.Errorf("%T lost the importer", s)
	}
	if deadline.Unwrap(s) != syncstore.Store(inner) {
		t.Errorf("Unwrap returned %T, want the wrapped store", deadline.Unwrap(s))
	}
	if deadline.Wrap(inner, 0) != syncstore.Store(inner) {
		t.Error("a zero timeout must leave the store unwrapped")
	}

	// A store without the optional methods must not appear to have them.
	bare := deadline.Wrap(struct{ syncstore.Store }{inner}, time.Minute)
	if _, ok := bare.(syncstore.RouteTable); ok {
		t.Errorf("%T claims a route table its store lacks", bare)
	}
	if _, ok := bare.(syncstore.BulkStore); ok {
		t.Errorf("%T claims an importer its store lacks", bare)
	}

	ctx := context.Background()
	rt := s.(syncstore.RouteTable)
	if err := rt.SetRoute(ctx, syncstore.Route{Username: "alice", State: syncstore.RouteNative}); err != nil {
		t.Fatal(err)
	}
	if r, err := rt.GetRoute(ctx, "alice"); err != nil || r.State != syncstore.RouteNative {
		t.Fatalf("GetRoute through the decorator = %+v, %v", r, err)
	}
	if _, err := rt.GetRoute(ctx, "bob"); !errors.Is(err, syncstore.ErrNoRoute) {
		t.Fatalf("GetRoute of a missing row = %v, want ErrNoRoute", err)
	}
}

// A write blocked behind another process's write lock fails at the
// deadline, marked ErrTimeout, long before SQLite's busy timeout; so does
// a write queued behind it for the store's single writer connection. Once
// the lock goes, the same store writes again.
func TestWriteLockHeldFailsAtDeadline(t *testing.T) {
	ctx := context.Background()
	inner := openSQLite(t, nil, time.Minute)
	const timeout = 300 * time.Millisecond
	s := deadline.Wrap(inner, timeout)
	defer s.Close()
	u := &syncstore.User{Name: "alice", PasswordHash: "h"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}

	// The other process: its own connection, holding the write lock.
	other, err := sql.Open("sqlite", "file:"+inner.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}

	rec := []syncstore.WBO{{ID: "a", Payload: new("x")}}
	type result struct {
		err  error
		took time.Duration
	}
	results := make(chan result, 2)
	start := time.Now()
	for range 2 {
		// The first waits on SQLite's lock, the second on the pool for
		// the writer connection the first holds.
		go func() {
			_, err := s.PutRecords(ctx, u.ID, "history", rec, syncstore.WriteOptions{})
			results <- result{err, time.Since(start)}
		}()
	}
	for range 2 {
		select {
		case r := <-results:
			if !errors.Is(r.err, deadline.ErrTimeout) || !errors.Is(r.err, context.DeadlineExceeded) {
				t.Errorf("write behind a held lock: %v, want ErrTimeout and DeadlineExceeded", r.err)
			}
			if r.took < timeout {
				t.Errorf("write failed after %s, before its %s deadline", r.took, timeout)
			}
			t.Logf("write behind a held lock failed after %s (deadline %s): %v", r.took.Round(time.Millisecond), timeout, r.err)
		case <-time.After(timeout + hangBound):
			t.Fatalf("a write behind a held lock still blocks %s after its %s deadline", hangBound, timeout)
		}
	}
	// Reads do not need the write lock under WAL and still succeed.
	if _, err := s.CollectionTimestamps(ctx, u.ID); err != nil {
		t.Errorf("read while the write lock is held: %v", err)
	}

	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutRecords(ctx, u.ID, "history", rec, syncstore.WriteOptions{}); err != nil {
		t.Fatalf("write after the lock was released: %v", err)
	}
	if got, err := s.GetRecord(ctx, u.ID, "history", "a"); err != nil || *got.Payload != "x" {
		t.Fatalf("record after recovery = %+v, %v", got, err)
	}
}

// The caller's own cancellation is passed on as is: a client that hung up
// is not a slow database.
func TestCallerCancelIsNotATimeout(t *testing.T) {
	s := deadline.Wrap(openSQLite(t, nil, 0), time.Minute)
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.LookupUser(ctx, "alice")
	if err == nil || errors.Is(err, deadline.ErrTimeout) {
		t.Fatalf("LookupUser with a cancelled context = %v, want the cancellation without ErrTimeout", err)
	}
}

// info/collections reads the same through the decorator whether the store
// reads collections and the user's timestamp in one call (LastStamper) or
// the decorator asks for the two: collections sorted by name, appended to
// the caller's slice, and the user's last write.
func TestCollectionTimestampsAndLast(t *testing.T) {
	ctx := context.Background()
	inner := openSQLite(t, nil, 0)
	defer inner.Close()
	u := &syncstore.User{Name: "alice", PasswordHash: "x"}
	if err := inner.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	payload := "{}"
	stamps := map[string]syncstore.Timestamp{}
	var last syncstore.Timestamp
	for _, c := range []string{"tabs", "bookmarks", "meta", "history"} {
		res, err := inner.PutRecords(ctx, u.ID, c, []syncstore.WBO{{ID: "r1", Payload: &payload}}, syncstore.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		stamps[c], last = res.Modified, res.Modified
	}
	prefix := syncstore.CollectionStamp{Name: "kept", Modified: 1}
	want := []syncstore.CollectionStamp{prefix,
		{Name: "bookmarks", Modified: stamps["bookmarks"]}, {Name: "history", Modified: stamps["history"]},
		{Name: "meta", Modified: stamps["meta"]}, {Name: "tabs", Modified: stamps["tabs"]}}

	for _, tc := range []struct {
		name  string
		store syncstore.Store
	}{
		{"one read", deadline.Wrap(inner, time.Minute)},
		{"two reads", deadline.Wrap(struct{ syncstore.Store }{inner}, time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ls := tc.store.(syncstore.LastStamper)
			got, gotLast, err := ls.CollectionTimestampsAndLast(ctx, u.ID, []syncstore.CollectionStamp{prefix})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) || gotLast != last {
				t.Errorf("got %v, last %v; want %v, last %v", got, gotLast, want, last)
			}
			got, gotLast, err = ls.CollectionTimestampsAndLast(ctx, u.ID+1000, nil)
			if err != nil || len(got) != 0 || gotLast != 0 {
				t.Errorf("missing user: got %v, %v, %v; want nothing", got, gotLast, err)
			}
		})
	}
}
