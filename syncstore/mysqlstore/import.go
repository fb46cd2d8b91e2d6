package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/syncserver/syncserver/syncstore"
)

// The migrate tool's importer (its NativeStore interface; the
// compile-time check is in migrate's tests): writes that keep every
// stored value as given instead of assigning timestamps.

// Bounds of one multi-row import statement, well under the default 16 MiB
// max_allowed_packet.
const (
	importRows  = 1000
	importBytes = 4 << 20
)

// ImportUser creates or updates a user for the migrate tool and raises its
// last_modified to at least lastModified.
func (s *Store) ImportUser(ctx context.Context, u syncstore.User, lastModified syncstore.Timestamp) (*syncstore.User, error) {
	out := u
	out.Name = syncstore.NormalizeUsername(u.Name)
	// id = LAST_INSERT_ID(id) makes LastInsertId report the existing row's
	// id on the update path too.
	res, err := s.db.ExecContext(ctx, `INSERT INTO users (name, password_hash, email, created, last_modified) VALUES (?, ?, ?, ?, ?)
		ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id), password_hash = VALUES(password_hash), email = VALUES(email),
			last_modified = GREATEST(last_modified, VALUES(last_modified))`,
		out.Name, out.PasswordHash, out.Email, s.now().Unix(), int64(lastModified))
	if err != nil {
		return nil, fmt.Errorf("importing user %q: %w", out.Name, err)
	}
	if out.ID, err = res.LastInsertId(); err != nil {
		return nil, fmt.Errorf("importing user %q: %w", out.Name, err)
	}
	return &out, nil
}

// lockImportUser locks the user row like every write transaction.
func lockImportUser(ctx context.Context, tx *sql.Tx, userID int64) error {
	var one int
	err := tx.QueryRowContext(ctx, "SELECT 1 FROM users WHERE id = ? FOR UPDATE", userID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return errUserMissing(userID)
	}
	return err
}

// recountCollection rebuilds a collection's aggregates from its rows, or
// removes them when it is empty.
func recountCollection(ctx context.Context, tx *sql.Tx, userID int64, collID int) error {
	var c collStats
	var newest sql.NullInt64
	err := tx.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(payload_size), 0), MAX(modified) FROM wbo WHERE user_id = ? AND collection_id = ?",
		userID, collID).Scan(&c.count, &c.bytes, &newest)
	if err != nil {
		return fmt.Errorf("recounting collection %d: %w", collID, err)
	}
	if c.count == 0 {
		_, err := tx.ExecContext(ctx, "DELETE FROM user_collections WHERE user_id = ? AND collection_id = ?", userID, collID)
		return err
	}
	c.modified = syncstore.Timestamp(newest.Int64)
	return saveCollection(ctx, tx, userID, collID, c)
}

func bytesOrNil(s *string) any {
	if s == nil {
		return nil
	}
	return []byte(*s)
}

