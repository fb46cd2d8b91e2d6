package sqlstore

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
	ids, byIDs := idsOnly(q)
	byIDs = byIDs && known
	var ts syncstore.Timestamp
	err = s.inSizedTx(ctx, deleteSize(q), func(tx *sql.Tx) error {
		var lock *userLock
		var old map[string]oldRow
		var err error
		if byIDs && !s.d.DeleteReturning {
			// The rows to delete come with the lock, which sizes them:
			// one statement (a round trip on MySQL) less.
			lock, old, err = s.lockUserWithRows(ctx, tx, userID, collID, ids)
		} else {
			lock, err = s.lockUser(ctx, tx, userID)
		}
		if err != nil {
			return err
		}
		ts = nextTimestamp(s.clock(), lock.lastModified)
		if err := checkUnmodified(lock, collID, known, opt.IfUnmodifiedSince); err != nil {
			return err
		}
		if coll, ok := lock.collection(collID); known && ok {
			var stamped bool
			switch {
			case byIDs && s.d.DeleteReturning:
				stamped, err = s.deleteReturning(ctx, tx, userID, coll, ids, ts)
			case byIDs:
				stamped, err = s.deleteRows(ctx, tx, userID, coll, old, ts)
			default:
				stamped, err = s.deleteMatching(ctx, tx, userID, coll, q, ts)
			}
			if err != nil || stamped {
				return err
			}
		}
		return s.setLastModified(ctx, tx, userID, ts)
	})
	if err != nil {
		return 0, fmt.Errorf("deleting from %s of user %d: %w", collection, userID, err)
	}
	return ts, nil
}

// deleteSize is what a delete weighs at the write gate. A delete by ids
// writes no payload and adds no page, so each id counts for an eighth of
// a row: the bench mix's deletes of 100 ids hold the writer about 0.9 ms
// at the median against 1.5 ms for its 20–100 record uploads, and the
// client waits on them as on any request. A limit bounds the rows too;
// without either it may be a whole collection.
func deleteSize(q *syncstore.Query) txSize {
	switch {
	case len(q.IDs) > 0 && (q.Limit <= 0 || q.Limit > len(q.IDs)):
		return txSize(len(q.IDs) / deletedPerRow)
	case q.Limit > 0:
		return txSize(q.Limit / deletedPerRow)
	}
	return txLong
}

// deletedPerRow is how many deleted ids weigh as much as one row written.
const deletedPerRow = 8

// Heads of the statements that size and delete a selection.
const (
	sizeSQL   = "SELECT COUNT(*), COALESCE(SUM(payload_size), 0), COALESCE(MAX(modified), 0) FROM wbo"
	deleteSQL = "DELETE FROM wbo"
)

// gone is what a delete removed from a collection.
type gone struct {
	count, bytes int64
	// newest is the largest modified among the deleted rows.
	newest syncstore.Timestamp
}

// deleteMatching deletes the rows of coll that q selects and updates the
// collection's aggregates from what went, without scanning the rest of
// the collection. Unless stamp is 0 it may record stamp as the user's
// last write timestamp along with the aggregates; stamped says whether it
// did.
func (s *Store) deleteMatching(ctx context.Context, tx *sql.Tx, userID int64, coll collStats, q *syncstore.Query, stamp syncstore.Timestamp) (stamped bool, err error) {
	if matchesAll(q) {
		return false, s.dropCollection(ctx, tx, userID, coll.id)
	}
	if q.Limit > 0 {
		// Neither engine deletes with OFFSET (nor SQLite with LIMIT by
		// default): pick the page's ids, then delete them.
		sel := s.newSelector("SELECT id FROM wbo", userID, coll.id)
		if !sel.filters(q) {
			return false, nil
		}
		sel.order(q)
		sel.limit(q)
		ids, err := selectIDs(ctx, tx, sel)
		if err != nil || len(ids) == 0 {
			return false, err
		}
		q = &syncstore.Query{IDs: ids}
	}
	size := s.newSelector(sizeSQL, userID, coll.id)
	if !size.filters(q) {
		return false, nil
	}
	var g gone
	if err := s.queryRow(ctx, tx, size.sql.String(), size.args...).Scan(&g.count, &g.bytes, &g.newest); err != nil {
		return false, fmt.Errorf("sizing records to delete: %w", err)
	}
	if g.count == 0 {
		return false, nil
	}
	del := s.newSelector(deleteSQL, userID, coll.id)
	del.filters(q)
	if err := s.execDeferrable(ctx, tx, del.sql.String(), del.args...); err != nil {
		return false, fmt.Errorf("deleting records: %w", err)
	}
	return s.shrinkCollection(ctx, tx, userID, coll, g, stamp)
}

// idsOnly returns the ids a query that selects by id and nothing else may
// match (those a record can have); ok is false for any other query, or
// when no id is left.
func idsOnly(q *syncstore.Query) (ids []string, ok bool) {
	if len(q.IDs) == 0 || q.ParentID != nil || q.PredecessorID != nil || q.Newer != nil || q.Older != nil ||
		q.IndexAbove != nil || q.IndexBelow != nil || q.Limit > 0 {
		return nil, false
	}
	ids = make([]string, 0, len(q.IDs))
	for _, id := range q.IDs {
		if len(id) <= syncstore.MaxIDLen {
			ids = append(ids, id)
		}
	}
	return ids, len(ids) > 0
}

