package migrate

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/syncserver/syncserver/syncstore"
)

// ShardStore is a native shard as a move uses it: the import/export of a
// migration on both sides, the user's last write timestamp (carried to
// the destination so that timestamps never go back), the deletion of the
// source copy after the flip, and the list of accounts for --all.
type ShardStore interface {
	syncstore.BulkStore
	UserTimestamp(ctx context.Context, userID int64) (syncstore.Timestamp, error)
	DeleteUser(ctx context.Context, userID int64) error
	ListUsers(ctx context.Context, after string, limit int) ([]syncstore.User, error)
}

// ErrUnknownShard: a shard name the configuration does not define.
var ErrUnknownShard = errors.New("unknown shard")

// bulkOf is the store of a shard for a migration from legacy or a
// rollback ("" = the default database).
func (m *Migrator) bulkOf(shard string) (syncstore.BulkStore, error) {
	if shard == "" {
		return m.cfg.Native, nil
	}
	if s, ok := m.cfg.Shards[shard]; ok {
		return s, nil
	}
	if len(m.cfg.Shards) == 0 {
		return nil, fmt.Errorf("%w %q: no shards are configured here (the command reads them from the server's config, --config)", ErrUnknownShard, shard)
	}
	return nil, fmt.Errorf("%w %q: the configuration defines %s", ErrUnknownShard, shard, m.shardNames())
}

// shardOf is the store of a shard for a move.
func (m *Migrator) shardOf(shard string) (ShardStore, error) {
	b, err := m.bulkOf(shard)
	if err != nil {
		return nil, err
	}
	s, ok := b.(ShardStore)
	if !ok {
		return nil, fmt.Errorf("shard %s: the %T store cannot be moved from or to", syncstore.ShardLabel(shard), b)
	}
	return s, nil
}

// cacheOf is the server's cache of a shard's users (nil: none).
func (m *Migrator) cacheOf(shard string) UserCache {
	if shard == "" {
		return m.cfg.Cache
	}
	if c, ok := m.cfg.ShardCaches[shard]; ok {
		return c
	}
	return nil
}

// shardNames lists the configured shards for an error message.
func (m *Migrator) shardNames() string {
	names := map[string]bool{syncstore.DefaultShard: true}
	for n := range m.cfg.Shards {
		names[n] = true
	}
	return fmt.Sprint(sortedKeys(names))
}

// onShard returns a migrator whose native side is the given shard, for
// the legacy protocol (MigrateUser, RollbackUser), which reads and writes
// cfg.Native and invalidates cfg.Cache: the same owner, clock, logger and
// faults, another store. The clone is a copy of m, so state the users of
// one run share (counters, locks) must sit behind pointers in Migrator:
// the clone then shares it, and go vet's copylocks flags a lock that is not.
func (m *Migrator) onShard(shard string) (*Migrator, error) {
	if shard == "" {
		return m, nil
	}
	b, err := m.bulkOf(shard)
	if err != nil {
		return nil, err
	}
	c := *m
	c.cfg.Native = b
	c.cfg.Cache = m.cacheOf(shard)
	return &c, nil
}

// targetOf is the shard a legacy user is migrated to.
func (m *Migrator) targetOf(user string) string {
	if m.cfg.Target == nil {
		return ""
	}
	return m.cfg.Target(user)
}

// errNoLegacy: MigrateUser or RollbackUser on a migrator built for moves.
var errNoLegacy = errors.New("no legacy database (give --legacy-dsn)")

// optString is a log field left out when v is empty: runs without shards
// log as before.
func optString(k, v string) zap.Field {
	if v == "" {
		return zap.Skip()
	}
	return zap.String(k, v)
}
