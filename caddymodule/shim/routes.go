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
	// shards are the native shards the loaded shims on the database
	// configure.
	shards shardSet
}

// NewRoutes returns the routing state of a database with this table.
func NewRoutes(table syncstore.RouteTable) *Routes {
	return &Routes{table: table, cache: newRouteCache(table)}
}

// Table is the route table itself.
func (r *Routes) Table() syncstore.RouteTable { return r.table }
