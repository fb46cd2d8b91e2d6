package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// maxDeadlockRetries bounds the re-runs of a transaction the engine chose
// as a deadlock victim. Writers lock the user row first, so deadlocks need
// unusual interleavings (a purge and a write on the same rows); retrying
// beats failing the request with a 503.
const maxDeadlockRetries = 3

// inTx runs fn in a write transaction and commits it when fn returns nil.
// fn may run more than once, so it must derive everything it returns from
// what it reads in the transaction. It counts as a long transaction for
// the write gate; inSizedTx names its size.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.inSizedTx(ctx, txLong, fn)
}

// inSizedTx is inTx for a transaction that touches about size rows:
// where writes run one at a time, short ones go first (writegate.go).
func (s *Store) inSizedTx(ctx context.Context, size txSize, fn func(tx *sql.Tx) error) error {
	if s.gate != nil {
		if err := s.gate.enter(ctx, size); err != nil {
			return fmt.Errorf("waiting for the write lock: %w", err)
		}
		defer s.gate.leave()
	}
	for attempt := 1; ; attempt++ {
		err := s.tryTx(ctx, fn)
		if err == nil || !s.d.IsDeadlock(err) || attempt == maxDeadlockRetries {
			return err
		}
	}
}

// HoldWrites runs fn while no write transaction of this store runs and
// none starts, where writes run one at a time (Config.SerialWrites): fn
// waits its turn in the write gate as a short write, ahead of queued
// long ones, and the writes that arrive meanwhile queue behind it; so fn
// must be brief. Elsewhere it just runs fn. SQLite's checkpointer
// restarts the WAL under it (sqlitestore/checkpoint.go): what a RESTART
// has to copy is what was written since the checkpoint before it, so the
// sooner it gets the gate the less it holds it.
func (s *Store) HoldWrites(ctx context.Context, fn func() error) error {
	if s.gate == nil {
		return fn()
	}
	if err := s.gate.enter(ctx, txBrief); err != nil {
		return fmt.Errorf("waiting for the write lock: %w", err)
	}
	defer s.gate.leave()
	return fn()
}

func (s *Store) tryTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	bctx := ctx
	if s.d.FusedTx != nil {
		bctx = s.d.FusedTx(ctx)
	}
	tx, err := s.write.BeginTx(bctx, nil)
	if err != nil {
		return fmt.Errorf("beginning a transaction: %w", err)
	}
	// After a successful Commit this is a no-op (sql.ErrTxDone); after a
	// failure its own error adds nothing to the one returned.
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// collStats is a user_collections row.
type collStats struct {
	id       int
	modified syncstore.Timestamp
	count    int64
	bytes    int64
}

// userLock is what a write transaction learns when it locks the user.
type userLock struct {
	lastModified syncstore.Timestamp
	colls        []collStats
}

// collection returns the aggregates of collection id, ok false when the
// collection holds no rows.
func (l *userLock) collection(id int) (collStats, bool) {
	for _, c := range l.colls {
		if c.id == id {
			return c, true
		}
	}
	return collStats{}, false
}

// usedBytes is the user's stored payload bytes, expired rows included.
func (l *userLock) usedBytes() int64 {
	var n int64
	for _, c := range l.colls {
		n += c.bytes
	}
	return n
}

const lockUserSQL = `SELECT u.last_modified, uc.collection_id, uc.modified, uc.record_count, uc.total_bytes
FROM users u LEFT JOIN user_collections uc ON uc.user_id = u.id
WHERE u.id = ?`

// lockUser starts every write: it locks the user's row for the rest of
// the transaction (MySQL: FOR UPDATE; SQLite: the transaction already
// holds the write lock) and reads, in the same statement, the user's last
// write timestamp and collection aggregates. A locking read returns the
// latest committed rows, so nothing a writer committed before we got the
// lock is missed. Returns ErrNotFound for a missing user.
func (s *Store) lockUser(ctx context.Context, tx *sql.Tx, userID int64) (*userLock, error) {
	return s.lockUserBy(ctx, tx, lockUserSQL+s.d.ForUpdate, 0, userID)
}

// lockUserResettingSQL is lockUserSQL that also zeroes the upsert's
// tallies (Dialect.Tally); New builds it once (Store.lockResetting).
func (s *Store) lockUserResettingSQL() string {
	cols, from, _ := strings.Cut(lockUserSQL, "\nFROM ")
	return cols + s.d.Tally.Reset + "\nFROM " + from + s.d.ForUpdate
}

