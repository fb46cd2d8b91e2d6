package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// writeTx is one write request's transaction on the writer connection.
type writeTx struct {
	s      *Store
	tx     *sql.Tx
	userID int64
	// ts is the request's timestamp, now the clock reading it came from.
	ts      syncstore.Timestamp
	now     time.Time
	created []createdCollection
}

type createdCollection struct {
	name string
	id   int
}

// write runs fn in a transaction for userID's write request. The single
// writer connection already serialises requests, so reading
// users.last_modified inside the transaction is enough to make the
// timestamp strictly increasing per user, whatever the clock does.
func (s *Store) write(ctx context.Context, userID int64, fn func(ctx context.Context, w *writeTx) error) (syncstore.Timestamp, error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("beginning write for user %d: %w", userID, err)
	}
	defer tx.Rollback()

	var last int64
	err = tx.QueryRowContext(ctx, `SELECT last_modified FROM users WHERE id = ?`, userID).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("user %d: %w", userID, syncstore.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("reading user %d: %w", userID, err)
	}
	now := s.clock()
	w := &writeTx{s: s, tx: tx, userID: userID, now: now,
		ts: max(syncstore.TimestampFromTime(now), syncstore.Timestamp(last+1))}
	if err := fn(ctx, w); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE users SET last_modified = ? WHERE id = ?`, int64(w.ts), userID); err != nil {
		return 0, fmt.Errorf("recording timestamp of user %d: %w", userID, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("committing write for user %d: %w", userID, err)
	}
	for _, c := range w.created {
		s.colls.Put(c.name, c.id)
	}
	return w.ts, nil
}

// checkUnmodified fails with ErrModified when the collection changed after
// since. The stored maximum includes expired rows, as the protocol wants.
func (w *writeTx) checkUnmodified(ctx context.Context, collID int, since *syncstore.Timestamp) error {
	if since == nil {
		return nil
	}
	var modified int64
	err := w.tx.QueryRowContext(ctx, `SELECT modified FROM user_collections WHERE user_id = ? AND collection_id = ?`,
		w.userID, collID).Scan(&modified)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading collection timestamp: %w", err)
	}
	if syncstore.Timestamp(modified) > *since {
		return syncstore.ErrModified
	}
	return nil
}

// usedBytes is the user's stored payload bytes, expired rows included.
func (w *writeTx) usedBytes(ctx context.Context) (int64, error) {
	var used int64
	err := w.tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(total_bytes), 0) FROM user_collections WHERE user_id = ?`,
		w.userID).Scan(&used)
	if err != nil {
		return 0, fmt.Errorf("summing stored bytes: %w", err)
	}
	return used, nil
}

// checkQuota refuses the write when the user stores at least quota bytes.
// The cheap sum includes expired rows; before refusing, count only live
// ones so records nobody can read do not lock a user out.
func (w *writeTx) checkQuota(ctx context.Context, used, quota int64) error {
	if quota <= 0 || used < quota {
		return nil
	}
	var live int64
	err := w.tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(payload_size), 0) FROM wbo WHERE user_id = ? AND expiry > ?`,
		w.userID, w.now.Unix()).Scan(&live)
	if err != nil {
		return fmt.Errorf("summing live bytes: %w", err)
	}
	if live >= quota {
		return syncstore.ErrOverQuota
	}
	return nil
}

// recount rebuilds a collection's user_collections row from its records
// after a delete, or removes it when the collection is now empty.
func (s *Store) recount(ctx context.Context, tx *sql.Tx, userID int64, collID int) error {
	var count, bytes, modified int64
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(payload_size), 0), COALESCE(MAX(modified), 0)
		FROM wbo WHERE user_id = ? AND collection_id = ?`, userID, collID).Scan(&count, &bytes, &modified)
	if err != nil {
		return fmt.Errorf("recounting collection %d of user %d: %w", collID, userID, err)
	}
	if count == 0 {
		_, err = tx.ExecContext(ctx, `DELETE FROM user_collections WHERE user_id = ? AND collection_id = ?`, userID, collID)
	} else {
		_, err = tx.ExecContext(ctx, `INSERT INTO user_collections (user_id, collection_id, modified, record_count, total_bytes)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (user_id, collection_id) DO UPDATE SET
				modified = excluded.modified, record_count = excluded.record_count, total_bytes = excluded.total_bytes`,
			userID, collID, modified, count, bytes)
	}
	if err != nil {
		return fmt.Errorf("updating statistics of collection %d of user %d: %w", collID, userID, err)
	}
	return nil
}
