package sqlschema

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// CollectionNames caches the shared schema's collections table (name →
// id). Names are global and never renamed or removed, so an entry never
// goes stale; only misses need the database, since another process on the
// same database may have created a name since. The zero value is ready.
type CollectionNames struct {
	mu     sync.RWMutex
	byName map[string]int
}

// Get returns the cached id of name.
func (c *CollectionNames) Get(name string) (int, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	id, ok := c.byName[name]
	return id, ok
}

// Put records that name has id; callers put names created inside a
// transaction only after it committed.
func (c *CollectionNames) Put(name string, id int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byName == nil {
		c.byName = make(map[string]int)
	}
	c.byName[name] = id
}

// Load adds every name of the collections table.
func (c *CollectionNames) Load(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, "SELECT id, name FROM collections")
	if err != nil {
		return fmt.Errorf("loading collection names: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return fmt.Errorf("loading collection names: %w", err)
		}
		c.Put(name, id)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("loading collection names: %w", err)
	}
	return nil
}
