package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/syncserver/syncserver/syncstore"
)

// collectionCache maps collection names to ids. Names are global and never
// renamed or removed, so an entry never goes stale; only names that exist
// are cached, and a name created inside a transaction is added after the
// commit.
type collectionCache struct {
	mu     sync.RWMutex
	byName map[string]int
}

func (c *collectionCache) load(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `SELECT id, name FROM collections`)
	if err != nil {
		return err
	}
	defer rows.Close()
	m := make(map[string]int)
	for rows.Next() {
		var id int
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return err
		}
		m[name] = id
	}
	if err := rows.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.byName = m
	c.mu.Unlock()
	return nil
}

func (c *collectionCache) get(name string) (int, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	id, ok := c.byName[name]
	return id, ok
}

func (c *collectionCache) put(name string, id int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byName == nil {
		c.byName = make(map[string]int)
	}
	c.byName[name] = id
}

// querier is what both *sql.DB and *sql.Tx offer for reading.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// collectionID finds the id of an existing collection name; ok is false
// when the name was never used (readers then see an empty collection).
func (s *Store) collectionID(ctx context.Context, q querier, name string) (id int, ok bool, err error) {
	if id, ok := s.colls.get(name); ok {
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
	s.colls.put(name, id)
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
