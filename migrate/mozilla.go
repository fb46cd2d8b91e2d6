package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/syncserver/syncserver/syncstore"
)

// mozilla reads and writes Mozilla's PHP 1.0 tables (docs/legacy.md §2):
// integer user ids, integer collection ids (a fixed map for 1–10, the
// per-user collections table from 101), centisecond modified, optional
// wbo<N> sharding by users.id % N.
type mozilla struct {
	db    *sql.DB
	stmts *prepared // the per-user scans
	s     Schema
}

// phpCollectionID is PHP 1.0's built-in map: the standard names 1–10
// (the native map's 11, addons, is a custom collection there).
func phpCollectionID(name string) (int, bool) {
	id, ok := syncstore.StandardCollectionID(name)
	if !ok || id > 10 {
		return 0, false
	}
	return id, true
}

const mozillaUserColumns = "id, CAST(username AS BINARY), CAST(password_hash AS BINARY), CAST(email AS BINARY), status, CAST(alert AS BINARY), CAST(reset AS BINARY)"

func (m *mozilla) scanUser(rows *sql.Rows) (*LegacyUser, error) {
	var u LegacyUser
	var name, hash, email, alert, reset nullStr
	var status nullInt
	if err := rows.Scan(&u.ID, &name, &hash, &email, &status, &alert, &reset); err != nil {
		return nil, err
	}
	u.Name, u.PasswordHash, u.Email = name.String(), hash.String(), email.P
	u.Status, u.Alert, u.Reset = status.p, alert.P, reset.P
	return &u, nil
}

