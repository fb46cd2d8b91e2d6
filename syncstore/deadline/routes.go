package deadline

import (
	"context"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// routes bounds the route table's calls.
type routes struct {
	t       syncstore.RouteTable
	timeout time.Duration
}

func (r *routes) GetRoute(ctx context.Context, username string) (*syncstore.Route, error) {
	return get(ctx, r.timeout, "reading route", func(ctx context.Context) (*syncstore.Route, error) {
		return r.t.GetRoute(ctx, username)
	})
}

func (r *routes) SetRoute(ctx context.Context, row syncstore.Route) error {
	return call(ctx, r.timeout, "writing route", func(ctx context.Context) error { return r.t.SetRoute(ctx, row) })
}

func (r *routes) CompareAndSwapRoute(ctx context.Context, old *syncstore.Route, next syncstore.Route) (bool, error) {
	return get(ctx, r.timeout, "swapping route", func(ctx context.Context) (bool, error) {
		return r.t.CompareAndSwapRoute(ctx, old, next)
	})
}

func (r *routes) ListRoutes(ctx context.Context, after string, limit int) ([]syncstore.Route, error) {
	return get(ctx, r.timeout, "listing routes", func(ctx context.Context) ([]syncstore.Route, error) {
		return r.t.ListRoutes(ctx, after, limit)
	})
}

func (r *routes) CountRoutes(ctx context.Context) (map[syncstore.RouteState]int64, error) {
	return get(ctx, r.timeout, "counting routes", func(ctx context.Context) (map[syncstore.RouteState]int64, error) {
		return r.t.CountRoutes(ctx)
	})
}

// routedStore is a store with a route table.
type routedStore struct {
	*Store
	*routes
}
