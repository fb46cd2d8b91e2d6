package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/syncserver/syncserver/syncstore"
)

// querier is what both *sql.DB and *sql.Tx offer for reading.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// collectionID finds the id of an existing collection name; ok is false
// when the name was never used (readers then see an empty collection).
func (s *Store) collectionID(ctx context.Context, q querier, name string) (id int, ok bool, err error) {
	if id, ok := s.colls.Get(name); ok {
		return id, true, nil
	}
	// Another Store on the same file (a migrate tool) may have created it.
	err = q.QueryRowContext(ctx, `SELECT id FROM collections WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("looking up collection %q: %w", name, err)
	}
	s.colls.Put(name, id)
	return id, true, nil
}

// ensureCollection returns the id of name, creating it inside the write
// transaction if needed. The writer holds SQLite's write lock, so MAX+1
// cannot race.
func (w *writeTx) ensureCollection(ctx context.Context, name string) (id int, created bool, err error) {
	id, ok, err := w.s.collectionID(ctx, w.tx, name)
	if err != nil || ok {
		return id, false, err
	}
	err = w.tx.QueryRowContext(ctx, `INSERT INTO collections (id, name)
		SELECT MAX(COALESCE(MAX(id), 0) + 1, ?), ? FROM collections
		RETURNING id`, syncstore.FirstCustomCollectionID, name).Scan(&id)
	if err != nil {
		return 0, false, fmt.Errorf("creating collection %q: %w", name, err)
	}
	w.created = append(w.created, createdCollection{name, id})
	return id, true, nil
}