// ReplaceRecords writes recs exactly as given (migrate.NativeStore).
func (s *Store) ReplaceRecords(ctx context.Context, userID int64, collection string, recs []syncstore.StoredRecord) error {
	if len(recs) == 0 {
		return nil
	}
	collID, err := s.ensureCollection(ctx, collection)
	if err != nil {
		return fmt.Errorf("importing into %q of user %d: %w", collection, userID, err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := lockImportUser(ctx, tx, userID); err != nil {
			return err
		}
		var newest syncstore.Timestamp
		var b strings.Builder
		args := make([]any, 0, min(len(recs), importRows)*10)
		rows, size := 0, 0
		flush := func() error {
			if rows == 0 {
				return nil
			}
			b.WriteString(` ON DUPLICATE KEY UPDATE modified = VALUES(modified), sortindex = VALUES(sortindex), payload = VALUES(payload),
				payload_size = VALUES(payload_size), parentid = VALUES(parentid), predecessorid = VALUES(predecessorid), expiry = VALUES(expiry)`)
			_, err := tx.ExecContext(ctx, b.String(), args...)
			b.Reset()
			clear(args)
			args, rows, size = args[:0], 0, 0
			return err
		}
		for i := range recs {
			r := &recs[i]
			if rows == 0 {
				b.WriteString("INSERT INTO wbo (user_id, collection_id, id, modified, sortindex, payload, payload_size, parentid, predecessorid, expiry) VALUES ")
			} else {
				b.WriteByte(',')
			}
			b.WriteString("(?,?,?,?,?,?,?,?,?,?)")
			var sortIndex any
			if r.SortIndex != nil {
				sortIndex = *r.SortIndex
			}
			args = append(args, userID, collID, []byte(r.ID), int64(r.Modified), sortIndex, bytesOrNil(r.Payload), r.PayloadSize(),
				bytesOrNil(r.ParentID), bytesOrNil(r.PredecessorID), r.Expiry)
			newest = max(newest, r.Modified)
			rows++
			size += len(r.ID) + int(r.PayloadSize())
			if rows >= importRows || size >= importBytes {
				if err := flush(); err != nil {
					return fmt.Errorf("writing records: %w", err)
				}
			}
		}
		if err := flush(); err != nil {
			return fmt.Errorf("writing records: %w", err)
		}
		if err := recountCollection(ctx, tx, userID, collID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "UPDATE users SET last_modified = GREATEST(last_modified, ?) WHERE id = ?", int64(newest), userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("importing %d records into %q of user %d: %w", len(recs), collection, userID, err)
	}
	return nil
}

// DeleteRecordIDs deletes records by id (migrate.NativeStore).
func (s *Store) DeleteRecordIDs(ctx context.Context, userID int64, collection string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	collID, ok, err := s.collectionID(ctx, collection)
	if err != nil || !ok {
		return err
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := lockImportUser(ctx, tx, userID); err != nil {
			return err
		}
		for start := 0; start < len(ids); start += importRows {
			chunk := ids[start:min(start+importRows, len(ids))]
			args := make([]any, 0, len(chunk)+2)
			args = append(args, userID, collID)
			for _, id := range chunk {
				args = append(args, []byte(id))
			}
			q := "DELETE FROM wbo WHERE user_id = ? AND collection_id = ? AND id IN (?" + strings.Repeat(",?", len(chunk)-1) + ")"
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return err
			}
		}
		return recountCollection(ctx, tx, userID, collID)
	})
	if err != nil {
		return fmt.Errorf("deleting %d records of %q of user %d: %w", len(ids), collection, userID, err)
	}
	return nil
}

// ExportRecords streams every record of the user, expired ones included,
// by collection name then id (migrate.NativeStore).
func (s *Store) ExportRecords(ctx context.Context, userID int64, fn func(collection string, r *syncstore.StoredRecord) error) error {
	type coll struct {
		id   int
		name string
	}
	rows, err := s.db.QueryContext(ctx, `SELECT c.id, c.name FROM collections c
		WHERE c.id IN (SELECT DISTINCT collection_id FROM wbo WHERE user_id = ?)`, userID)
	if err != nil {
		return fmt.Errorf("exporting records of user %d: %w", userID, err)
	}
	var colls []coll
	for rows.Next() {
		var c coll
		if err := rows.Scan(&c.id, &c.name); err != nil {
			rows.Close()
			return fmt.Errorf("exporting records of user %d: %w", userID, err)
		}
		colls = append(colls, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("exporting records of user %d: %w", userID, err)
	}
	sort.Slice(colls, func(i, j int) bool { return colls[i].name < colls[j].name })
	for _, c := range colls {
		if err := s.exportCollection(ctx, userID, c.id, c.name, fn); err != nil {
			return fmt.Errorf("exporting %q of user %d: %w", c.name, userID, err)
		}
	}
	return nil
}

// nullText scans a nullable binary column into a *string.
type nullText struct{ p *string }

func (n *nullText) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		n.p = nil
	case []byte:
		s := string(v)
		n.p = &s
	case string:
		n.p = &v
	default:
		return fmt.Errorf("unexpected %T for a text column", src)
	}
	return nil
}

func (s *Store) exportCollection(ctx context.Context, userID int64, collID int, name string, fn func(string, *syncstore.StoredRecord) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT id, modified, sortindex, payload, parentid, predecessorid, expiry
		FROM wbo WHERE user_id = ? AND collection_id = ? ORDER BY id`, userID, collID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		r := &syncstore.StoredRecord{}
		var modified int64
		var sortIndex sql.NullInt64
		var payload, parent, pred nullText
		if err := rows.Scan(&r.ID, &modified, &sortIndex, &payload, &parent, &pred, &r.Expiry); err != nil {
			return err
		}
		r.Modified = syncstore.Timestamp(modified)
		if sortIndex.Valid {
			v := sortIndex.Int64
			r.SortIndex = &v
		}
		r.Payload, r.ParentID, r.PredecessorID = payload.p, parent.p, pred.p
		if err := fn(name, r); err != nil {
			return err
		}
	}
	return rows.Err()
}
