package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/syncserver/syncserver/syncstore"
)

const recordColumns = "SELECT id, modified, sortindex, payload, parentid, predecessorid FROM wbo"

// GetRecords lists the unexpired records of a collection matching q.
func (s *Store) GetRecords(ctx context.Context, userID int64, collection string, q *syncstore.Query) ([]syncstore.WBO, error) {
	collID, ok, err := s.collectionID(ctx, collection)
	if err != nil || !ok {
		return nil, err
	}
	if q == nil {
		q = &syncstore.Query{}
	}
	sel := newSelector(recordColumns, userID, collID)
	sel.and("expiry > ?", s.now().Unix())
	if !sel.filters(q) {
		return nil, nil
	}
	sel.order(q)
	sel.limit(q)
	rows, err := s.db.QueryContext(ctx, sel.sql.String(), sel.args...)
	if err != nil {
		return nil, fmt.Errorf("listing %s of user %d: %w", collection, userID, err)
	}
	defer rows.Close()
	var ws []syncstore.WBO
	for rows.Next() {
		var w syncstore.WBO
		if err := scanRecord(rows, &w); err != nil {
			return nil, fmt.Errorf("listing %s of user %d: %w", collection, userID, err)
		}
		ws = append(ws, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing %s of user %d: %w", collection, userID, err)
	}
	return ws, nil
}

// GetRecord returns one unexpired record or ErrNotFound.
func (s *Store) GetRecord(ctx context.Context, userID int64, collection, id string) (*syncstore.WBO, error) {
	collID, ok, err := s.collectionID(ctx, collection)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("record %s/%s: %w", collection, id, syncstore.ErrNotFound)
	}
	row := s.db.QueryRowContext(ctx,
		recordColumns+" WHERE user_id = ? AND collection_id = ? AND id = ? AND expiry > ?",
		userID, collID, id, s.now().Unix())
	var w syncstore.WBO
	err = scanRecord(row, &w)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("record %s/%s: %w", collection, id, syncstore.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("loading record %s/%s of user %d: %w", collection, id, userID, err)
	}
	return &w, nil
}

// scanRecord reads the recordColumns of one row into w. NullString keeps
// NULL (absent) apart from an empty value and copies the bytes once.
func scanRecord(row interface{ Scan(...any) error }, w *syncstore.WBO) error {
	var modified int64
	var sortindex sql.NullInt64
	var payload, parentID, predecessorID sql.NullString
	if err := row.Scan(&w.ID, &modified, &sortindex, &payload, &parentID, &predecessorID); err != nil {
		return err
	}
	w.Modified = syncstore.Timestamp(modified)
	if sortindex.Valid {
		w.SortIndex = &sortindex.Int64
	}
	w.Payload = optString(payload)
	w.ParentID = optString(parentID)
	w.PredecessorID = optString(predecessorID)
	return nil
}

func optString(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	return &s.String
}
