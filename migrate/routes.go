package migrate

import (
	"context"

	"github.com/syncserver/syncserver/syncstore"
)

// RouteTable is the route table in the native database, shared with the
// shim. The native backends implement it (file routes.go).
type RouteTable interface {
	// GetRoute returns the user's row or syncstore.ErrNoRoute.
	GetRoute(ctx context.Context, username string) (*syncstore.Route, error)
	// SetRoute writes r unconditionally (operator override). Updated is
	// set by the table.
	SetRoute(ctx context.Context, r syncstore.Route) error
	// CompareAndSwapRoute writes next only if the stored row still has
	// old's State, Node and Owner (old == nil: only if there is no row
	// yet), atomically. It reports whether it wrote. Updated is set by the
	// table. Renewing a lease is a swap with the same Owner and a later
	// LeaseExpires.
	CompareAndSwapRoute(ctx context.Context, old *syncstore.Route, next syncstore.Route) (bool, error)
	// ListRoutes returns up to limit rows with Username > after, in name
	// order (limit <= 0: all).
	ListRoutes(ctx context.Context, after string, limit int) ([]syncstore.Route, error)
}
