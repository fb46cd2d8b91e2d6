package mysqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/syncserver/syncserver/syncstore"
)

// DeleteRecords deletes the records of a collection matching q, expired
// ones included, and returns the request timestamp.
func (s *Store) DeleteRecords(ctx context.Context, userID int64, collection string, q *syncstore.Query, opt syncstore.WriteOptions) (syncstore.Timestamp, error) {
	collID, known, err := s.collectionID(ctx, collection)
	if err != nil {
		return 0, err
	}
	if q == nil {
		q = &syncstore.Query{}
	}
	var ts syncstore.Timestamp
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		lock, err := lockUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		ts = nextTimestamp(s.now(), lock.lastModified)
		if err := checkUnmodified(lock, collID, known, opt.IfUnmodifiedSince); err != nil {
			return err
		}
		if coll, ok := lock.collection(collID); known && ok {
			if err := deleteMatching(ctx, tx, userID, coll, q); err != nil {
				return err
			}
		}
		return setLastModified(ctx, tx, userID, ts)
	})
	if err != nil {
		return 0, fmt.Errorf("deleting from %s of user %d: %w", collection, userID, err)
	}
	return ts, nil
}

// deleteIDsChunk bounds the ids of one DELETE … IN statement.
const deleteIDsChunk = 1000

// deleteMatching deletes the rows of coll that q selects and updates the
// collection's aggregates from what went.
func deleteMatching(ctx context.Context, tx *sql.Tx, userID int64, coll collStats, q *syncstore.Query) error {
	if matchesAll(q) {
		return dropCollection(ctx, tx, userID, coll.id)
	}
	var n, bytes int64
	if q.Limit > 0 {
		// MySQL has no DELETE … OFFSET: pick the page's ids, then delete
		// them.
		sel := newSelector("SELECT id, payload_size FROM wbo", userID, coll.id)
		if !sel.filters(q) {
			return nil
		}
		sel.order(q)
		sel.limit(q)
		ids, sum, err := selectIDs(ctx, tx, sel)
		if err != nil {
			return err
		}
		for chunk := range chunks(ids, deleteIDsChunk) {
			del := newSelector("DELETE FROM wbo", userID, coll.id)
			del.in("id", chunk)
			if _, err := tx.ExecContext(ctx, del.sql.String(), del.args...); err != nil {
				return fmt.Errorf("deleting records: %w", err)
			}
		}
		n, bytes = int64(len(ids)), sum
	} else {
		sel := newSelector("SELECT COUNT(*), COALESCE(SUM(payload_size), 0) FROM wbo", userID, coll.id)
		if !sel.filters(q) {
			return nil
		}
		if err := tx.QueryRowContext(ctx, sel.sql.String(), sel.args...).Scan(&n, &bytes); err != nil {
			return fmt.Errorf("sizing records to delete: %w", err)
		}
		if n == 0 {
			return nil
		}
		del := newSelector("DELETE FROM wbo", userID, coll.id)
		del.filters(q)
		if _, err := tx.ExecContext(ctx, del.sql.String(), del.args...); err != nil {
			return fmt.Errorf("deleting records: %w", err)
		}
	}
	return shrinkCollection(ctx, tx, userID, coll, n, bytes)
}

// selectIDs runs a "SELECT id, payload_size" and returns the ids and the
// sum of the sizes.
func selectIDs(ctx context.Context, tx *sql.Tx, sel *selector) ([]string, int64, error) {
	rows, err := tx.QueryContext(ctx, sel.sql.String(), sel.args...)
	if err != nil {
		return nil, 0, fmt.Errorf("selecting records to delete: %w", err)
	}
	defer rows.Close()
	var ids []string
	var sum int64
	for rows.Next() {
		var id string
		var size int64
		if err := rows.Scan(&id, &size); err != nil {
			return nil, 0, fmt.Errorf("selecting records to delete: %w", err)
		}
		ids = append(ids, id)
		sum += size
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("selecting records to delete: %w", err)
	}
	return ids, sum, nil
}

// chunks yields s in pieces of at most n.
func chunks[T any](s []T, n int) func(yield func([]T) bool) {
	return func(yield func([]T) bool) {
		for len(s) > 0 {
			k := min(n, len(s))
			if !yield(s[:k]) {
				return
			}
			s = s[k:]
		}
	}
}

// shrinkCollection updates the aggregates of coll after n rows of bytes
// payload bytes went: the row goes when the collection is empty, and the
// timestamp falls back to the newest remaining row (docs/protocol.md §3.3).
func shrinkCollection(ctx context.Context, tx *sql.Tx, userID int64, coll collStats, n, bytes int64) error {
	coll.count -= n
	coll.bytes -= bytes
	if coll.count <= 0 {
		if _, err := tx.ExecContext(ctx, "DELETE FROM user_collections WHERE user_id = ? AND collection_id = ?", userID, coll.id); err != nil {
			return fmt.Errorf("removing collection aggregates: %w", err)
		}
		return nil
	}
	var newest sql.NullInt64
	// Served by the (user_id, collection_id, modified) index.
	err := tx.QueryRowContext(ctx, "SELECT MAX(modified) FROM wbo WHERE user_id = ? AND collection_id = ?", userID, coll.id).Scan(&newest)
	if err != nil {
		return fmt.Errorf("finding the newest remaining record: %w", err)
	}
	if !newest.Valid {
		// The aggregates overcounted; the collection is in fact empty.
		if _, err := tx.ExecContext(ctx, "DELETE FROM user_collections WHERE user_id = ? AND collection_id = ?", userID, coll.id); err != nil {
			return fmt.Errorf("removing collection aggregates: %w", err)
		}
		return nil
	}
	coll.modified = syncstore.Timestamp(newest.Int64)
	return saveCollection(ctx, tx, userID, coll.id, coll)
}

// dropCollection deletes every row of a collection and its aggregates.
func dropCollection(ctx context.Context, tx *sql.Tx, userID int64, collID int) error {
	for _, q := range []string{
		"DELETE FROM wbo WHERE user_id = ? AND collection_id = ?",
		"DELETE FROM user_collections WHERE user_id = ? AND collection_id = ?",
	} {
		if _, err := tx.ExecContext(ctx, q, userID, collID); err != nil {
			return fmt.Errorf("deleting collection %d: %w", collID, err)
		}
	}
	return nil
}

// DeleteStorage deletes every record of the user and returns the request
// timestamp.
func (s *Store) DeleteStorage(ctx context.Context, userID int64) (syncstore.Timestamp, error) {
	var ts syncstore.Timestamp
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		lock, err := lockUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		ts = nextTimestamp(s.now(), lock.lastModified)
		for _, q := range []string{
			"DELETE FROM wbo WHERE user_id = ?",
			"DELETE FROM user_collections WHERE user_id = ?",
		} {
			if _, err := tx.ExecContext(ctx, q, userID); err != nil {
				return fmt.Errorf("deleting storage: %w", err)
			}
		}
		return setLastModified(ctx, tx, userID, ts)
	})
	if err != nil {
		return 0, fmt.Errorf("deleting storage of user %d: %w", userID, err)
	}
	return ts, nil
}
