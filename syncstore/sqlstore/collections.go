package sqlstore

import (
	"context"
	"fmt"

	"github.com/syncserver/syncserver/syncstore"
)

const collectionIDSQL = "SELECT id FROM collections WHERE name = ?"

// collectionID finds the id of an existing collection name; ok is false
// when no collection has that name (reads of it find nothing).
func (s *Store) collectionID(ctx context.Context, name string) (id int, ok bool, err error) {
	if id, ok := s.colls.Get(name); ok {
		return id, true, nil
	}
	// Anything else could not have been stored, and comparing non-ASCII
	// text with MySQL's ascii column would be an error rather than a miss.
	if !syncstore.ValidCollection(name) {
		return 0, false, nil
	}
	// Another process on the same database may have created it.
	err = s.readRow(ctx, collectionIDSQL, name).Scan(&id)
	switch {
	case isNoRows(err):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("looking up collection %q: %w", name, err)
	}
	s.colls.Put(name, id)
	return id, true, nil
}

// maxCollectionRetries bounds the attempts to claim a new collection id
// while other instances keep claiming the same one.
const maxCollectionRetries = 20

// EnsureCollection returns the id of name, creating the collection when it
// is new. It runs outside the write transaction: a created name is
// harmless even if the write then fails, and it keeps the global
// collections table out of the per-user lock order.
func (s *Store) EnsureCollection(ctx context.Context, name string) (int, error) {
	id, ok, err := s.collectionID(ctx, name)
	if err != nil || ok {
		return id, err
	}
	if !syncstore.ValidCollection(name) {
		return 0, fmt.Errorf("invalid collection name %q", name)
	}
	for range maxCollectionRetries {
		// Two instances creating names at once may both compute the same
		// MAX(id)+1; the loser gets a duplicate key and tries again (or
		// finds that the winner created this very name).
		_, err := s.write.ExecContext(ctx,
			"INSERT INTO collections (id, name) SELECT "+s.d.Greatest+"(COALESCE(MAX(id), 0) + 1, ?), ? FROM collections",
			syncstore.FirstCustomCollectionID, name)
		// InnoDB may also break the two inserts' gap locks on the MAX(id)
		// read as a deadlock; the statement ran alone, so running it again
		// is safe.
		if err != nil && s.d.IsDeadlock != nil && s.d.IsDeadlock(err) {
			continue
		}
		if err != nil && !s.d.IsDuplicate(err) {
			return 0, fmt.Errorf("creating collection %q: %w", name, err)
		}
		var id int
		err = s.write.QueryRowContext(ctx, "SELECT id FROM collections WHERE name = ?", name).Scan(&id)
		switch {
		case err == nil:
			s.colls.Put(name, id)
			return id, nil
		case !isNoRows(err):
			return 0, fmt.Errorf("looking up collection %q: %w", name, err)
		}
	}
	return 0, fmt.Errorf("creating collection %q: no free id after %d attempts", name, maxCollectionRetries)
}
