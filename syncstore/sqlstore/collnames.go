package sqlstore

import (
	"context"
	"fmt"
	"sync"
)

// collectionNames maps collection ids to names for the reads that list a
// user's collections: they read the ids from user_collections alone and
// name them here, instead of joining the collections table and converting
// each name from the database's text per row (info/collections is the
// most frequent request of a sync). Ids never change name, so an entry is
// never stale; a miss (a collection another instance created) is read
// once from the database.
type collectionNames struct {
	mu   sync.RWMutex
	byID map[int]string
}

const collectionNameSQL = "SELECT name FROM collections WHERE id = ?"

// collectionName returns the name of collection id; an id that names no
// collection is an error (user_collections only holds existing ids).
func (s *Store) collectionName(ctx context.Context, id int) (string, error) {
	c := &s.names
	c.mu.RLock()
	name, ok := c.byID[id]
	c.mu.RUnlock()
	if ok {
		return name, nil
	}
	return s.readCollectionName(ctx, id)
}

// readCollectionName is collectionName's miss: apart, so that the
// variable Scan fills (which escapes) is not allocated on every hit.
func (s *Store) readCollectionName(ctx context.Context, id int) (string, error) {
	c := &s.names
	var name string
	if err := s.readRow(ctx, collectionNameSQL, id).Scan(&name); err != nil {
		return "", fmt.Errorf("looking up collection %d: %w", id, err)
	}
	c.mu.Lock()
	if c.byID == nil {
		c.byID = make(map[int]string)
	}
	c.byID[id] = name
	c.mu.Unlock()
	return name, nil
}
