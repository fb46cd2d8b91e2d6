package shim

import (
	"github.com/syncserver/syncserver/syncstore"
)

// Routes is the routing state of one database, shared by every shim on
// it (several sites, reloads) and the admin API: the route table, its
// cache, which the admin API invalidates, and the legacy nodes the loaded
// shims configure.
type Routes struct {
	table syncstore.RouteTable
	cache *routeCache
	nodes nodeSet
}

// NewRoutes returns the routing state of a database with this table.
func NewRoutes(table syncstore.RouteTable) *Routes {
	return &Routes{table: table, cache: newRouteCache(table)}
}
