package memcache

import (
	"context"

	"github.com/syncserver/syncserver/syncstore"
)

// userTime holds the cached UserTimestamp.
func (k keys) userTime(userID int64) string { return k.user("mod", userID) }

// UserTimestamp is asked on every storage request, so it is cached per
// user like info/collections: the generation every write bumps after its
// commit keeps it exact across instances sharing memcached.
func (s *Store) UserTimestamp(ctx context.Context, userID int64) (syncstore.Timestamp, error) {
	ts, err := cached(s, userID, s.keys.userTime(userID), "", func() (int64, error) {
		s.count.inner[mUserTimestamp].Add(1)
		ts, err := s.inner.UserTimestamp(ctx, userID)
		return int64(ts), err
	})
	return syncstore.Timestamp(ts), err
}
