package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/syncserver/syncserver/syncstore"
)

// UserTimestamp reads the user's last write timestamp. A plain read under
// READ COMMITTED sees every committed write, whichever instance made it.
func (s *Store) UserTimestamp(ctx context.Context, userID int64) (syncstore.Timestamp, error) {
	var last int64
	err := s.db.QueryRowContext(ctx, "SELECT last_modified FROM users WHERE id = ?", userID).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errUserMissing(userID)
	}
	if err != nil {
		return 0, fmt.Errorf("reading last write timestamp of user %d: %w", userID, err)
	}
	return syncstore.Timestamp(last), nil
}
