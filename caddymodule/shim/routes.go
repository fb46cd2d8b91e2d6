package shim

import (
	"context"

	"github.com/syncserver/syncserver/syncstore"
)

// RouteTable is the migration route table as the shim and the admin API
// use it, with the per-state count of the users-per-state gauge. Both
// native backends implement it.
type RouteTable interface {
	GetRoute(ctx context.Context, username string) (*syncstore.Route, error)
	CompareAndSwapRoute(ctx context.Context, old *syncstore.Route, next syncstore.Route) (bool, error)
	ListRoutes(ctx context.Context, after string, limit int) ([]syncstore.Route, error)
	CountRoutes(ctx context.Context) (map[syncstore.RouteState]int64, error)
}

// Routes is the routing state of one database, shared by every shim on
// it (several sites, reloads) and the admin API: the route table, its
// cache, which the admin API invalidates, and the legacy nodes the loaded
// shims configure.
type Routes struct {
	table RouteTable
	cache *routeCache
	nodes nodeSet
}

// NewRoutes returns the routing state of a database with this table.
func NewRoutes(table RouteTable) *Routes {
	return &Routes{table: table, cache: newRouteCache(table)}
}