// lockUserResetting is lockUser for a transaction whose upsert tallies
// what it overwrites.
func (s *Store) lockUserResetting(ctx context.Context, tx *sql.Tx, userID int64) (*userLock, error) {
	return s.lockUserBy(ctx, tx, s.lockResetting, 2, userID)
}

// lockUserBy runs a lock read of lockUserSQL's columns followed by extra
// columns it ignores.
func (s *Store) lockUserBy(ctx context.Context, tx *sql.Tx, query string, extra int, userID int64) (*userLock, error) {
	rows, err := s.query(ctx, tx, query, userID)
	if err != nil {
		return nil, fmt.Errorf("locking user %d: %w", userID, err)
	}
	defer rows.Close()
	var l *userLock
	var last int64
	var id, modified, count, bytes sql.NullInt64
	var ignored sql.RawBytes
	dest := []any{&last, &id, &modified, &count, &bytes}
	for range extra {
		dest = append(dest, &ignored)
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("locking user %d: %w", userID, err)
		}
		if l == nil {
			l = &userLock{lastModified: syncstore.Timestamp(last)}
		}
		if id.Valid {
			l.colls = append(l.colls, collStats{
				id: int(id.Int64), modified: syncstore.Timestamp(modified.Int64), count: count.Int64, bytes: bytes.Int64,
			})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("locking user %d: %w", userID, err)
	}
	if l == nil {
		return nil, errUserMissing(userID)
	}
	return l, nil
}

// lockRowsHead is the head of lockUserWithRows' statement: lockUserSQL's
// columns behind a row kind (0), then the stored rows of a collection
// (kind 1: modified, payload_size, id), each read locking. Which columns
// stay NULL is fixed per kind, so one scan reads both.
func (s *Store) lockRowsHead() string {
	user := `SELECT 0, u.last_modified, uc.collection_id, uc.modified, uc.record_count, uc.total_bytes, NULL
FROM users u LEFT JOIN user_collections uc ON uc.user_id = u.id
WHERE u.id = ?`
	rows := "SELECT 1, 0, NULL, modified, payload_size, NULL, id FROM wbo"
	if s.d.ForUpdate == "" {
		return user + " UNION ALL " + rows
	}
	// Each part locks: the user row first, as every writer does, then
	// the rows, which a locking read returns as last committed.
	return "(" + user + s.d.ForUpdate + ") UNION ALL (" + rows
}

// lockRowsTail closes what lockRowsHead opened after its WHERE clause.
func (s *Store) lockRowsTail() string {
	if s.d.ForUpdate == "" {
		return ""
	}
	return s.d.ForUpdate + ")"
}

