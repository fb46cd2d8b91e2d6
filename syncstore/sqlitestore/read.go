package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/syncserver/syncserver/syncstore"
)

// GetRecords lists the unexpired records of collection matching q.
func (s *Store) GetRecords(ctx context.Context, userID int64, collection string, q *syncstore.Query) ([]syncstore.WBO, error) {
	collID, ok, err := s.collectionID(ctx, s.reader, collection)
	if err != nil {
		return nil, err
	}
	if q == nil {
		q = &syncstore.Query{}
	}
	if !ok || matchesNothing(q) {
		return nil, nil
	}
	var b strings.Builder
	b.WriteString(`SELECT ` + recordColumns + ` FROM wbo WHERE user_id = ? AND collection_id = ? AND expiry > ?`)
	args := []any{userID, collID, s.clock().Unix()}
	args = filterSQL(&b, args, q)
	orderSQL(&b, q)
	rows, err := s.reader.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("listing %q of user %d: %w", collection, userID, err)
	}
	defer rows.Close()
	var out []syncstore.WBO
	if q.Limit > 0 {
		out = make([]syncstore.WBO, 0, min(q.Limit, 1000))
	}
	for rows.Next() {
		out = append(out, syncstore.WBO{})
		if err := scanRecord(rows, &out[len(out)-1]); err != nil {
			return nil, fmt.Errorf("listing %q of user %d: %w", collection, userID, err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing %q of user %d: %w", collection, userID, err)
	}
	return out, nil
}

// GetRecord returns one unexpired record or syncstore.ErrNotFound.
func (s *Store) GetRecord(ctx context.Context, userID int64, collection, id string) (*syncstore.WBO, error) {
	collID, ok, err := s.collectionID(ctx, s.reader, collection)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("record %s/%s: %w", collection, id, syncstore.ErrNotFound)
	}
	row := s.reader.QueryRowContext(ctx, `SELECT `+recordColumns+` FROM wbo
		WHERE user_id = ? AND collection_id = ? AND id = ? AND expiry > ?`, userID, collID, id, s.clock().Unix())
	w := &syncstore.WBO{}
	err = scanRecord(row, w)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("record %s/%s: %w", collection, id, syncstore.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading record %s/%s of user %d: %w", collection, id, userID, err)
	}
	return w, nil
}

type scanner interface {
	Scan(dest ...any) error
}

func scanRecord(r scanner, w *syncstore.WBO) error {
	var modified int64
	if err := r.Scan(&w.ID, &modified, &w.SortIndex, &w.Payload, &w.ParentID, &w.PredecessorID); err != nil {
		return err
	}
	w.Modified = syncstore.Timestamp(modified)
	return nil
}

// CollectionTimestamps reads the per-collection maxima kept by writes.
func (s *Store) CollectionTimestamps(ctx context.Context, userID int64) (map[string]syncstore.Timestamp, error) {
	out := make(map[string]syncstore.Timestamp)
	err := s.perCollection(ctx, `SELECT c.name, uc.modified FROM user_collections uc
		JOIN collections c ON c.id = uc.collection_id WHERE uc.user_id = ?`, []any{userID},
		func(name string, v int64) { out[name] = syncstore.Timestamp(v) })
	if err != nil {
		return nil, fmt.Errorf("reading collection timestamps of user %d: %w", userID, err)
	}
	return out, nil
}

// CollectionCounts counts unexpired records per collection.
func (s *Store) CollectionCounts(ctx context.Context, userID int64) (map[string]int64, error) {
	out := make(map[string]int64)
	err := s.perCollection(ctx, `SELECT c.name, t.n FROM
		(SELECT collection_id, COUNT(*) AS n FROM wbo WHERE user_id = ? AND expiry > ? GROUP BY collection_id) t
		JOIN collections c ON c.id = t.collection_id`, []any{userID, s.clock().Unix()},
		func(name string, v int64) { out[name] = v })
	if err != nil {
		return nil, fmt.Errorf("counting records of user %d: %w", userID, err)
	}
	return out, nil
}

// CollectionUsage sums unexpired payload bytes per collection.
func (s *Store) CollectionUsage(ctx context.Context, userID int64) (map[string]int64, error) {
	out := make(map[string]int64)
	err := s.perCollection(ctx, `SELECT c.name, t.n FROM
		(SELECT collection_id, SUM(payload_size) AS n FROM wbo WHERE user_id = ? AND expiry > ? GROUP BY collection_id) t
		JOIN collections c ON c.id = t.collection_id`, []any{userID, s.clock().Unix()},
		func(name string, v int64) { out[name] = v })
	if err != nil {
		return nil, fmt.Errorf("summing usage of user %d: %w", userID, err)
	}
	return out, nil
}

// perCollection runs a query yielding (name, integer) rows.
func (s *Store) perCollection(ctx context.Context, query string, args []any, fn func(string, int64)) error {
	rows, err := s.reader.QueryContext(ctx, query, args...)
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
		fn(name, v)
	}
	return rows.Err()
}
