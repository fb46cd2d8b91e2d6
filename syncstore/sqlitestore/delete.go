package sqlitestore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// DeleteRecords deletes the records of collection matching q, expired ones
// included, and returns the request timestamp.
func (s *Store) DeleteRecords(ctx context.Context, userID int64, collection string, q *syncstore.Query, opt syncstore.WriteOptions) (syncstore.Timestamp, error) {
	if q == nil {
		q = &syncstore.Query{}
	}
	ts, err := s.write(ctx, userID, func(ctx context.Context, w *writeTx) error {
		collID, ok, err := w.s.collectionID(ctx, w.tx, collection)
		if err != nil || !ok {
			return err
		}
		if err := w.checkUnmodified(ctx, collID, opt.IfUnmodifiedSince); err != nil {
			return err
		}
		if matchesNothing(q) {
			return nil
		}
		if selectsAll(q) {
			if _, err := w.tx.ExecContext(ctx, `DELETE FROM wbo WHERE user_id = ? AND collection_id = ?`, userID, collID); err != nil {
				return fmt.Errorf("deleting records: %w", err)
			}
			if _, err := w.tx.ExecContext(ctx, `DELETE FROM user_collections WHERE user_id = ? AND collection_id = ?`, userID, collID); err != nil {
				return fmt.Errorf("deleting collection statistics: %w", err)
			}
			return nil
		}
		var b strings.Builder
		b.WriteString(`DELETE FROM wbo WHERE user_id = ? AND collection_id = ?`)
		args := []any{userID, collID}
		if q.Limit > 0 {
			// SQLite's DELETE has no ORDER BY/LIMIT by default, so page
			// through a subquery on the primary key.
			b.WriteString(` AND id IN (SELECT id FROM wbo WHERE user_id = ? AND collection_id = ?`)
			args = append(args, userID, collID)
			args = filterSQL(&b, args, q)
			orderSQL(&b, q)
			b.WriteByte(')')
		} else {
			args = filterSQL(&b, args, q)
		}
		res, err := w.tx.ExecContext(ctx, b.String(), args...)
		if err != nil {
			return fmt.Errorf("deleting records: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		return w.s.recount(ctx, w.tx, userID, collID)
	})
	if err != nil {
		return 0, fmt.Errorf("deleting from %q of user %d: %w", collection, userID, err)
	}
	return ts, nil
}

// DeleteStorage deletes all of the user's records.
func (s *Store) DeleteStorage(ctx context.Context, userID int64) (syncstore.Timestamp, error) {
	ts, err := s.write(ctx, userID, func(ctx context.Context, w *writeTx) error {
		return deleteUserData(ctx, w, userID)
	})
	if err != nil {
		return 0, fmt.Errorf("deleting storage of user %d: %w", userID, err)
	}
	return ts, nil
}

func deleteUserData(ctx context.Context, w *writeTx, userID int64) error {
	if _, err := w.tx.ExecContext(ctx, `DELETE FROM wbo WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("deleting records: %w", err)
	}
	if _, err := w.tx.ExecContext(ctx, `DELETE FROM user_collections WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("deleting collection statistics: %w", err)
	}
	return nil
}

// PurgeExpired deletes up to limit records whose expiry is at or before now
// (all of them when limit <= 0) and fixes the statistics of the
// collections they were in.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time, limit int) (int64, error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("purging expired records: %w", err)
	}
	defer tx.Rollback()
	query := `DELETE FROM wbo WHERE expiry <= ? RETURNING user_id, collection_id`
	args := []any{now.Unix()}
	if limit > 0 {
		query = `DELETE FROM wbo WHERE (user_id, collection_id, id) IN
			(SELECT user_id, collection_id, id FROM wbo WHERE expiry <= ? LIMIT ?)
			RETURNING user_id, collection_id`
		args = append(args, limit)
	}
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("purging expired records: %w", err)
	}
	type key struct {
		user int64
		coll int
	}
	touched := map[key]struct{}{}
	var n int64
	for rows.Next() {
		var k key
		if err := rows.Scan(&k.user, &k.coll); err != nil {
			rows.Close()
			return 0, fmt.Errorf("purging expired records: %w", err)
		}
		touched[k] = struct{}{}
		n++
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return 0, fmt.Errorf("purging expired records: %w", err)
	}
	rows.Close()
	for k := range touched {
		if err := s.recount(ctx, tx, k.user, k.coll); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("committing purge: %w", err)
	}
	return n, nil
}
