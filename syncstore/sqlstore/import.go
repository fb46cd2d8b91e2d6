package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"sort"

	"github.com/syncserver/syncserver/syncstore"
)

// The migrate tool's importer and exporter (syncstore.BulkStore): writes
// that keep every stored value as given instead of assigning timestamps.

// ImportUser creates or updates a user for the migrate tool and raises its
// last_modified to at least lastModified.
func (s *Store) ImportUser(ctx context.Context, u syncstore.User, lastModified syncstore.Timestamp) (*syncstore.User, error) {
	out := u
	out.Name = syncstore.NormalizeUsername(u.Name)
	if !syncstore.ValidUsername(out.Name) {
		return nil, fmt.Errorf("importing user %q: invalid name", u.Name)
	}
	ex := s.d.Excluded
	_, err := s.write.ExecContext(ctx, "INSERT INTO users (name, password_hash, email, created, last_modified) VALUES (?, ?, ?, ?, ?)"+
		s.d.OnConflict("name")+"password_hash = "+ex("password_hash")+", email = "+ex("email")+
		", last_modified = "+s.d.Greatest+"(last_modified, "+ex("last_modified")+")",
		out.Name, out.PasswordHash, out.Email, s.clock().Unix(), int64(lastModified))
	if err != nil {
		return nil, fmt.Errorf("importing user %q: %w", out.Name, err)
	}
	// Read on the write pool: SQLite's readers may not see the row yet.
	if err := s.write.QueryRowContext(ctx, "SELECT id FROM users WHERE name = ?", out.Name).Scan(&out.ID); err != nil {
		return nil, fmt.Errorf("importing user %q: %w", out.Name, err)
	}
	return &out, nil
}

// replaceSQL is the multi-row upsert of k rows that overwrites every
// column, NULLs included.
func (s *Store) replaceSQL(k int) string {
	ex := s.d.Excluded
	set := ""
	for i, col := range []string{"modified", "sortindex", "payload", "payload_size", "parentid", "predecessorid", "expiry"} {
		if i > 0 {
			set += ", "
		}
		set += col + " = " + ex(col)
	}
	return wboInsert + placeholders(k, 10) + s.d.OnConflict("user_id, collection_id, id") + set
}

// ReplaceRecords writes recs exactly as given (syncstore.BulkStore). The
// aggregates are brought up to date from the rows replaced, without
// recounting the collection.
func (s *Store) ReplaceRecords(ctx context.Context, userID int64, collection string, recs []syncstore.StoredRecord) error {
	return s.importRecords(ctx, userID, collection, recs, false)
}

// InsertRecords writes recs that the collection does not hold yet
// (syncstore.BulkStore): plain INSERTs, with no read of the rows they
// would replace. That read is an index look-up per id, a tenth of
// MariaDB's time in a migration's bulk copy, for rows a fresh copy never
// finds. The primary key still checks the premise: a held record fails
// its INSERT as a duplicate key, and the transaction is rolled back whole.
func (s *Store) InsertRecords(ctx context.Context, userID int64, collection string, recs []syncstore.StoredRecord) error {
	return s.importRecords(ctx, userID, collection, recs, true)
}

// insertSQL is InsertRecords' plain INSERT of k rows.
func insertSQL(k int) string {
	return wboInsert + placeholders(k, 10)
}

