package caddymodule

import (
	"context"
	"fmt"

	"github.com/syncserver/syncserver/syncstore"
)

// routeTable is the migration route table as the shim, the admin API and
// the routes command use it: the migrate tool's RouteTable (routes status
// reads it with syncstore.ReadRouteStatus) plus the per-state count of the
// users-per-state gauge. Both native backends implement it (routes.go).
type routeTable interface {
	GetRoute(ctx context.Context, username string) (*syncstore.Route, error)
	SetRoute(ctx context.Context, r syncstore.Route) error
	CompareAndSwapRoute(ctx context.Context, old *syncstore.Route, next syncstore.Route) (bool, error)
	ListRoutes(ctx context.Context, after string, limit int) ([]syncstore.Route, error)
	CountRoutes(ctx context.Context) (map[syncstore.RouteState]int64, error)
}

// routesOf returns the route table of an open store.
func routesOf(s syncstore.Store) (routeTable, error) {
	t, ok := s.(routeTable)
	if !ok {
		return nil, fmt.Errorf("the %T database has no route table", s)
	}
	return t, nil
}
