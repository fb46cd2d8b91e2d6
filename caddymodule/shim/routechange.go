package shim

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// Why an operator's route change was refused; the admin API maps them to
// 409 and 404.
var (
	errBadRoute      = errors.New("invalid route")
	errRouteConflict = errors.New("route conflict")
	errNoAccount     = errors.New("no native account")
	errShardMove     = errors.New("shard change refused")
)

// RouteChange is an operator's override of one user's route (admin API
// PUT, `syncserver routes set`).
type RouteChange struct {
	User  string
	State syncstore.RouteState
	// Node is the legacy node; "" keeps the row's node.
	Node string
	// Shard, when set, is the native shard the row is to name ("" the
	// directory database); nil keeps the row's. Changing it moves no
	// data, so it needs Force.
	Shard *string
	// Force breaks a migrate run's lease, allows native without a
	// native account and a shard change.
	Force bool
}

// ChangeRoute applies c as a compare-and-swap on the user's current row,
// so it never silently overwrites a concurrent migrate run. Unless forced
// it refuses to touch a user a migrate run holds, to make native a user
// who has no native account on the row's shard, and to change the shard
// (the data would stay where it is): routing must never send a user where
// their data is not. The row's shard is kept unless c names one.
func ChangeRoute(ctx context.Context, table syncstore.RouteTable, users ShardUsers, c RouteChange, now time.Time) (old *syncstore.Route, next syncstore.Route, err error) {
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
	next = syncstore.Route{Username: c.User, State: c.State, Node: c.Node}
	if old != nil {
		if next.Node == "" {
			next.Node = old.Node
		}
		next.Shard = old.Shard
		next.LastError = old.LastError
	}
	if c.Shard != nil && *c.Shard != next.Shard {
		if !c.Force {
			return old, next, fmt.Errorf("%w: moving %s from shard %s to %s this way moves no data; use `syncserver migrate --from %s --to %s %s`, or force",
				errShardMove, c.User, syncstore.ShardLabel(next.Shard), syncstore.ShardLabel(*c.Shard), syncstore.ShardLabel(next.Shard), syncstore.ShardLabel(*c.Shard), c.User)
		}
		next.Shard = *c.Shard
	}
	if c.State == syncstore.RouteNative && !c.Force {
		finder, err := users(next.Shard)
		if err != nil {
			return old, next, fmt.Errorf("looking up %s on shard %s: %w", c.User, syncstore.ShardLabel(next.Shard), err)
		}
		if _, err := finder.LookupUser(ctx, c.User); errors.Is(err, syncstore.ErrNotFound) {
			return old, next, fmt.Errorf("%w for %s on shard %s: migrate the user first (syncserver migrate), or force", errNoAccount, c.User, syncstore.ShardLabel(next.Shard))
		} else if err != nil {
			return old, next, fmt.Errorf("looking up %s on shard %s: %w", c.User, syncstore.ShardLabel(next.Shard), err)
		}
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
func (c RouteChange) validate() error {
	if !c.State.Valid() {
		return fmt.Errorf("%w: state %q: must be %s, %s or %s", errBadRoute, c.State, syncstore.RouteLegacy, syncstore.RouteMigrating, syncstore.RouteNative)
	}
	if len(c.Node) > maxNodeName {
		return fmt.Errorf("%w: node %q: at most %d bytes", errBadRoute, c.Node, maxNodeName)
	}
	if c.Shard != nil && *c.Shard != "" && !syncstore.ValidShardName(*c.Shard) {
		return fmt.Errorf("%w: shard %q: want %q or a shard name (a-z, 0-9, _ and -, at most 32 characters)", errBadRoute, *c.Shard, syncstore.DefaultShard)
	}
	return nil
}

// unknownTargetError is CheckRouteTarget's refusal of a user or node that
// nothing knows, as opposed to a failure to find out; the admin API
// answers it with 409, as the other refusals that force overrides.
type unknownTargetError struct{ msg string }

func (e *unknownTargetError) Error() string { return e.msg }

// UserExists reports whether the native store has an account named name.
func UserExists(ctx context.Context, users UserFinder, name string) (bool, error) {
	_, err := users.LookupUser(ctx, name)
	if errors.Is(err, syncstore.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("looking up %s: %w", name, err)
	}
	return true, nil
}

// NoUserError names an account that does not exist as the operator typed
// it, with the username it maps to when that differs.
func NoUserError(a syncstore.Account) error {
	typed := strings.TrimSpace(a.Typed)
	if a.Email != "" {
		return fmt.Errorf("no user %s (Sync username %s)", typed, a.Name)
	}
	return fmt.Errorf("no user %s", typed)
}

// CheckRouteTarget refuses what is most likely a typo: a user with neither
// a native account nor a route row, and a legacy node that no route row
// names and that is not among configured (the nodes of the legacy blocks
// the caller knows of; where is says where those came from, for the
// message; force is how the caller's operator overrides the check).
// Forced changes skip it. The admin API applies the same rule with the
// nodes of the legacy blocks loaded on its database.
func CheckRouteTarget(ctx context.Context, users ShardUsers, table syncstore.RouteTable, acct syncstore.Account, node string, configured []string, where, force string) error {
	_, err := table.GetRoute(ctx, acct.Name)
	hasRow := err == nil
	if err != nil && !errors.Is(err, syncstore.ErrNoRoute) {
		return fmt.Errorf("reading the route of %s: %w", acct, err)
	}
	if !hasRow {
		own, err := users("")
		if err != nil {
			return err
		}
		ok, err := UserExists(ctx, own, acct.Name)
		if err != nil {
			return err
		}
		if !ok {
			return &unknownTargetError{fmt.Sprintf("%v: no native account and no route row; %s writes a row anyway", NoUserError(acct), force)}
		}
	}
	if node == "" || slices.Contains(configured, node) {
		return nil
	}
	known, err := routeNodes(ctx, table)
	if err != nil {
		return err
	}
	if slices.Contains(known, node) {
		return nil
	}
	known = slices.Compact(slices.Sorted(slices.Values(append(known, configured...))))
	msg := fmt.Sprintf("unknown node %q: no route row names it and %s", node, where)
	if len(known) > 0 {
		msg += " (known: " + strings.Join(known, ", ") + ")"
	}
	return &unknownTargetError{fmt.Sprintf("%s; %s to set it anyway", msg, force)}
}

// routeNodes lists the nodes route rows name.
func routeNodes(ctx context.Context, table syncstore.RouteTable) ([]string, error) {
	seen := map[string]bool{}
	err := syncstore.EachRoute(ctx, table, func(r *syncstore.Route) error {
		if r.Node != "" {
			seen[r.Node] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing routes: %w", err)
	}
	return slices.Sorted(maps.Keys(seen)), nil
}
