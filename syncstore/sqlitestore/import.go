package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/syncserver/syncserver/syncstore"
)

// The migrate tool's importer (its NativeStore interface; the
// compile-time check is in migrate's tests): writes that keep every
// stored value as given instead of assigning timestamps.

// importChunk bounds the rows of one multi-row statement: 10 parameters a
// row stays far below SQLite's 32,766 variables.
const importChunk = 500

// ImportUser creates or updates a user for the migrate tool and raises its
// last_modified to at least lastModified.
func (s *Store) ImportUser(ctx context.Context, u syncstore.User, lastModified syncstore.Timestamp) (*syncstore.User, error) {
	out := u
	out.Name = syncstore.NormalizeUsername(u.Name)
	err := s.writer.QueryRowContext(ctx, `INSERT INTO users (name, password_hash, email, created, last_modified) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, email = excluded.email,
			last_modified = MAX(last_modified, excluded.last_modified)
		RETURNING id`, out.Name, out.PasswordHash, out.Email, s.clock().Unix(), int64(lastModified)).Scan(&out.ID)
	if err != nil {
		return nil, fmt.Errorf("importing user %q: %w", out.Name, err)
	}
	return &out, nil
}

// importTx runs fn in one write transaction for the user and records
// collections it created in the cache after the commit.
func (s *Store) importTx(ctx context.Context, userID int64, fn func(tx *sql.Tx, created *[]createdCollection) error) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var one int
	if err := tx.QueryRowContext(ctx, `SELECT 1 FROM users WHERE id = ?`, userID).Scan(&one); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("user %d: %w", userID, syncstore.ErrNotFound)
		}
		return err
	}
	var created []createdCollection
	if err := fn(tx, &created); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	for _, c := range created {
		s.colls.Put(c.name, c.id)
	}
	return nil
}

// ReplaceRecords writes recs exactly as given (migrate.NativeStore).
func (s *Store) ReplaceRecords(ctx context.Context, userID int64, collection string, recs []syncstore.StoredRecord) error {
	if len(recs) == 0 {
		return nil
	}
	if !syncstore.ValidCollection(collection) {
		return fmt.Errorf("importing into collection %q: invalid name", collection)
	}
	err := s.importTx(ctx, userID, func(tx *sql.Tx, created *[]createdCollection) error {
		collID, ok, err := s.collectionID(ctx, tx, collection)
		if err != nil {
			return err
		}
		if !ok {
			err = tx.QueryRowContext(ctx, `INSERT INTO collections (id, name)
				SELECT MAX(COALESCE(MAX(id), 0) + 1, ?), ? FROM collections RETURNING id`,
				syncstore.FirstCustomCollectionID, collection).Scan(&collID)
			if err != nil {
				return fmt.Errorf("creating collection: %w", err)
			}
			*created = append(*created, createdCollection{collection, collID})
		}
		var newest syncstore.Timestamp
		for start := 0; start < len(recs); start += importChunk {
			chunk := recs[start:min(start+importChunk, len(recs))]
			var b strings.Builder
			b.WriteString(`INSERT INTO wbo (user_id, collection_id, id, modified, sortindex, payload, payload_size, parentid, predecessorid, expiry) VALUES `)
			args := make([]any, 0, len(chunk)*10)
			for i := range chunk {
				r := &chunk[i]
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString("(?,?,?,?,?,?,?,?,?,?)")
				args = append(args, userID, collID, r.ID, int64(r.Modified), r.SortIndex, r.Payload, r.PayloadSize(), r.ParentID, r.PredecessorID, r.Expiry)
				newest = max(newest, r.Modified)
			}
			b.WriteString(` ON CONFLICT (user_id, collection_id, id) DO UPDATE SET modified = excluded.modified, sortindex = excluded.sortindex,
				payload = excluded.payload, payload_size = excluded.payload_size, parentid = excluded.parentid,
				predecessorid = excluded.predecessorid, expiry = excluded.expiry`)
			if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
				return fmt.Errorf("writing records: %w", err)
			}
		}
		if err := s.recount(ctx, tx, userID, collID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE users SET last_modified = MAX(last_modified, ?) WHERE id = ?`, int64(newest), userID)
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
	err := s.importTx(ctx, userID, func(tx *sql.Tx, _ *[]createdCollection) error {
		collID, ok, err := s.collectionID(ctx, tx, collection)
		if err != nil || !ok {
			return err
		}
		for start := 0; start < len(ids); start += importChunk {
			chunk := ids[start:min(start+importChunk, len(ids))]
			args := make([]any, 0, len(chunk)+2)
			args = append(args, userID, collID)
			for _, id := range chunk {
				args = append(args, id)
			}
			q := `DELETE FROM wbo WHERE user_id = ? AND collection_id = ? AND id IN (?` + strings.Repeat(",?", len(chunk)-1) + `)`
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return err
			}
		}
		return s.recount(ctx, tx, userID, collID)
	})
	if err != nil {
		return fmt.Errorf("deleting %d records of %q of user %d: %w", len(ids), collection, userID, err)
	}
	return nil
}

// ExportRecords streams every record of the user, expired ones included,
// by collection name then id (migrate.NativeStore).
func (s *Store) ExportRecords(ctx context.Context, userID int64, fn func(collection string, r *syncstore.StoredRecord) error) error {
	colls, err := s.userCollections(ctx, userID)
	if err != nil {
		return fmt.Errorf("exporting records of user %d: %w", userID, err)
	}
	for _, c := range colls {
		if err := s.exportCollection(ctx, userID, c.id, c.name, fn); err != nil {
			return fmt.Errorf("exporting %q of user %d: %w", c.name, userID, err)
		}
	}
	return nil
}

// userCollections lists the collections holding rows of the user, by name.
func (s *Store) userCollections(ctx context.Context, userID int64) ([]createdCollection, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT c.id, c.name FROM collections c
		WHERE c.id IN (SELECT DISTINCT collection_id FROM wbo WHERE user_id = ?) ORDER BY c.name`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []createdCollection
	for rows.Next() {
		var c createdCollection
		if err := rows.Scan(&c.id, &c.name); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *Store) exportCollection(ctx context.Context, userID int64, collID int, name string, fn func(string, *syncstore.StoredRecord) error) error {
	rows, err := s.reader.QueryContext(ctx, `SELECT id, modified, sortindex, payload, parentid, predecessorid, expiry
		FROM wbo WHERE user_id = ? AND collection_id = ? ORDER BY id`, userID, collID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		r := &syncstore.StoredRecord{}
		var modified int64
		if err := rows.Scan(&r.ID, &modified, &r.SortIndex, &r.Payload, &r.ParentID, &r.PredecessorID, &r.Expiry); err != nil {
			return err
		}
		r.Modified = syncstore.Timestamp(modified)
		if err := fn(name, r); err != nil {
			return err
		}
	}
	return rows.Err()
}
