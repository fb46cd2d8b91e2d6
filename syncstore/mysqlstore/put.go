package mysqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// PutRecords upserts recs in one transaction: lock the user (and read the
// aggregates), one SELECT of the existing rows, one multi-row upsert, one
// aggregate upsert, one timestamp update, commit.
func (s *Store) PutRecords(ctx context.Context, userID int64, collection string, recs []syncstore.WBO, opt syncstore.WriteOptions) (*syncstore.WriteResult, error) {
	collID, err := s.ensureCollection(ctx, collection)
	if err != nil {
		return nil, err
	}
	batch, index := mergeBatch(recs)
	var res *syncstore.WriteResult
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		lock, err := lockUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		ts := nextTimestamp(now, lock.lastModified)
		if err := checkUnmodified(lock, collID, true, opt.IfUnmodifiedSince); err != nil {
			return err
		}
		used := lock.usedBytes()
		if opt.QuotaBytes > 0 && used >= opt.QuotaBytes {
			// The aggregates count expired rows; only refuse when the live
			// bytes are over quota too.
			live, err := liveBytes(ctx, tx, userID, now)
			if err != nil {
				return err
			}
			if live >= opt.QuotaBytes {
				return fmt.Errorf("user %d stores %d bytes: %w", userID, live, syncstore.ErrOverQuota)
			}
		}

		coll, hasColl := lock.collection(collID)
		written := make([]syncstore.Timestamp, len(batch))
		if len(batch) > 0 {
			var old map[string]oldRow
			if hasColl {
				// A collection without an aggregate row holds no rows.
				if old, err = existingRows(ctx, tx, userID, collID, batch); err != nil {
					return err
				}
			}
			rows, grown := planRows(batch, old, ts, now, &coll)
			for i, r := range rows {
				written[i] = r.modified
			}
			used += grown
			if err := upsertRows(ctx, tx, userID, collID, rows, s.maxUpsertPayload); err != nil {
				return err
			}
			if err := saveCollection(ctx, tx, userID, collID, coll); err != nil {
				return err
			}
		}
		if err := setLastModified(ctx, tx, userID, ts); err != nil {
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

// oldRow is what an upsert needs to know about a stored record.
type oldRow struct {
	modified syncstore.Timestamp
	size     int64
}

// existingRows reads the stored rows among batch's ids in one statement.
// The user lock is held, so they cannot change before the upsert.
func existingRows(ctx context.Context, tx *sql.Tx, userID int64, collID int, batch []syncstore.WBO) (map[string]oldRow, error) {
	ids := make([]string, len(batch))
	for i := range batch {
		ids[i] = batch[i].ID
	}
	sel := newSelector("SELECT id, modified, payload_size FROM wbo", userID, collID)
	sel.in("id", ids)
	rows, err := tx.QueryContext(ctx, sel.sql.String(), sel.args...)
	if err != nil {
		return nil, fmt.Errorf("reading existing records: %w", err)
	}
	defer rows.Close()
	old := make(map[string]oldRow, len(batch))
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

// rowWrite is one row of the upsert with the values computed in Go.
type rowWrite struct {
	wbo      *syncstore.WBO
	modified syncstore.Timestamp
	size     int64
	expiry   int64
}

const (
	upsertHead = "INSERT INTO wbo (user_id, collection_id, id, modified, sortindex, payload, payload_size, parentid, predecessorid, expiry) VALUES "
	// Absent (NULL) fields keep the stored values; modified and
	// payload_size come from Go, which knows whether the row existed.
	upsertTail = " ON DUPLICATE KEY UPDATE modified = VALUES(modified)," +
		" sortindex = COALESCE(VALUES(sortindex), sortindex)," +
		" payload = COALESCE(VALUES(payload), payload)," +
		" payload_size = VALUES(payload_size)," +
		" parentid = COALESCE(VALUES(parentid), parentid)," +
		" predecessorid = COALESCE(VALUES(predecessorid), predecessorid)," +
		" expiry = VALUES(expiry)"
	upsertRow = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

	// maxUpsertPayload caps the payload bytes of one statement; Open
	// lowers it to a third of the server's max_allowed_packet (escaping
	// can double the bytes). Protocol-sized batches (1 MiB) fit in one
	// statement on any server with the default packet size or more.
	maxUpsertPayload = 4 << 20
)

// upsertRows writes rows with as few multi-row statements as the packet
// size allows: one for any batch the protocol accepts.
func upsertRows(ctx context.Context, tx *sql.Tx, userID int64, collID int, rows []rowWrite, maxPayload int) error {
	for len(rows) > 0 {
		n, bytes := 0, 0
		for n < len(rows) && (n == 0 || bytes+len(payloadOf(rows[n].wbo)) <= maxPayload) {
			bytes += len(payloadOf(rows[n].wbo))
			n++
		}
		if err := upsertChunk(ctx, tx, userID, collID, rows[:n]); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

func payloadOf(w *syncstore.WBO) string {
	if w.Payload == nil {
		return ""
	}
	return *w.Payload
}

func upsertChunk(ctx context.Context, tx *sql.Tx, userID int64, collID int, rows []rowWrite) error {
	var q strings.Builder
	q.Grow(len(upsertHead) + len(rows)*(len(upsertRow)+2) + len(upsertTail))
	q.WriteString(upsertHead)
	args := make([]any, 0, len(rows)*10)
	// Boxed once: every row repeats them.
	uid, cid := any(userID), any(collID)
	for i, r := range rows {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(upsertRow)
		w := r.wbo
		args = append(args, uid, cid, w.ID, int64(r.modified), w.SortIndex,
			optBytes(w.Payload), r.size, optBytes(w.ParentID), optBytes(w.PredecessorID), r.expiry)
	}
	q.WriteString(upsertTail)
	if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
		return fmt.Errorf("upserting %d records: %w", len(rows), err)
	}
	return nil
}

// optBytes passes a text value for a binary column as bytes, so the server
// stores it as given instead of validating it as utf8mb4 text; nil is
// NULL.
func optBytes(s *string) any {
	if s == nil {
		return nil
	}
	return []byte(*s)
}

// saveCollection writes the aggregates of a collection that holds rows.
func saveCollection(ctx context.Context, tx *sql.Tx, userID int64, collID int, c collStats) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO user_collections (user_id, collection_id, modified, record_count, total_bytes)
VALUES (?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE
modified = VALUES(modified), record_count = VALUES(record_count), total_bytes = VALUES(total_bytes)`,
		userID, collID, int64(c.modified), c.count, c.bytes)
	if err != nil {
		return fmt.Errorf("updating collection aggregates: %w", err)
	}
	return nil
}

// liveBytes sums the user's unexpired payload bytes.
func liveBytes(ctx context.Context, tx *sql.Tx, userID int64, now time.Time) (int64, error) {
	var n int64
	err := tx.QueryRowContext(ctx,
		"SELECT COALESCE(SUM(payload_size), 0) FROM wbo WHERE user_id = ? AND expiry > ?", userID, now.Unix()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("summing live bytes of user %d: %w", userID, err)
	}
	return n, nil
}
