package shim

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/httpapi"
)

// Shard is one native shard a shim dispatches to, besides the directory
// database's own handler. Native and Users are nil while the shard's
// database has not opened yet (it was unreachable when the config
// loaded): its users get 503 until Shim.ShardReady brings them.
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

// backend is where a native user's requests go: one per shard, and one
// for the directory database.
type backend struct {
	label string // the metrics node label
	open  atomic.Pointer[openBackend]
}

// openBackend is a backend whose database is open.
type openBackend struct {
	api   *httpapi.Handler
	users Accounts
}

func newBackend(label string, api *httpapi.Handler, users Accounts) *backend {
	b := &backend{label: label}
	if api != nil && users != nil {
		b.open.Store(&openBackend{api: api, users: users})
	}
	return b
}

// ShardReady brings in a shard whose database opened after the config
// loaded; from now on its users are served.
func (s *Shim) ShardReady(name string, api *httpapi.Handler, users Accounts) {
	if b, ok := s.backends[name]; ok {
		b.open.Store(&openBackend{api: api, users: users})
	}
}

// ShardUsers finds the native accounts of a shard ("" = the directory
// database); an error says the shard cannot be reached from here.
type ShardUsers func(shard string) (UserFinder, error)

// shardSet holds the shards the loaded shims on one database configure,
// so that the admin API can check native accounts on the right shard. It
// is reference counted because a reload provisions the new handlers
// before cleaning up the old ones; the newest registration of a name
// wins.
type shardSet struct {
	mu      sync.Mutex
	entries map[string][]*backend
}

// add records a shim's shard backends and returns the function that
// forgets them again.
func (s *shardSet) add(backends map[string]*backend) (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.entries == nil {
		s.entries = map[string][]*backend{}
	}
	for name, b := range backends {
		if name != "" {
			s.entries[name] = append(s.entries[name], b)
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			for name, b := range backends {
				list := slices.DeleteFunc(s.entries[name], func(e *backend) bool { return e == b })
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
		ob := list[len(list)-1].open.Load()
		if ob == nil {
			return nil, fmt.Errorf("shard %q: its database has not opened yet", shard)
		}
		return ob.users, nil
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
