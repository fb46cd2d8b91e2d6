package caddymodule

import (
	"fmt"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/syncserver/syncserver/syncstore"
)

// DefaultShardName names the handler's own database (route rows with an
// empty shard) in logs, metrics, command flags and status output; no
// configured shard may take it.
const DefaultShardName = syncstore.DefaultShard

// DefaultShardWeight is a shard's share of new users when weight is not
// set.
const DefaultShardWeight = 1

// maxShardWeight keeps weights in a range where the shares stay
// meaningful and PickShard's arithmetic exact.
const maxShardWeight = 1_000_000

// Shard is one native database besides the handler's own, holding the
// data of the users whose route row names it. The handler's database
// stays the directory: it holds the route table and the users of the
// "default" shard. See SHARDS.md in the repository's design notes and the
// README's "Native shards".
type Shard struct {
	// Name identifies the shard in route rows, logs, metrics and
	// commands: 1 to 32 characters of a-z, 0-9, "_" and "-", starting
	// with a letter or digit. "default" is reserved for the handler's own
	// database. Required; unique within the handler.
	Name string `json:"name"`

	// Database is where the shard's accounts and records are stored:
	// any database block (mysql or sqlite, pool settings, db_timeout).
	// It must differ from the handler's database and every other
	// shard's. Required.
	Database *Database `json:"database,omitempty"`

	// Weight is the shard's share of new users relative to the other open
	// shards: a shard of weight 2 gets about twice the new users of one
	// of weight 1. 0 closes the shard to new users. Default 1.
	Weight *int `json:"weight,omitempty"`

	// Closed stops new users from being placed on the shard (as weight
	// 0 does) while it keeps serving the users it holds, e.g. a full
	// shard or one being drained with `syncserver migrate --from`.
	Closed bool `json:"closed,omitempty"`
}

// weight is the shard's share of new users, 0 when closed.
func (s *Shard) weight() int {
	if s.Closed {
		return 0
	}
	if s.Weight == nil {
		return DefaultShardWeight
	}
	return *s.Weight
}

// validate checks one shard; the handler checks what depends on the
// others (duplicates, shared databases).
func (s *Shard) validate() error {
	if s.Name == DefaultShardName {
		return fmt.Errorf("shards: name %q is reserved for the handler's own database", s.Name)
	}
	// Short, lower-case: safe in a memcached key, a metrics label and a
	// command line.
	if !syncstore.ValidShardName(s.Name) {
		return fmt.Errorf("shards: name %q: want 1 to 32 characters of a-z, 0-9, _ and -, starting with a letter or digit", s.Name)
	}
	if s.Database == nil {
		return fmt.Errorf("shard %s: database is required (a mysql or sqlite database block)", s.Name)
	}
	if err := s.Database.validate(); err != nil {
		return fmt.Errorf("shard %s: %w", s.Name, err)
	}
	if s.Weight != nil && (*s.Weight < 0 || *s.Weight > maxShardWeight) {
		return fmt.Errorf("shard %s: weight %d: want 0 (closed to new users) to %d", s.Name, *s.Weight, maxShardWeight)
	}
	return nil
}

// validateShards checks the shards together: each on its own, names
// unique, and no database used twice (two shards on one database would
// serve one user's data under two names).
func (h *Handler) validateShards() error {
	seen := map[string]bool{}
	own, err := h.database().identity()
	if err != nil {
		return err
	}
	dbs := map[string]string{own: DefaultShardName}
	for i := range h.Shards {
		s := &h.Shards[i]
		if err := s.validate(); err != nil {
			return err
		}
		if seen[s.Name] {
			return fmt.Errorf("shards: name %q is used twice", s.Name)
		}
		seen[s.Name] = true
		id, err := s.Database.identity()
		if err != nil {
			return fmt.Errorf("shard %s: %w", s.Name, err)
		}
		if other, dup := dbs[id]; dup {
			return fmt.Errorf("shard %s: its database (%s) is already the %s shard's", s.Name, s.Database.label(), other)
		}
		dbs[id] = s.Name
	}
	return nil
}

// shardWeights are the shares of new users PickShard chooses from, in
// config order.
func (h *Handler) shardWeights() []syncstore.ShardWeight {
	w := make([]syncstore.ShardWeight, 0, len(h.Shards))
	for i := range h.Shards {
		w = append(w, syncstore.ShardWeight{Name: h.Shards[i].Name, Weight: h.Shards[i].weight()})
	}
	return w
}

// parseShard reads the Caddyfile's
//
//	shard <name> {
//	    database sqlite|mysql ... { ... }
//	    weight <n>
//	    closed
//	}
func parseShard(d *caddyfile.Dispenser) (Shard, error) {
	var s Shard
	if !d.NextArg() {
		return s, d.Err("shard needs a name: shard <name> { database ... }")
	}
	s.Name = d.Val()
	if d.NextArg() {
		return s, d.Errf("shard %s: unexpected argument %q: the settings go in a block", s.Name, d.Val())
	}
	seen := once{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if err := seen.check(d); err != nil {
			return s, err
		}
		var err error
		switch sub := d.Val(); sub {
		case "database":
			s.Database, err = parseDatabase(d)
		case "weight":
			var n int
			n, err = intArg(d)
			s.Weight = &n
		case "closed":
			if d.NextArg() {
				return s, d.ArgErr()
			}
			s.Closed = true
		default:
			return s, d.Errf("shard %s: unknown subdirective %q (want database, weight or closed)", s.Name, sub)
		}
		if err != nil {
			return s, err
		}
	}
	if s.Database == nil {
		return s, d.Errf("shard %s: a database is required", s.Name)
	}
	return s, nil
}

// shardDatabases are the shards' database blocks.
func (h *Handler) shardDatabases() []*Database {
	dbs := make([]*Database, 0, len(h.Shards))
	for i := range h.Shards {
		dbs = append(dbs, h.Shards[i].Database)
	}
	return dbs
}