// lockUserWithRows is lockUser plus the stored rows among ids (expired
// ones included: an upsert updates them in place, a delete removes them),
// in one statement. The rows are read after the user's lock is held, so
// they cannot change before the upsert or delete.
func (s *Store) lockUserWithRows(ctx context.Context, tx *sql.Tx, userID int64, collID int, ids []string) (*userLock, map[string]oldRow, error) {
	sel := s.newSelector(s.lockRowsHead(), userID, collID)
	sel.ids(ids)
	sel.sql.WriteString(s.lockRowsTail())
	args := append(make([]any, 0, len(sel.args)+1), userID)
	args = append(args, sel.args...)
	rows, err := s.query(ctx, tx, sel.sql.String(), args...)
	if err != nil {
		return nil, nil, fmt.Errorf("locking user %d: %w", userID, err)
	}
	defer rows.Close()
	var l *userLock
	old := make(map[string]oldRow, len(ids))
	for rows.Next() {
		var kind int
		var last int64
		var cid, modified, count, bytes sql.NullInt64
		var id []byte
		if err := rows.Scan(&kind, &last, &cid, &modified, &count, &bytes, &id); err != nil {
			return nil, nil, fmt.Errorf("locking user %d: %w", userID, err)
		}
		switch {
		case kind == 1:
			old[string(id)] = oldRow{modified: syncstore.Timestamp(modified.Int64), size: count.Int64}
			continue
		case l == nil:
			l = &userLock{lastModified: syncstore.Timestamp(last)}
		}
		if cid.Valid {
			l.colls = append(l.colls, collStats{
				id: int(cid.Int64), modified: syncstore.Timestamp(modified.Int64), count: count.Int64, bytes: bytes.Int64,
			})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("locking user %d: %w", userID, err)
	}
	if l == nil {
		return nil, nil, errUserMissing(userID)
	}
	return l, old, nil
}

// nextTimestamp is the request timestamp: the clock, but strictly after the
// user's previous write even if the clock stepped back or two writes share
// a 10 ms tick (docs/protocol.md §3.2).
func nextTimestamp(now time.Time, last syncstore.Timestamp) syncstore.Timestamp {
	return max(syncstore.TimestampFromTime(now), last+1)
}

const setLastModifiedSQL = "UPDATE users SET last_modified = ? WHERE id = ?"

// setLastModified records the request timestamp on the locked user row.
func (s *Store) setLastModified(ctx context.Context, tx *sql.Tx, userID int64, ts syncstore.Timestamp) error {
	if err := s.execDeferrable(ctx, tx, setLastModifiedSQL, int64(ts), userID); err != nil {
		return fmt.Errorf("recording the timestamp of user %d: %w", userID, err)
	}
	return nil
}

// checkUnmodified fails with ErrModified when the collection changed after
// since. The aggregate includes expired rows, as the protocol wants.
func checkUnmodified(l *userLock, collID int, known bool, since *syncstore.Timestamp) error {
	if since == nil || !known {
		return nil
	}
	if c, ok := l.collection(collID); ok && c.modified > *since {
		return fmt.Errorf("collection modified at %s: %w", c.modified, syncstore.ErrModified)
	}
	return nil
}

func (s *Store) saveCollectionSQL() string {
	return `INSERT INTO user_collections (user_id, collection_id, modified, record_count, total_bytes) VALUES (?, ?, ?, ?, ?)` +
		s.d.OnConflict("user_id, collection_id") +
		`modified = ` + s.d.Excluded("modified") + `, record_count = ` + s.d.Excluded("record_count") +
		`, total_bytes = ` + s.d.Excluded("total_bytes")
}

// saveCollection writes the aggregates of a collection that holds rows
// (existed: its row was there when the user was locked) and, unless stamp
// is 0, the user's last write timestamp.
func (s *Store) saveCollection(ctx context.Context, tx *sql.Tx, userID int64, c collStats, existed bool, stamp syncstore.Timestamp) error {
	if existed && stamp != 0 && s.d.SaveAndStamp != "" {
		err := s.execDeferrable(ctx, tx, s.d.SaveAndStamp, c.id, int64(stamp), int64(c.modified), c.count, c.bytes, userID)
		if err != nil {
			return fmt.Errorf("updating collection aggregates and timestamp: %w", err)
		}
		return nil
	}
	err := s.execDeferrable(ctx, tx, s.saveCollectionSQL(), userID, c.id, int64(c.modified), c.count, c.bytes)
	if err != nil {
		return fmt.Errorf("updating collection aggregates: %w", err)
	}
	if stamp != 0 {
		return s.setLastModified(ctx, tx, userID, stamp)
	}
	return nil
}

const deleteAggregatesSQL = "DELETE FROM user_collections WHERE user_id = ? AND collection_id = ?"

// dropAggregates removes the aggregates of a collection that is now empty.
func (s *Store) dropAggregates(ctx context.Context, tx *sql.Tx, userID int64, collID int) error {
	if err := s.execDeferrable(ctx, tx, deleteAggregatesSQL, userID, collID); err != nil {
		return fmt.Errorf("removing collection aggregates: %w", err)
	}
	return nil
}

const liveBytesSQL = "SELECT COALESCE(SUM(payload_size), 0) FROM wbo WHERE user_id = ? AND expiry > ?"

// checkQuota refuses a write when the user stores at least quota bytes.
// The aggregates count expired rows; before refusing, sum the live ones
// so records nobody can read do not lock a user out.
func (s *Store) checkQuota(ctx context.Context, tx *sql.Tx, userID int64, used, quota int64, now time.Time) error {
	if quota <= 0 || used < quota {
		return nil
	}
	var live int64
	if err := s.queryRow(ctx, tx, liveBytesSQL, userID, now.Unix()).Scan(&live); err != nil {
		return fmt.Errorf("summing live bytes of user %d: %w", userID, err)
	}
	if live >= quota {
		return fmt.Errorf("user %d stores %d bytes: %w", userID, live, syncstore.ErrOverQuota)
	}
	return nil
}
