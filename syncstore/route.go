package syncstore

import (
	"context"
	"errors"
	"time"
)

// RouteState says where a user's requests go during a migration from a
// legacy PHP server: the shim reads it on every request, the migrate tool
// moves users between the states.
type RouteState string

const (
	// RouteLegacy: proxied to the user's legacy node.
	RouteLegacy RouteState = "legacy"
	// RouteMigrating: 503 with Retry-After; nothing is forwarded. Only
	// valid while a lease is held: once LeaseExpires has passed, the user
	// is served from Origin and the next migrate run or the server puts the
	// row back to Origin.
	RouteMigrating RouteState = "migrating"
	// RouteNative: served by the native store.
	RouteNative RouteState = "native"
)

// Valid reports whether s is one of the three states.
func (s RouteState) Valid() bool {
	return s == RouteLegacy || s == RouteMigrating || s == RouteNative
}

// Route is one row of the route table:
//
//	routes(username VARCHAR(32) ascii_bin PRIMARY KEY, state VARCHAR(16) NOT NULL,
//	       node VARCHAR(64) NOT NULL DEFAULT '', shard VARCHAR(64) NOT NULL DEFAULT '', owner VARCHAR(64) NOT NULL DEFAULT '',
//	       origin VARCHAR(16) NOT NULL DEFAULT '', lease_expires BIGINT NOT NULL DEFAULT 0 /*unix ms*/,
//	       last_error VARCHAR(1024) NOT NULL DEFAULT '', updated BIGINT NOT NULL /*unix ms*/, INDEX(state))
type Route struct {
	// Username is the normalized (lower-case) name.
	Username string
	State    RouteState
	// Node is the legacy node the user lives on ("" = the default node).
	Node string
	// Shard is the native shard holding the user's data ("" = the
	// database that holds the route table). It names where a native user
	// is served from; it changes only when the migrate tool moves the
	// user to another shard, at the flip. Node is kept meanwhile, so a
	// user moved between shards can still be rolled back to their legacy
	// node.
	Shard string
	// Owner identifies the migrate run holding a lease on the user, ""
	// when none. A lease is held for the whole of a migration or a
	// rollback, also while the state is still legacy or native (bulk copy),
	// so that two runs never work on one user at once.
	Owner string
	// LeaseExpires ends the lease; zero when there is none. The owner
	// renews it while it works.
	LeaseExpires time.Time
	// Origin is where the user is served from if a migrating lease is
	// abandoned: RouteLegacy during a migration, RouteNative during a
	// rollback. Empty when there is no lease.
	Origin RouteState
	// LastError is why the last migration or rollback of the user failed,
	// "" after a success. Shown by `migrate status`.
	LastError string
	// Updated is when the row last changed (set by the table).
	Updated time.Time
}

// Effective is the state requests should see at now: a migrating row
// whose lease has expired is served from its origin.
func (r *Route) Effective(now time.Time) RouteState {
	if r.State == RouteMigrating && !r.LeaseExpires.IsZero() && !now.Before(r.LeaseExpires) && r.Origin.Valid() && r.Origin != RouteMigrating {
		return r.Origin
	}
	return r.State
}

// LeaseHeld reports whether someone holds an unexpired lease at now.
func (r *Route) LeaseHeld(now time.Time) bool {
	return r.Owner != "" && now.Before(r.LeaseExpires)
}

// ErrNoRoute: the table has no row for the user (the shim then applies
// its default: legacy when a legacy backend is configured).
var ErrNoRoute = errors.New("no route for user")

// RouteTable is the migration route table in the native database: the
// shim reads it on every request (through its cache), the admin API and
// the routes command change it, the migrate tool moves users with it. Both
// SQL backends implement it; storetest.RunRouteTable is its conformance
// suite.
type RouteTable interface {
	// GetRoute returns the user's row or ErrNoRoute.
	GetRoute(ctx context.Context, username string) (*Route, error)
	// SetRoute writes r unconditionally (operator override). Updated is
	// set by the table.
	SetRoute(ctx context.Context, r Route) error
	// CompareAndSwapRoute writes next only if the stored row still has
	// old's State, Node, Shard and Owner (old == nil: only if there is no row
	// yet), atomically. It reports whether it wrote. Updated is set by the
	// table. Renewing a lease is a swap with the same Owner and a later
	// LeaseExpires.
	CompareAndSwapRoute(ctx context.Context, old *Route, next Route) (bool, error)
	// ListRoutes returns up to limit rows with Username > after, in name
	// order (limit <= 0: all).
	ListRoutes(ctx context.Context, after string, limit int) ([]Route, error)
	// CountRoutes returns how many rows hold each stored state (the
	// users-per-state gauge).
	CountRoutes(ctx context.Context) (map[RouteState]int64, error)
}

// RouteTableOf returns the route table of an open store, looking through
// layers that wrap another store (Wrapper): the route table is never
// cached by such a layer, the shim keeps its own route cache.
func RouteTableOf(s Store) (RouteTable, bool) {
	for {
		if t, ok := s.(RouteTable); ok {
			return t, true
		}
		w, ok := s.(Wrapper)
		if !ok {
			return nil, false
		}
		s = w.Unwrap()
	}
}