// deleteRows deletes the stored rows old of coll, which the lock read,
// and updates the aggregates; stamp and stamped as for deleteMatching.
func (s *Store) deleteRows(ctx context.Context, tx *sql.Tx, userID int64, coll collStats, old map[string]oldRow, stamp syncstore.Timestamp) (stamped bool, err error) {
	if len(old) == 0 {
		return false, nil
	}
	var g gone
	ids := make([]string, 0, len(old))
	for id, o := range old {
		ids = append(ids, id)
		g.count++
		g.bytes += o.size
		g.newest = max(g.newest, o.modified)
	}
	del := s.newSelector(deleteSQL, userID, coll.id)
	del.ids(ids)
	if err := s.execDeferrable(ctx, tx, del.sql.String(), del.args...); err != nil {
		return false, fmt.Errorf("deleting records: %w", err)
	}
	return s.shrinkCollection(ctx, tx, userID, coll, g, stamp)
}

// returningSQL ends a delete by ids where the engine returns what it
// removed (Dialect.DeleteReturning).
const returningSQL = " RETURNING modified, payload_size"

// deleteReturning deletes the rows of coll among ids, sizing them from
// what the DELETE returns, and updates the aggregates; stamp and stamped
// as for deleteMatching. The user's lock is held, so the rows it removes
// are the ones a read would have found.
func (s *Store) deleteReturning(ctx context.Context, tx *sql.Tx, userID int64, coll collStats, ids []string, stamp syncstore.Timestamp) (stamped bool, err error) {
	del := s.newSelector(deleteSQL, userID, coll.id)
	del.ids(ids)
	del.sql.WriteString(returningSQL)
	rows, err := s.query(ctx, tx, del.sql.String(), del.args...)
	if err != nil {
		return false, fmt.Errorf("deleting records: %w", err)
	}
	defer rows.Close()
	var g gone
	for rows.Next() {
		var modified, size int64
		if err := rows.Scan(&modified, &size); err != nil {
			return false, fmt.Errorf("deleting records: %w", err)
		}
		g.count++
		g.bytes += size
		g.newest = max(g.newest, syncstore.Timestamp(modified))
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("deleting records: %w", err)
	}
	if err := rows.Close(); err != nil {
		return false, fmt.Errorf("deleting records: %w", err)
	}
	if g.count == 0 {
		return false, nil
	}
	return s.shrinkCollection(ctx, tx, userID, coll, g, stamp)
}

// selectIDs runs a "SELECT id" and returns the ids.
func selectIDs(ctx context.Context, tx *sql.Tx, sel *selector) ([]string, error) {
	rows, err := tx.QueryContext(ctx, sel.sql.String(), sel.args...)
	if err != nil {
		return nil, fmt.Errorf("selecting records to delete: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("selecting records to delete: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("selecting records to delete: %w", err)
	}
	return ids, nil
}

const newestSQL = "SELECT MAX(modified) FROM wbo WHERE user_id = ? AND collection_id = ?"

// shrinkCollection updates the aggregates of coll after g went: the row
// goes when the collection is empty, and the timestamp falls back to the
// newest remaining row (docs/protocol.md §3.3), which only needs looking up
// when the newest row was among the deleted. Unless stamp is 0 it records
// stamp as the user's timestamp with the aggregates; stamped says whether
// it did.
func (s *Store) shrinkCollection(ctx context.Context, tx *sql.Tx, userID int64, coll collStats, g gone, stamp syncstore.Timestamp) (stamped bool, err error) {
	coll.count -= g.count
	coll.bytes -= g.bytes
	if coll.count <= 0 {
		return false, s.dropAggregates(ctx, tx, userID, coll.id)
	}
	if g.newest >= coll.modified {
		if stamp != 0 && s.d.SaveNewestAndStamp != "" {
			if err := s.execDeferrable(ctx, tx, s.d.SaveNewestAndStamp, coll.id, int64(stamp), coll.count, coll.bytes, userID); err != nil {
				return false, fmt.Errorf("updating collection aggregates, newest record and timestamp: %w", err)
			}
			return true, nil
		}
		var newest sql.NullInt64
		// Served by the (user_id, collection_id, modified) index.
		if err := s.queryRow(ctx, tx, newestSQL, userID, coll.id).Scan(&newest); err != nil {
			return false, fmt.Errorf("finding the newest remaining record: %w", err)
		}
		if !newest.Valid {
			// The aggregates overcounted; the collection is in fact empty.
			return false, s.dropAggregates(ctx, tx, userID, coll.id)
		}
		coll.modified = syncstore.Timestamp(newest.Int64)
	}
	return stamp != 0, s.saveCollection(ctx, tx, userID, coll, true, stamp)
}

// dropCollection deletes every row of a collection and its aggregates.
func (s *Store) dropCollection(ctx context.Context, tx *sql.Tx, userID int64, collID int) error {
	if err := s.execDeferrable(ctx, tx, "DELETE FROM wbo WHERE user_id = ? AND collection_id = ?", userID, collID); err != nil {
		return fmt.Errorf("deleting collection %d: %w", collID, err)
	}
	return s.dropAggregates(ctx, tx, userID, collID)
}

// DeleteStorage deletes every record of the user and returns the request
// timestamp.
func (s *Store) DeleteStorage(ctx context.Context, userID int64) (syncstore.Timestamp, error) {
	var ts syncstore.Timestamp
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		lock, err := s.lockUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		ts = nextTimestamp(s.clock(), lock.lastModified)
		if err := deleteUserData(ctx, tx, userID); err != nil {
			return fmt.Errorf("deleting storage: %w", err)
		}
		return s.setLastModified(ctx, tx, userID, ts)
	})
	if err != nil {
		return 0, fmt.Errorf("deleting storage of user %d: %w", userID, err)
	}
	return ts, nil
}
