package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/syncserver/syncserver/syncstore"
)

// CreateUser inserts u and sets u.ID.
func (s *Store) CreateUser(ctx context.Context, u *syncstore.User) error {
	name := syncstore.NormalizeUsername(u.Name)
	if !syncstore.ValidUsername(name) {
		return fmt.Errorf("creating user %q: invalid name", u.Name)
	}
	var res sql.Result
	var err error
	// Concurrent inserts of one name can deadlock on the unique index when
	// one of them fails; the retry then sees the winner's row.
	for attempt := 1; attempt <= maxDeadlockRetries; attempt++ {
		res, err = s.db.ExecContext(ctx,
			"INSERT INTO users (name, password_hash, email, created) VALUES (?, ?, ?, ?)",
			name, u.PasswordHash, u.Email, s.now().Unix())
		if errorNumber(err) != errLockDeadlock {
			break
		}
	}
	if errorNumber(err) == errDuplicateKey {
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
	// Such a name cannot be stored, and comparing non-ASCII text with the
	// ascii column is an error rather than a miss.
	if !syncstore.ValidUsername(name) {
		return nil, fmt.Errorf("user %q: %w", name, syncstore.ErrNotFound)
	}
	u := &syncstore.User{}
	err := s.db.QueryRowContext(ctx,
		"SELECT id, name, password_hash, email FROM users WHERE name = ?", name).
		Scan(&u.ID, &u.Name, &u.PasswordHash, &u.Email)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("user %q: %w", name, syncstore.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("loading user %q: %w", name, err)
	}
	return u, nil
}

// UpdateUser stores u's PasswordHash and Email.
func (s *Store) UpdateUser(ctx context.Context, u *syncstore.User) error {
	// The DSN forces clientFoundRows, so an update that changes nothing
	// still reports its matched row.
	res, err := s.db.ExecContext(ctx,
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
// interleave and leave rows behind.
func (s *Store) DeleteUser(ctx context.Context, userID int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM users WHERE id = ? FOR UPDATE", userID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return errUserMissing(userID)
		}
		if err != nil {
			return fmt.Errorf("locking user %d: %w", userID, err)
		}
		for _, q := range []string{
			"DELETE FROM wbo WHERE user_id = ?",
			"DELETE FROM user_collections WHERE user_id = ?",
			"DELETE FROM users WHERE id = ?",
		} {
			if _, err := tx.ExecContext(ctx, q, userID); err != nil {
				return fmt.Errorf("deleting user %d: %w", userID, err)
			}
		}
		return nil
	})
}

// ListUsers returns up to limit users named after after, in name order.
func (s *Store) ListUsers(ctx context.Context, after string, limit int) ([]syncstore.User, error) {
	q := "SELECT id, name, password_hash, email FROM users WHERE name > ? ORDER BY name"
	args := []any{after}
	if limit > 0 {
		q += " LIMIT ?"
		args = append(args, limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
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
