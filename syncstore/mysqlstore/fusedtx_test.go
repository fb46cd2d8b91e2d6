package mysqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/syncserver/syncserver/syncstore"
)

// fusedDB opens a store on one connection, so that every use after a
// failure is a use of the connection that failed, and a table t with a
// primary key to fail on.
func fusedDB(t *testing.T) (*Store, *sql.DB, string) {
	t.Helper()
	dsn := freshDatabase(t)
	s := openStore(t, Config{DSN: dsn, MaxOpenConns: 1})
	t.Cleanup(func() { s.Close() })
	db := s.DB()
	if _, err := db.Exec("CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB"); err != nil {
		t.Fatal(err)
	}
	return s, db, dsn
}

// wantClean checks that the pool's connection holds no transaction (and so
// no lock) after a failed one, and what t holds.
func wantClean(t *testing.T, db *sql.DB, wantRows int) {
	t.Helper()
	var inTx, n int
	if err := db.QueryRow("SELECT @@in_transaction, (SELECT COUNT(*) FROM t)").Scan(&inTx, &n); err != nil {
		t.Fatalf("the connection after the failure: %v", err)
	}
	if inTx != 0 {
		t.Error("the pooled connection was handed out inside a transaction")
	}
	if n != wantRows {
		t.Errorf("t holds %d rows, want %d", n, wantRows)
	}
}

