package sqlitestore

import (
	"context"
	"fmt"
	"strings"

	"github.com/syncserver/syncserver/syncstore"
)

// chunkRows bounds the rows per statement, well under SQLite's limit of
// 32766 bound parameters (10 per upserted row).
const chunkRows = 500

// upsertRow is the merged input for one id of a PutRecords request.
type upsertRow struct {
	w syncstore.WBO
	// payload: some duplicate carried a payload, so modified moves.
	payload bool
}

type existingRow struct {
	modified syncstore.Timestamp
	size     int64
}

// PutRecords upserts recs with merge semantics (see syncstore.Store): one
// SELECT of the existing rows, one multi-row INSERT … ON CONFLICT DO
// UPDATE, one statistics upsert.
func (s *Store) PutRecords(ctx context.Context, userID int64, collection string, recs []syncstore.WBO, opt syncstore.WriteOptions) (*syncstore.WriteResult, error) {
	res := &syncstore.WriteResult{RecordModified: make([]syncstore.Timestamp, len(recs))}
	ts, err := s.write(ctx, userID, func(ctx context.Context, w *writeTx) error {
		collID, found, err := w.s.collectionID(ctx, w.tx, collection)
		if err != nil {
			return err
		}
		if found {
			if err := w.checkUnmodified(ctx, collID, opt.IfUnmodifiedSince); err != nil {
				return err
			}
		}
		used, err := w.usedBytes(ctx)
		if err != nil {
			return err
		}
		if err := w.checkQuota(ctx, used, opt.QuotaBytes); err != nil {
			return err
		}
		res.UsedBytes = used
		if len(recs) == 0 {
			return nil
		}
		if !found {
			if collID, _, err = w.ensureCollection(ctx, collection); err != nil {
				return err
			}
		}

		rows, order := mergeDuplicates(recs)
		existing := map[string]existingRow{}
		if found {
			if existing, err = w.existing(ctx, collID, order); err != nil {
				return err
			}
		}
		var (
			added, delta int64
			stamped      bool
		)
		for _, id := range order {
			r := rows[id]
			old, ok := existing[id]
			switch {
			case !ok:
				added++
				delta += r.w.PayloadSize()
				stamped = true
			case r.payload:
				delta += r.w.PayloadSize() - old.size
				stamped = true
			}
		}
		for i, rec := range recs {
			if old, ok := existing[rec.ID]; ok && !rows[rec.ID].payload {
				res.RecordModified[i] = old.modified
			} else {
				res.RecordModified[i] = w.ts
			}
		}
		if err := w.upsert(ctx, collID, rows, order); err != nil {
			return err
		}
		var modified syncstore.Timestamp
		if stamped {
			modified = w.ts
		}
		_, err = w.tx.ExecContext(ctx, `INSERT INTO user_collections (user_id, collection_id, modified, record_count, total_bytes)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (user_id, collection_id) DO UPDATE SET
				modified = MAX(modified, excluded.modified),
				record_count = record_count + excluded.record_count,
				total_bytes = total_bytes + excluded.total_bytes`,
			w.userID, collID, int64(modified), added, delta)
		if err != nil {
			return fmt.Errorf("updating statistics of %q: %w", collection, err)
		}
		res.UsedBytes = used + delta
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("writing %d records to %q of user %d: %w", len(recs), collection, userID, err)
	}
	res.Modified = ts
	return res, nil
}

// mergeDuplicates folds records with the same id as if they were applied
// one after the other: later non-nil fields win, and the TTL is the last
// one's (every write rewrites it). order keeps first appearances.
func mergeDuplicates(recs []syncstore.WBO) (map[string]*upsertRow, []string) {
	rows := make(map[string]*upsertRow, len(recs))
	order := make([]string, 0, len(recs))
	for _, rec := range recs {
		r, ok := rows[rec.ID]
		if !ok {
			r = &upsertRow{w: syncstore.WBO{ID: rec.ID}}
			rows[rec.ID] = r
			order = append(order, rec.ID)
		}
		if rec.Payload != nil {
			r.w.Payload = rec.Payload
			r.payload = true
		}
		if rec.SortIndex != nil {
			r.w.SortIndex = rec.SortIndex
		}
		if rec.ParentID != nil {
			r.w.ParentID = rec.ParentID
		}
		if rec.PredecessorID != nil {
			r.w.PredecessorID = rec.PredecessorID
		}
		r.w.TTL = rec.TTL
	}
	return rows, order
}

// existing reads modified and payload_size of the rows among ids that are
// already stored, expired ones included (they are updated in place).
func (w *writeTx) existing(ctx context.Context, collID int, ids []string) (map[string]existingRow, error) {
	found := make(map[string]existingRow, len(ids))
	for start := 0; start < len(ids); start += chunkRows {
		chunk := ids[start:min(start+chunkRows, len(ids))]
		var b strings.Builder
		b.WriteString(`SELECT id, modified, payload_size FROM wbo WHERE user_id = ? AND collection_id = ? AND id IN (`)
		args := make([]any, 0, len(chunk)+2)
		args = append(args, w.userID, collID)
		for i, id := range chunk {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('?')
			args = append(args, id)
		}
		b.WriteByte(')')
		rows, err := w.tx.QueryContext(ctx, b.String(), args...)
		if err != nil {
			return nil, fmt.Errorf("reading existing records: %w", err)
		}
		for rows.Next() {
			var id string
			var modified, size int64
			if err := rows.Scan(&id, &modified, &size); err != nil {
				rows.Close()
				return nil, fmt.Errorf("reading existing records: %w", err)
			}
			found[id] = existingRow{syncstore.Timestamp(modified), size}
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return nil, fmt.Errorf("reading existing records: %w", err)
		}
		rows.Close()
	}
	return found, nil
}

// upsertHead and upsertTail frame the multi-row upsert. On conflict every
// field the request left out (NULL) keeps its stored value; modified and
// payload_size move only with a payload; expiry is always rewritten.
const (
	upsertHead   = `INSERT INTO wbo (user_id, collection_id, id, modified, sortindex, payload, payload_size, parentid, predecessorid, expiry) VALUES `
	upsertRowSQL = `(?,?,?,?,?,?,?,?,?,?)`
	upsertTail   = ` ON CONFLICT (user_id, collection_id, id) DO UPDATE SET
		modified = CASE WHEN excluded.payload IS NULL THEN wbo.modified ELSE excluded.modified END,
		payload_size = CASE WHEN excluded.payload IS NULL THEN wbo.payload_size ELSE excluded.payload_size END,
		payload = COALESCE(excluded.payload, wbo.payload),
		sortindex = COALESCE(excluded.sortindex, wbo.sortindex),
		parentid = COALESCE(excluded.parentid, wbo.parentid),
		predecessorid = COALESCE(excluded.predecessorid, wbo.predecessorid),
		expiry = excluded.expiry`
)

func (w *writeTx) upsert(ctx context.Context, collID int, rows map[string]*upsertRow, order []string) error {
	for start := 0; start < len(order); start += chunkRows {
		chunk := order[start:min(start+chunkRows, len(order))]
		var b strings.Builder
		b.Grow(len(upsertHead) + len(chunk)*(len(upsertRowSQL)+1) + len(upsertTail))
		b.WriteString(upsertHead)
		args := make([]any, 0, len(chunk)*10)
		for i, id := range chunk {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(upsertRowSQL)
			r := rows[id].w
			args = append(args, w.userID, collID, id, int64(w.ts), r.SortIndex, r.Payload, r.PayloadSize(),
				r.ParentID, r.PredecessorID, syncstore.Expiry(r.TTL, w.now))
		}
		b.WriteString(upsertTail)
		if _, err := w.tx.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("upserting records: %w", err)
		}
	}
	return nil
}
