package legacytest

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Insert stores users the way the PHP server does: FSyncMS modified as the
// DOUBLE of the 2-decimal seconds and predecessorid in an INT column,
// Mozilla modified in centiseconds with collections rows for custom names;
// payload_size = bytes, FSyncMS ttl NULL. Text goes in as raw bytes so a
// latin1 table holds UTF-8 bytes, as PHP's latin1 connections left them.
func Insert(ctx context.Context, db *sql.DB, l Layout, users []User) error {
	for i := range users {
		if err := insertUser(ctx, db, l, &users[i]); err != nil {
			return fmt.Errorf("inserting legacy user %q: %w", users[i].Name, err)
		}
	}
	return nil
}

func bytesOrNil(s *string) any {
	if s == nil {
		return nil
	}
	return []byte(*s)
}

func int64OrNil(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func insertUser(ctx context.Context, db *sql.DB, l Layout, u *User) error {
	var rowSQL string
	var head string
	var rowArgs func(r *Record) []any
	switch l.Variant {
	case FSyncMS:
		if _, err := db.ExecContext(ctx, "INSERT INTO "+l.UsersTable()+" (username, md5) VALUES (?, ?)", []byte(u.Name), []byte(u.PasswordHash)); err != nil {
			return err
		}
		head = "INSERT INTO " + l.WboTable(0) + " (username, id, collection, parentid, predecessorid, modified, sortindex, payload, payload_size, ttl) VALUES "
		rowSQL = "(?,?,?,?,?,?,?,?,?,NULL)"
		rowArgs = func(r *Record) []any {
			var pred any
			if r.PredecessorID != nil {
				pred = *r.PredecessorID
			}
			return []any{[]byte(u.Name), []byte(r.ID), []byte(r.Collection), bytesOrNil(r.ParentID), pred,
				float64(r.Modified) / 100, int64OrNil(r.SortIndex), bytesOrNil(r.Payload), size(r.Payload)}
		}
	case Mozilla:
		if _, err := db.ExecContext(ctx, "INSERT INTO users (id, username, password_hash, email, status, alert, reset) VALUES (?, ?, ?, ?, ?, ?, ?)",
			u.ID, []byte(u.Name), []byte(u.PasswordHash), bytesOrNil(u.Email), int64OrNil(u.Status), bytesOrNil(u.Alert), bytesOrNil(u.Reset)); err != nil {
			return err
		}
		for name, id := range u.Collections {
			if _, err := db.ExecContext(ctx, "INSERT INTO collections (userid, collectionid, name) VALUES (?, ?, ?)", u.ID, id, []byte(name)); err != nil {
				return err
			}
		}
		head = "INSERT INTO " + l.WboTable(u.ID) + " (username, collection, id, parentid, predecessorid, sortindex, modified, payload, payload_size) VALUES "
		rowSQL = "(?,?,?,?,?,?,?,?,?)"
		rowArgs = func(r *Record) []any {
			return []any{u.ID, u.PHPCollectionID(r.Collection), []byte(r.ID), bytesOrNil(r.ParentID), bytesOrNil(r.PredecessorID),
				int64OrNil(r.SortIndex), r.Modified, bytesOrNil(r.Payload), size(r.Payload)}
		}
	}
	// PHP 1.0 stored POSTs in 100-row multi-inserts; any batching gives
	// the same rows.
	var args []any
	rows, bytes := 0, 0
	flush := func() error {
		if rows == 0 {
			return nil
		}
		q := head + strings.TrimSuffix(strings.Repeat(rowSQL+",", rows), ",")
		_, err := db.ExecContext(ctx, q, args...)
		args, rows, bytes = args[:0], 0, 0
		return err
	}
	for i := range u.Records {
		r := &u.Records[i]
		args = append(args, rowArgs(r)...)
		rows++
		if r.Payload != nil {
			bytes += len(*r.Payload)
		}
		if rows == 200 || bytes > 4<<20 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

func size(p *string) any {
	if p == nil {
		return nil
	}
	return len(*p)
}
