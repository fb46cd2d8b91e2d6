package shim

import (
	"fmt"
	"regexp"
	"sync"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/httpapi"
)

// DefaultShard names the directory database (route rows whose shard is
// "") wherever a shard is named: flags, logs, metrics, status output.
const DefaultShard = "default"

// shardNameRule is the syntax of configured shard names.
var shardNameRule = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// ValidShardName reports whether name can name a configured shard: 1 to
// 32 characters of a-z, 0-9, "_" and "-", starting with a letter or digit,
// and not the reserved DefaultShard.
func ValidShardName(name string) bool {
	return name != DefaultShard && shardNameRule.MatchString(name)
}

// ShardLabel shows a route row's shard: DefaultShard for "".
func ShardLabel(shard string) string {
	if shard == "" {
		return DefaultShard
	}
	return shard
}

// ParseShardFlag reads a shard as an operator names it: DefaultShard is
// the directory database (""), anything else must be a valid name.
func ParseShardFlag(s string) (string, error) {
	if s == DefaultShard {
		return "", nil
	}
	if !ValidShardName(s) {
		return "", fmt.Errorf("shard %q: want %q or a shard name (a-z, 0-9, _ and -, at most 32 characters)", s, DefaultShard)
	}
	return s, nil
}

// Shard is one native shard a shim dispatches to, besides the directory
// database's own handler.
type Shard struct {
	Name string
	// Native is the protocol handler over the shard's store.
	Native *httpapi.Handler
	// Users is the shard's store, for registration's clean-up and the
	// admin API's checks.
	Users Accounts
	// Weight is the shard's share of new users; 0 when closed.
	Weight int
}

// backend is where a native user's requests go.
type backend struct {
	api   *httpapi.Handler
	users Accounts
	label string // the metrics node label
}

// ShardUsers finds the native accounts of a shard ("" = the directory
// database); an error says the shard cannot be reached from here.
type ShardUsers func(shard string) (UserFinder, error)

// OneDatabase is the ShardUsers of a caller that knows only the directory
// database.
func OneDatabase(users UserFinder) ShardUsers {
	return func(shard string) (UserFinder, error) {
		if shard == "" {
			return users, nil
		}
		return nil, fmt.Errorf("shard %q is not known here (give the server's config with --config)", shard)
	}
}

// shardSet holds the shards the loaded shims on one database configure,
// so that the admin API can check native accounts on the right shard. It
// is reference counted because a reload provisions the new handlers
// before cleaning up the old ones; the newest registration of a name
// wins.
type shardSet struct {
	mu      sync.Mutex
	entries map[string][]*shardEntry
}

type shardEntry struct{ users UserFinder }

// add records shards and returns the function that forgets them again.
func (s *shardSet) add(shards []Shard) (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.entries == nil {
		s.entries = map[string][]*shardEntry{}
	}
	added := make(map[string]*shardEntry, len(shards))
	for _, sh := range shards {
		e := &shardEntry{users: sh.Users}
		s.entries[sh.Name] = append(s.entries[sh.Name], e)
		added[sh.Name] = e
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			for name, e := range added {
				list := s.entries[name]
				for i := range list {
					if list[i] == e {
						list = append(list[:i], list[i+1:]...)
						break
					}
				}
				if len(list) == 0 {
					delete(s.entries, name)
				} else {
					s.entries[name] = list
				}
			}
		})
	}
}

// users is the ShardUsers of a database: its own store for "", the
// loaded shards' for their names.
func (s *shardSet) users(own UserFinder) ShardUsers {
	return func(shard string) (UserFinder, error) {
		if shard == "" {
			return own, nil
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		list := s.entries[shard]
		if len(list) == 0 {
			return nil, fmt.Errorf("shard %q is not configured by any loaded firefox_sync handler on this database", shard)
		}
		return list[len(list)-1].users, nil
	}
}

// pickShard is where a new native user's account goes: PickShard over
// the open shards, the directory database ("") when none is open.
func (s *Shim) pickShard(user string) string {
	name, ok := syncstore.PickShard(user, s.weights)
	if !ok {
		return ""
	}
	return name
}
