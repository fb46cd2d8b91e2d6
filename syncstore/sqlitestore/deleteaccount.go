package sqlitestore

import (
	"context"
	"fmt"

	"github.com/syncserver/syncserver/syncstore"
)

// DeleteAccount deletes the user, their records and their route row in one
// transaction: the operator's `users delete`, after which nothing, not
// even the route table, remembers the user. DeleteUser (a client deleting
// its own account) keeps the route row, so that a migrated user is never
// routed back to the legacy copy of their data.
func (s *Store) DeleteAccount(ctx context.Context, u *syncstore.User) error {
	_, err := s.write(ctx, u.ID, func(ctx context.Context, w *writeTx) error {
		if err := deleteUserData(ctx, w, u.ID); err != nil {
			return err
		}
		if _, err := w.tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, u.ID); err != nil {
			return fmt.Errorf("deleting account: %w", err)
		}
		if _, err := w.tx.ExecContext(ctx, `DELETE FROM routes WHERE username = ?`, syncstore.NormalizeUsername(u.Name)); err != nil {
			return fmt.Errorf("deleting route row: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("deleting user %q: %w", u.Name, err)
	}
	return nil
}
