package mysqlstore

import (
	"context"
	"fmt"

	"github.com/syncserver/syncserver/syncstore"
)

// CollectionTimestamps is info/collections, read from the aggregates only.
func (s *Store) CollectionTimestamps(ctx context.Context, userID int64) (map[string]syncstore.Timestamp, error) {
	m := make(map[string]syncstore.Timestamp)
	err := s.queryNamed(ctx, func(name string, v int64) { m[name] = syncstore.Timestamp(v) },
		`SELECT c.name, uc.modified FROM user_collections uc JOIN collections c ON c.id = uc.collection_id
WHERE uc.user_id = ?`, userID)
	if err != nil {
		return nil, fmt.Errorf("collection timestamps of user %d: %w", userID, err)
	}
	return m, nil
}

// CollectionCounts counts unexpired records per collection. Expiry is
// relative to the clock, so this cannot come from the aggregates.
func (s *Store) CollectionCounts(ctx context.Context, userID int64) (map[string]int64, error) {
	m := make(map[string]int64)
	err := s.queryNamed(ctx, func(name string, v int64) { m[name] = v },
		`SELECT c.name, w.n FROM (
  SELECT collection_id, COUNT(*) AS n FROM wbo WHERE user_id = ? AND expiry > ? GROUP BY collection_id
) w JOIN collections c ON c.id = w.collection_id`, userID, s.now().Unix())
	if err != nil {
		return nil, fmt.Errorf("collection counts of user %d: %w", userID, err)
	}
	return m, nil
}

// CollectionUsage sums unexpired payload bytes per collection.
func (s *Store) CollectionUsage(ctx context.Context, userID int64) (map[string]int64, error) {
	m := make(map[string]int64)
	err := s.queryNamed(ctx, func(name string, v int64) { m[name] = v },
		`SELECT c.name, w.n FROM (
  SELECT collection_id, SUM(payload_size) AS n FROM wbo WHERE user_id = ? AND expiry > ? GROUP BY collection_id
) w JOIN collections c ON c.id = w.collection_id`, userID, s.now().Unix())
	if err != nil {
		return nil, fmt.Errorf("collection usage of user %d: %w", userID, err)
	}
	return m, nil
}

// queryNamed runs a query returning (name, integer) rows.
func (s *Store) queryNamed(ctx context.Context, each func(name string, v int64), query string, args ...any) error {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var v int64
		if err := rows.Scan(&name, &v); err != nil {
			return err
		}
		each(name, v)
	}
	return rows.Err()
}
