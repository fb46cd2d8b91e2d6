package mysqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// maxDeadlockRetries bounds the re-runs of a transaction that InnoDB chose
// as a deadlock victim. Writers lock the user row first, so deadlocks need
// unusual interleavings (a purge and a write on the same rows); retrying
// beats failing the request with a 503.
const maxDeadlockRetries = 3

// inTx runs fn in a transaction and commits it when fn returns nil. fn may
// run more than once, so it must derive everything it returns from what it
// reads in the transaction.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.tryTx(ctx, fn)
		if errorNumber(err) != errLockDeadlock || attempt == maxDeadlockRetries {
			return err
		}
	}
}

func (s *Store) tryTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
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

// lockUser locks the user's row for the rest of the transaction and reads,
// in the same round trip, the user's last write timestamp and collection
// aggregates. A locking read returns the latest committed rows, so nothing
// a writer committed before we got the lock is missed. Returns ErrNotFound
// for a missing user.
func lockUser(ctx context.Context, tx *sql.Tx, userID int64) (*userLock, error) {
	rows, err := tx.QueryContext(ctx, `SELECT u.last_modified, uc.collection_id, uc.modified, uc.record_count, uc.total_bytes
FROM users u LEFT JOIN user_collections uc ON uc.user_id = u.id
WHERE u.id = ? FOR UPDATE`, userID)
	if err != nil {
		return nil, fmt.Errorf("locking user %d: %w", userID, err)
	}
	defer rows.Close()
	var l *userLock
	for rows.Next() {
		var last int64
		var id, modified, count, bytes sql.NullInt64
		if err := rows.Scan(&last, &id, &modified, &count, &bytes); err != nil {
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

// nextTimestamp is the request timestamp: the clock, but strictly after the
// user's previous write even if the clock stepped back or two writes share
// a 10 ms tick (docs/protocol.md §3.2).
func nextTimestamp(now time.Time, last syncstore.Timestamp) syncstore.Timestamp {
	ts := syncstore.TimestampFromTime(now)
	if ts <= last {
		ts = last + 1
	}
	return ts
}

// setLastModified records the request timestamp on the locked user row.
func setLastModified(ctx context.Context, tx *sql.Tx, userID int64, ts syncstore.Timestamp) error {
	if _, err := tx.ExecContext(ctx, "UPDATE users SET last_modified = ? WHERE id = ?", int64(ts), userID); err != nil {
		return fmt.Errorf("recording write timestamp of user %d: %w", userID, err)
	}
	return nil
}

// checkUnmodified applies X-If-Unmodified-Since: a collection with no rows
// never fails it.
func checkUnmodified(l *userLock, collID int, known bool, since *syncstore.Timestamp) error {
	if since == nil || !known {
		return nil
	}
	if c, ok := l.collection(collID); ok && c.modified > *since {
		return fmt.Errorf("collection modified at %s: %w", c.modified, syncstore.ErrModified)
	}
	return nil
}
