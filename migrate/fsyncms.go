package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/go-sql-driver/mysql"

	"github.com/syncserver/syncserver/syncstore"
)

// fsyncms reads and writes FSyncMS's tables (docs/legacy.md §1): wbo and users
// keyed by the username as first typed, collection names as strings,
// modified as DOUBLE seconds, predecessorid as INT.
type fsyncms struct {
	db    *sql.DB
	stmts *prepared // the per-user scans
	s     Schema
}

func (f *fsyncms) userQuery() string {
	q := "SELECT CAST(username AS BINARY), CAST(md5 AS BINARY) FROM " + f.s.usersTable()
	// A _ci collation matches every case and can use the primary key;
	// a case-sensitive one needs LOWER() to find case variants.
	if f.s.UsernameCI {
		return q + " WHERE username = ?"
	}
	return q + " WHERE LOWER(username) = LOWER(?)"
}

func (f *fsyncms) lookupUser(ctx context.Context, q querier, name string) (*LegacyUser, error) {
	rows, err := q.QueryContext(ctx, f.userQuery(), name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var found []*LegacyUser
	for rows.Next() {
		u, err := f.scanUser(rows)
		if err != nil {
			return nil, err
		}
		found = append(found, u)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return oneUser(found, name)
}

func (f *fsyncms) scanUser(rows *sql.Rows) (*LegacyUser, error) {
	var name, hash nullStr
	if err := rows.Scan(&name, &hash); err != nil {
		return nil, err
	}
	return &LegacyUser{Name: name.String(), PasswordHash: hash.String()}, nil
}

func (f *fsyncms) users(ctx context.Context, fn func(*LegacyUser) error) error {
	rows, err := f.db.QueryContext(ctx, "SELECT CAST(username AS BINARY), CAST(md5 AS BINARY) FROM "+f.s.usersTable()+" ORDER BY username")
	if err != nil {
		return fmt.Errorf("listing legacy users: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		u, err := f.scanUser(rows)
		if err != nil {
			return fmt.Errorf("listing legacy users: %w", err)
		}
		if err := fn(u); err != nil {
			return err
		}
	}
	return rows.Err()
}

const fsyncmsRecordColumns = "CAST(collection AS BINARY), CAST(id AS BINARY), CAST(parentid AS BINARY), predecessorid, modified, sortindex, CAST(payload AS BINARY)"

func (f *fsyncms) scanRecords(rows *sql.Rows, fn func(string, *syncstore.StoredRecord) error) error {
	defer rows.Close()
	var coll, id sql.RawBytes
	var parent, payload textCol
	var pred, sortIndex intCol
	var modified floatCol
	dest := []any{&coll, &id, &parent, &pred, &modified, &sortIndex, &payload}
	colls := interner{}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if !modified.ok {
			return errNullModified(string(coll), string(id))
		}
		r := newScannedRecord(string(id), modified.timestamp(), &sortIndex, &parent, &pred, &payload)
		if err := fn(colls.of(coll), r); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (f *fsyncms) records(ctx context.Context, u *LegacyUser, fn func(string, *syncstore.StoredRecord) error) error {
	rows, err := f.stmts.query(ctx, "SELECT "+fsyncmsRecordColumns+" FROM "+f.s.wboTable(0)+" WHERE username = ? ORDER BY collection, id", u.Name)
	if err != nil {
		return err
	}
	return f.scanRecords(rows, fn)
}

func (f *fsyncms) recordsByID(ctx context.Context, u *LegacyUser, collection string, ids []string, fn func(string, *syncstore.StoredRecord) error) error {
	args := make([]any, 0, len(ids)+2)
	args = append(args, u.Name, collection)
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := f.db.QueryContext(ctx, "SELECT "+fsyncmsRecordColumns+" FROM "+f.s.wboTable(0)+
		" WHERE username = ? AND collection = ? AND id IN ("+placeholders(len(ids))+") ORDER BY id", args...)
	if err != nil {
		return err
	}
	return f.scanRecords(rows, fn)
}

func (f *fsyncms) digests(ctx context.Context, u *LegacyUser, fn func(string, RecordDigest) error) error {
	rows, err := f.db.QueryContext(ctx, `SELECT CAST(collection AS BINARY), CAST(id AS BINARY), CAST(parentid AS BINARY), predecessorid, modified, sortindex,
		COALESCE(LENGTH(payload), 0), SHA2(CAST(payload AS BINARY), 256) FROM `+f.s.wboTable(0)+" WHERE username = ? ORDER BY collection, id", u.Name)
	if err != nil {
		return err
	}
	defer rows.Close()
	d := newDigester()
	for rows.Next() {
		var coll, id, parent, sum nullStr
		var pred, sortIndex nullInt
		var modified nullFloat
		var size int64
		if err := rows.Scan(&coll, &id, &parent, &pred, &modified, &sortIndex, &size, &sum); err != nil {
			return err
		}
		ps, err := sha2Hex(sum)
		if err != nil {
			return err
		}
		ts := secondsToTimestamp(modified.p)
		rd := RecordDigest{ID: id.String(), Modified: ts, Size: size,
			Sum: d.record(coll.String(), id.String(), ts, sortIndex.p, parent.P, pred.decimal(), ps)}
		if err := fn(coll.String(), rd); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (f *fsyncms) fingerprints(ctx context.Context, u *LegacyUser, fn func(string, string, fingerprint) error) error {
	rows, err := f.stmts.query(ctx, `SELECT CAST(collection AS BINARY), CAST(id AS BINARY), CAST(parentid AS BINARY), predecessorid, modified, sortindex,
		LENGTH(payload), CRC32(payload) FROM `+f.s.wboTable(0)+" WHERE username = ?", u.Name)
	if err != nil {
		return err
	}
	defer rows.Close()
	var coll, id sql.RawBytes
	var parent textCol
	var pred, sortIndex, length, crc intCol
	var modified floatCol
	dest := []any{&coll, &id, &parent, &pred, &modified, &sortIndex, &length, &crc}
	colls := interner{}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		c, i := colls.of(coll), string(id)
		fp := fingerprintOf(modified.timestamp(), sortIndex.ptr(), parent.ptr(), pred.decimal(), length.ptr(), crc.ptr())
		if err := fn(c, i, fp); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (f *fsyncms) replaceUser(ctx context.Context, tx *sql.Tx, u *LegacyUser, each func(emit func(string, *syncstore.StoredRecord) error) error) error {
	if _, err := tx.ExecContext(ctx, "INSERT INTO "+f.s.usersTable()+" (username, md5) VALUES (CAST(? AS BINARY), CAST(? AS BINARY)) ON DUPLICATE KEY UPDATE md5 = VALUES(md5)",
		[]byte(u.Name), []byte(u.PasswordHash)); err != nil {
		return fmt.Errorf("writing the users row: %w", err)
	}
	wbo := f.s.wboTable(0)
	if _, err := tx.ExecContext(ctx, "DELETE FROM "+wbo+" WHERE username = ?", u.Name); err != nil {
		return fmt.Errorf("deleting old records: %w", err)
	}
	ins := newBatchInsert(tx, "INSERT INTO "+wbo+" (username, id, collection, parentid, predecessorid, modified, sortindex, payload, payload_size, ttl) VALUES ",
		"(CAST(? AS BINARY),CAST(? AS BINARY),CAST(? AS BINARY),CAST(? AS BINARY),?,?,?,CAST(? AS BINARY),?,NULL)", "")
	err := each(func(collection string, r *syncstore.StoredRecord) error {
		pred, err := fsyncmsPredecessor(r.PredecessorID)
		if err != nil {
			return fmt.Errorf("record %s/%s: %w", collection, r.ID, err)
		}
		var size any
		if r.Payload != nil {
			if n := len(*r.Payload); int64(n) > f.s.PayloadMax {
				return fmt.Errorf("record %s/%s: payload of %d bytes does not fit FSyncMS's payload column (%d bytes)", collection, r.ID, n, f.s.PayloadMax)
			}
			size = len(*r.Payload)
		}
		return ins.add(ctx, len(r.ID)+int(r.PayloadSize()),
			[]byte(u.Name), []byte(r.ID), []byte(collection), bytesOrNil(r.ParentID), pred,
			timestampToSeconds(r.Modified), int64OrNil(r.SortIndex), bytesOrNil(r.Payload), size)
	})
	if err == nil {
		err = ins.flush(ctx)
	}
	if me := (*mysql.MySQLError)(nil); errors.As(err, &me) && me.Number == 1062 {
		return fmt.Errorf("%w (FSyncMS compares ids and collection names case-insensitively: two native records differ only in case)", err)
	}
	return err
}

// fsyncmsPredecessor converts a predecessorid for FSyncMS's INT column;
// anything that would not read back as the same string is refused (the
// PHP server itself would have dropped such a record, docs/legacy.md §1.2).
func fsyncmsPredecessor(p *string) (any, error) {
	if p == nil {
		return nil, nil
	}
	v, err := strconv.ParseInt(*p, 10, 32)
	if err != nil || strconv.FormatInt(v, 10) != *p {
		return nil, fmt.Errorf("predecessorid %q does not fit FSyncMS's INT column", *p)
	}
	return v, nil
}

func int64OrNil(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}
