package faults

import (
	"context"
	"database/sql"
	"errors"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/deadline"
	"github.com/syncserver/syncserver/syncstore/mysqlstore"
	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// TestMariaDBFrozenStoreCalls checks at the store boundary what the
// deadline relies on in go-sql-driver/mysql and database/sql: with one
// pool connection and the server frozen, a call blocked on its statement
// and a call queued for the connection both return at the deadline with
// context.DeadlineExceeded in the chain; the driver closes the blocked
// connection, and after SIGCONT the pool serves from a new one.
func TestMariaDBFrozenStoreCalls(t *testing.T) {
	m := testservices.StartMariaDB(t)
	m.CreateDatabase("hrd_freeze_calls")
	ctx := context.Background()
	inner, err := mysqlstore.Open(ctx, mysqlstore.Config{
		DSN:          "root@tcp(" + m.Addr() + ")/hrd_freeze_calls?readTimeout=2s&writeTimeout=2s",
		MaxOpenConns: 1,
		Logger:       zap.NewNop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	const timeout = 1500 * time.Millisecond
	store := deadline.Wrap(inner, timeout)
	defer store.Close()
	u := &syncstore.User{Name: "frozen", PasswordHash: "h"}
	if err := store.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	pool, hasPool := syncstore.Store(inner).(interface{ DB() *sql.DB })
	connID := func() int64 {
		t.Helper()
		var id int64
		if err := pool.DB().QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	var before int64
	if hasPool {
		before = connID()
	}

	m.Freeze()
	t.Cleanup(func() { m.SendSignal(syscall.SIGCONT) })
	type result struct {
		err  error
		took time.Duration
	}
	results := make(chan result, 2)
	start := time.Now()
	for range 2 {
		// One gets the only connection and blocks on the frozen server,
		// the other waits for that connection.
		go func() {
			_, err := store.GetRecords(ctx, u.ID, "history", &syncstore.Query{})
			results <- result{err, time.Since(start)}
		}()
	}
	for range 2 {
		select {
		case r := <-results:
			t.Logf("call on the frozen server returned after %s: %v", r.took.Round(time.Millisecond), r.err)
			if !errors.Is(r.err, deadline.ErrTimeout) || !errors.Is(r.err, context.DeadlineExceeded) {
				t.Errorf("call on the frozen server: %v, want ErrTimeout with context.DeadlineExceeded", r.err)
			}
		case <-time.After(timeout + freezeHangBound):
			t.Fatalf("a call on the frozen server still blocks %s after its %s deadline", freezeHangBound, timeout)
		}
	}
	// No check of the pool's in-use count here: database/sql may already
	// be opening the replacement connection, which counts as in use while
	// the frozen server leaves its handshake unanswered.

	m.SendSignal(syscall.SIGCONT)
	thawed := time.Now()
	if _, err := store.GetRecords(ctx, u.ID, "history", &syncstore.Query{}); err != nil {
		t.Fatalf("first call after SIGCONT: %v", err)
	}
	t.Logf("first call after SIGCONT succeeded after %s", time.Since(thawed).Round(time.Millisecond))
	if hasPool {
		if after := connID(); after == before {
			t.Errorf("the pool still uses connection %d, the one cancelled on the frozen server", before)
		} else {
			t.Logf("pool connection %d replaced by %d", before, after)
		}
	}
}