func TestFusedTxDeferredStatementFails(t *testing.T) {
	_, db, _ := fusedDB(t)
	ctx := context.Background()
	tx, err := db.BeginTx(fusedTx(ctx), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	// Held back: the duplicate fails with the COMMIT, which then never
	// runs.
	if _, err := tx.ExecContext(deferrable(ctx), "INSERT INTO t VALUES (1)"); err != nil {
		t.Fatalf("a deferred statement reported %v before it ran", err)
	}
	err = tx.Commit()
	if errorNumber(err) != errDuplicateKey {
		t.Fatalf("Commit = %v, want the deferred statement's duplicate key", err)
	}
	wantClean(t, db, 0)
}

func TestFusedTxFirstStatementFails(t *testing.T) {
	_, db, _ := fusedDB(t)
	ctx := context.Background()
	tx, err := db.BeginTx(fusedTx(ctx), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The query fails inside the transaction.
	if _, err := tx.QueryContext(ctx, "SELECT nosuchcolumn FROM t FOR UPDATE"); err == nil {
		t.Fatal("a query of a missing column succeeded")
	}
	if err := tx.Rollback(); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	wantClean(t, db, 0)
}

func TestFusedTxDeferredBeforeQueryFails(t *testing.T) {
	_, db, _ := fusedDB(t)
	ctx := context.Background()
	tx, err := db.BeginTx(fusedTx(ctx), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []int{1, 1} {
		if _, err := tx.ExecContext(deferrable(ctx), "INSERT INTO t VALUES (?)", id); err != nil {
			t.Fatal(err)
		}
	}
	// The query carries both inserts; the second fails, and the query
	// with it.
	var n int
	err = tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM t").Scan(&n)
	if errorNumber(err) != errDuplicateKey {
		t.Fatalf("the query after the deferred statements = %v, want their duplicate key", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	wantClean(t, db, 0)
}

// A prepared statement cannot carry others: what is pending goes first,
// so it runs inside the transaction and in order.
func TestFusedTxPreparedStatementRunsAfterPending(t *testing.T) {
	_, db, _ := fusedDB(t)
	ctx := context.Background()
	count, err := db.PrepareContext(ctx, "SELECT COUNT(*), @@in_transaction FROM t WHERE id <= ?")
	if err != nil {
		t.Fatal(err)
	}
	defer count.Close()
	tx, err := db.BeginTx(fusedTx(ctx), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(deferrable(ctx), "INSERT INTO t VALUES (?), (?)", 1, 2); err != nil {
		t.Fatal(err)
	}
	var n, inTx int
	if err := tx.StmtContext(ctx, count).QueryRowContext(ctx, 5).Scan(&n, &inTx); err != nil {
		t.Fatal(err)
	}
	if n != 2 || inTx != 1 {
		t.Errorf("the prepared statement saw %d rows, in a transaction: %d; want 2 and 1", n, inTx)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	wantClean(t, db, 0)
}

// A connection killed before the fused COMMIT: Commit fails, nothing is
// committed, and the pool serves the next use on a new connection.
func TestFusedTxKilledConnection(t *testing.T) {
	_, db, dsn := fusedDB(t)
	other := openStore(t, Config{DSN: dsn})
	defer other.Close()
	ctx := context.Background()
	tx, err := db.BeginTx(fusedTx(ctx), nil)
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := tx.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(deferrable(ctx), "INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.DB().Exec(fmt.Sprintf("KILL %d", id)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err == nil {
		t.Fatal("Commit on a killed connection succeeded")
	}
	wantClean(t, db, 0)
}

// A write whose deferred statement fails (a trigger refuses the user's
// timestamp update) reports that error and leaves nothing of it: the
// records it deleted are back, and the next write on the same connection
// works.
func TestWriteRollsBackFailedDeferredStatement(t *testing.T) {
	s, db, _ := fusedDB(t)
	ctx := context.Background()
	u := &syncstore.User{Name: "alice", PasswordHash: "h"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutRecords(ctx, u.ID, "history", batchOf("a", 10), syncstore.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TRIGGER refuse BEFORE UPDATE ON users FOR EACH ROW
		SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by test'`); err != nil {
		t.Fatal(err)
	}
	ids := []string{"a000", "a001", "a002"}
	for _, write := range []struct {
		name string
		run  func() error
	}{
		{"delete by ids", func() error {
			_, err := s.DeleteRecords(ctx, u.ID, "history", &syncstore.Query{IDs: ids}, syncstore.WriteOptions{})
			return err
		}},
		{"delete the collection", func() error {
			_, err := s.DeleteRecords(ctx, u.ID, "history", nil, syncstore.WriteOptions{})
			return err
		}},
		{"post", func() error {
			_, err := s.PutRecords(ctx, u.ID, "history", batchOf("b", 5), syncstore.WriteOptions{})
			return err
		}},
	} {
		err := write.run()
		if err == nil || !strings.Contains(err.Error(), "refused by test") {
			t.Fatalf("%s with the timestamp update refused = %v, want the trigger's error", write.name, err)
		}
		var inTx, n int
		if err := db.QueryRow("SELECT @@in_transaction, (SELECT COUNT(*) FROM wbo)").Scan(&inTx, &n); err != nil {
			t.Fatal(err)
		}
		if inTx != 0 || n != 10 {
			t.Fatalf("after the failed %s: in a transaction %d, %d records; want 0 and 10", write.name, inTx, n)
		}
	}
	if _, err := db.Exec("DROP TRIGGER refuse"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteRecords(ctx, u.ID, "history", &syncstore.Query{IDs: ids}, syncstore.WriteOptions{}); err != nil {
		t.Fatalf("delete after the trigger went: %v", err)
	}
	got, err := s.GetRecords(ctx, u.ID, "history", &syncstore.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 7 {
		t.Errorf("%d records left, want 7", len(got))
	}
}

// Ids travel inside the fused text queries, escaped by the driver: ids
// made of quotes, backslashes, semicolons and comments are stored and
// deleted as the ids they are, and run nothing.
func TestFusedTxHostileIDs(t *testing.T) {
	s, db, _ := fusedDB(t)
	ctx := context.Background()
	u := &syncstore.User{Name: "alice", PasswordHash: "h"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	hostile := []string{`x'); DROP TABLE t; -- `, `\'; DELETE FROM wbo; #`, `"; COMMIT; ROLLBACK`, `?`, `\`, `/*`, "a\x00b"}
	recs := make([]syncstore.WBO, len(hostile))
	for i, id := range hostile {
		recs[i] = syncstore.WBO{ID: id, Payload: ptr(id)}
	}
	keep := syncstore.WBO{ID: "keep", Payload: ptr("k")}
	if _, err := s.PutRecords(ctx, u.ID, "history", append(recs, keep), syncstore.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteRecords(ctx, u.ID, "history", &syncstore.Query{IDs: hostile}, syncstore.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRecords(ctx, u.ID, "history", &syncstore.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "keep" {
		t.Errorf("left %v, want only keep", idsOfRecords(got))
	}
	wantClean(t, db, 0)
}

func idsOfRecords(ws []syncstore.WBO) []string {
	ids := make([]string, len(ws))
	for i, w := range ws {
		ids[i] = w.ID
	}
	return ids
}

// A pooled connection found dead when a write begins: nothing reached the
// server, and the write runs on a new connection (database/sql begins
// again on another connection when BeginTx finds one dead; a transaction
// that began with its first statement would meet it inside the
// transaction, where database/sql does not retry).
func TestWriteRetriesDeadPooledConnection(t *testing.T) {
	var turns turnCounter
	s := openStore(t, Config{MaxOpenConns: 1, dial: turns.dial})
	defer s.Close()
	ctx := context.Background()
	u := &syncstore.User{Name: "alice", PasswordHash: "h"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	turns.loseNext()
	if _, err := s.PutRecords(ctx, u.ID, "history", batchOf("a", 3), syncstore.WriteOptions{}); err != nil {
		t.Fatalf("a write on a dead pooled connection: %v", err)
	}
	got, err := s.GetRecords(ctx, u.ID, "history", &syncstore.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Errorf("%d records stored, want 3", len(got))
	}
}
