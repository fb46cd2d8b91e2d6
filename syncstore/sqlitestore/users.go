package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/syncserver/syncserver/syncstore"
)

// CreateUser inserts u and sets u.ID; a taken name is
// syncstore.ErrUserExists.
func (s *Store) CreateUser(ctx context.Context, u *syncstore.User) error {
	u.Name = syncstore.NormalizeUsername(u.Name)
	err := s.writer.QueryRowContext(ctx, `INSERT INTO users (name, password_hash, email, created) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO NOTHING RETURNING id`, u.Name, u.PasswordHash, u.Email, s.clock().Unix()).Scan(&u.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("creating user %q: %w", u.Name, syncstore.ErrUserExists)
	}
	if err != nil {
		return fmt.Errorf("creating user %q: %w", u.Name, err)
	}
	return nil
}

// LookupUser finds a user by name, case-insensitively.
func (s *Store) LookupUser(ctx context.Context, name string) (*syncstore.User, error) {
	name = syncstore.NormalizeUsername(name)
	u := &syncstore.User{}
	err := s.reader.QueryRowContext(ctx, `SELECT id, name, password_hash, email FROM users WHERE name = ?`, name).
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
	res, err := s.writer.ExecContext(ctx, `UPDATE users SET password_hash = ?, email = ? WHERE id = ?`, u.PasswordHash, u.Email, u.ID)
	if err != nil {
		return fmt.Errorf("updating user %d: %w", u.ID, err)
	}
	// SQLite counts matched rows, so an unchanged row still counts as 1.
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("updating user %d: %w", u.ID, err)
	} else if n == 0 {
		return fmt.Errorf("updating user %d: %w", u.ID, syncstore.ErrNotFound)
	}
	return nil
}

// DeleteUser removes the account and all of its records.
func (s *Store) DeleteUser(ctx context.Context, userID int64) error {
	_, err := s.write(ctx, userID, func(ctx context.Context, w *writeTx) error {
		if err := deleteUserData(ctx, w, userID); err != nil {
			return err
		}
		if _, err := w.tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, userID); err != nil {
			return fmt.Errorf("deleting account: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("deleting user %d: %w", userID, err)
	}
	return nil
}

// ListUsers returns up to limit users named after after, in name order.
func (s *Store) ListUsers(ctx context.Context, after string, limit int) ([]syncstore.User, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT id, name, password_hash, email FROM users
		WHERE name > ? ORDER BY name LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("listing users after %q: %w", after, err)
	}
	defer rows.Close()
	var out []syncstore.User
	for rows.Next() {
		var u syncstore.User
		if err := rows.Scan(&u.ID, &u.Name, &u.PasswordHash, &u.Email); err != nil {
			return nil, fmt.Errorf("listing users after %q: %w", after, err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing users after %q: %w", after, err)
	}
	return out, nil
}
