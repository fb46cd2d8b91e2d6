package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// PutRecords upserts recs in one transaction: lock the user (and read, in
// the same statement, the aggregates and the existing rows among recs'
// ids, unless the upsert tallies those itself: Dialect.Tally), the
// multi-row upsert, one aggregate upsert, one timestamp update, commit.
func (s *Store) PutRecords(ctx context.Context, userID int64, collection string, recs []syncstore.WBO, opt syncstore.WriteOptions) (*syncstore.WriteResult, error) {
	var collID int
	var err error
	if len(recs) > 0 {
		collID, err = s.writableCollection(ctx, userID, collection, opt.MaxCollections)
	} else {
		// Nothing to write: only the preconditions are checked, and an
		// unknown name is not created.
		collID, _, err = s.collectionID(ctx, collection)
	}
	if err != nil {
		return nil, err
	}
	batch, index := mergeBatch(recs)
	ids := make([]string, len(batch))
	for i := range batch {
		ids[i] = batch[i].ID
	}
	var res *syncstore.WriteResult
	err = s.inSizedTx(ctx, txSize(len(batch)), func(tx *sql.Tx) error {
		now := s.clock()
		var lock *userLock
		var old map[string]oldRow
		tally := s.d.Tally != nil && collID != 0 && len(batch) > 0 && allPayloads(batch)
		switch {
		case tally:
			// Every record replaces its payload: what it overwrites is
			// tallied by the upsert, not read first.
			lock, err = s.lockUserResetting(ctx, tx, userID)
		case collID != 0 && len(batch) > 0:
			// The stored rows among the batch's ids come with the lock:
			// one round trip less where statements are round trips.
			lock, old, err = s.lockUserWithRows(ctx, tx, userID, collID, ids)
		default:
			lock, err = s.lockUser(ctx, tx, userID)
		}
		if err != nil {
			return err
		}
		ts := nextTimestamp(now, lock.lastModified)
		if err := checkUnmodified(lock, collID, collID != 0, opt.IfUnmodifiedSince); err != nil {
			return err
		}
		used := lock.usedBytes()
		if err := s.checkQuota(ctx, tx, userID, used, opt.QuotaBytes, now); err != nil {
			return err
		}
		coll, hasColl := lock.collection(collID)
		if !hasColl && len(batch) > 0 && opt.MaxCollections > 0 && len(lock.colls) >= opt.MaxCollections {
			return fmt.Errorf("user %d holds %d collections: %w", userID, len(lock.colls), syncstore.ErrOverQuota)
		}
		countBefore := coll.count
		coll.id = collID
		written := make([]syncstore.Timestamp, len(batch))
		if len(batch) > 0 {
			rows, grown := planRows(batch, old, ts, now, &coll)
			for i, r := range rows {
				written[i] = r.modified
			}
			if tally {
				// planRows took every row for new; the upsert says which
				// were not.
				n, b, err := s.upsertTallied(ctx, tx, userID, collID, rows)
				if err != nil {
					return err
				}
				coll.count -= n
				coll.bytes -= b
				grown -= b
			} else if err := s.upsertRows(ctx, tx, userID, collID, rows); err != nil {
				return err
			}
			used += grown
			if err := checkRecordLimit(lock, coll, countBefore, opt.MaxRecords); err != nil {
				return err
			}
			if err := s.saveCollection(ctx, tx, userID, coll, hasColl, ts); err != nil {
				return err
			}
		} else if err := s.setLastModified(ctx, tx, userID, ts); err != nil {
			return err
		}
		res = &syncstore.WriteResult{Modified: ts, RecordModified: make([]syncstore.Timestamp, len(recs)), UsedBytes: used}
		for i, j := range index {
			res.RecordModified[i] = written[j]
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("writing %d records to %s of user %d: %w", len(recs), collection, userID, err)
	}
	return res, nil
}

// mergeBatch folds duplicate ids into one record, applied in order: later
// non-nil fields win and the TTL is the last one's (it is always
// rewritten). index[i] is the position of recs[i] in batch.
func mergeBatch(recs []syncstore.WBO) (batch []syncstore.WBO, index []int) {
	batch = make([]syncstore.WBO, 0, len(recs))
	index = make([]int, len(recs))
	pos := make(map[string]int, len(recs))
	for i, r := range recs {
		j, seen := pos[r.ID]
		if !seen {
			j = len(batch)
			pos[r.ID] = j
			batch = append(batch, r)
		} else {
			m := &batch[j]
			if r.SortIndex != nil {
				m.SortIndex = r.SortIndex
			}
			if r.Payload != nil {
				m.Payload = r.Payload
			}
			if r.ParentID != nil {
				m.ParentID = r.ParentID
			}
			if r.PredecessorID != nil {
				m.PredecessorID = r.PredecessorID
			}
			m.TTL = r.TTL
		}
		index[i] = j
	}
	return batch, index
}

// oldRow is what an upsert needs to know about a stored record.
type oldRow struct {
	modified syncstore.Timestamp
	size     int64
}

// rowWrite is one row of the upsert with the values computed in Go.
type rowWrite struct {
	wbo      *syncstore.WBO
	modified syncstore.Timestamp
	size     int64
	expiry   int64
}

// planRows computes the stored values of each merged record and updates
// coll's aggregates to match; grown is the change in payload bytes.
func planRows(batch []syncstore.WBO, old map[string]oldRow, ts syncstore.Timestamp, now time.Time, coll *collStats) (rows []rowWrite, grown int64) {
	rows = make([]rowWrite, len(batch))
	for i := range batch {
		w := &batch[i]
		o, exists := old[w.ID]
		r := rowWrite{wbo: w, modified: ts, size: o.size, expiry: syncstore.Expiry(w.TTL, now)}
		switch {
		case w.Payload != nil:
			r.size = int64(len(*w.Payload))
		case exists:
			// Metadata only: the record keeps its timestamp and payload.
			r.modified = o.modified
		}
		if !exists {
			coll.count++
		}
		grown += r.size - o.size
		coll.modified = max(coll.modified, r.modified)
		rows[i] = r
	}
	coll.bytes += grown
	return rows, grown
}

const existingSQL = "SELECT id, modified, payload_size FROM wbo"

func (s *Store) existingIDs(ctx context.Context, tx *sql.Tx, userID int64, collID int, ids []string) (map[string]oldRow, error) {
	sel := s.newSelector(existingSQL, userID, collID)
	sel.ids(ids)
	rows, err := s.query(ctx, tx, sel.sql.String(), sel.args...)
	if err != nil {
		return nil, fmt.Errorf("reading existing records: %w", err)
	}
	defer rows.Close()
	old := make(map[string]oldRow, len(ids))
	for rows.Next() {
		var id string
		var o oldRow
		if err := rows.Scan(&id, &o.modified, &o.size); err != nil {
			return nil, fmt.Errorf("reading existing records: %w", err)
		}
		old[id] = o
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading existing records: %w", err)
	}
	return old, nil
}

const wboInsert = "INSERT INTO wbo (user_id, collection_id, id, modified, sortindex, payload, payload_size, parentid, predecessorid, expiry) VALUES "

// upsertSQL is the multi-row merge upsert of k rows. Absent (NULL) fields
// keep the stored values; modified and payload_size come from Go, which
// knows whether the row existed; expiry is always rewritten.
func (s *Store) upsertSQL(k int) string {
	if q, ok := s.upserts[k]; ok {
		return q
	}
	return s.buildUpsertSQL(k)
}

// buildUpsertSQL writes upsertSQL's text.
func (s *Store) buildUpsertSQL(k int) string {
	return s.buildUpsert(k, "", "")
}

// buildUpsert writes the upsert of k rows, count added to its first
// assignment and returning after the last (both empty but for the
// tallying upsert).
func (s *Store) buildUpsert(k int, count, returning string) string {
	ex := s.d.Excluded
	return wboInsert + placeholders(k, 10) + s.d.OnConflict("user_id, collection_id, id") +
		"modified = " + ex("modified") + count +
		", sortindex = COALESCE(" + ex("sortindex") + ", sortindex)" +
		", payload = COALESCE(" + ex("payload") + ", payload)" +
		", payload_size = " + ex("payload_size") +
		", parentid = COALESCE(" + ex("parentid") + ", parentid)" +
		", predecessorid = COALESCE(" + ex("predecessorid") + ", predecessorid)" +
		", expiry = " + ex("expiry") + returning
}

// upsertRows writes rows with as few statements of the prepared shapes as
// the statement size bound allows.
func (s *Store) upsertRows(ctx context.Context, tx *sql.Tx, userID int64, collID int, rows []rowWrite) error {
	payloadLen := func(i int) int { return len(text(rows[i].wbo.Payload)) }
	return s.chunked(len(rows), payloadLen, func(start, k, shape int) error {
		if _, err := s.exec(ctx, tx, s.upsertSQL(shape), s.upsertArgs(userID, collID, rows[start:start+k], shape)...); err != nil {
			return fmt.Errorf("upserting %d records: %w", k, err)
		}
		return nil
	})
}

// allPayloads says every record of batch carries a payload: none is a
// metadata-only update, which keeps its stored timestamp and size.
func allPayloads(batch []syncstore.WBO) bool {
	for i := range batch {
		if batch[i].Payload == nil {
			return false
		}
	}
	return true
}

// upsertTallySQL is upsertSQL that tallies the rows it overwrites
// (Dialect.Tally) and returns the running tallies.
func (s *Store) upsertTallySQL(k int) string {
	if q, ok := s.tallies[k]; ok {
		return q
	}
	return s.buildUpsertTallySQL(k)
}

// buildUpsertTallySQL writes upsertTallySQL's text. Its count sits in
// the first assignment, where the stored row's columns are still the
// stored values.
func (s *Store) buildUpsertTallySQL(k int) string {
	t := s.d.Tally
	return s.buildUpsert(k, t.Count("modified", s.d.Excluded("modified"), "payload_size"), t.Returning)
}

// upsertArgs binds rows for an upsert statement of shape rows.
func (s *Store) upsertArgs(userID int64, collID int, rows []rowWrite, shape int) []any {
	args := make([]any, 0, shape*10)
	// Boxed once: every row repeats them.
	uid, cid := any(userID), any(collID)
	for _, r := range rows {
		w := r.wbo
		args = append(args, uid, cid, s.d.Text(w.ID), int64(r.modified), optInt(w.SortIndex),
			s.optText(w.Payload), r.size, s.optText(w.ParentID), s.optText(w.PredecessorID), r.expiry)
	}
	return pad(args, 10, shape)
}

// upsertTallied is upsertRows through upsertTallySQL: it returns how many
// of rows were stored before the transaction and their payload bytes.
func (s *Store) upsertTallied(ctx context.Context, tx *sql.Tx, userID int64, collID int, rows []rowWrite) (n, b int64, err error) {
	payloadLen := func(i int) int { return len(text(rows[i].wbo.Payload)) }
	err = s.chunked(len(rows), payloadLen, func(start, k, shape int) error {
		res, err := s.query(ctx, tx, s.upsertTallySQL(shape), s.upsertArgs(userID, collID, rows[start:start+k], shape)...)
		if err != nil {
			return fmt.Errorf("upserting %d records: %w", k, err)
		}
		defer res.Close()
		// The tallies only grow over the transaction, and an engine may
		// return the rows in any order: the largest are the totals.
		for res.Next() {
			var rn, rb int64
			if err := res.Scan(&rn, &rb); err != nil {
				return fmt.Errorf("upserting %d records: %w", k, err)
			}
			n, b = max(n, rn), max(b, rb)
		}
		if err := res.Err(); err != nil {
			return fmt.Errorf("upserting %d records: %w", k, err)
		}
		return nil
	})
	return n, b, err
}

// chunked calls write for consecutive runs of n rows, each at most
// Dialect.MaxStatementBytes of size(i) (but at least one row) and cut
// into the statements of chunkSizes: write gets the first row, the row
// count and the statement's shape.
func (s *Store) chunked(n int, size func(i int) int, write func(start, k, shape int) error) error {
	return s.chunkedBy(n, size, s.chunkSizes, write)
}

// chunkedBy is chunked with the statements cut by sizes.
func (s *Store) chunkedBy(n int, size func(i int) int, sizes func(n int) (rows, shapes []int), write func(start, k, shape int) error) error {
	for start := 0; start < n; {
		end, bytes := start, 0
		for end < n && (end == start || s.d.MaxStatementBytes <= 0 || bytes+size(end) <= s.d.MaxStatementBytes) {
			bytes += size(end)
			end++
		}
		rows, shapes := sizes(end - start)
		for i, k := range rows {
			if err := write(start, k, shapes[i]); err != nil {
				return err
			}
			start += k
		}
	}
	return nil
}

// pad repeats the last width arguments of args until they hold shape
// rows.
func pad(args []any, width, shape int) []any {
	last := args[len(args)-width:]
	for len(args) < shape*width {
		args = append(args, last...)
	}
	return args
}

func text(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// optText binds an optional text value; nil is NULL.
func (s *Store) optText(p *string) any {
	if p == nil {
		return nil
	}
	return s.d.Text(*p)
}

// optInt binds an optional integer; nil is NULL.
func optInt(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

// checkRecordLimit refuses a write that added records to coll (which held
// before of them) when the user then stores more than limit records: the
// transaction rolls back, so nothing of the batch is kept.
func checkRecordLimit(l *userLock, coll collStats, before, limit int64) error {
	if limit <= 0 || coll.count <= before {
		return nil
	}
	total := coll.count
	for _, c := range l.colls {
		if c.id != coll.id {
			total += c.count
		}
	}
	if total > limit {
		return fmt.Errorf("user would store %d records: %w", total, syncstore.ErrOverQuota)
	}
	return nil
}

const userCollectionCountSQL = "SELECT COUNT(*) FROM user_collections WHERE user_id = ?"

// writableCollection is EnsureCollection for a write of userID, which
// refuses, before the name is created, a name no user holds yet when the
// user already holds limit collections: otherwise every refused attempt
// would still leave its name behind, in the collections table and in
// every instance's cache. Names that exist are checked in the write
// transaction.
func (s *Store) writableCollection(ctx context.Context, userID int64, name string, limit int) (int, error) {
	id, ok, err := s.collectionID(ctx, name)
	if err != nil || ok {
		return id, err
	}
	if limit > 0 {
		var n int
		if err := s.readRow(ctx, userCollectionCountSQL, userID).Scan(&n); err != nil {
			return 0, fmt.Errorf("counting the collections of user %d: %w", userID, err)
		}
		if n >= limit {
			return 0, fmt.Errorf("user %d holds %d collections: %w", userID, n, syncstore.ErrOverQuota)
		}
	}
	return s.EnsureCollection(ctx, name)
}
