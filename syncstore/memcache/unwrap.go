package memcache

import "github.com/syncserver/syncserver/syncstore"

var _ syncstore.Wrapper = (*Store)(nil)

// Unwrap returns the inner store, so that syncstore.RouteTableOf finds its
// route table: routes are never cached here (the shim keeps its own route
// cache, invalidated by route changes), so the layer has nothing to add.
// The layer does not implement syncstore.BulkStore: bulk writes made
// underneath it bump no generation counter, so they are made by the
// migrate tool on the database directly, for users the server is not
// serving natively at the time (migrating: 503).
func (s *Store) Unwrap() syncstore.Store {
	return s.inner
}
