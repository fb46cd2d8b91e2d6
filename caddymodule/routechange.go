package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// Why an operator's route change was refused; the admin API maps them to
// 409 and 404.
var (
	errBadRoute      = errors.New("invalid route")
	errRouteConflict = errors.New("route conflict")
	errNoAccount     = errors.New("no native account")
)

// routeChange is an operator's override of one user's route (admin API
// PUT, `syncserver routes set`).
type routeChange struct {
	User  string
	State syncstore.RouteState
	// Node is the legacy node; "" keeps the row's node.
	Node string
	// Force breaks a migrate run's lease and allows native without a
	// native account.
	Force bool
}

// changeRoute applies c as a compare-and-swap on the user's current row,
// so it never silently overwrites a concurrent migrate run. Unless forced
// it refuses to touch a user a migrate run holds, and to make native a
// user who has no native account yet: routing must never send a user
// where their data is not.
func changeRoute(ctx context.Context, table routeTable, users userFinder, c routeChange, now time.Time) (old *syncstore.Route, next syncstore.Route, err error) {
	if err := c.validate(); err != nil {
		return nil, next, err
	}
	old, err = table.GetRoute(ctx, c.User)
	if errors.Is(err, syncstore.ErrNoRoute) {
		old, err = nil, nil
	}
	if err != nil {
		return nil, next, err
	}
	if old != nil && old.LeaseHeld(now) && !c.Force {
		return old, next, fmt.Errorf("%w: migrate run %q holds %s until %s; wait, or force", errRouteConflict,
			old.Owner, c.User, old.LeaseExpires.UTC().Format(time.RFC3339))
	}
	if c.State == syncstore.RouteNative && !c.Force {
		if _, err := users.LookupUser(ctx, c.User); errors.Is(err, syncstore.ErrNotFound) {
			return old, next, fmt.Errorf("%w for %s: migrate the user first (syncserver migrate), or force", errNoAccount, c.User)
		} else if err != nil {
			return old, next, fmt.Errorf("looking up %s: %w", c.User, err)
		}
	}
	next = syncstore.Route{Username: c.User, State: c.State, Node: c.Node}
	if old != nil {
		if next.Node == "" {
			next.Node = old.Node
		}
		next.LastError = old.LastError
	}
	ok, err := table.CompareAndSwapRoute(ctx, old, next)
	if err != nil {
		return old, next, err
	}
	if !ok {
		return old, next, fmt.Errorf("%w: the route of %s changed meanwhile; try again", errRouteConflict, c.User)
	}
	return old, next, nil
}

// validate refuses a change no route row can hold (errBadRoute).
func (c routeChange) validate() error {
	if !c.State.Valid() {
		return fmt.Errorf("%w: state %q: must be %s, %s or %s", errBadRoute, c.State, syncstore.RouteLegacy, syncstore.RouteMigrating, syncstore.RouteNative)
	}
	if len(c.Node) > maxNodeName {
		return fmt.Errorf("%w: node %q: at most %d bytes", errBadRoute, c.Node, maxNodeName)
	}
	return nil
}

// unknownTargetError is checkRouteTarget's refusal of a user or node that
// nothing knows, as opposed to a failure to find out; the admin API
// answers it with 409, as the other refusals that force overrides.
type unknownTargetError struct{ msg string }

func (e *unknownTargetError) Error() string { return e.msg }