func (m *mozilla) lookupUser(ctx context.Context, q querier, name string) (*LegacyUser, error) {
	query := "SELECT " + mozillaUserColumns + " FROM users WHERE username = ?"
	if !m.s.UsernameCI {
		query = "SELECT " + mozillaUserColumns + " FROM users WHERE LOWER(username) = LOWER(?)"
	}
	rows, err := q.QueryContext(ctx, query, name)
	if err != nil {
		return nil, err
	}
	var found []*LegacyUser
	for rows.Next() {
		u, err := m.scanUser(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		found = append(found, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	u, err := oneUser(found, name)
	if err != nil {
		return nil, err
	}
	if err := m.loadCollections(ctx, q, u); err != nil {
		return nil, err
	}
	return u, nil
}

func (m *mozilla) loadCollections(ctx context.Context, q querier, u *LegacyUser) error {
	rows, err := q.QueryContext(ctx, "SELECT collectionid, CAST(name AS BINARY) FROM collections WHERE userid = ?", u.ID)
	if err != nil {
		return fmt.Errorf("reading collections: %w", err)
	}
	defer rows.Close()
	u.Collections = map[string]int{}
	u.collectionsErr = nil
	for rows.Next() {
		var id int
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return fmt.Errorf("reading collections: %w", err)
		}
		// PHP finds a custom collection by name (a case-insensitive
		// compare under the default collation) and uses one of the rows:
		// the records under the other id are not served.
		for other, oid := range u.Collections {
			if other == name || m.s.CollectionCI && strings.EqualFold(other, name) {
				lo, hi := fmt.Sprintf("%d (%q)", oid, other), fmt.Sprintf("%d (%q)", id, name)
				if id < oid {
					lo, hi = hi, lo
				}
				u.collectionsErr = fmt.Errorf("collections rows %s and %s of legacy user %q name the same collection for the PHP server (docs/legacy.md §2.1), which serves the records of only one of them; merge them in the legacy database first", lo, hi, u.Name)
			}
		}
		if std, ok := phpCollectionID(name); ok {
			u.collectionsErr = fmt.Errorf("collections row %d of legacy user %q names the standard collection %q, which the PHP server maps to id %d (docs/legacy.md §2.1) and so never serves the records under %d; move or delete them in the legacy database first", id, u.Name, name, std, id)
		}
		if _, dup := u.Collections[name]; !dup {
			u.Collections[name] = id
		}
	}
	return rows.Err()
}

func (m *mozilla) users(ctx context.Context, fn func(*LegacyUser) error) error {
	rows, err := m.db.QueryContext(ctx, "SELECT "+mozillaUserColumns+" FROM users ORDER BY username, id")
	if err != nil {
		return fmt.Errorf("listing legacy users: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		u, err := m.scanUser(rows)
		if err != nil {
			return fmt.Errorf("listing legacy users: %w", err)
		}
		if err := m.loadCollections(ctx, m.db, u); err != nil {
			return fmt.Errorf("listing legacy users: %w", err)
		}
		if err := fn(u); err != nil {
			return err
		}
	}
	return rows.Err()
}

// collectionNames maps the user's collection ids to names.
func collectionNames(u *LegacyUser) map[int]string {
	names := make(map[int]string, 10+len(u.Collections))
	for id := 1; id <= 10; id++ {
		n, _ := syncstore.StandardCollectionName(id)
		names[id] = n
	}
	for n, id := range u.Collections {
		names[id] = n
	}
	return names
}

const mozillaRecordColumns = "collection, CAST(id AS BINARY), CAST(parentid AS BINARY), CAST(predecessorid AS BINARY), sortindex, modified, CAST(payload AS BINARY)"

// nameOf maps a collection id to its name, reloading the user's
// collections once for an id created after the user was loaded (a client
// adding a custom collection during the bulk copy).
func (m *mozilla) nameOf(ctx context.Context, u *LegacyUser, names *map[int]string, id int) (string, error) {
	if n, ok := (*names)[id]; ok {
		return n, nil
	}
	if err := m.loadCollections(ctx, m.db, u); err != nil {
		return "", err
	}
	*names = collectionNames(u)
	if n, ok := (*names)[id]; ok {
		return n, nil
	}
	return "", fmt.Errorf("collection id %d has no row in collections", id)
}

func (m *mozilla) scanRecords(ctx context.Context, rows *sql.Rows, u *LegacyUser, fn func(string, *syncstore.StoredRecord) error) error {
	defer rows.Close()
	names := collectionNames(u)
	for rows.Next() {
		var coll int
		var id, parent, pred, payload nullStr
		var sortIndex, modified nullInt
		if err := rows.Scan(&coll, &id, &parent, &pred, &sortIndex, &modified, &payload); err != nil {
			return err
		}
		name, err := m.nameOf(ctx, u, &names, coll)
		if err != nil {
			return fmt.Errorf("record %q: %w", id.String(), err)
		}
		r := &syncstore.StoredRecord{
			ID:            id.String(),
			SortIndex:     sortIndex.p,
			ParentID:      parent.P,
			PredecessorID: pred.P,
			Payload:       payload.P,
			Expiry:        syncstore.NoExpiry,
		}
		if modified.p == nil {
			return errNullModified(name, r.ID)
		}
		r.Modified = syncstore.Timestamp(*modified.p)
		if err := fn(name, r); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (m *mozilla) records(ctx context.Context, u *LegacyUser, fn func(string, *syncstore.StoredRecord) error) error {
	rows, err := m.stmts.query(ctx, "SELECT "+mozillaRecordColumns+" FROM "+m.s.wboTable(u.ID)+" WHERE username = ? ORDER BY collection, id", u.ID)
	if err != nil {
		return err
	}
	return m.scanRecords(ctx, rows, u, fn)
}

func (m *mozilla) collectionID(u *LegacyUser, name string) (int, bool) {
	if id, ok := phpCollectionID(name); ok {
		return id, true
	}
	id, ok := u.Collections[name]
	return id, ok
}

func (m *mozilla) recordsByID(ctx context.Context, u *LegacyUser, collection string, ids []string, fn func(string, *syncstore.StoredRecord) error) error {
	cid, ok := m.collectionID(u, collection)
	if !ok {
		return nil
	}
	args := make([]any, 0, len(ids)+2)
	args = append(args, u.ID, cid)
	for _, id := range ids {
		args = append(args, []byte(id))
	}
	rows, err := m.db.QueryContext(ctx, "SELECT "+mozillaRecordColumns+" FROM "+m.s.wboTable(u.ID)+
		" WHERE username = ? AND collection = ? AND id IN ("+placeholders(len(ids))+") ORDER BY id", args...)
	if err != nil {
		return err
	}
	return m.scanRecords(ctx, rows, u, fn)
}

func (m *mozilla) digests(ctx context.Context, u *LegacyUser, fn func(string, RecordDigest) error) error {
	rows, err := m.db.QueryContext(ctx, `SELECT collection, CAST(id AS BINARY), CAST(parentid AS BINARY), CAST(predecessorid AS BINARY), sortindex, modified,
		COALESCE(LENGTH(payload), 0), SHA2(CAST(payload AS BINARY), 256) FROM `+m.s.wboTable(u.ID)+" WHERE username = ? ORDER BY collection, id", u.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	names := collectionNames(u)
	d := newDigester()
	for rows.Next() {
		var coll int
		var id, parent, pred, sum nullStr
		var sortIndex, modified nullInt
		var size int64
		if err := rows.Scan(&coll, &id, &parent, &pred, &sortIndex, &modified, &size, &sum); err != nil {
			return err
		}
		name, err := m.nameOf(ctx, u, &names, coll)
		if err != nil {
			return fmt.Errorf("record %q: %w", id.String(), err)
		}
		ps, err := sha2Hex(sum)
		if err != nil {
			return err
		}
		var ts syncstore.Timestamp
		if modified.p != nil {
			ts = syncstore.Timestamp(*modified.p)
		}
		rd := RecordDigest{ID: id.String(), Modified: ts, Size: size,
			Sum: d.record(name, id.String(), ts, sortIndex.p, parent.P, pred.P, ps)}
		if err := fn(name, rd); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (m *mozilla) fingerprints(ctx context.Context, u *LegacyUser, fn func(string, string, fingerprint) error) error {
	rows, err := m.stmts.query(ctx, `SELECT collection, CAST(id AS BINARY), CAST(parentid AS BINARY), CAST(predecessorid AS BINARY), sortindex, modified,
		LENGTH(payload), CRC32(payload) FROM `+m.s.wboTable(u.ID)+" WHERE username = ?", u.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	names := collectionNames(u)
	for rows.Next() {
		var coll int
		var id, parent, pred nullStr
		var sortIndex, modified, length, crc nullInt
		if err := rows.Scan(&coll, &id, &parent, &pred, &sortIndex, &modified, &length, &crc); err != nil {
			return err
		}
		name, err := m.nameOf(ctx, u, &names, coll)
		if err != nil {
			return fmt.Errorf("record %q: %w", id.String(), err)
		}
		var ts syncstore.Timestamp
		if modified.p != nil {
			ts = syncstore.Timestamp(*modified.p)
		}
		i := id.String()
		if err := fn(name, i, fingerprintOf(ts, sortIndex.p, parent.P, pred.P, length.p, crc.p)); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (m *mozilla) replaceUser(ctx context.Context, tx *sql.Tx, u *LegacyUser, each func(emit func(string, *syncstore.StoredRecord) error) error) error {
	userArgs := []any{[]byte(u.Name), []byte(u.PasswordHash), bytesOrNil(u.Email), int64OrNil(u.Status), bytesOrNil(u.Alert), bytesOrNil(u.Reset)}
	const cols = "username, password_hash, email, status, alert, reset"
	const vals = "CAST(? AS BINARY), CAST(? AS BINARY), CAST(? AS BINARY), ?, CAST(? AS BINARY), CAST(? AS BINARY)"
	const upd = " ON DUPLICATE KEY UPDATE username = VALUES(username), password_hash = VALUES(password_hash), email = VALUES(email), status = VALUES(status), alert = VALUES(alert), reset = VALUES(reset)"
	if u.ID == 0 {
		// A user created natively has no legacy row yet.
		res, err := tx.ExecContext(ctx, "INSERT INTO users ("+cols+") VALUES ("+vals+")", userArgs...)
		if err != nil {
			return fmt.Errorf("inserting the users row: %w", err)
		}
		if u.ID, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("inserting the users row: %w", err)
		}
	} else if _, err := tx.ExecContext(ctx, "INSERT INTO users (id, "+cols+") VALUES (?, "+vals+")"+upd, append([]any{u.ID}, userArgs...)...); err != nil {
		return fmt.Errorf("writing the users row: %w", err)
	}
	if u.Collections == nil {
		u.Collections = map[string]int{}
	}
	next := 100 // PHP's first custom id is 101
	if len(u.Collections) > 0 {
		ins := newBatchInsert(tx, "INSERT INTO collections (userid, collectionid, name) VALUES ", "(?,?,CAST(? AS BINARY))", " ON DUPLICATE KEY UPDATE name = VALUES(name)")
		for name, id := range u.Collections {
			next = max(next, id)
			if err := ins.add(ctx, len(name), u.ID, id, []byte(name)); err != nil {
				return fmt.Errorf("writing collections: %w", err)
			}
		}
		if err := ins.flush(ctx); err != nil {
			return fmt.Errorf("writing collections: %w", err)
		}
	}
	wbo := m.s.wboTable(u.ID)
	if _, err := tx.ExecContext(ctx, "DELETE FROM "+wbo+" WHERE username = ?", u.ID); err != nil {
		return fmt.Errorf("deleting old records: %w", err)
	}
	ins := newBatchInsert(tx, "INSERT INTO "+wbo+" (username, collection, id, parentid, predecessorid, sortindex, modified, payload, payload_size) VALUES ",
		"(?,?,CAST(? AS BINARY),CAST(? AS BINARY),CAST(? AS BINARY),?,?,CAST(? AS BINARY),?)", "")
	err := each(func(collection string, r *syncstore.StoredRecord) error {
		cid, ok := m.collectionID(u, collection)
		if !ok {
			next++
			cid = next
			if _, err := tx.ExecContext(ctx, "INSERT INTO collections (userid, collectionid, name) VALUES (?, ?, CAST(? AS BINARY))", u.ID, cid, []byte(collection)); err != nil {
				return fmt.Errorf("adding collection %q: %w", collection, err)
			}
			u.Collections[collection] = cid
		}
		var size any
		if r.Payload != nil {
			if n := len(*r.Payload); int64(n) > m.s.PayloadMax {
				return fmt.Errorf("record %s/%s: payload of %d bytes does not fit the payload column (%d bytes)", collection, r.ID, n, m.s.PayloadMax)
			}
			size = len(*r.Payload)
		}
		return ins.add(ctx, len(r.ID)+int(r.PayloadSize()),
			u.ID, cid, []byte(r.ID), bytesOrNil(r.ParentID), bytesOrNil(r.PredecessorID),
			int64OrNil(r.SortIndex), int64(r.Modified), bytesOrNil(r.Payload), size)
	})
	if err != nil {
		return err
	}
	return ins.flush(ctx)
}