func (s *Store) importRecords(ctx context.Context, userID int64, collection string, recs []syncstore.StoredRecord, fresh bool) error {
	if len(recs) == 0 {
		return nil
	}
	verb := "importing"
	if fresh {
		verb = "inserting"
	}
	collID, err := s.EnsureCollection(ctx, collection)
	if err != nil {
		return fmt.Errorf("%s into %q of user %d: %w", verb, collection, userID, err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		lock, err := s.lockUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		coll, has := lock.collection(collID)
		coll.id = collID
		var old map[string]oldRow
		if has && !fresh {
			ids := make([]string, len(recs))
			for i := range recs {
				ids[i] = recs[i].ID
			}
			if old, err = s.existingIDs(ctx, tx, userID, collID, ids); err != nil {
				return err
			}
		}
		var newest syncstore.Timestamp
		lowered := false
		for i := range recs {
			r := &recs[i]
			newest = max(newest, r.Modified)
			o, exists := old[r.ID]
			if !exists {
				coll.count++
				coll.bytes += r.PayloadSize()
				continue
			}
			coll.bytes += r.PayloadSize() - o.size
			// Overwriting the newest row with an older one may lower
			// the collection's timestamp.
			lowered = lowered || (o.modified >= coll.modified && r.Modified < o.modified)
		}
		coll.modified = max(coll.modified, newest)
		payloadLen := func(i int) int { return int(recs[i].PayloadSize()) + len(recs[i].ID) }
		// A plain INSERT cannot be padded with a repeated row: it
		// would fail as a duplicate.
		sizes, query := s.chunkSizes, s.replaceSQL
		if fresh {
			sizes, query = s.exactChunkSizes, insertSQL
		}
		// Boxed once, not once per row (an allocation each).
		uid, cid := any(userID), any(collID)
		err = s.chunkedBy(len(recs), payloadLen, sizes, func(start, k, shape int) error {
			args := make([]any, 0, shape*10)
			for i := range recs[start : start+k] {
				r := &recs[start+i]
				args = append(args, uid, cid, s.d.Text(r.ID), int64(r.Modified), optInt(r.SortIndex),
					s.optText(r.Payload), r.PayloadSize(), s.optText(r.ParentID), s.optText(r.PredecessorID), r.Expiry)
			}
			if _, err := s.exec(ctx, tx, query(shape), pad(args, 10, shape)...); err != nil {
				if fresh && s.d.IsDuplicate(err) {
					err = fmt.Errorf("%w: %w", syncstore.ErrRecordExists, err)
				}
				return fmt.Errorf("writing %d records: %w", k, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if lowered {
			if err := s.queryRow(ctx, tx, newestSQL, userID, collID).Scan(&coll.modified); err != nil {
				return fmt.Errorf("finding the newest record: %w", err)
			}
		}
		// users.last_modified rises to the newest record: computed
		// here from the locked row, so that where the engine has
		// SaveAndStamp it goes with the aggregates in one statement, and
		// not written at all when it is already as new.
		var stamp syncstore.Timestamp
		if newest > lock.lastModified {
			stamp = newest
		}
		return s.saveCollection(ctx, tx, userID, coll, has, stamp)
	})
	if err != nil {
		return fmt.Errorf("%s %d records into %q of user %d: %w", verb, len(recs), collection, userID, err)
	}
	return nil
}

// DeleteRecordIDs deletes records by id (syncstore.BulkStore) and updates
// the collection's aggregates; users.last_modified is left as it is.
func (s *Store) DeleteRecordIDs(ctx context.Context, userID int64, collection string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	collID, known, err := s.collectionID(ctx, collection)
	if err != nil || !known {
		return err
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		lock, err := s.lockUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		coll, ok := lock.collection(collID)
		if !ok {
			return nil
		}
		_, err = s.deleteMatching(ctx, tx, userID, coll, &syncstore.Query{IDs: ids}, 0)
		return err
	})
	if err != nil {
		return fmt.Errorf("deleting %d records of %q of user %d: %w", len(ids), collection, userID, err)
	}
	return nil
}

// The export's reads, prepared on the read pool (hotReads): the migrate
// tool verifies every user with them while the user is unavailable, and
// MySQL's binary protocol spares the server formatting every number.
const (
	exportCollectionsSQL = `SELECT c.id, c.name FROM collections c
		WHERE c.id IN (SELECT DISTINCT collection_id FROM wbo WHERE user_id = ?)`
	exportRecordsSQL = `SELECT id, modified, sortindex, payload, parentid, predecessorid, expiry
		FROM wbo WHERE user_id = ? AND collection_id = ? ORDER BY id`
)

// ExportRecords streams every record of the user, expired ones included,
// by collection name then id (syncstore.BulkStore).
func (s *Store) ExportRecords(ctx context.Context, userID int64, fn func(collection string, r *syncstore.StoredRecord) error) error {
	type coll struct {
		id   int
		name string
	}
	rows, err := s.readQuery(ctx, exportCollectionsSQL, userID)
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

func (s *Store) exportCollection(ctx context.Context, userID int64, collID int, name string, fn func(string, *syncstore.StoredRecord) error) error {
	rows, err := s.readQuery(ctx, exportRecordsSQL, userID, collID)
	if err != nil {
		return err
	}
	defer rows.Close()
	e := newExportScan()
	for rows.Next() {
		if err := rows.Scan(e.dest...); err != nil {
			return err
		}
		if err := fn(name, e.record()); err != nil {
			return err
		}
	}
	return rows.Err()
}
