package memcache

import "github.com/syncserver/syncserver/syncstore"

var _ syncstore.Wrapper = (*Store)(nil)

// Unwrap returns the inner store, so that syncstore.RouteTableOf finds its
// route table: routes are never cached here (the shim keeps its own route
// cache, invalidated by route changes), so the layer has nothing to add.
func (s *Store) Unwrap() syncstore.Store {
	return s.inner
}
