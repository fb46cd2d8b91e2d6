package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/syncserver/syncserver/syncstore"
)

// DeleteAccount deletes the user, their records and their route row in one
// transaction: the operator's `users delete`, after which nothing, not
// even the route table, remembers the user. DeleteUser (a client deleting
// its own account) keeps the route row, so that a migrated user is never
// routed back to the legacy copy of their data.
func (s *Store) DeleteAccount(ctx context.Context, u *syncstore.User) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM users WHERE id = ? FOR UPDATE", u.ID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return errUserMissing(u.ID)
		}
		if err != nil {
			return fmt.Errorf("locking user %d: %w", u.ID, err)
		}
		for _, q := range []string{
			"DELETE FROM wbo WHERE user_id = ?",
			"DELETE FROM user_collections WHERE user_id = ?",
			"DELETE FROM users WHERE id = ?",
		} {
			if _, err := tx.ExecContext(ctx, q, u.ID); err != nil {
				return fmt.Errorf("deleting user %q: %w", u.Name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM routes WHERE username = ?", syncstore.NormalizeUsername(u.Name)); err != nil {
			return fmt.Errorf("deleting the route row of %q: %w", u.Name, err)
		}
		return nil
	})
}
