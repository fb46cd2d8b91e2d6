package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/syncserver/syncserver/syncstore"
)

// CreateUser inserts u and sets u.ID; a taken name is
// syncstore.ErrUserExists.
func (s *Store) CreateUser(ctx context.Context, u *syncstore.User) error {
	name := syncstore.NormalizeUsername(u.Name)
	if !syncstore.ValidUsername(name) {
		return fmt.Errorf("creating user %q: invalid name", u.Name)
	}
	var res sql.Result
	var err error
	// Concurrent inserts of one name can deadlock on MySQL's unique index
	// when one of them fails; the retry then sees the winner's row.
	for attempt := 1; attempt <= maxDeadlockRetries; attempt++ {
		res, err = s.write.ExecContext(ctx,
			"INSERT INTO users (name, password_hash, email, created) VALUES (?, ?, ?, ?)",
			name, u.PasswordHash, u.Email, s.clock().Unix())
		if err == nil || !s.d.IsDeadlock(err) {
			break
		}
	}
	if err != nil && s.d.IsDuplicate(err) {
		return fmt.Errorf("creating user %q: %w", name, syncstore.ErrUserExists)
	}
	if err != nil {
		return fmt.Errorf("creating user %q: %w", name, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("creating user %q: %w", name, err)
	}
	u.ID, u.Name = id, name
	return nil
}

// LookupUser finds a user by name, case-insensitively.
func (s *Store) LookupUser(ctx context.Context, name string) (*syncstore.User, error) {
	name = syncstore.NormalizeUsername(name)
	// Such a name cannot be stored, and comparing non-ASCII text with
	// MySQL's ascii column is an error rather than a miss.
	if !syncstore.ValidUsername(name) {
		return nil, fmt.Errorf("user %q: %w", name, syncstore.ErrNotFound)
	}
	u := &syncstore.User{}
	err := s.readRow(ctx, userByNameSQL, name).
		Scan(&u.ID, &u.Name, &u.PasswordHash, &u.Email)
	if isNoRows(err) {
		return nil, fmt.Errorf("user %q: %w", name, syncstore.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("loading user %q: %w", name, err)
	}
	return u, nil
}

// UpdateUser stores u's PasswordHash and Email.
func (s *Store) UpdateUser(ctx context.Context, u *syncstore.User) error {
	// Both backends count matched rows (SQLite always, MySQL through
	// clientFoundRows), so an update that changes nothing still counts.
	res, err := s.write.ExecContext(ctx,
		"UPDATE users SET password_hash = ?, email = ? WHERE id = ?", u.PasswordHash, u.Email, u.ID)
	if err != nil {
		return fmt.Errorf("updating user %d: %w", u.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("updating user %d: %w", u.ID, err)
	}
	if n == 0 {
		return errUserMissing(u.ID)
	}
	return nil
}

// DeleteUser removes the account, its records and its aggregates in one
// transaction that holds the user's lock, so no write of the user can
// interleave and leave rows behind. The route row stays, so that a
// migrated user is never routed back to the legacy copy of their data.
func (s *Store) DeleteUser(ctx context.Context, userID int64) error {
	if err := s.inTx(ctx, func(tx *sql.Tx) error { return s.deleteUserTx(ctx, tx, userID) }); err != nil {
		return fmt.Errorf("deleting user %d: %w", userID, err)
	}
	return nil
}

// deleteUserTx removes the user's row, records and statistics.
func (s *Store) deleteUserTx(ctx context.Context, tx *sql.Tx, userID int64) error {
	if _, err := s.lockUser(ctx, tx, userID); err != nil {
		return err
	}
	if err := deleteUserData(ctx, tx, userID); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, "DELETE FROM users WHERE id = ?", userID)
	return err
}

// deleteUserData removes the user's records and statistics (the caller
// holds the user's lock).
func deleteUserData(ctx context.Context, tx *sql.Tx, userID int64) error {
	for _, q := range []string{
		"DELETE FROM wbo WHERE user_id = ?",
		"DELETE FROM user_collections WHERE user_id = ?",
	} {
		if _, err := tx.ExecContext(ctx, q, userID); err != nil {
			return err
		}
	}
	return nil
}

const (
	userByNameSQL    = "SELECT id, name, password_hash, email FROM users WHERE name = ?"
	userTimestampSQL = "SELECT last_modified FROM users WHERE id = ?"
)

// UserTimestamp reads the user's last write timestamp. A read sees every
// committed write (SQLite's WAL, MySQL's READ COMMITTED), whichever
// process or instance made it.
func (s *Store) UserTimestamp(ctx context.Context, userID int64) (syncstore.Timestamp, error) {
	var last int64
	err := s.readRow(ctx, userTimestampSQL, userID).Scan(&last)
	if isNoRows(err) {
		return 0, errUserMissing(userID)
	}
	if err != nil {
		return 0, fmt.Errorf("reading last write timestamp of user %d: %w", userID, err)
	}
	return syncstore.Timestamp(last), nil
}

// ListUsers returns up to limit users named after after, in name order.
func (s *Store) ListUsers(ctx context.Context, after string, limit int) ([]syncstore.User, error) {
	q := "SELECT id, name, password_hash, email FROM users WHERE name > ? ORDER BY name"
	args := []any{after}
	if limit > 0 {
		q += " LIMIT ?"
		args = append(args, limit)
	}
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("listing users after %q: %w", after, err)
	}
	defer rows.Close()
	var us []syncstore.User
	for rows.Next() {
		var u syncstore.User
		if err := rows.Scan(&u.ID, &u.Name, &u.PasswordHash, &u.Email); err != nil {
			return nil, fmt.Errorf("listing users after %q: %w", after, err)
		}
		us = append(us, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing users after %q: %w", after, err)
	}
	return us, nil
}
