package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/syncserver/syncserver/syncstore"
)

// UserTimestamp reads the user's last write timestamp. A reader sees
// every committed write (WAL), including those of other processes on the
// same file.
func (s *Store) UserTimestamp(ctx context.Context, userID int64) (syncstore.Timestamp, error) {
	var last int64
	err := s.reader.QueryRowContext(ctx, `SELECT last_modified FROM users WHERE id = ?`, userID).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("user %d: %w", userID, syncstore.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("reading last write timestamp of user %d: %w", userID, err)
	}
	return syncstore.Timestamp(last), nil
}
