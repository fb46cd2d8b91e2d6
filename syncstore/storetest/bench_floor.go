package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/syncserver/syncserver/syncstore"
)

// SQLDB is a SQL store whose tables the floor benchmarks write to
// directly. Both SQL stores have it; a cache passes its inner store's.
type SQLDB interface {
	DB() *sql.DB
}

// floorRowParams is the number of bound parameters per inserted row.
const floorRowParams = 10

// floor writes rows into the wbo table the way the database alone would
// need to: a plain multi-row INSERT of new ids, or a DELETE … IN, each a
// prepared statement run in one transaction. Its SQL runs unchanged on
// SQLite and MariaDB. It maintains nothing else (no aggregates, no
// timestamps): it is the lower bound a store's write path is compared to.
type floor struct {
	db      *sql.DB
	inserts map[int]*sql.Stmt // by row count
	deletes map[int]*sql.Stmt // by id count
}

func newFloor(b *testing.B, db *sql.DB) *floor {
	f := &floor{db: db, inserts: map[int]*sql.Stmt{}, deletes: map[int]*sql.Stmt{}}
	b.Cleanup(f.close)
	return f
}

// Floor is the floor benchmarks' bare writer for use outside a benchmark:
// syncserver-benchlocal floor-probe times it while the bench mix loads
// the machine, the database's own cost under that load. Close releases
// its prepared statements.
type Floor struct{ f *floor }

// NewFloor writes into the wbo table of db, a SQL store's (SQLDB).
func NewFloor(db *sql.DB) *Floor {
	return &Floor{f: &floor{db: db, inserts: map[int]*sql.Stmt{}, deletes: map[int]*sql.Stmt{}}}
}

// Insert adds recs, all of them new ids, to the collection in one
// transaction, with modified ts and no expiry.
func (f *Floor) Insert(ctx context.Context, userID int64, collID int, ts syncstore.Timestamp, recs []syncstore.WBO) error {
	return f.f.insert(ctx, userID, collID, ts, recs)
}

// Delete removes ids from the collection in one transaction.
func (f *Floor) Delete(ctx context.Context, userID int64, collID int, ids []string) error {
	return f.f.delete(ctx, userID, collID, ids)
}

// Close closes the prepared statements.
func (f *Floor) Close() { f.f.close() }

func (f *floor) close() {
	for _, st := range f.inserts {
		st.Close()
	}
	for _, st := range f.deletes {
		st.Close()
	}
}

// stmt prepares (once per shape) the INSERT of n rows or the DELETE of n
// ids. It must not be called inside a transaction of f.db.
func (f *floor) stmt(ctx context.Context, insert bool, n int) (*sql.Stmt, error) {
	cache := f.deletes
	if insert {
		cache = f.inserts
	}
	if st, ok := cache[n]; ok {
		return st, nil
	}
	var q strings.Builder
	if insert {
		q.WriteString(`INSERT INTO wbo (user_id, collection_id, id, modified, sortindex, payload, payload_size, parentid, predecessorid, expiry) VALUES `)
		for i := range n {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString(`(?,?,?,?,?,?,?,?,?,?)`)
		}
	} else {
		q.WriteString(`DELETE FROM wbo WHERE user_id = ? AND collection_id = ? AND id IN (`)
		for i := range n {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteByte('?')
		}
		q.WriteByte(')')
	}
	st, err := f.db.PrepareContext(ctx, q.String())
	if err != nil {
		return nil, fmt.Errorf("preparing floor statement: %w", err)
	}
	cache[n] = st
	return st, nil
}

// insert adds recs (all new ids) to the collection in one transaction,
// with modified = ts and no expiry.
func (f *floor) insert(ctx context.Context, userID int64, collID int, ts syncstore.Timestamp, recs []syncstore.WBO) error {
	st, err := f.stmt(ctx, true, len(recs))
	if err != nil {
		return err
	}
	args := make([]any, 0, len(recs)*floorRowParams)
	for i := range recs {
		r := &recs[i]
		args = append(args, userID, collID, r.ID, int64(ts), r.SortIndex, r.Payload, r.PayloadSize(), r.ParentID, r.PredecessorID, syncstore.NoExpiry)
	}
	return f.inTx(ctx, st, args)
}

// delete removes ids from the collection in one transaction.
func (f *floor) delete(ctx context.Context, userID int64, collID int, ids []string) error {
	st, err := f.stmt(ctx, false, len(ids))
	if err != nil {
		return err
	}
	args := make([]any, 0, len(ids)+2)
	args = append(args, userID, collID)
	for _, id := range ids {
		args = append(args, id)
	}
	return f.inTx(ctx, st, args)
}

func (f *floor) inTx(ctx context.Context, st *sql.Stmt, args []any) error {
	tx, err := f.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("floor: begin: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...); err != nil {
		return fmt.Errorf("floor: exec: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("floor: commit: %w", err)
	}
	return nil
}

// seedChunk is the rows per statement when seeding: 10,000 parameters,
// under SQLite's 32,766 and MySQL's 65,535.
const seedChunk = 1000

// seed fills a collection with recs through the floor's INSERT in big
// chunks, committing every seedTxChunks chunks, and when store is set
// makes the collection's aggregates and the user's last write timestamp
// agree with what was inserted, as the store's own writes would have.
func (f *floor) seed(ctx context.Context, userID int64, collID int, ts syncstore.Timestamp, recs []syncstore.WBO, store bool) error {
	const seedTxChunks = 20
	// Prepared before the transaction begins: on a store with a single
	// writer connection (SQLite), preparing inside it would wait forever
	// for that connection.
	for _, n := range []int{seedChunk, len(recs) % seedChunk} {
		if n > 0 {
			if _, err := f.stmt(ctx, true, n); err != nil {
				return err
			}
		}
	}
	for start := 0; start < len(recs); start += seedChunk * seedTxChunks {
		tx, err := f.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("seeding: begin: %w", err)
		}
		end := min(start+seedChunk*seedTxChunks, len(recs))
		for c := start; c < end; c += seedChunk {
			chunk := recs[c:min(c+seedChunk, end)]
			st, err := f.stmt(ctx, true, len(chunk))
			if err != nil {
				tx.Rollback()
				return err
			}
			args := make([]any, 0, len(chunk)*floorRowParams)
			for i := range chunk {
				r := &chunk[i]
				args = append(args, userID, collID, r.ID, int64(ts), r.SortIndex, r.Payload, r.PayloadSize(), r.ParentID, r.PredecessorID, syncstore.NoExpiry)
			}
			if _, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...); err != nil {
				tx.Rollback()
				return fmt.Errorf("seeding rows %d-%d: %w", c, c+len(chunk), err)
			}
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("seeding: commit: %w", err)
		}
	}
	if !store {
		return nil
	}
	if _, err := f.db.ExecContext(ctx, `INSERT INTO user_collections (user_id, collection_id, modified, record_count, total_bytes)
		SELECT user_id, collection_id, MAX(modified), COUNT(*), SUM(payload_size) FROM wbo
		WHERE user_id = ? AND collection_id = ? GROUP BY user_id, collection_id`, userID, collID); err != nil {
		return fmt.Errorf("seeding collection aggregates: %w", err)
	}
	if _, err := f.db.ExecContext(ctx, `UPDATE users SET last_modified = ? WHERE id = ?`, int64(ts), userID); err != nil {
		return fmt.Errorf("seeding last write timestamp: %w", err)
	}
	return nil
}
