package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/syncserver/syncserver/syncstore"
)

const recordColumns = "SELECT id, modified, sortindex, payload, parentid, predecessorid FROM wbo"

// GetRecords lists the unexpired records of a collection matching q.
func (s *Store) GetRecords(ctx context.Context, userID int64, collection string, q *syncstore.Query) ([]syncstore.WBO, error) {
	collID, ok, err := s.collectionID(ctx, collection)
	if err != nil || !ok {
		return nil, err
	}
	ws, _, err := s.listRecords(ctx, userID, collection, collID, q, false)
	return ws, err
}

// GetRecordsAndLast is GetRecords plus the user's last write timestamp
// (syncstore.ListStamper): a listing that returns rows carries it in the
// same statement, so GET of a collection costs one read instead of two;
// an empty one reads it after (UserTimestamp). A missing user gives no
// records and 0, as GetRecords gives none.
func (s *Store) GetRecordsAndLast(ctx context.Context, userID int64, collection string, q *syncstore.Query) ([]syncstore.WBO, syncstore.Timestamp, error) {
	collID, ok, err := s.collectionID(ctx, collection)
	if err != nil {
		return nil, 0, err
	}
	var ws []syncstore.WBO
	var last sql.NullInt64
	if ok {
		if ws, last, err = s.listRecords(ctx, userID, collection, collID, q, true); err != nil {
			return nil, 0, err
		}
	}
	if last.Valid {
		return ws, syncstore.Timestamp(last.Int64), nil
	}
	l, err := s.UserTimestamp(ctx, userID)
	if errors.Is(err, syncstore.ErrNotFound) {
		return ws, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	return ws, l, nil
}

// recordColumnsAndLast is recordColumns plus the user's last write
// timestamp on every row: an uncorrelated subquery, which both engines
// evaluate once per statement.
const recordColumnsAndLast = "SELECT id, modified, sortindex, payload, parentid, predecessorid, (SELECT last_modified FROM users WHERE users.id = ?) FROM wbo"

// listRecords runs GetRecords' query on collection collID; withLast adds
// the user's timestamp, NULL when no row came back.
func (s *Store) listRecords(ctx context.Context, userID int64, collection string, collID int, q *syncstore.Query, withLast bool) ([]syncstore.WBO, sql.NullInt64, error) {
	var last sql.NullInt64
	if q == nil {
		q = &syncstore.Query{}
	}
	head := recordColumns
	if withLast {
		head = recordColumnsAndLast
	}
	sel := s.newSelector(head, userID, collID)
	sel.and("expiry > ?", s.clock().Unix())
	if !sel.filters(q) {
		return nil, last, nil
	}
	sel.order(q)
	sel.limit(q)
	args := sel.args
	if withLast {
		args = append(append(make([]any, 0, len(args)+1), userID), args...)
	}
	rows, err := s.read.QueryContext(ctx, sel.sql.String(), args...)
	if err != nil {
		return nil, last, fmt.Errorf("listing %s of user %d: %w", collection, userID, err)
	}
	defer rows.Close()
	var ws []syncstore.WBO
	if q.Limit > 0 {
		ws = make([]syncstore.WBO, 0, min(q.Limit, 1000))
	}
	var sc recordScan
	var rs scanner = rows
	if withLast {
		rs = lastScanner{rows, &last}
	}
	for rows.Next() {
		ws = append(ws, syncstore.WBO{})
		if err := sc.scan(rs, &ws[len(ws)-1]); err != nil {
			return nil, last, fmt.Errorf("listing %s of user %d: %w", collection, userID, err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, last, fmt.Errorf("listing %s of user %d: %w", collection, userID, err)
	}
	return ws, last, nil
}

// lastScanner scans recordColumnsAndLast's last column into last and the
// others as scanRecord asks.
type lastScanner struct {
	rows *sql.Rows
	last *sql.NullInt64
}

func (l lastScanner) Scan(dest ...any) error {
	return l.rows.Scan(append(dest, l.last)...)
}

// The per-request reads of fixed text (prepared: hotReads).
const (
	recordSQL               = recordColumns + " WHERE user_id = ? AND collection_id = ? AND id = ? AND expiry > ?"
	collectionTimestampsSQL = `SELECT c.name, uc.modified FROM user_collections uc JOIN collections c ON c.id = uc.collection_id
WHERE uc.user_id = ?`
	// The user's row has no collection: one statement is one snapshot.
	// Collections by id, named by collectionName.
	collectionTimestampsAndLastSQL = `SELECT collection_id, modified FROM user_collections WHERE user_id = ?
UNION ALL SELECT NULL, last_modified FROM users WHERE id = ?`
	collectionCountsSQL = `SELECT c.name, w.n FROM (
  SELECT collection_id, COUNT(*) AS n FROM wbo WHERE user_id = ? AND expiry > ? GROUP BY collection_id
) w JOIN collections c ON c.id = w.collection_id`
	collectionUsageSQL = `SELECT c.name, w.n FROM (
  SELECT collection_id, SUM(payload_size) AS n FROM wbo WHERE user_id = ? AND expiry > ? GROUP BY collection_id
) w JOIN collections c ON c.id = w.collection_id`
)

// GetRecord returns one unexpired record or ErrNotFound.
func (s *Store) GetRecord(ctx context.Context, userID int64, collection, id string) (*syncstore.WBO, error) {
	collID, ok, err := s.collectionID(ctx, collection)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("record %s/%s: %w", collection, id, syncstore.ErrNotFound)
	}
	row := s.readRow(ctx, recordSQL, userID, collID, s.d.Text(id), s.clock().Unix())
	var w syncstore.WBO
	err = scanRecord(row, &w)
	if isNoRows(err) {
		return nil, fmt.Errorf("record %s/%s: %w", collection, id, syncstore.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("loading record %s/%s of user %d: %w", collection, id, userID, err)
	}
	return &w, nil
}

// recordAndLastSQL is recordSQL joined to the user's row: one statement
// is one snapshot, and a missing record still brings the user's
// timestamp (NULL record columns).
const recordAndLastSQL = `SELECT u.last_modified, w.id, w.modified, w.sortindex, w.payload, w.parentid, w.predecessorid
FROM users u LEFT JOIN wbo w ON w.user_id = u.id AND w.collection_id = ? AND w.id = ? AND w.expiry > ?
WHERE u.id = ?`

// GetRecordAndLast is GetRecord plus the user's last write timestamp
// (UserTimestamp) in one statement (syncstore.RecordStamper): GET of a
// record then costs one read instead of two.
func (s *Store) GetRecordAndLast(ctx context.Context, userID int64, collection, id string) (*syncstore.WBO, syncstore.Timestamp, error) {
	collID, ok, err := s.collectionID(ctx, collection)
	if err != nil {
		return nil, 0, err
	}
	if !ok {
		// No record can exist: the user's timestamp alone.
		last, err := s.UserTimestamp(ctx, userID)
		if err != nil {
			return nil, 0, err
		}
		return nil, last, fmt.Errorf("record %s/%s: %w", collection, id, syncstore.ErrNotFound)
	}
	var last int64
	var rid syncstore.NullText
	var modified, sortindex sql.NullInt64
	var payload, parentID, predecessorID syncstore.NullText
	err = s.readRow(ctx, recordAndLastSQL, collID, s.d.Text(id), s.clock().Unix(), userID).
		Scan(&last, &rid, &modified, &sortindex, &payload, &parentID, &predecessorID)
	if isNoRows(err) {
		return nil, 0, errUserMissing(userID)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("loading record %s/%s of user %d: %w", collection, id, userID, err)
	}
	if rid.P == nil {
		return nil, syncstore.Timestamp(last), fmt.Errorf("record %s/%s: %w", collection, id, syncstore.ErrNotFound)
	}
	w := &syncstore.WBO{ID: *rid.P, Modified: syncstore.Timestamp(modified.Int64)}
	if sortindex.Valid {
		w.SortIndex = &sortindex.Int64
	}
	w.Payload, w.ParentID, w.PredecessorID = payload.P, parentID.P, predecessorID.P
	return w, syncstore.Timestamp(last), nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// scanRecord reads the recordColumns of one row into w.
func scanRecord(row scanner, w *syncstore.WBO) error {
	var sc recordScan
	return sc.scan(row, w)
}

// recordScan holds the destinations of scanRecord's Scan, which escape:
// a listing reuses one for all its rows instead of allocating them per
// row.
type recordScan struct {
	modified                         int64
	sortindex                        sql.NullInt64
	payload, parentID, predecessorID syncstore.NullText
}

// scan reads the recordColumns of one row into w.
func (sc *recordScan) scan(row scanner, w *syncstore.WBO) error {
	if err := row.Scan(&w.ID, &sc.modified, &sc.sortindex, &sc.payload, &sc.parentID, &sc.predecessorID); err != nil {
		return err
	}
	w.Modified = syncstore.Timestamp(sc.modified)
	if sc.sortindex.Valid {
		v := sc.sortindex.Int64
		w.SortIndex = &v
	}
	w.Payload, w.ParentID, w.PredecessorID = sc.payload.P, sc.parentID.P, sc.predecessorID.P
	return nil
}

// CollectionTimestamps is info/collections, read from the aggregates only.
func (s *Store) CollectionTimestamps(ctx context.Context, userID int64) (map[string]syncstore.Timestamp, error) {
	m := make(map[string]syncstore.Timestamp)
	err := s.queryNamed(ctx, func(name string, v int64) { m[name] = syncstore.Timestamp(v) },
		collectionTimestampsSQL, userID)
	if err != nil {
		return nil, fmt.Errorf("collection timestamps of user %d: %w", userID, err)
	}
	return m, nil
}

// CollectionTimestampsAndLast is CollectionTimestamps plus the user's
// last write timestamp (UserTimestamp), read in one statement, so
// info/collections costs one read instead of two. A missing user has no
// collections and a zero timestamp. The collections are appended to dst
// sorted by name (syncstore.LastStamper).
func (s *Store) CollectionTimestampsAndLast(ctx context.Context, userID int64, dst []syncstore.CollectionStamp) ([]syncstore.CollectionStamp, syncstore.Timestamp, error) {
	var buf [16]collStamp
	stamps, last, err := buf[:0], syncstore.Timestamp(0), error(nil)
	if s.rawReads {
		stamps, last, err = s.rawCollectionStamps(ctx, userID, stamps)
	}
	if !s.rawReads || errors.Is(err, errBadRawConn) {
		stamps, last, err = s.collectionStamps(ctx, userID, buf[:0])
	}
	if err != nil {
		return nil, 0, fmt.Errorf("collection timestamps of user %d: %w", userID, err)
	}
	start := len(dst)
	for _, st := range stamps {
		name, err := s.collectionName(ctx, st.id)
		if err != nil {
			return nil, 0, fmt.Errorf("collection timestamps of user %d: %w", userID, err)
		}
		dst = append(dst, syncstore.CollectionStamp{Name: name, Modified: st.modified})
	}
	syncstore.SortCollectionStamps(dst[start:])
	return dst, last, nil
}

// collStamp is one row of collectionTimestampsAndLastSQL naming a
// collection.
type collStamp struct {
	id       int
	modified syncstore.Timestamp
}

// collectionStamps reads collectionTimestampsAndLastSQL through
// database/sql, appending the collections' rows to stamps.
func (s *Store) collectionStamps(ctx context.Context, userID int64, stamps []collStamp) ([]collStamp, syncstore.Timestamp, error) {
	rows, err := s.readQuery(ctx, collectionTimestampsAndLastSQL, userID, userID)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var last syncstore.Timestamp
	// Scan's destinations escape: one pair per call, not per row.
	var id sql.NullInt64
	var v int64
	for rows.Next() {
		if err := rows.Scan(&id, &v); err != nil {
			return nil, 0, err
		}
		if id.Valid {
			stamps = append(stamps, collStamp{int(id.Int64), syncstore.Timestamp(v)})
		} else {
			last = syncstore.Timestamp(v)
		}
	}
	return stamps, last, rows.Err()
}

// rawCollectionStamps is collectionStamps on a read connection's own
// statement (rawRead).
func (s *Store) rawCollectionStamps(ctx context.Context, userID int64, stamps []collStamp) ([]collStamp, syncstore.Timestamp, error) {
	var last syncstore.Timestamp
	b := s.getRawBuf()
	defer s.putRawBuf(b)
	id := driver.Value(userID) // boxed once for both arguments
	b.args = [2]driver.NamedValue{{Ordinal: 1, Value: id}, {Ordinal: 2, Value: id}}
	err := s.rawRead(ctx, collectionTimestampsAndLastSQL, b.args[:], b, func(row []driver.Value) error {
		id, isColl, err := rawInt64(row[0])
		if err != nil {
			return err
		}
		v, _, err := rawInt64(row[1])
		if err != nil {
			return err
		}
		if isColl {
			stamps = append(stamps, collStamp{int(id), syncstore.Timestamp(v)})
		} else {
			last = syncstore.Timestamp(v)
		}
		return nil
	})
	return stamps, last, err
}

// CollectionCounts counts unexpired records per collection. Expiry is
// relative to the clock, so this cannot come from the aggregates.
func (s *Store) CollectionCounts(ctx context.Context, userID int64) (map[string]int64, error) {
	m := make(map[string]int64)
	err := s.queryNamed(ctx, func(name string, v int64) { m[name] = v },
		collectionCountsSQL, userID, s.clock().Unix())
	if err != nil {
		return nil, fmt.Errorf("collection counts of user %d: %w", userID, err)
	}
	return m, nil
}

// CollectionUsage sums unexpired payload bytes per collection.
func (s *Store) CollectionUsage(ctx context.Context, userID int64) (map[string]int64, error) {
	m := make(map[string]int64)
	err := s.queryNamed(ctx, func(name string, v int64) { m[name] = v },
		collectionUsageSQL, userID, s.clock().Unix())
	if err != nil {
		return nil, fmt.Errorf("collection usage of user %d: %w", userID, err)
	}
	return m, nil
}

// queryNamed runs a query returning (name, integer) rows.
func (s *Store) queryNamed(ctx context.Context, each func(name string, v int64), query string, args ...any) error {
	rows, err := s.readQuery(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var v int64
		if err := rows.Scan(&name, &v); err != nil {
			return err
		}
		each(name, v)
	}
	return rows.Err()
}
